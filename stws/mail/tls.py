"""What mail connections check TLS certificates against (SMTP delivery, POP
download, the account checks of the self-diagnostic and of Test Login).

``TRUST_ROOT`` is None in production: the platform's trust store. Tests put
their self-signed certificate (a ``twisted.internet.ssl.Certificate``) here,
so that every mail connection, Twisted's and the standard library's, checks
against the same root.
"""
from __future__ import annotations

import ssl

from twisted.internet.ssl import optionsForClientTLS

TRUST_ROOT = None


def client_options(hostname: str):
    """Twisted's client TLS options for ``hostname`` (delivery, download)."""
    if TRUST_ROOT is not None:
        return optionsForClientTLS(hostname, trustRoot=TRUST_ROOT)
    return optionsForClientTLS(hostname)


def ssl_context() -> ssl.SSLContext:
    """The standard library's context (smtplib and poplib in the account checks)."""
    if TRUST_ROOT is not None:
        return ssl.create_default_context(cadata=TRUST_ROOT.dumpPEM().decode("ascii"))
    return ssl.create_default_context()
