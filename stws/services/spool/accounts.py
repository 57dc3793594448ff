"""svcSpool operations: mail accounts.

SMTP accounts (grouped here; POP account operations follow below them):
create, list (never a password: HasPassword instead), change by Key=Value,
delete (refused while a brand or department uses it), and the account a
department or brand sends through. Administrators only.
"""
from __future__ import annotations

from stws.mail import accounts as mail_accounts
from stws.security import roles
from stws.services.spool.types import T
from stws.soap.operation import operation
from stws.soap.types import ArrayOfString, Bool, Int, String

# ---------------------------------------------------------------- SMTP accounts

SmtpAccountInfo = T.complex("SmtpAccountInfo", [
    ("FromAddress", String), ("FromName", String), ("HasPassword", Bool), ("ID", Int), ("IsDefault", Bool),
    ("Name", String), ("Port", Int), ("Security", String), ("Server", String), ("UseAuthentication", Bool),
    ("Username", String),
])
SmtpAccountInfoArrayResult = T.result("SmtpAccountInfoArrayResult", Accounts=T.array_of(SmtpAccountInfo))


def smtp_account_info(account) -> SmtpAccountInfo:
    return SmtpAccountInfo(FromAddress=account.from_address, FromName=account.from_name,
                           HasPassword=bool(account.password), ID=account.id, IsDefault=account.is_default,
                           Name=account.name, Port=account.port, Security=account.security, Server=account.server,
                           UseAuthentication=account.use_authentication, Username=account.username)


@operation(("name", String), ("server", String), ("port", Int), ("security", String),
           ("useAuthentication", Bool), ("username", String), ("password", String), ("fromAddress", String),
           ("fromName", String), ("isDefault", Bool), returns=T.IntRequestResult, role=roles.ADMINISTRATOR)
def CreateSmtpAccount(call, name, server, port, security, useAuthentication, username, password, fromAddress,
                      fromName, isDefault):
    """A new SMTP account; security is none, ssl or starttls. Returns its id."""
    account = mail_accounts.create_smtp_account(call.session, name, server, port, security, useAuthentication,
                                                username, password, fromAddress, fromName, isDefault)
    return {"RequestResult": account.id}


@operation(returns=SmtpAccountInfoArrayResult, role=roles.ADMINISTRATOR, writes=False)
def GetSmtpAccounts(call):
    """Every SMTP account, by name; passwords are never returned (HasPassword)."""
    return {"Accounts": [smtp_account_info(a) for a in mail_accounts.smtp_accounts(call.session)]}


@operation(("accountId", Int), ("propertyValues", ArrayOfString), returns=T.GenericResult,
           role=roles.ADMINISTRATOR)
def UpdateSmtpAccount(call, accountId, propertyValues):
    """Change properties (Key=Value, all or nothing): Name, Server, Port, Security,
    UseAuthentication, Username, Password, FromAddress, FromName, IsDefault."""
    changed = mail_accounts.update_smtp_account(call.session, accountId, propertyValues)
    return {"Message": "Changed: %s." % ", ".join(changed)}


@operation(("accountId", Int), returns=T.GenericResult, role=roles.ADMINISTRATOR)
def DeleteSmtpAccount(call, accountId):
    """Delete an account no brand or department uses (else IN_USE)."""
    mail_accounts.delete_smtp_account(call.session, accountId)
    return {}


@operation(("departmentId", Int), ("accountId", Int), returns=T.GenericResult, role=roles.ADMINISTRATOR)
def SetDepartmentSmtpAccount(call, departmentId, accountId):
    """The account the department's mail goes out through; 0 = its brand's (or the default)."""
    mail_accounts.set_department_smtp_account(call.session, departmentId, accountId)
    return {}


@operation(("brandId", Int), ("accountId", Int), returns=T.GenericResult, role=roles.ADMINISTRATOR)
def SetBrandSmtpAccount(call, brandId, accountId):
    """The account the brand's mail goes out through; 0 = the default account."""
    mail_accounts.set_brand_smtp_account(call.session, brandId, accountId)
    return {}


# ---------------------------------------------------------------- POP accounts (to come)
# (POP account operations: written by the incoming-mail work; domain in stws.mail.pop_accounts.)

from stws.mail import pop_accounts as mail_pop_accounts  # noqa: E402
from stws.soap.types import When  # noqa: E402

PopAccountInfo = T.complex("PopAccountInfo", [
    ("DepartmentId", Int), ("EmailAddress", String), ("HasPassword", Bool), ("ID", Int),
    ("ImportFrequencyMinutes", Int), ("IsEnabled", Bool), ("LastCheckUtc", When), ("LastError", String),
    ("LeaveOnServer", Bool), ("NewTicketRestriction", String), ("Port", Int), ("Security", String),
    ("Server", String), ("Username", String),
])
PopAccountInfoArrayResult = T.result("PopAccountInfoArrayResult", Accounts=T.array_of(PopAccountInfo))


def pop_account_info(account) -> PopAccountInfo:
    import datetime as _dt

    return PopAccountInfo(
        DepartmentId=account.department_id, EmailAddress=account.email_address, HasPassword=bool(account.password),
        ID=account.id, ImportFrequencyMinutes=account.import_frequency_minutes, IsEnabled=account.is_enabled,
        LastCheckUtc=account.last_check_utc or _dt.datetime(1, 1, 1, tzinfo=_dt.timezone.utc),
        LastError=account.last_error or "", LeaveOnServer=account.leave_on_server,
        NewTicketRestriction=account.new_ticket_restriction, Port=account.port, Security=account.security,
        Server=account.server, Username=account.username)


@operation(("departmentId", Int), ("emailAddress", String), ("server", String), ("port", Int),
           ("security", String), ("username", String), ("password", String), ("leaveOnServer", Bool),
           ("importFrequencyMinutes", Int), ("isEnabled", Bool), ("newTicketRestriction", String),
           returns=T.IntRequestResult, role=roles.ADMINISTRATOR)
def CreatePopAccount(call, departmentId, emailAddress, server, port, security, username, password, leaveOnServer,
                     importFrequencyMinutes, isEnabled, newTicketRestriction):
    """A new POP account whose mail becomes tickets of the department; security is
    none, ssl or starttls; newTicketRestriction anyone, registered or nobody. Returns its id."""
    account = mail_pop_accounts.create_pop_account(
        call.session, departmentId, emailAddress, server, port, security, username, password, leaveOnServer,
        importFrequencyMinutes, isEnabled, newTicketRestriction)
    return {"RequestResult": account.id}


@operation(returns=PopAccountInfoArrayResult, role=roles.ADMINISTRATOR, writes=False)
def GetPopAccounts(call):
    """Every POP account, by address; passwords are never returned (HasPassword)."""
    return {"Accounts": [pop_account_info(a) for a in mail_pop_accounts.pop_accounts(call.session)]}


@operation(("accountId", Int), ("propertyValues", ArrayOfString), returns=T.GenericResult,
           role=roles.ADMINISTRATOR)
def UpdatePopAccount(call, accountId, propertyValues):
    """Change properties (Key=Value, all or nothing): DepartmentId, EmailAddress, Server, Port,
    Security, Username, Password, LeaveOnServer, ImportFrequencyMinutes, IsEnabled, NewTicketRestriction."""
    changed = mail_pop_accounts.update_pop_account(call.session, accountId, propertyValues)
    return {"Message": "Changed: %s." % ", ".join(changed)}


@operation(("accountId", Int), returns=T.GenericResult, role=roles.ADMINISTRATOR)
def DeletePopAccount(call, accountId):
    """Delete a POP account; the messages it downloaded stay in the incoming spool."""
    mail_pop_accounts.delete_pop_account(call.session, accountId)
    return {}
