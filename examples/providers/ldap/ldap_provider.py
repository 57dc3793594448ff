#!/usr/bin/env python3
"""An LDAP login provider web service for stws and SmarterTrack.

Answers the login provider's two methods from an LDAP directory (OpenLDAP,
389 Directory Server, Active Directory, ...):

* ``Authenticate``: finds the user's entry (a search with a configurable
  filter, as a service account or anonymously; or a DN made from a
  template), binds as that entry with the given password, and answers
  ``Authentication=OK`` with ``EmailAddress`` and ``DisplayName`` from the
  entry, else ``Authentication=FAIL``.
* ``GetSignInCookieInfo`` (single sign-on): finds the entry without a
  password and answers the same.

    python ldap_provider.py --config ldap-provider.ini --listen 127.0.0.1:8801

The SOAP service itself (ASMX-shaped, ``authPW`` checked) is the sample
provider's: ../python/provider.py, imported from beside this file or from
../python. Needs ldap3, spyne, lxml and Twisted. README.md explains the
settings.
"""
from __future__ import annotations

import argparse
import ast
import configparser
import ipaddress
import logging
import ssl
import sys
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

# The SOAP shaping lives in the sample provider; found beside this file
# (copied together) or in the checkout's ../python.
sys.path.append(str(Path(__file__).resolve().parent.parent / "python"))
import provider as soap  # noqa: E402

from ldap3 import BASE, SUBTREE, Connection, Server, Tls  # noqa: E402
from ldap3.core.exceptions import LDAPException  # noqa: E402
from ldap3.utils.conv import escape_filter_chars  # noqa: E402
from ldap3.utils.dn import escape_rdn  # noqa: E402

LOG = logging.getLogger("ldap-provider")

INVALID_CREDENTIALS = 49  # LDAP result code of a bind with a wrong password
SIZE_LIMIT_EXCEEDED = 4  # the filter matched more than one entry
NO_SUCH_OBJECT = 32  # the template's DN (or the search base) does not exist

# Longer user names are not looked up (no directory has them; keeps
# filters and DNs small).
MAX_USERNAME = 256


# ---------------------------------------------------------------- configuration


@dataclass
class LdapSettings:
    auth_password: str
    namespace: str
    urls: list  # tried in order: the first that answers is used
    start_tls: bool
    verify_certificates: bool
    ca_file: str | None
    connect_timeout: int
    timeout: int
    # Finding the user: search under base_dn with user_filter, or (when
    # user_dn_template is set) the DN it names.
    base_dn: str
    user_filter: str
    user_dn_template: str
    bind_dn: str  # the service account ("" = anonymous)
    bind_password: str
    email_attribute: str
    display_name_attributes: list  # the first one the entry has


def _split(text: str) -> list:
    """Items separated by commas or spaces."""
    return text.replace(",", " ").split()


def load_settings(path: Path) -> LdapSettings:
    parser = configparser.ConfigParser(interpolation=None, delimiters=("=",))
    if not parser.read(path, encoding="utf-8"):
        raise soap.ConfigError("cannot read %s" % path)
    provider = parser["provider"] if parser.has_section("provider") else {}
    if not provider.get("auth_password"):
        raise soap.ConfigError("[provider] auth_password is required (the Web Service Password)")
    if not parser.has_section("ldap"):
        raise soap.ConfigError("an [ldap] section is required")
    ldap = parser["ldap"]

    def seconds(key: str, default: int) -> int:
        # Whole seconds: ldap3 sets the socket's receive timeout from an int.
        try:
            value = int(ldap.get(key, str(default)))
        except ValueError:
            raise soap.ConfigError("[ldap] %s: a whole number of seconds, not %r" % (key, ldap[key])) from None
        if value < 1:
            raise soap.ConfigError("[ldap] %s must be at least 1 second" % key)
        return value

    def boolean(key: str, default: bool) -> bool:
        try:
            return ldap.getboolean(key, default)
        except ValueError:
            raise soap.ConfigError("[ldap] %s: yes or no, not %r" % (key, ldap[key])) from None

    urls = _split(ldap.get("url", ""))
    if not urls:
        raise soap.ConfigError("[ldap] url is required (ldap://host:389 or ldaps://host:636)")
    for url in urls:
        parts = urlsplit(url)
        if parts.scheme not in ("ldap", "ldaps") or not parts.hostname:
            raise soap.ConfigError("[ldap] url %r: want ldap://host[:port] or ldaps://host[:port]" % url)
    settings = LdapSettings(
        auth_password=provider["auth_password"],
        namespace=provider.get("namespace", "http://tempuri.org/"),
        urls=urls,
        start_tls=boolean("start_tls", False),
        verify_certificates=boolean("verify_certificates", True),
        ca_file=ldap.get("ca_file") or None,
        connect_timeout=seconds("connect_timeout", 5),
        timeout=seconds("timeout", 10),
        base_dn=ldap.get("base_dn", ""),
        user_filter=ldap.get("user_filter", "(uid={username})"),
        user_dn_template=ldap.get("user_dn_template", ""),
        bind_dn=ldap.get("bind_dn", ""),
        bind_password=ldap.get("bind_password", ""),
        email_attribute=ldap.get("email_attribute", "mail"),
        display_name_attributes=_split(ldap.get("display_name_attributes", "displayName, cn")))
    if settings.start_tls and any(url.startswith("ldaps:") for url in urls):
        raise soap.ConfigError("[ldap] start_tls is for ldap:// URLs; an ldaps:// URL is encrypted from the start")
    if settings.ca_file and not Path(settings.ca_file).is_file():
        raise soap.ConfigError("[ldap] ca_file %s: no such file" % settings.ca_file)
    if settings.user_dn_template:
        if "{username}" not in settings.user_dn_template:
            raise soap.ConfigError("[ldap] user_dn_template must contain {username}")
    elif not settings.base_dn or "{username}" not in settings.user_filter:
        raise soap.ConfigError("[ldap] set base_dn and a user_filter containing {username} "
                               "(or user_dn_template)")
    if settings.bind_dn and not settings.bind_password:
        raise soap.ConfigError("[ldap] bind_dn is set but bind_password is empty")
    return settings


# ---------------------------------------------------------------- the directory


class DirectoryUnavailable(Exception):
    """The directory could not be asked (unreachable, timed out, TLS failed,
    the service account refused): no decision about the user is possible."""


@dataclass
class Person:
    dn: str
    email: str
    display_name: str


def _reason(error: LDAPException) -> str:
    """The message of an ldap3 exception, without the tuple reprs it wraps
    some in ("('socket ssl wrapping error: ...',)")."""
    text = str(error)
    while text.startswith(("('", '("')) and text.endswith(",)"):
        try:
            text = str(ast.literal_eval(text)[0])
        except (ValueError, SyntaxError, IndexError, TypeError):
            break
    return text


def _close(connection: Connection) -> None:
    """Unbind and close; a connection that already failed may not even
    manage to send the unbind, which changes nothing."""
    try:
        connection.unbind()
    except LDAPException:
        pass


class Directory:
    """The LDAP side: a new connection per question (simple, thread-safe; a
    help desk signs users in far too rarely to need a pool), every network
    wait bounded by the configured timeouts."""

    def __init__(self, settings: LdapSettings):
        self.settings = settings
        self.tls = Tls(validate=ssl.CERT_REQUIRED if settings.verify_certificates else ssl.CERT_NONE,
                       ca_certs_file=settings.ca_file)
        self.attributes = [settings.email_attribute] + settings.display_name_attributes

    def encrypted(self) -> bool:
        return self.settings.start_tls or all(url.startswith("ldaps:") for url in self.settings.urls)

    # -- connections

    def _bound(self, user: str | None, password: str | None) -> Connection | None:
        """A connection bound as ``user`` (None: anonymously) to the first
        server that answers; None when the directory refuses the
        credentials. DirectoryUnavailable when no server can be asked."""
        problems = []
        # New Server objects each time: ldap3's remember an unreachable
        # address for a while, which would refuse sign-ins for seconds after
        # the directory is back.
        for url in self.settings.urls:
            server = Server(url, tls=self.tls, connect_timeout=self.settings.connect_timeout)
            connection = Connection(server, user=user, password=password, read_only=True, auto_referrals=False,
                                    receive_timeout=self.settings.timeout, raise_exceptions=False)
            try:
                connection.open()
                if self.settings.start_tls and not connection.start_tls(read_server_info=False):
                    raise LDAPException("StartTLS refused: %s" % connection.result.get("description"))
                if connection.bind():
                    return connection
            except LDAPException as error:
                _close(connection)
                problems.append("%s: %s" % (url, _reason(error)))
                continue
            result = connection.result or {}
            _close(connection)
            if result.get("result") == INVALID_CREDENTIALS:
                return None
            # Any other refusal (unwillingToPerform, ...) is no sign-in
            # either, but the server did answer: say why in the log.
            LOG.warning("bind as %s refused by %s: %s %s", user, url, result.get("description"),
                        result.get("message"))
            return None
        raise DirectoryUnavailable("; ".join(problems))

    def _reader(self) -> Connection:
        """A connection for looking users up: the service account, or anonymous."""
        settings = self.settings
        connection = self._bound(settings.bind_dn or None, settings.bind_password or None)
        if connection is None:
            raise DirectoryUnavailable("the directory refused the service account %s (check bind_dn and "
                                       "bind_password)" % (settings.bind_dn or "(anonymous)"))
        return connection

    # -- questions

    def find(self, username: str, connection: Connection | None = None) -> Person | None:
        """The entry of ``username`` (None: no such user, or more than one),
        read with ``connection`` or a new reader connection."""
        settings = self.settings
        if settings.user_dn_template:
            base, scope, search_filter = self.dn_of(username), BASE, "(objectClass=*)"
        else:
            # Escaped: a name like "*)(uid=*" must match nobody, not everybody.
            base, scope = settings.base_dn, SUBTREE
            search_filter = settings.user_filter.replace("{username}", escape_filter_chars(username))
        own = connection is None
        if own:
            connection = self._reader()
        try:
            connection.search(base, search_filter, scope, attributes=self.attributes, size_limit=2,
                              time_limit=settings.timeout)
            result = connection.result or {}
            entries = [entry for entry in connection.response or () if entry.get("type") == "searchResEntry"]
        except LDAPException as error:
            raise DirectoryUnavailable("search failed: %s" % _reason(error)) from None
        finally:
            if own:
                _close(connection)
        code = result.get("result")
        if code == SIZE_LIMIT_EXCEEDED or len(entries) > 1:
            LOG.warning("user name %r matches more than one entry: refused (make user_filter unique)", username)
            return None
        if code not in (0, NO_SUCH_OBJECT):
            raise DirectoryUnavailable("search failed: %s %s" % (result.get("description"), result.get("message")))
        if not entries:
            return None
        return self._person(entries[0])

    def dn_of(self, username: str) -> str:
        return self.settings.user_dn_template.replace("{username}", escape_rdn(username))

    def _person(self, entry: dict) -> Person:
        # Raw values: no schema needed; attribute names without regard to case.
        values = {name.lower(): value for name, value in entry.get("raw_attributes", {}).items()}

        def first(name: str) -> str:
            found = values.get(name.lower()) or [b""]
            return found[0].decode("utf-8", "replace")
        display_name = next((first(name) for name in self.settings.display_name_attributes if first(name)), "")
        return Person(entry["dn"], first(self.settings.email_attribute), display_name)

    def authenticate(self, username: str, password: str) -> Person | None:
        """The user's entry if ``password`` is theirs, else None."""
        if not password:
            # An LDAP bind with a DN and no password is an *anonymous* bind
            # that many servers accept: never let it count as a sign-in.
            return None
        if self.settings.user_dn_template and not self.settings.bind_dn:
            # No service account: bind first, then read the entry as the user.
            connection = self._bound(self.dn_of(username), password)
            if connection is None:
                return None
            try:
                person = self.find(username, connection)
            finally:
                _close(connection)
            if person is None:
                LOG.warning("%s signed in but cannot read their own entry: allow it in the directory's ACL, "
                            "or set bind_dn", self.dn_of(username))
            return person
        person = self.find(username)
        if person is None:
            return None
        connection = self._bound(person.dn, password)
        if connection is None:
            return None
        _close(connection)
        return person


# ---------------------------------------------------------------- the provider


def _login_reply(person: Person | None) -> soap.Reply:
    if person is None:
        return soap.Reply(outputs=[("Authentication", "FAIL")])
    return soap.Reply(outputs=[("Authentication", "OK"), ("EmailAddress", person.email),
                               ("DisplayName", person.display_name)])


class LdapLoginProvider(soap.ProviderBase):
    """The login provider's methods, answered from the directory. A
    directory that cannot be asked gives Success=false with the reason
    (the help desk reports it as a provider failure), never FAIL: a user
    must not be told their password is wrong when the directory is down."""

    methods = ("Authenticate", "GetSignInCookieInfo")

    def __init__(self, settings: LdapSettings):
        super().__init__(settings.auth_password, settings.namespace)
        self.settings = settings
        self.directory = Directory(settings)

    def summary(self) -> str:
        return "users from " + " ".join(self.settings.urls)

    def _answer(self, username: str, look_up) -> soap.Reply:
        """The reply for ``look_up()`` (a Person or None) about ``username``."""
        if len(username) > MAX_USERNAME:
            return _login_reply(None)
        try:
            return _login_reply(look_up())
        except DirectoryUnavailable as error:
            LOG.error("LDAP directory unavailable: %s", error)
            raise soap.Refused("The LDAP directory could not be asked: %s" % error) from None
        except Exception:
            # A bug here, or in ldap3: a clear failure for the help desk,
            # the traceback in this provider's log.
            LOG.exception("looking up %r failed", username)
            raise soap.Refused("The LDAP provider failed; its log says why.") from None

    def Authenticate(self, inputs: soap.Inputs) -> soap.Reply:
        (username,) = self._require(inputs, "loginUsername")
        # An empty password is an answer (FAIL), not a missing input.
        password = inputs.get("loginPassword")
        return self._answer(username, lambda: self.directory.authenticate(username, password))

    def GetSignInCookieInfo(self, inputs: soap.Inputs) -> soap.Reply:
        (username,) = self._require(inputs, "loginUsername")
        return self._answer(username, lambda: self.directory.find(username))


def _is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", type=Path, required=True, help="the provider's config file "
                                                                    "(see ldap-provider.ini)")
    soap.add_server_arguments(parser, listen="127.0.0.1:8801")  # beside the sample provider's 8800
    args = parser.parse_args(argv)
    soap.start_logging()
    try:
        settings = load_settings(args.config)
    except soap.ConfigError as error:
        print("ldap-provider: %s: %s" % (args.config, error), file=sys.stderr)
        return 2
    provider = LdapLoginProvider(settings)
    if not provider.directory.encrypted() and not all(_is_loopback(url) for url in settings.urls):
        LOG.warning("passwords go to %s unencrypted: use ldaps:// or start_tls = yes", " ".join(settings.urls))
    soap.serve_from_arguments(provider, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
