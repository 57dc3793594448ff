"""SMTP accounts: the servers outgoing mail goes through.

A brand or department may name one; a message goes out through its own
account if it has one, else its ticket's department's, else that
department's brand's, else the default account (``resolve_account_ids``).
Passwords are kept in clear (needed to log in) and never read back: reads
say ``HasPassword`` instead. POP accounts: ``stws.mail.pop_accounts``; what
both share: ``stws.mail.account_settings``.
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select, update

from stws.db.models import Brand, Department, OutgoingMessage, SmtpAccount, Ticket
from stws.errors import AlreadyExists, InUse, InvalidArgument, NotFound
from stws.domain.outgoing_mail import DEFAULT_ACCOUNT_ID
from stws.domain.properties import Property, PropertyBag, parse_bool
from stws.mail.account_settings import (CREDENTIAL_PROPERTIES, MAX_PASSWORD, SERVER_PROPERTIES,
                                        LOGIN_TIMEOUT_SECONDS, LoginProbeFailed, check_server_settings,
                                        checked_address, checked_text, get_account, login_checks,
                                        reply_text, setter)
from stws.mail import tls

# ---------------------------------------------------------------- SMTP accounts


@dataclass(frozen=True)
class AccountSpec:
    """What SMTP Delivery needs of an account, read once per run (stws.mail.delivery)."""

    id: int
    name: str
    server: str
    port: int
    security: str
    use_authentication: bool
    username: str
    password: str
    from_address: str

    @classmethod
    def of(cls, account: SmtpAccount) -> "AccountSpec":
        return cls(account.id, account.name, account.server, account.port, account.security,
                   account.use_authentication, account.username, account.password, account.from_address)

    def __repr__(self):  # never the password
        return "<SMTP account %d %r %s:%d>" % (self.id, self.name, self.server, self.port)

def check_smtp_account(session, account: SmtpAccount) -> None:
    """Whole-account rules, after creation or a change."""
    account.name = checked_text(account.name, "name", 200, required=True)
    check_server_settings(account, username_required=False)
    if account.use_authentication and not account.username:
        raise InvalidArgument("useAuthentication needs a username.")
    account.from_address = checked_address(account.from_address)
    account.from_name = checked_text(account.from_name, "fromName", 200)
    with session.no_autoflush:  # the changed row is not written before it is checked
        clash = session.scalar(select(SmtpAccount.id).where(func.lower(SmtpAccount.name) == account.name.lower(),
                                                            SmtpAccount.id != (account.id or 0)))
    if clash is not None:
        raise AlreadyExists("There is already an SMTP account named %r." % account.name)


def _make_only_default(session, account: SmtpAccount) -> None:
    session.flush()
    session.execute(update(SmtpAccount).where(SmtpAccount.id != account.id).values(is_default=False))


def create_smtp_account(session, name, server, port, security, use_authentication, username, password,
                        from_address, from_name, is_default) -> SmtpAccount:
    account = SmtpAccount(name=name, server=server, port=port, security=security,
                          use_authentication=bool(use_authentication), username=username or "",
                          password=password or "", from_address=from_address or "", from_name=from_name or "",
                          is_default=bool(is_default))
    check_smtp_account(session, account)
    if len(account.password) > MAX_PASSWORD:
        raise InvalidArgument("password is longer than %d characters." % MAX_PASSWORD)
    session.add(account)
    session.flush()
    if account.is_default:
        _make_only_default(session, account)
    return account


def smtp_accounts(session) -> list[SmtpAccount]:
    return list(session.scalars(select(SmtpAccount).order_by(SmtpAccount.name, SmtpAccount.id)))


def get_smtp_account(session, account_id: int) -> SmtpAccount:
    return get_account(session, SmtpAccount, "SMTP", account_id)


SMTP_ACCOUNT_BAG = PropertyBag("An SMTP account", [
    Property("ID", lambda c, a: a.id),
    Property("Name", lambda c, a: a.name, str, setter("name")),
    *SERVER_PROPERTIES,
    Property("UseAuthentication", lambda c, a: a.use_authentication, parse_bool, setter("use_authentication")),
    *CREDENTIAL_PROPERTIES,
    Property("FromAddress", lambda c, a: a.from_address, str, setter("from_address")),
    Property("FromName", lambda c, a: a.from_name, str, setter("from_name")),
    Property("IsDefault", lambda c, a: a.is_default, parse_bool, setter("is_default")),
])


def update_smtp_account(session, account_id: int, assignments) -> list[str]:
    account = get_smtp_account(session, account_id)
    changed = SMTP_ACCOUNT_BAG.set(session, account, assignments)
    check_smtp_account(session, account)
    if account.is_default:
        _make_only_default(session, account)
    return changed


def smtp_account_users(session, account_id: int) -> list[str]:
    """What names the account: brands and departments (not deleted)."""
    users = ["brand %r" % name for name in session.scalars(
        select(Brand.name).where(Brand.smtp_account_id == account_id, Brand.is_deleted.is_(False)))]
    users += ["department %r" % name for name in session.scalars(
        select(Department.name).where(Department.smtp_account_id == account_id,
                                      Department.is_deleted.is_(False)))]
    return users


def delete_smtp_account(session, account_id: int) -> None:
    account = get_smtp_account(session, account_id)
    users = smtp_account_users(session, account_id)
    if users:
        raise InUse("The SMTP account %r is used by %s; choose another account there first."
                    % (account.name, ", ".join(users)))
    # Queued messages pinned to it fall back to their department's/brand's/default account.
    session.execute(update(OutgoingMessage).where(OutgoingMessage.smtp_account_id == account_id)
                    .values(smtp_account_id=None))
    # Deleted brands/departments may still name it.
    session.execute(update(Brand).where(Brand.smtp_account_id == account_id).values(smtp_account_id=None))
    session.execute(update(Department).where(Department.smtp_account_id == account_id)
                    .values(smtp_account_id=None))
    session.delete(account)


def _account_or_none(session, account_id: int) -> int | None:
    if account_id in (None, 0):
        return None
    return get_smtp_account(session, account_id).id


def _live_department(session, department_id: int) -> Department:
    department = session.get(Department, department_id) if department_id else None
    if department is None or department.is_deleted:
        raise NotFound("There is no department with id %s." % department_id)
    return department


def set_department_smtp_account(session, department_id: int, account_id: int) -> None:
    _live_department(session, department_id).smtp_account_id = _account_or_none(session, account_id)


def department_smtp_account(session, department_id: int) -> int:
    """The id of the account the department names; 0 = none (its brand's or the default)."""
    return _live_department(session, department_id).smtp_account_id or 0


def set_brand_smtp_account(session, brand_id: int, account_id: int) -> None:
    brand = session.get(Brand, brand_id) if brand_id else None
    if brand is None or brand.is_deleted:
        raise NotFound("There is no brand with id %s." % brand_id)
    brand.smtp_account_id = _account_or_none(session, account_id)


def resolve_account_ids(session, message_ids) -> dict[int, int | None]:
    """{spool row id: the SMTP account id it goes out through, or None}:
    the row's own, else its ticket's department's, else that brand's, else
    the default account."""
    default_id = session.scalar(select(DEFAULT_ACCOUNT_ID))
    rows = session.execute(
        select(OutgoingMessage.id, OutgoingMessage.smtp_account_id, Department.smtp_account_id,
               Brand.smtp_account_id)
        .select_from(OutgoingMessage)
        .outerjoin(Ticket, Ticket.id == OutgoingMessage.ticket_id)
        .outerjoin(Department, Department.id == Ticket.department_id)
        .outerjoin(Brand, Brand.id == Department.brand_id)
        .where(OutgoingMessage.id.in_(list(message_ids)))
    )
    return {row_id: own or department or brand or default_id for row_id, own, department, brand in rows}


# ---------------------------------------------------------------- self-diagnostic


def smtp_login(account) -> list[str]:
    """Log in as delivery does (EHLO, STARTTLS or SSL as configured, AUTH
    when configured), then QUIT without sending; what the server said.
    ``account``: an ``AccountSpec``."""
    import smtplib

    said = []
    if account.security == "ssl":
        client = smtplib.SMTP_SSL(timeout=LOGIN_TIMEOUT_SECONDS, context=tls.ssl_context())
    else:
        client = smtplib.SMTP(timeout=LOGIN_TIMEOUT_SECONDS)
    # The name SSL and STARTTLS check the certificate against; only a
    # constructor that connects at once sets it, and it hides the greeting.
    client._host = account.server
    try:
        code, greeting = client.connect(account.server, account.port)
        said.append("%d %s" % (code, reply_text(greeting)))
        if code != 220:
            raise LoginProbeFailed("greets with %s" % said[-1])
        code, answer = client.ehlo()
        # Without TLS or AUTH delivery falls back to HELO; with them EHLO is needed.
        if code != 250 and not (account.security == "none" and not account.use_authentication):
            raise LoginProbeFailed("EHLO refused: %d %s" % (code, reply_text(answer)))
        if account.security == "starttls":
            client.starttls(context=tls.ssl_context())
            client.ehlo()
            said.append("STARTTLS")
        if account.use_authentication:
            try:
                code, answer = client.login(account.username, account.password)
            except smtplib.SMTPAuthenticationError as refused:
                raise LoginProbeFailed("login as %s refused: %d %s" % (
                    account.username, refused.smtp_code, reply_text(refused.smtp_error))) from None
            said.append("logged in as %s: %d %s" % (account.username, code, reply_text(answer)))
        client.quit()
    except smtplib.SMTPResponseException as error:
        raise LoginProbeFailed("%s: %d %s" % (", ".join(said) or "connecting", error.smtp_code,
                                              reply_text(error.smtp_error))) from None
    except smtplib.SMTPException as error:  # STARTTLS or AUTH not offered, connection dropped
        raise LoginProbeFailed(str(error)) from None
    finally:
        client.close()
    return said


def check_smtp_accounts(runtime):

    with runtime.db.transaction(writes=False) as session:
        accounts = [(a.name, AccountSpec.of(a)) for a in smtp_accounts(session)]
    return login_checks("SMTP", accounts, smtp_login)


