"""Organization > Users: the user list (search, role filter, pages), a new
user, a user's properties, lock / unlock and delete, through
stws.operations.organization, as svcOrganization runs them.

Form fields are named by the user property keys of SetUsersProperties
(README, svcOrganization), so a problem an operation reports for a key
(InvalidProperties.by_key) is shown beside the field of that name.
"""
from __future__ import annotations

import datetime as dt

from stws.errors import AlreadyExists, OperationError
from stws.domain.properties import InvalidProperties
from stws.operations import organization
from stws.security import roles
from stws.web.admin import Page, route
from stws.web.forms import Field, as_items, entered, form_id, from_items, query_id
from stws.web.pages.organization import administrators

BASE = "/organization/users"
PAGE_SIZE = 25

NEW_USER_FIELDS = (
    Field("UserName", "User name", help="Required. Letters, digits and . _ @ + -, starting with a letter or digit."),
    Field("Password", "Password", "password", help="Required. At least 8 characters."),
    Field("Email", "Email address", "email", help="Required."),
    Field("IsEmailVerified", "Email address verified", "checkbox"),
    Field("DisplayName", "Display name", help="Shown to customers and agents; the user name when empty."),
)
# What SetUsersProperties sets, but Roles (ticked one by one) and IsLockedOut (Lock / Unlock).
EDIT_FIELDS = (
    Field("Email", "Email address", "email"),
    Field("IsEmailVerified", "Email address verified", "checkbox"),
    Field("DisplayName", "Display name", help="Shown to customers and agents instead of the user name."),
    Field("TimeZone", "Time zone", help="An IANA name such as Europe/Berlin, America/New_York or UTC."),
    Field("Password", "New password", "password"),
    Field("ForcePasswordChange", "Must choose a new password at the next sign-in", "checkbox"),
    Field("AuthenticationMethod", "Authentication method", "select",
          choices=(("password", "Password"), ("active_directory", "Active Directory"),
                   ("external", "External provider"))),
    Field("AuthenticationDomain", "Authentication domain",
          help="The Active Directory domain, when signing in through it."),
    Field("Signature", "Signature", "textarea", help="Added to the agent's replies."),
)
# Every account has it: shown ticked, never sent from the form.
ALWAYS = roles.EVERYONE


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


def _chosen_roles(form) -> set[str]:
    return {ALWAYS, *form.fields("Roles")}


def _render(page: Page, template: str, status: int = 200, **context):
    return page.render(template, status=status, when=when, lock_state=lock_state, always_role=ALWAYS,
                       problems=context.pop("problems", {}), form_error=context.pop("form_error", ""), **context)


# ------------------------------------------------------------------ list


@route("GET", BASE)
@administrators("users")
def user_list(page: Page):
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
@administrators("users")
def new_user_form(page: Page):
    return _new_user_page(page, {"Roles": {ALWAYS}})


def _new_user_page(page: Page, values: dict, status: int = 200, **context):
    return _render(page, "admin/user_new.html", status=status, title="New user", fields=NEW_USER_FIELDS,
                   values=values, all_roles=page.run(organization.get_all_roles), **context)


@route("POST", BASE + "/new")
@administrators("users")
def create_user(page: Page):
    values = entered(page.request, NEW_USER_FIELDS)
    values["Roles"] = _chosen_roles(page.request)
    try:
        user_id = page.run(organization.create_user_with_roles, values["UserName"], values["Password"],
                           values["Email"], values["IsEmailVerified"], values["DisplayName"],
                           sorted(values["Roles"] - {ALWAYS}))
    except InvalidProperties as failure:
        return _new_user_page(page, values, 400, problems=failure.by_key, form_error=failure.message)
    except AlreadyExists as failure:  # the user name is taken
        return _new_user_page(page, values, 400, problems={"UserName": failure.message},
                              form_error=failure.message)
    except OperationError as failure:
        return _new_user_page(page, values, 400, form_error=failure.message)
    return page.done(page.url(BASE + "/edit", id=user_id), "The user %s is created." % values["UserName"])


# ------------------------------------------------------------------ edit


def _saved_values(page: Page, user_id: int) -> dict:
    """The user's properties as GetUsersProperties reads them, as form
    values (Roles as a set of names)."""
    values = from_items(page.run(organization.get_user_properties, user_id, []).items, EDIT_FIELDS)
    values["Roles"] = {name for name in values.get("Roles", "").split(",") if name}
    return values


def _entered_values(form) -> dict:
    """The edit form's values, in the shape of ``_saved_values``."""
    values = entered(form, EDIT_FIELDS)
    values["Signature"] = values["Signature"].replace("\r\n", "\n")  # browsers send CRLF line breaks
    values["Roles"] = _chosen_roles(form)
    return values


def _changed_items(saved: dict, values: dict) -> list[str]:
    """``Key=Value`` items of what the form changes. Only those are sent: a
    property set again would still count as a change (sending Roles or
    AuthenticationMethod again would end the user's sessions), and what
    someone else changed meanwhile in other fields stays. An empty password
    leaves it as it is."""
    changed = {key: value for key, value in values.items()
               if key not in ("Roles", "Password") and value != saved.get(key, "")}
    items = as_items(changed)
    if values["Roles"] != saved["Roles"]:
        items.append("Roles=" + ",".join(sorted(values["Roles"])))
    if values["Password"]:
        items.append("Password=" + values["Password"])
    return items


def _edit_page(page: Page, user_id: int, values: dict | None = None, status: int = 200, **context):
    user = page.run(organization.get_user, user_id)
    saved = _saved_values(page, user_id)
    is_self = user.id == page.principal.user_id
    if is_self:
        password_note = "Empty: unchanged. Set here, your own password ends this session too; Change password keeps it."
    else:
        password_note = "Empty: unchanged. When it changes, the user's sessions end."
    return _render(page, "admin/user_edit.html", status=status, title="User %s" % user.username, user=user,
                   saved=saved, values=values or saved, fields=EDIT_FIELDS, password_note=password_note,
                   all_roles=page.run(organization.get_all_roles), is_self=is_self, **context)


@route("GET", BASE + "/edit")
@administrators("users")
def edit_user_form(page: Page):
    return _edit_page(page, query_id(page.request))


@route("POST", BASE + "/edit")
@administrators("users")
def save_user(page: Page):
    user_id = form_id(page.request)
    values = _entered_values(page.request)
    items = _changed_items(_saved_values(page, user_id), values)
    back = page.url(BASE + "/edit", id=user_id)
    if not items:
        return page.done(back, "Nothing was changed: the form was as saved.")
    try:
        changed = page.run(organization.set_user_properties, user_id, items)
    except InvalidProperties as failure:
        return _edit_page(page, user_id, values, 400, problems=failure.by_key, form_error=failure.message)
    except OperationError as failure:  # e.g. taking the Administrator role from oneself
        return _edit_page(page, user_id, values, 400, form_error=failure.message)
    return page.done(back, "Saved: %s." % ", ".join(changed))


# ------------------------------------------------------------------ lock, delete


@route("POST", BASE + "/lock")
@administrators("users")
def lock_user(page: Page):
    user_id = form_id(page.request)
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
@administrators("users")
def delete_user(page: Page):
    user_id = form_id(page.request)
    try:
        username = page.run(organization.get_user, user_id).username
        page.run(organization.delete_user, user_id)
    except OperationError as failure:
        return page.failed(page.url(BASE + "/edit", id=user_id), failure)
    return page.done(page.url(BASE), "The user %s is deleted." % username)
