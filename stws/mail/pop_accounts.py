"""POP accounts: mailboxes whose mail becomes tickets of one department.

The POP Download thread (``stws.mail.pop``) fetches each enabled account
every ``import_frequency_minutes``; the Email Import thread
(``stws.mail.importer``) turns the downloaded messages into tickets.
``new_ticket_restriction`` says who may open a new ticket by email:
``anyone``, ``registered`` (only addresses of existing users) or ``nobody``
(replies to existing tickets only). Passwords are kept in clear (needed to
log in) and never read back: reads say ``HasPassword`` instead.
"""
from __future__ import annotations

import socket

from sqlalchemy import select, update

from stws.db.models import Department, IncomingMessage, PopAccount
from stws.domain.errors import InvalidArgument, NotFound
from stws.domain.properties import Property, PropertyBag, parse_bool, parse_int
from stws.mail.accounts import _address, _port, _security, _text

RESTRICTIONS = ("anyone", "registered", "nobody")
MAX_FREQUENCY_MINUTES = 7 * 24 * 60


def _restriction(value) -> str:
    text = (value or "").strip().lower() or "anyone"
    if text not in RESTRICTIONS:
        raise InvalidArgument("newTicketRestriction must be one of %s, not %r." % (", ".join(RESTRICTIONS), value))
    return text


def _password(text: str) -> str:
    if len(text or "") > 1000:
        raise ValueError("longer than 1000 characters")
    return text or ""


def _department(session, department_id) -> Department:
    department = session.get(Department, department_id) if department_id else None
    if department is None or department.is_deleted:
        raise NotFound("There is no department with id %s." % department_id)
    return department


def check_pop_account(session, account: PopAccount) -> None:
    """Whole-account rules, after creation or a change."""
    _department(session, account.department_id)
    account.email_address = _address(account.email_address)
    if not account.email_address:
        raise InvalidArgument("emailAddress is required.")
    account.server = _text(account.server, "server", 255, required=True)
    if any(c.isspace() for c in account.server):
        raise InvalidArgument("server %r contains spaces." % account.server)
    _port(account.port)
    account.security = _security(account.security)
    account.username = _text(account.username, "username", 320, required=True)
    if not isinstance(account.import_frequency_minutes, int) or not (
            1 <= account.import_frequency_minutes <= MAX_FREQUENCY_MINUTES):
        raise InvalidArgument("importFrequencyMinutes must be between 1 and %d, not %r."
                              % (MAX_FREQUENCY_MINUTES, account.import_frequency_minutes))
    account.new_ticket_restriction = _restriction(account.new_ticket_restriction)
    _password(account.password)


def create_pop_account(session, department_id, email_address, server, port, security, username, password,
                       leave_on_server, import_frequency_minutes, is_enabled, new_ticket_restriction) -> PopAccount:
    account = PopAccount(department_id=department_id, email_address=email_address, server=server, port=port,
                         security=security, username=username, password=password or "",
                         leave_on_server=bool(leave_on_server),
                         import_frequency_minutes=import_frequency_minutes or 5, is_enabled=bool(is_enabled),
                         new_ticket_restriction=new_ticket_restriction, last_error="")
    try:
        check_pop_account(session, account)
    except ValueError as error:
        raise InvalidArgument("password is %s." % error) from None
    session.add(account)
    session.flush()
    return account


def pop_accounts(session) -> list[PopAccount]:
    return list(session.scalars(select(PopAccount).order_by(PopAccount.email_address, PopAccount.id)))


def get_pop_account(session, account_id: int) -> PopAccount:
    account = session.get(PopAccount, account_id) if account_id else None
    if account is None:
        raise NotFound("There is no POP account with id %s." % account_id)
    return account


def _set(attribute):
    def apply(_context, account, value):
        setattr(account, attribute, value)
    return apply


POP_ACCOUNT_BAG = PropertyBag("A POP account", [
    Property("ID", lambda c, a: a.id),
    Property("DepartmentId", lambda c, a: a.department_id, parse_int, _set("department_id")),
    Property("EmailAddress", lambda c, a: a.email_address, str, _set("email_address")),
    Property("Server", lambda c, a: a.server, str, _set("server")),
    Property("Port", lambda c, a: a.port, parse_int, _set("port")),
    Property("Security", lambda c, a: a.security, _security, _set("security")),
    Property("Username", lambda c, a: a.username, str, _set("username")),
    Property("Password", None, _password, _set("password"), readable=False),
    Property("LeaveOnServer", lambda c, a: a.leave_on_server, parse_bool, _set("leave_on_server")),
    Property("ImportFrequencyMinutes", lambda c, a: a.import_frequency_minutes, parse_int,
             _set("import_frequency_minutes")),
    Property("IsEnabled", lambda c, a: a.is_enabled, parse_bool, _set("is_enabled")),
    Property("NewTicketRestriction", lambda c, a: a.new_ticket_restriction, _restriction,
             _set("new_ticket_restriction")),
])


def update_pop_account(session, account_id: int, assignments) -> list[str]:
    account = get_pop_account(session, account_id)
    changed = POP_ACCOUNT_BAG.set(session, account, assignments)
    with session.no_autoflush:
        check_pop_account(session, account)
    if "Server" in changed or "Port" in changed or "Username" in changed or "Password" in changed:
        account.last_error = ""
    return changed


def delete_pop_account(session, account_id: int) -> None:
    """Its downloaded messages stay in the incoming spool (without an account:
    those still pending fail at import with "no POP account")."""
    account = get_pop_account(session, account_id)
    session.execute(update(IncomingMessage).where(IncomingMessage.account_id == account.id)
                    .values(account_id=None))
    session.delete(account)


# ---------------------------------------------------------------- self-diagnostic


def probe_pop(server: str, port: int, security: str, timeout: float = 5.0) -> str:
    """Connect and read the greeting; returns it, raises OSError/ValueError."""
    import ssl

    with socket.create_connection((server, port), timeout=timeout) as raw:
        raw.settimeout(timeout)
        if security == "ssl":
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE  # only whether it answers; downloads verify
            with context.wrap_socket(raw, server_hostname=server) as wrapped:
                greeting = wrapped.recv(512)
        else:
            greeting = raw.recv(512)
    text = greeting.decode("latin-1").strip()
    if not text.startswith("+OK"):
        raise ValueError("unexpected greeting %r" % text[:200])
    return text


def check_pop_accounts(runtime):
    from stws.diagnostics.selfcheck import FAILURE, PASS, Check

    with runtime.db.transaction(writes=False) as session:
        accounts = [(a.email_address, a.server, a.port, a.security) for a in pop_accounts(session) if a.is_enabled]
    results = []
    for name, server, port, security in accounts:
        label = "POP account %s" % name
        try:
            greeting = probe_pop(server, port, security)
        except (OSError, ValueError) as error:
            results.append(Check(label, FAILURE, "%s:%d does not answer: %s" % (server, port, error)))
        else:
            results.append(Check(label, PASS, "%s:%d answers: %s" % (server, port, greeting[:120])))
    return results


def _register_checks():
    from stws.diagnostics import selfcheck

    if check_pop_accounts not in selfcheck.EXTRA_CHECKS:
        selfcheck.EXTRA_CHECKS.append(check_pop_accounts)


_register_checks()
