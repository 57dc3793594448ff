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
