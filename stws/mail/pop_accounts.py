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

from sqlalchemy import select, update

from stws.db.models import Department, IncomingMessage, PopAccount
from stws.errors import InvalidArgument, NotFound
from stws.domain.properties import Property, PropertyBag, parse_bool, parse_int
from stws.mail.account_settings import (CREDENTIAL_PROPERTIES, LOGIN_TIMEOUT_SECONDS, SERVER_PROPERTIES,
                                        LoginProbeFailed, check_server_settings, checked_address, checked_password,
                                        get_account, login_checks, reply_text, setter)
from stws.mail import tls

RESTRICTIONS = ("anyone", "registered", "nobody")
MAX_FREQUENCY_MINUTES = 7 * 24 * 60


def _restriction(value) -> str:
    text = (value or "").strip().lower() or "anyone"
    if text not in RESTRICTIONS:
        raise InvalidArgument("newTicketRestriction must be one of %s, not %r." % (", ".join(RESTRICTIONS), value))
    return text


def _department(session, department_id) -> Department:
    department = session.get(Department, department_id) if department_id else None
    if department is None or department.is_deleted:
        raise NotFound("There is no department with id %s." % department_id)
    return department


def check_pop_account(session, account: PopAccount) -> None:
    """Whole-account rules, after creation or a change."""
    _department(session, account.department_id)
    account.email_address = checked_address(account.email_address)
    if not account.email_address:
        raise InvalidArgument("emailAddress is required.")
    check_server_settings(account, username_required=True)
    if not isinstance(account.import_frequency_minutes, int) or not (
            1 <= account.import_frequency_minutes <= MAX_FREQUENCY_MINUTES):
        raise InvalidArgument("importFrequencyMinutes must be between 1 and %d, not %r."
                              % (MAX_FREQUENCY_MINUTES, account.import_frequency_minutes))
    account.new_ticket_restriction = _restriction(account.new_ticket_restriction)
    checked_password(account.password)


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
    return get_account(session, PopAccount, "POP", account_id)


POP_ACCOUNT_BAG = PropertyBag("A POP account", [
    Property("ID", lambda c, a: a.id),
    Property("DepartmentId", lambda c, a: a.department_id, parse_int, setter("department_id")),
    Property("EmailAddress", lambda c, a: a.email_address, str, setter("email_address")),
    *SERVER_PROPERTIES,
    *CREDENTIAL_PROPERTIES,
    Property("LeaveOnServer", lambda c, a: a.leave_on_server, parse_bool, setter("leave_on_server")),
    Property("ImportFrequencyMinutes", lambda c, a: a.import_frequency_minutes, parse_int,
             setter("import_frequency_minutes")),
    Property("IsEnabled", lambda c, a: a.is_enabled, parse_bool, setter("is_enabled")),
    Property("NewTicketRestriction", lambda c, a: a.new_ticket_restriction, _restriction,
             setter("new_ticket_restriction")),
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


def pop_login(account) -> list[str]:
    """Log in as the POP Download thread does (TLS as configured, USER/PASS),
    then QUIT without reading or deleting anything; what the server said.
    ``account``: a stws.mail.pop.AccountSpec."""
    import poplib

    try:
        if account.security == "ssl":
            client = poplib.POP3_SSL(account.server, account.port, timeout=LOGIN_TIMEOUT_SECONDS,
                                     context=tls.ssl_context())
        else:
            client = poplib.POP3(account.server, account.port, timeout=LOGIN_TIMEOUT_SECONDS)
    except poplib.error_proto as error:  # the greeting was not +OK
        raise LoginProbeFailed("greets with %s" % reply_text(error.args[0])) from None
    said = [reply_text(client.getwelcome())]
    try:
        if account.security == "starttls":
            client.stls(context=tls.ssl_context())
            said.append("STARTTLS")
        try:
            client.user(account.username)
            answer = client.pass_(account.password)
        except poplib.error_proto as refused:
            raise LoginProbeFailed("login as %s refused: %s" % (account.username, reply_text(refused.args[0])))
        said.append("logged in as %s: %s" % (account.username, reply_text(answer)))
        client.quit()  # no DELE was sent: nothing is removed
    except poplib.error_proto as error:  # STLS refused, QUIT answered -ERR
        raise LoginProbeFailed("%s: %s" % (", ".join(said), reply_text(error.args[0]))) from None
    finally:
        client.close()
    return said


def check_pop_accounts(runtime):
    from stws.mail.pop import AccountSpec

    with runtime.db.transaction(writes=False) as session:
        accounts = [(a.email_address, AccountSpec(a.id, a.email_address, a.server, a.port, a.security, a.username,
                                                  a.password, a.leave_on_server))
                    for a in pop_accounts(session) if a.is_enabled]
    return login_checks("POP", accounts, pop_login)


