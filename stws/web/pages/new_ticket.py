"""New ticket (``/admin/tickets/new``): an agent opens a ticket on behalf of a
customer, through the creation operations svcTickets runs
(stws.operations.tickets.creation): as if the customer had written in
(CreateTicketFromCustomerWithDate: the group's distribution picks the
agent, the department's auto-responder may answer), or as the agent's own
message to the customer (CreateTicket: emailed if asked).

Whatever the operation refuses, including the ticket provider's refusal
(its Message arrives as the OperationError's), is shown above the form,
which keeps what was typed.
"""
from __future__ import annotations

from stws.errors import OperationError
from stws.operations import organization as org
from stws.operations import workspace as workspace_ops
from stws.operations.tickets import creation
from stws.web.admin import Page, route
from stws.web.forms import form_id
from stws.web.pages.ticket import BASE, view_url

NEW = BASE + "/new"
FROM_CUSTOMER, TO_CUSTOMER = "customer", "agent"


def custom_field_effects(page: Page, department_id: int, values: dict):
    """HOOK for the custom field provider (issue 13): the fields the new
    ticket form shows for ``department_id``, hidden or required as the
    provider says, with its list options. The provider and its consult step
    on the creation operations are built elsewhere; until they are wired
    here the form shows no custom fields (they are edited on the ticket's
    page once it exists). Return a list of stws.domain.tickets.workspace
    CustomFieldValue to have the template show them."""
    return []


def _form(page: Page, status: int = 200, values: dict | None = None, error: str = ""):
    page.section = "new-ticket"
    departments = [d for d in page.run(org.get_all_departments)]
    names = {d.id: d.name for d in departments}
    groups = [(g.id, "%s / %s" % (names.get(g.department_id, "?"), g.name)) for g in page.run(org.get_all_groups)]
    values = values or {"origin": FROM_CUSTOMER, "notify": "on"}
    department_id = int(values.get("department_id") or (departments[0].id if departments else 0))
    return page.render("admin/ticket_new.html", status=status, title="New ticket", departments=departments,
                       groups=groups, values=values, error=error, tree=page.run(workspace_ops.ticket_tree),
                       current_node="",
                       custom_fields=custom_field_effects(page, department_id, values))


@route("GET", NEW)
def new_ticket_page(page: Page):
    return _form(page)


@route("POST", NEW)
def create(page: Page):
    request = page.request
    values = {name: vals[0] for name, vals in request.form.items() if name != "csrf_token" and vals}
    department_id = form_id(request, "department_id")
    group_id = form_id(request, "group_id")
    address, subject, body = request.field("email").strip(), request.field("subject"), request.field("body")
    notify = request.field("notify") == "on"
    try:
        if request.field("origin") == TO_CUSTOMER:
            number = page.run(creation.create_ticket, department_id, group_id, 0, address, subject, body, False,
                              True, notify)
        else:
            number = page.run(creation.create_ticket_from_customer_with_date, department_id, group_id, 0, address,
                              subject, body, False, notify, None, None, None)
    except OperationError as failure:
        return _form(page, 400, values, failure.message)
    return page.done(view_url(page, number), "Ticket %s created." % number)
