"""Organization > SMTP and POP accounts, through the operations svcSpool runs
(stws.operations.spool).

Passwords are write-only: no page holds one, not even in a value attribute;
a page says whether one is set. An edit with the password left empty keeps
it ("Remove the password" clears it).
"""
from __future__ import annotations

from stws.errors import OperationError
from stws.domain.properties import InvalidProperties
from stws.mail.account_settings import SECURITY_MODES
from stws.mail.pop_accounts import RESTRICTIONS
from stws.operations import organization as org, spool
from stws.web.admin import Page, route
from stws.web.forms import Field, as_items, entered, form_id, query_id, whole_number
from stws.web.pages.organization import administrators

BASE = "/organization/mail-accounts"
SECURITY = Field("Security", "Security", "select", choices=tuple(
    zip(SECURITY_MODES, ("None", "SSL/TLS from the start", "STARTTLS"))))
PASSWORD = Field("Password", "Password", "password")
CLEAR_PASSWORD = Field("ClearPassword", "Remove the password", "checkbox")

# Keys of the accounts' property bags (stws.mail.accounts.SMTP_ACCOUNT_BAG,
# stws.mail.pop_accounts.POP_ACCOUNT_BAG), which an edit posts as Key=Value.
SMTP_FIELDS = (
    Field("Name", "Name"),
    Field("Server", "Server", help="Host name or address of the SMTP server."),
    Field("Port", "Port", "number", help="25, 465 (SSL/TLS) or 587 (STARTTLS) usually."),
    SECURITY,
    Field("UseAuthentication", "Log in to the server", "checkbox"),
    Field("Username", "User name"),
    PASSWORD,
    Field("FromAddress", "From address", "email", help="Sender of the mail sent through this account; "
                                                       "empty: the department's address."),
    Field("FromName", "From name"),
    Field("IsDefault", "Default account", "checkbox", help="Used by brands and departments that name none."),
)
POP_FIELDS = (
    Field("DepartmentId", "Department", "select", help="Mail of this mailbox becomes tickets of this department."),
    Field("EmailAddress", "Email address", "email"),
    Field("Server", "Server", help="Host name or address of the POP server."),
    Field("Port", "Port", "number", help="110, or 995 with SSL/TLS, usually."),
    SECURITY,
    Field("Username", "User name"),
    PASSWORD,
    Field("LeaveOnServer", "Leave messages on the server", "checkbox"),
    Field("ImportFrequencyMinutes", "Check every (minutes)", "number"),
    Field("IsEnabled", "Enabled", "checkbox"),
    Field("NewTicketRestriction", "Who may open a new ticket by email", "select", choices=tuple(zip(
        RESTRICTIONS, ("Anyone", "Registered users only (known addresses)", "Nobody: replies to tickets only")))),
)
SMTP_DEFAULTS = {"Port": "587", "Security": "starttls", "UseAuthentication": True}
POP_DEFAULTS = {"Port": "995", "Security": "ssl", "ImportFrequencyMinutes": "5", "IsEnabled": True,
                "NewTicketRestriction": "anyone"}
NUMBERS = {"SMTP": ("Port",), "POP": ("Port", "ImportFrequencyMinutes")}


def _department_choices(page: Page):
    return [(d.id, d.name) for d in page.run(org.get_all_departments)]


def _pop_fields(page: Page):
    return tuple(f.with_choices(_department_choices(page)) if f.key == "DepartmentId" else f for f in POP_FIELDS)


@route("GET", BASE)
@administrators("mail-accounts")
def accounts_page(page: Page):
    return page.render("admin/mail_accounts.html", title="SMTP and POP accounts",
                       smtp_accounts=page.run(spool.list_smtp_accounts),
                       pop_accounts=page.run(spool.list_pop_accounts),
                       department_names=dict(_department_choices(page)))


def _account_form(page: Page, kind: str, account, values, problems=None, form_error="", status=200):
    """The page of a new (``account`` None) or existing SMTP or POP account."""
    fields = SMTP_FIELDS if kind == "SMTP" else _pop_fields(page)
    if account is None:
        title = "New %s account" % kind
        note = "Type the password again: a page never shows it." if values.get("Password") else ""
    else:
        title = "%s account %s" % (kind, account.name if kind == "SMTP" else account.email_address)
        note = "A password is set; leave this empty to keep it." if account.password else "No password is set."
        # "Remove the password" right after the password.
        at = fields.index(PASSWORD) + 1
        fields = fields[:at] + (CLEAR_PASSWORD,) + fields[at:]
    # The template gets no account row: it could not show a password it never has.
    return page.render("admin/mail_account.html", status=status, title=title, kind=kind,
                       path=BASE + "/" + kind.lower(), account_id=account.id if account else 0,
                       fields=fields, values=values, problems=problems or {}, form_error=form_error,
                       password_note=note)


def _numbers(kind: str, values: dict, problems: dict) -> dict:
    return {key: whole_number(values, key, problems) for key in NUMBERS[kind]}


def _not_created(fields, problems: dict) -> str:
    return "Nothing was created. " + "; ".join("%s: %s" % (f.label, problems[f.key])
                                               for f in fields if f.key in problems) + "."


def _changes(values: dict) -> list[str]:
    """The Key=Value items of an edit: the password only when one was typed
    (or it is to be removed)."""
    values = dict(values)
    password = values.pop("Password")
    if values.pop("ClearPassword", False):
        password, keep = "", False
    else:
        keep = not password
    return as_items(values) + ([] if keep else ["Password=%s" % password])


# ------------------------------------------------------------ SMTP accounts


@route("GET", BASE + "/smtp/new")
@administrators("mail-accounts")
def new_smtp_account(page: Page):
    return _account_form(page, "SMTP", None, dict(SMTP_DEFAULTS))


@route("POST", BASE + "/smtp/create")
@administrators("mail-accounts")
def create_smtp_account(page: Page):
    values = entered(page.request, SMTP_FIELDS)
    problems = {}
    numbers = _numbers("SMTP", values, problems)
    if problems:
        return _account_form(page, "SMTP", None, values, problems, _not_created(SMTP_FIELDS, problems), 400)
    try:
        page.run(spool.create_smtp_account, values["Name"], values["Server"], numbers["Port"], values["Security"],
                 values["UseAuthentication"], values["Username"], values["Password"], values["FromAddress"],
                 values["FromName"], values["IsDefault"])
    except OperationError as failure:
        return _account_form(page, "SMTP", None, values, {}, failure.message, 400)
    return page.done(page.url(BASE), "SMTP account %s is created." % values["Name"])


@route("GET", BASE + "/smtp/edit")
@administrators("mail-accounts")
def edit_smtp_account(page: Page):
    account = page.run(spool.get_smtp_account, query_id(page.request))
    values = {"Name": account.name, "Server": account.server, "Port": account.port, "Security": account.security,
              "UseAuthentication": account.use_authentication, "Username": account.username,
              "FromAddress": account.from_address, "FromName": account.from_name, "IsDefault": account.is_default}
    return _account_form(page, "SMTP", account, values)


@route("POST", BASE + "/smtp/update")
@administrators("mail-accounts")
def update_smtp_account(page: Page):
    return _update_account(page, "SMTP", SMTP_FIELDS, spool.update_smtp_account, spool.get_smtp_account, "Name")


@route("POST", BASE + "/smtp/delete")
@administrators("mail-accounts")
def delete_smtp_account(page: Page):
    return page.act(page.url(BASE), "The SMTP account is deleted.",
                    spool.delete_smtp_account, form_id(page.request))


def _update_account(page: Page, kind: str, fields, update, get, name_key: str):
    """Save an edited SMTP or POP account (``kind``): all its changed keys in
    one operation, or the form again with the refused values beside their fields."""
    account_id = form_id(page.request)
    values = entered(page.request, fields + (CLEAR_PASSWORD,))
    try:
        page.run(update, account_id, _changes(values))
    except OperationError as failure:
        by_key = failure.by_key if isinstance(failure, InvalidProperties) else {}
        return _account_form(page, kind, page.run(get, account_id), values, by_key, failure.message, 400)
    return page.done(page.url(BASE), "%s account %s is saved." % (kind, values[name_key]))


# ------------------------------------------------------------- POP accounts


@route("GET", BASE + "/pop/new")
@administrators("mail-accounts")
def new_pop_account(page: Page):
    return _account_form(page, "POP", None, dict(POP_DEFAULTS))


@route("POST", BASE + "/pop/create")
@administrators("mail-accounts")
def create_pop_account(page: Page):
    values = entered(page.request, POP_FIELDS)
    problems = {}
    numbers = _numbers("POP", values, problems)
    if problems:
        return _account_form(page, "POP", None, values, problems, _not_created(POP_FIELDS, problems), 400)
    try:
        page.run(spool.create_pop_account, form_id(page.request, "DepartmentId"), values["EmailAddress"],
                 values["Server"], numbers["Port"], values["Security"], values["Username"], values["Password"],
                 values["LeaveOnServer"], numbers["ImportFrequencyMinutes"], values["IsEnabled"],
                 values["NewTicketRestriction"])
    except OperationError as failure:
        return _account_form(page, "POP", None, values, {}, failure.message, 400)
    return page.done(page.url(BASE), "POP account %s is created." % values["EmailAddress"])


@route("GET", BASE + "/pop/edit")
@administrators("mail-accounts")
def edit_pop_account(page: Page):
    account = page.run(spool.get_pop_account, query_id(page.request))
    values = {"DepartmentId": account.department_id, "EmailAddress": account.email_address,
              "Server": account.server, "Port": account.port, "Security": account.security,
              "Username": account.username, "LeaveOnServer": account.leave_on_server,
              "ImportFrequencyMinutes": account.import_frequency_minutes, "IsEnabled": account.is_enabled,
              "NewTicketRestriction": account.new_ticket_restriction}
    return _account_form(page, "POP", account, values)


@route("POST", BASE + "/pop/update")
@administrators("mail-accounts")
def update_pop_account(page: Page):
    return _update_account(page, "POP", POP_FIELDS, spool.update_pop_account, spool.get_pop_account,
                           "EmailAddress")


@route("POST", BASE + "/pop/delete")
@administrators("mail-accounts")
def delete_pop_account(page: Page):
    return page.act(page.url(BASE), "The POP account is deleted; the mail it downloaded stays in the spool.",
                    spool.delete_pop_account, form_id(page.request))
