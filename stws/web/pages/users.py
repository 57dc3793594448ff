"""Organization > Users: the user list (search, role filter, pages), a new
user, a user's properties, lock / unlock and delete, through
stws.operations.organization, as svcOrganization runs them.

Form fields are named by the user property keys of SetUsersProperties
(README, svcOrganization), so a problem an operation reports for a key
(InvalidProperties.by_key) is shown beside the field of that name.
"""
from __future__ import annotations

import datetime as dt

from stws.domain.errors import AlreadyExists, NotFound, OperationError, PermissionDenied
from stws.domain.properties import InvalidProperties
from stws.operations import organization
from stws.security import roles
from stws.web.admin import Page, route

BASE = "/organization/users"
PAGE_SIZE = 25

# Edited as text: (key, label, help).
TEXT_PROPERTIES = (
    ("Email", "Email address", ""),
    ("DisplayName", "Display name", "Shown to customers and agents instead of the user name."),
    ("TimeZone", "Time zone", "An IANA name such as Europe/Berlin, America/New_York or UTC."),
    ("AuthenticationDomain", "Authentication domain", "The Active Directory domain, when signing in through it."),
)
BOOLEAN_PROPERTIES = (
    ("IsEmailVerified", "Email address verified"),
    ("ForcePasswordChange", "Must choose a new password at the next sign-in"),
)
AUTHENTICATION_METHODS = (("password", "Password"), ("active_directory", "Active Directory"),
                          ("external", "External provider"))
# Every account has it: shown ticked, never sent from the form.
ALWAYS = roles.EVERYONE


def _administrators_only(page: Page) -> None:
    page.section = "users"
    if not page.may(roles.ADMINISTRATOR):
        raise PermissionDenied("Users are managed by administrators; the account %s needs the %s role."
                               % (page.principal.username, roles.ADMINISTRATOR))


def _user_id(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise NotFound("There is no user with id %r." % text) from None


def when(value) -> str:
    """A UTC time as the pages show it: a datetime, or a property's ISO text."""
    if not value:
        return "never"
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    if value.tzinfo is not None:
        value = value.astimezone(dt.timezone.utc)
    return value.strftime("%Y-%m-%d %H:%M UTC")


def lock_state(user) -> str:
    """Why ``user`` cannot sign in now, or empty."""
    if user.is_locked_out:
        return "Locked by an administrator"
    until = user.lockout_until_utc
    if until is not None:
        until = until if until.tzinfo else until.replace(tzinfo=dt.timezone.utc)
        if until > dt.datetime.now(dt.timezone.utc):
            return "Locked after failed sign-ins until %s" % when(until)
    return ""


def _render(page: Page, template: str, status: int = 200, **context):
    return page.render(template, status=status, when=when, lock_state=lock_state, always_role=ALWAYS,
                       problems=context.pop("problems", {}), form_error=context.pop("form_error", ""), **context)


# ------------------------------------------------------------------ list


@route("GET", BASE)
def user_list(page: Page):
    _administrators_only(page)
    search = page.request.arg("q").strip()
    role = page.request.arg("role").strip()
    try:
        number = max(1, int(page.request.arg("page", "1")))
    except ValueError:
        number = 1
    all_roles = page.run(organization.get_all_roles)
    error = ""
    try:
        found = page.run(organization.list_users, search, role, (number - 1) * PAGE_SIZE, PAGE_SIZE)
        users, total = found.users, found.total
    except OperationError as failure:  # a role filter that names no role
        users, total, error = [], 0, failure.message
    first = (number - 1) * PAGE_SIZE + 1
    return _render(page, "admin/users.html", status=400 if error else 200, title="Users", users=users,
                   total=total, first=first, last=first + len(users) - 1, number=number,
                   has_next=first + len(users) - 1 < total, search=search, role=role, all_roles=all_roles,
                   form_error=error)


# ------------------------------------------------------------------ new user


@route("GET", BASE + "/new")
def new_user_form(page: Page):
    _administrators_only(page)
    return _new_user_page(page, {"UserName": "", "Email": "", "DisplayName": "", "IsEmailVerified": "false",
                                 "Roles": {ALWAYS}})


def _new_user_page(page: Page, entered: dict, status: int = 200, **context):
    return _render(page, "admin/user_new.html", status=status, title="New user", entered=entered,
                   all_roles=page.run(organization.get_all_roles), **context)


@route("POST", BASE + "/new")
def create_user(page: Page):
    _administrators_only(page)
    form = page.request
    entered = {key: form.field(key).strip() for key in ("UserName", "Email", "DisplayName")}
    entered["IsEmailVerified"] = "true" if form.field("IsEmailVerified") == "on" else "false"
    chosen = [name for name in form.fields("Roles") if name != ALWAYS]
    entered["Roles"] = {ALWAYS, *chosen}
    try:
        user_id = page.run(organization.create_user_with_roles, entered["UserName"], form.field("Password"),
                           entered["Email"], entered["IsEmailVerified"] == "true", entered["DisplayName"], chosen)
    except InvalidProperties as failure:
        return _new_user_page(page, entered, 400, problems=failure.by_key, form_error=failure.message)
    except AlreadyExists as failure:  # the user name is taken
        return _new_user_page(page, entered, 400, problems={"UserName": failure.message},
                              form_error=failure.message)
    except OperationError as failure:
        return _new_user_page(page, entered, 400, form_error=failure.message)
    return page.done(page.url(BASE + "/edit", id=user_id), "The user %s is created." % entered["UserName"])


# ------------------------------------------------------------------ edit


def _saved_values(page: Page, user_id: int) -> dict:
    """The user's properties as GetUsersProperties reads them, by key
    (Roles as a set of names)."""
    items = page.run(organization.get_user_properties, user_id, []).items
    values = dict(item.partition("=")[::2] for item in items)
    values["Roles"] = {name for name in values.get("Roles", "").split(",") if name}
    return values


def _entered_values(form) -> dict:
    """The edit form's values, in the shape of ``_saved_values``."""
    entered = {key: form.field(key).strip() for key, _, _ in TEXT_PROPERTIES}
    for key, _ in BOOLEAN_PROPERTIES:
        entered[key] = "true" if form.field(key) == "on" else "false"
    entered["AuthenticationMethod"] = form.field("AuthenticationMethod")
    # Browsers send a textarea's line breaks as CRLF.
    entered["Signature"] = form.field("Signature").replace("\r\n", "\n")
    entered["Roles"] = {ALWAYS, *form.fields("Roles")}
    return entered


def _changed_items(saved: dict, entered: dict, new_password: str) -> list[str]:
    """``Key=Value`` items of what the form changes. Only those are sent: a
    property set again would still count as a change (sending Roles or
    AuthenticationMethod again would end the user's sessions), and what
    someone else changed meanwhile in other fields stays."""
    items = []
    for key, value in entered.items():
        if key == "Roles":
            if value != saved["Roles"]:
                items.append("Roles=" + ",".join(sorted(value)))
        elif value != saved.get(key, ""):
            items.append("%s=%s" % (key, value))
    if new_password:
        items.append("Password=" + new_password)
    return items


def _edit_page(page: Page, user_id: int, entered: dict | None = None, status: int = 200, **context):
    user = page.run(organization.get_user, user_id)
    saved = _saved_values(page, user_id)
    return _render(page, "admin/user_edit.html", status=status, title="User %s" % user.username, user=user,
                   saved=saved, entered=entered or saved, all_roles=page.run(organization.get_all_roles),
                   text_properties=TEXT_PROPERTIES, boolean_properties=BOOLEAN_PROPERTIES,
                   authentication_methods=AUTHENTICATION_METHODS,
                   is_self=user.id == page.principal.user_id, **context)


@route("GET", BASE + "/edit")
def edit_user_form(page: Page):
    _administrators_only(page)
    return _edit_page(page, _user_id(page.request.arg("id")))


@route("POST", BASE + "/edit")
def save_user(page: Page):
    _administrators_only(page)
    user_id = _user_id(page.request.field("id"))
    entered = _entered_values(page.request)
    items = _changed_items(_saved_values(page, user_id), entered, page.request.field("Password"))
    back = page.url(BASE + "/edit", id=user_id)
    if not items:
        return page.done(back, "Nothing was changed: the form was as saved.")
    try:
        changed = page.run(organization.set_user_properties, user_id, items)
    except InvalidProperties as failure:
        return _edit_page(page, user_id, entered, 400, problems=failure.by_key, form_error=failure.message)
    except OperationError as failure:  # e.g. taking the Administrator role from oneself
        return _edit_page(page, user_id, entered, 400, form_error=failure.message)
    return page.done(back, "Saved: %s." % ", ".join(changed))


# ------------------------------------------------------------------ lock, delete


@route("POST", BASE + "/lock")
def lock_user(page: Page):
    _administrators_only(page)
    user_id = _user_id(page.request.field("id"))
    lock = page.request.field("action") == "lock"
    back = page.url(BASE + "/edit", id=user_id)
    try:
        username = page.run(organization.get_user, user_id).username
        page.run(organization.set_user_locked_out, user_id, lock)
    except OperationError as failure:
        return page.failed(back, failure)
    if lock:
        return page.done(back, "%s is locked: their sessions have ended and they cannot sign in." % username)
    return page.done(back, "%s is unlocked and can sign in again." % username)


@route("POST", BASE + "/delete")
def delete_user(page: Page):
    _administrators_only(page)
    user_id = _user_id(page.request.field("id"))
    try:
        username = page.run(organization.get_user, user_id).username
        page.run(organization.delete_user, user_id)
    except OperationError as failure:
        return page.failed(page.url(BASE + "/edit", id=user_id), failure)
    return page.done(page.url(BASE), "The user %s is deleted." % username)
