"""What SMTP accounts (``stws.mail.accounts``) and POP accounts
(``stws.mail.pop_accounts``) share: the checks of the server they connect to
(host, port, security mode), of the credentials and addresses they hold, and
the self-diagnostic probe that the server answers.

The ``checked_*`` functions return the cleaned value or raise
``InvalidArgument`` (``checked_password`` raises ``ValueError``, as a
``PropertyBag`` parser does).
"""
from __future__ import annotations

import socket

from stws.domain.errors import InvalidArgument, NotFound
from stws.domain.properties import Property, parse_int

SECURITY_MODES = ("none", "ssl", "starttls")
MAX_PASSWORD = 1000


def checked_text(value, what: str, limit: int, required: bool = False) -> str:
    value = (value or "").strip()
    if required and not value:
        raise InvalidArgument("%s is required." % what)
    if len(value) > limit:
        raise InvalidArgument("%s is longer than %d characters." % (what, limit))
    return value


def checked_security(value) -> str:
    mode = (value or "").strip().lower()
    if mode not in SECURITY_MODES:
        raise InvalidArgument("security must be one of %s, not %r." % (", ".join(SECURITY_MODES), value))
    return mode


def checked_port(value) -> int:
    if not isinstance(value, int) or not 1 <= value <= 65535:
        raise InvalidArgument("port must be between 1 and 65535, not %r." % (value,))
    return value


def checked_address(value) -> str:
    value = (value or "").strip()
    if value and ("@" not in value or " " in value or len(value) > 320):
        raise InvalidArgument("%r is not a valid email address." % value)
    return value


def checked_password(text: str) -> str:
    if len(text or "") > MAX_PASSWORD:
        raise ValueError("longer than %d characters" % MAX_PASSWORD)
    return text or ""


def check_server_settings(account, username_required: bool) -> None:
    """The server, port, security and username of ``account`` (cleaned in place)."""
    account.server = checked_text(account.server, "server", 255, required=True)
    if any(c.isspace() for c in account.server):
        raise InvalidArgument("server %r contains spaces." % account.server)
    checked_port(account.port)
    account.security = checked_security(account.security)
    account.username = checked_text(account.username, "username", 320, required=username_required)


def get_account(session, model, kind: str, account_id: int):
    """The ``model`` row ``account_id``; NotFound names the ``kind`` ("SMTP", "POP")."""
    account = session.get(model, account_id) if account_id else None
    if account is None:
        raise NotFound("There is no %s account with id %s." % (kind, account_id))
    return account


def setter(attribute: str):
    """A ``Property`` apply function that sets ``attribute`` on the account."""
    def apply(_context, account, value):
        setattr(account, attribute, value)
    return apply


# The PropertyBag entries of those settings, spliced into each account's bag
# where they stand in its key order.
SERVER_PROPERTIES = [
    Property("Server", lambda c, a: a.server, str, setter("server")),
    Property("Port", lambda c, a: a.port, parse_int, setter("port")),
    Property("Security", lambda c, a: a.security, checked_security, setter("security")),
]
CREDENTIAL_PROPERTIES = [
    Property("Username", lambda c, a: a.username, str, setter("username")),
    Property("Password", None, checked_password, setter("password"), readable=False),
]


# ---------------------------------------------------------------- self-diagnostic


def probe_greeting(server: str, port: int, security: str, expected: str, timeout: float = 5.0) -> str:
    """Connect and read the greeting, which must start with ``expected``
    ("220" for SMTP, "+OK" for POP); returns it, raises OSError/ValueError."""
    import ssl

    with socket.create_connection((server, port), timeout=timeout) as raw:
        raw.settimeout(timeout)
        if security == "ssl":
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE  # only whether it answers; delivery and download verify
            with context.wrap_socket(raw, server_hostname=server) as wrapped:
                greeting = wrapped.recv(512)
        else:
            greeting = raw.recv(512)
    text = greeting.decode("latin-1").strip()
    if not text.startswith(expected):
        raise ValueError("unexpected greeting %r" % text[:200])
    return text


def probe_checks(kind: str, accounts, expected: str) -> list:
    """One self-diagnostic Check per ``(name, server, port, security)`` in
    ``accounts``: whether the server greets with ``expected``."""
    from stws.diagnostics.selfcheck import FAILURE, PASS, Check

    results = []
    for name, server, port, security in accounts:
        label = "%s account %s" % (kind, name)
        try:
            greeting = probe_greeting(server, port, security, expected)
        except (OSError, ValueError) as error:
            results.append(Check(label, FAILURE, "%s:%d does not answer: %s" % (server, port, error)))
        else:
            results.append(Check(label, PASS, "%s:%d answers: %s" % (server, port, greeting[:120])))
    return results


def register_self_check(check) -> None:
    """Add ``check`` to the self-diagnostic's extra checks, once."""
    from stws.diagnostics import selfcheck

    if check not in selfcheck.EXTRA_CHECKS:
        selfcheck.EXTRA_CHECKS.append(check)
