"""svcSpool operations: mail accounts (stws.operations.spool, rules in
stws.mail.accounts and stws.mail.pop_accounts).

SMTP accounts: create, list (never a password: HasPassword instead), change
by Key=Value, delete (refused while a brand or department uses it), and the
account a department or brand sends through. POP accounts: create, list,
change, delete. Administrators only.
"""
from __future__ import annotations

from stws.operations import spool as spool_ops
from stws.services.spool.types import NEVER, T
from stws.soap.operation import binds
from stws.soap.types import ArrayOfString, Bool, Int, String, When

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


def _changed(keys) -> dict:
    return {"Message": "Changed: %s." % ", ".join(keys)}


@binds(spool_ops.create_smtp_account, ("name", String), ("server", String), ("port", Int), ("security", String),
       ("useAuthentication", Bool), ("username", String), ("password", String), ("fromAddress", String),
       ("fromName", String), ("isDefault", Bool), returns=T.IntRequestResult)
def CreateSmtpAccount(account):
    """A new SMTP account; security is none, ssl or starttls. Returns its id."""
    return {"RequestResult": account.id}


@binds(spool_ops.list_smtp_accounts, returns=SmtpAccountInfoArrayResult)
def GetSmtpAccounts(accounts):
    """Every SMTP account, by name; passwords are never returned (HasPassword)."""
    return {"Accounts": [smtp_account_info(a) for a in accounts]}


@binds(spool_ops.update_smtp_account, ("accountId", Int), ("propertyValues", ArrayOfString),
       returns=T.GenericResult)
def UpdateSmtpAccount(changed):
    """Change properties (Key=Value, all or nothing): Name, Server, Port, Security,
    UseAuthentication, Username, Password, FromAddress, FromName, IsDefault."""
    return _changed(changed)


@binds(spool_ops.delete_smtp_account, ("accountId", Int), returns=T.GenericResult)
def DeleteSmtpAccount(_):
    """Delete an account no brand or department uses (else IN_USE)."""
    return {}


@binds(spool_ops.set_department_smtp_account, ("departmentId", Int), ("accountId", Int), returns=T.GenericResult)
def SetDepartmentSmtpAccount(_):
    """The account the department's mail goes out through; 0 = its brand's (or the default)."""
    return {}


@binds(spool_ops.set_brand_smtp_account, ("brandId", Int), ("accountId", Int), returns=T.GenericResult)
def SetBrandSmtpAccount(_):
    """The account the brand's mail goes out through; 0 = the default account."""
    return {}


# ---------------------------------------------------------------- POP accounts

PopAccountInfo = T.complex("PopAccountInfo", [
    ("DepartmentId", Int), ("EmailAddress", String), ("HasPassword", Bool), ("ID", Int),
    ("ImportFrequencyMinutes", Int), ("IsEnabled", Bool), ("LastCheckUtc", When), ("LastError", String),
    ("LeaveOnServer", Bool), ("NewTicketRestriction", String), ("Port", Int), ("Security", String),
    ("Server", String), ("Username", String),
])
PopAccountInfoArrayResult = T.result("PopAccountInfoArrayResult", Accounts=T.array_of(PopAccountInfo))


def pop_account_info(account) -> PopAccountInfo:
    return PopAccountInfo(
        DepartmentId=account.department_id, EmailAddress=account.email_address, HasPassword=bool(account.password),
        ID=account.id, ImportFrequencyMinutes=account.import_frequency_minutes, IsEnabled=account.is_enabled,
        LastCheckUtc=account.last_check_utc or NEVER, LastError=account.last_error or "",
        LeaveOnServer=account.leave_on_server, NewTicketRestriction=account.new_ticket_restriction,
        Port=account.port, Security=account.security, Server=account.server, Username=account.username)


@binds(spool_ops.create_pop_account, ("departmentId", Int), ("emailAddress", String), ("server", String),
       ("port", Int), ("security", String), ("username", String), ("password", String), ("leaveOnServer", Bool),
       ("importFrequencyMinutes", Int), ("isEnabled", Bool), ("newTicketRestriction", String),
       returns=T.IntRequestResult)
def CreatePopAccount(account):
    """A new POP account whose mail becomes tickets of the department; security is
    none, ssl or starttls; newTicketRestriction anyone, registered or nobody. Returns its id."""
    return {"RequestResult": account.id}


@binds(spool_ops.list_pop_accounts, returns=PopAccountInfoArrayResult)
def GetPopAccounts(accounts):
    """Every POP account, by address; passwords are never returned (HasPassword)."""
    return {"Accounts": [pop_account_info(a) for a in accounts]}


@binds(spool_ops.update_pop_account, ("accountId", Int), ("propertyValues", ArrayOfString),
       returns=T.GenericResult)
def UpdatePopAccount(changed):
    """Change properties (Key=Value, all or nothing): DepartmentId, EmailAddress, Server, Port,
    Security, Username, Password, LeaveOnServer, ImportFrequencyMinutes, IsEnabled, NewTicketRestriction."""
    return _changed(changed)


@binds(spool_ops.delete_pop_account, ("accountId", Int), returns=T.GenericResult)
def DeletePopAccount(_):
    """Delete a POP account; the messages it downloaded stay in the incoming spool."""
    return {}
