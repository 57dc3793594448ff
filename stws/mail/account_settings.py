"""What SMTP accounts (``stws.mail.accounts``) and POP accounts
(``stws.mail.pop_accounts``) share: the checks of the server they connect to
(host, port, security mode), of the credentials and addresses they hold, and
what their self-diagnostic login checks share.

The ``checked_*`` functions return the cleaned value or raise
``InvalidArgument`` (``checked_password`` raises ``ValueError``, as a
``PropertyBag`` parser does).
"""
from __future__ import annotations

from stws.errors import InvalidArgument, NotFound
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
#
# Each account is checked by logging in as the threads that use it do
# (stws.mail.accounts: SMTP, stws.mail.pop_accounts: POP), without sending,
# reading or deleting anything: a greeting alone passed an account whose
# password the server refuses.

LOGIN_TIMEOUT_SECONDS = 15  # each reply; a refused login may be answered slowly on purpose


class LoginProbeFailed(Exception):
    """What went wrong at which step, with the server's reply."""


def reply_text(reply) -> str:
    """A server's reply (bytes or text) as one line."""
    if isinstance(reply, bytes):
        reply = reply.decode("utf-8", "replace")
    return " ".join(str(reply).split())[:300]


def login_checks(kind: str, accounts, log_in) -> list:
    """One self-diagnostic Check per ``(label, account spec)`` in ``accounts``:
    ``log_in(spec)`` returns what the server said on the way (pass), or
    raises LoginProbeFailed or OSError (failure)."""
    from stws.diagnostics.selfcheck import FAILURE, PASS, Check

    results = []
    for label, spec in accounts:
        name, where = "%s account %s" % (kind, label), "%s:%d" % (spec.server, spec.port)
        try:
            said = log_in(spec)
        except LoginProbeFailed as failure:
            results.append(Check(name, FAILURE, "%s: %s" % (where, failure)))
        except OSError as error:  # refused, timed out, a certificate not trusted, ...
            results.append(Check(name, FAILURE, "%s does not answer: %s" % (where, error or type(error).__name__)))
        else:
            results.append(Check(name, PASS, "%s: %s" % (where, "; ".join(said))))
    return results

