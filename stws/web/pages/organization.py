"""Organization > Brands, Departments and Groups (with their agents), through
the operations svcOrganization runs (stws.operations.organization) and, for
the SMTP account a brand or department sends through, stws.operations.spool.

Every action is a form post answered by a redirect with a notice; a form
the operation refuses is shown again as it was typed, with the Message
(beside its field where the property bag says which).
"""
from __future__ import annotations

from functools import wraps

from stws.errors import NotFound, OperationError
from stws.domain.properties import InvalidProperties
from stws.operations import organization as org, spool
from stws.security import roles
from stws.web.admin import Page, route
from stws.web.forms import Field, as_items, entered, form_id, from_items, query_id

BRANDS = "/organization/brands"
DEPARTMENTS = "/organization/departments"
GROUPS = "/organization/groups"


def administrators(section: str, refusal: str = "The organization's settings are for administrators."):
    """A page of the ``section`` navigation entry, for administrators only
    (the operations refuse anyone else too; this says so, in ``refusal``,
    before anything runs)."""

    def wrap(handler):
        @wraps(handler)
        def page_handler(page: Page, *args, **kwargs):
            page.section = section
            if not page.may(roles.ADMINISTRATOR):
                return page.render("admin/refused.html", status=403, title="Not allowed",
                                   message=refusal)
            return handler(page, *args, **kwargs)

        return page_handler

    return wrap


def _smtp_choice(page: Page) -> int:
    return form_id(page.request, "SmtpAccountID")


# ------------------------------------------------------------------ brands

BRAND_FIELDS = (
    Field("Name", "Name"),
    Field("HostHeader", "Host header", help="The host name customers reach this brand's portal by; may be empty."),
)
DEFAULT_FIELD = Field("IsDefault", "Default brand", "checkbox",
                      help="Used where no brand is named. There is always exactly one.")


def _one(items, item_id: int, what: str):
    """The item of a listing with ``item_id`` (the listings are what the
    operations offer; NotFound as they would say it)."""
    for item in items:
        if item.id == item_id:
            return item
    raise NotFound("There is no %s with id %s." % (what, item_id))


def _brand(page: Page, brand_id: int):
    return _one(page.run(org.get_all_brands), brand_id, "brand")


@route("GET", BRANDS)
@administrators("brands")
def brands_page(page: Page, status: int = 200, values=None, form_error: str = ""):
    accounts = {account.id: account.name for account in page.run(spool.list_smtp_accounts)}
    return page.render("admin/brands.html", status=status, title="Brands", brands=page.run(org.get_all_brands),
                       account_names=accounts, fields=BRAND_FIELDS, values=values or {}, form_error=form_error)


@route("POST", BRANDS + "/create")
@administrators("brands")
def create_brand(page: Page):
    values = entered(page.request, BRAND_FIELDS)
    try:
        page.run(org.create_brand, values["Name"], values["HostHeader"])
    except OperationError as failure:
        return brands_page(page, 400, values, failure.message)
    return page.done(page.url(BRANDS), "Brand %s is created." % values["Name"])


@route("GET", BRANDS + "/edit")
@administrators("brands")
def brand_page(page: Page, status: int = 200, values=None, form_error: str = ""):
    brand = _brand(page, query_id(page.request) or form_id(page.request))
    if values is None:
        values = {"Name": brand.name, "HostHeader": brand.host_header, "IsDefault": brand.is_default}
    return page.render("admin/brand.html", status=status, title="Brand %s" % brand.name, brand=brand,
                       fields=BRAND_FIELDS + (DEFAULT_FIELD,), values=values, form_error=form_error,
                       accounts=page.run(spool.list_smtp_accounts))


@route("POST", BRANDS + "/update")
@administrators("brands")
def update_brand(page: Page):
    brand_id = form_id(page.request)
    values = entered(page.request, BRAND_FIELDS + (DEFAULT_FIELD,))
    try:
        page.run(org.update_brand, brand_id, values["Name"], values["HostHeader"], values["IsDefault"])
    except OperationError as failure:
        return brand_page(page, 400, values, failure.message)
    return page.done(page.url(BRANDS + "/edit", id=brand_id), "Brand %s is saved." % values["Name"])


@route("POST", BRANDS + "/smtp")
@administrators("brands")
def brand_smtp_account(page: Page):
    brand_id = form_id(page.request)
    back = page.url(BRANDS + "/edit", id=brand_id)
    return page.act(back, "The brand's SMTP account is saved.",
                    spool.set_brand_smtp_account, brand_id, _smtp_choice(page))


@route("POST", BRANDS + "/delete")
@administrators("brands")
def delete_brand(page: Page):
    return page.act(page.url(BRANDS), "The brand is deleted.", org.delete_brand, form_id(page.request))


# ------------------------------------------------------------- departments

NEW_DEPARTMENT_FIELDS = (
    Field("BrandID", "Brand", "select"),
    Field("Name", "Name"),
    Field("EmailAddress", "Email address", "email", help="Where customers write to; may be empty."),
    Field("FrontLineGroupName", "Front line group", help="The group that first receives its tickets; "
                                                          "empty: Level 1."),
)

# Every settable key of the department property bag
# (stws.domain.organization.DEPARTMENT_PROPERTIES), in sections.
DEPARTMENT_SECTIONS = (
    ("General", (
        Field("Name", "Name"),
        Field("BrandID", "Brand", "select"),
        Field("EmailAddress", "Email address", "email"),
        Field("FrontLineGroupID", "Front line group", "select",
              help="The group that first receives the department's tickets and chats."),
        Field("IsInternal", "Internal department", "checkbox", help="Hidden from customers."),
    )),
    ("Automatic closing", (
        Field("AutoCloseEnabled", "Close tickets waiting on the customer automatically", "checkbox"),
        Field("AutoCloseHours", "Close after (hours)", "number", help="Hours without a reply from the customer."),
        Field("AutoCloseSendEmailToClient", "Email the customer when a ticket is closed", "checkbox"),
    )),
    ("Automatic locking", (
        Field("AutoLockEnabled", "Lock closed tickets automatically", "checkbox",
              help="A locked ticket cannot be reopened by a reply."),
        Field("AutoLockHours", "Lock after (hours)", "number", help="Hours after the ticket was closed."),
    )),
    ("Automatic deleting", (
        Field("AutoDeleteEnabled", "Delete closed tickets automatically", "checkbox"),
        Field("AutoDeleteDays", "Delete after (days)", "number"),
        Field("AutoDeleteCallLogEnabled", "Delete call log entries automatically", "checkbox"),
        Field("AutoDeleteCallLogDays", "Delete call log entries after (days)", "number"),
    )),
    ("Auto-responder", (
        Field("AutoResponderEnabled", "Answer new tickets automatically", "checkbox"),
        Field("AutoResponderSubject", "Subject"),
        Field("AutoResponderBody", "Message", "textarea", help="%TICKETNUMBER% stands for the ticket's number."),
    )),
)
DEPARTMENT_FIELDS = tuple(f for _, section in DEPARTMENT_SECTIONS for f in section)


def _brand_choices(page: Page):
    return [(brand.id, brand.name + (" (default)" if brand.is_default else ""))
            for brand in page.run(org.get_all_brands)]


def _department(page: Page, department_id: int):
    return _one(page.run(org.get_all_departments), department_id, "department")


@route("GET", DEPARTMENTS)
@administrators("departments")
def departments_page(page: Page, status: int = 200, values=None, form_error: str = ""):
    brands = _brand_choices(page)
    groups = {group.id: group.name for group in page.run(org.get_all_groups)}
    fields = tuple(f.with_choices(brands) if f.key == "BrandID" else f for f in NEW_DEPARTMENT_FIELDS)
    return page.render("admin/departments.html", status=status, title="Departments",
                       departments=page.run(org.get_all_departments), brand_names=dict(brands),
                       group_names=groups, fields=fields, values=values or {}, form_error=form_error)


@route("POST", DEPARTMENTS + "/create")
@administrators("departments")
def create_department(page: Page):
    values = entered(page.request, NEW_DEPARTMENT_FIELDS)
    try:
        department_id = page.run(org.create_department, form_id(page.request, "BrandID"), values["Name"],
                                 values["EmailAddress"], values["FrontLineGroupName"])
    except OperationError as failure:
        return departments_page(page, 400, values, failure.message)
    return page.done(page.url(DEPARTMENTS + "/edit", id=department_id),
                     "Department %s is created." % values["Name"])


@route("GET", DEPARTMENTS + "/edit")
@administrators("departments")
def department_page(page: Page, status: int = 200, values=None, problems=None, form_error: str = ""):
    department = _department(page, query_id(page.request) or form_id(page.request))
    if values is None:
        values = from_items(page.run(org.get_department_properties, department.id, []).items, DEPARTMENT_FIELDS)
    groups = [(group.id, group.name) for group in page.run(org.get_all_groups)
              if group.department_id == department.id]
    choices = {"BrandID": _brand_choices(page), "FrontLineGroupID": groups}
    sections = [(title, [f.with_choices(choices[f.key]) if f.key in choices else f for f in section])
                for title, section in DEPARTMENT_SECTIONS]
    return page.render("admin/department.html", status=status, title="Department %s" % department.name,
                       department=department, sections=sections, values=values, problems=problems or {},
                       form_error=form_error, accounts=page.run(spool.list_smtp_accounts),
                       smtp_account_id=page.run(spool.get_department_smtp_account, department.id))


@route("POST", DEPARTMENTS + "/update")
@administrators("departments")
def update_department(page: Page):
    department_id = form_id(page.request)
    values = entered(page.request, DEPARTMENT_FIELDS)
    try:
        # Every field at once: the bag sets all of them or none.
        page.run(org.set_department_properties, department_id, as_items(values))
    except InvalidProperties as failure:
        return department_page(page, 400, values, failure.by_key, failure.message)
    except OperationError as failure:
        return department_page(page, 400, values, {}, failure.message)
    return page.done(page.url(DEPARTMENTS + "/edit", id=department_id), "Department %s is saved." % values["Name"])


@route("POST", DEPARTMENTS + "/smtp")
@administrators("departments")
def department_smtp_account(page: Page):
    department_id = form_id(page.request)
    back = page.url(DEPARTMENTS + "/edit", id=department_id)
    return page.act(back, "The department's SMTP account is saved.",
                    spool.set_department_smtp_account, department_id, _smtp_choice(page))


@route("POST", DEPARTMENTS + "/delete")
@administrators("departments")
def delete_department(page: Page):
    return page.act(page.url(DEPARTMENTS), "The department is deleted, with its groups.",
                    org.delete_department, form_id(page.request))


# ------------------------------------------------------------------ groups

GROUP_FIELDS = (
    Field("Name", "Name"),
    Field("Description", "Description"),
)
NEW_GROUP_FIELDS = (Field("DepartmentID", "Department", "select"),) + GROUP_FIELDS
# The stored distribution modes (stws.domain.organization.DISTRIBUTION_MODES).
DISTRIBUTION_MODES = (
    ("queue", "Pull from queue"),
    ("primary", "Round robin (primary)"),
    ("secondary", "Round robin (secondary)"),
)


def _group(page: Page, group_id: int):
    return _one(page.run(org.get_all_groups), group_id, "group")


@route("GET", GROUPS)
@administrators("groups")
def groups_page(page: Page, status: int = 200, values=None, form_error: str = ""):
    departments = page.run(org.get_all_departments)
    shown = query_id(page.request, "department")
    groups = page.run(org.get_all_groups)
    by_department = [(department, [g for g in groups if g.department_id == department.id])
                     for department in departments if not shown or department.id == shown]
    values = values or {"DepartmentID": shown or ""}
    fields = tuple(f.with_choices((d.id, d.name) for d in departments) if f.key == "DepartmentID" else f
                   for f in NEW_GROUP_FIELDS)
    return page.render("admin/groups.html", status=status, title="Groups", departments=departments, shown=shown,
                       by_department=by_department, fields=fields, values=values, form_error=form_error)


@route("POST", GROUPS + "/create")
@administrators("groups")
def create_group(page: Page):
    values = entered(page.request, NEW_GROUP_FIELDS)
    try:
        group_id = page.run(org.create_group, form_id(page.request, "DepartmentID"), values["Name"],
                            values["Description"])
    except OperationError as failure:
        return groups_page(page, 400, values, failure.message)
    return page.done(page.url(GROUPS + "/edit", id=group_id), "Group %s is created." % values["Name"])


@route("GET", GROUPS + "/edit")
@administrators("groups")
def group_page(page: Page, status: int = 200, values=None, form_error: str = ""):
    group = _group(page, query_id(page.request) or form_id(page.request))
    members = page.run(org.get_agents_for_group, group.id)
    member_ids = {agent.id for agent in members}
    candidates = [agent for agent in page.run(org.get_all_agents) if agent.id not in member_ids]
    if values is None:
        values = {"Name": group.name, "Description": group.description}
    return page.render("admin/group.html", status=status, title="Group %s" % group.name, group=group,
                       department=_department(page, group.department_id), members=members,
                       candidates=candidates, modes=DISTRIBUTION_MODES,
                       fields=GROUP_FIELDS, values=values, form_error=form_error)


@route("POST", GROUPS + "/update")
@administrators("groups")
def update_group(page: Page):
    group_id = form_id(page.request)
    values = entered(page.request, GROUP_FIELDS)
    try:
        page.run(org.update_group, group_id, values["Name"], values["Description"])
    except OperationError as failure:
        return group_page(page, 400, values, failure.message)
    return page.done(page.url(GROUPS + "/edit", id=group_id), "Group %s is saved." % values["Name"])


@route("POST", GROUPS + "/delete")
@administrators("groups")
def delete_group(page: Page):
    group_id = form_id(page.request)
    try:
        page.run(org.delete_group, group_id)
    except OperationError as failure:
        return page.failed(page.url(GROUPS + "/edit", id=group_id), failure)
    return page.done(page.url(GROUPS), "The group is deleted.")


@route("POST", GROUPS + "/agents")
@administrators("groups")
def save_agent_in_group(page: Page):
    """Add an agent to the group, or change their distribution mode and limit."""
    request = page.request
    group_id = form_id(request, "group")
    back = page.url(GROUPS + "/edit", id=group_id)
    limit = request.field("MaxTickets").strip()
    if limit and not limit.isdigit():
        return page.done(back, "The maximum of tickets must be a whole number (empty: no limit), not %r." % limit,
                         error=True)
    try:
        # Empty or 0: no limit.
        page.run(org.add_agent_to_group, group_id, form_id(request, "user"), request.field("DistributionMode"),
                 bool(limit and int(limit)), int(limit or 0))
    except OperationError as failure:
        return page.failed(back, failure)
    return page.done(back, "The agent's membership is saved.")


@route("POST", GROUPS + "/agents/remove")
@administrators("groups")
def remove_agent_from_group(page: Page):
    group_id = form_id(page.request, "group")
    back = page.url(GROUPS + "/edit", id=group_id)
    return page.act(back, "The agent is removed from the group; their open tickets in it went back to its queue.",
                    org.remove_agent_from_group, group_id, form_id(page.request, "user"))
