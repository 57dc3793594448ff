"""New ticket (``/admin/tickets/new``): an agent opens a ticket on behalf of a
customer, through the creation operations svcTickets runs
(stws.operations.tickets.creation): as if the customer had written in
(CreateTicketFromCustomerWithDate: the group's distribution picks the
agent, the department's auto-responder may answer), or as the agent's own
message to the customer (CreateTicket: emailed if asked).

The form shows the custom fields of the department's ticket template, as
the custom field provider changes them for this customer and department
(hidden, required, list options: the ``new_ticket_form`` operation). When
the department, the address or a field the provider looks up changes, the
page's script asks ``/admin/tickets/new/fields`` for the fields again and
swaps them in; without script the "Update the custom fields" button posts
the form back for the same. Creating asks the providers again (the same
consult as SOAP), so they decide at submit whatever the form showed.

Whatever the operation refuses, including the ticket provider's refusal
(its Message arrives as the OperationError's) and a provider that cannot be
reached, is shown above the form (a broken field rule beside its field),
which keeps what was typed.
"""
from __future__ import annotations

from stws.errors import OperationError
from stws.operations import organization as org
from stws.operations import workspace as workspace_ops
from stws.operations.tickets import creation
from stws.web.admin import Page, route
from stws.web.forms import form_id, query_id
from stws.web.pages.ticket import BASE, view_url

NEW = BASE + "/new"
FIELDS = NEW + "/fields"
FROM_CUSTOMER, TO_CUSTOMER = "customer", "agent"
FIELD_PREFIX = "field:"  # custom field inputs are named field:<display name>
REFRESH = "refresh"  # the step of the no-script "Update the custom fields" button


def split_inputs(pairs: dict) -> tuple[dict, dict]:
    """(the form's own values, custom field display name -> value) of a form
    or query (name -> [values]). A checkbox field sends a hidden "false"
    before its box, so its last value counts."""
    values, fields = {}, {}
    for name, sent in pairs.items():
        if not sent or name == "csrf_token":
            continue
        if name.startswith(FIELD_PREFIX):
            fields[name[len(FIELD_PREFIX):]] = sent[-1]
        else:
            values[name] = sent[0]
    return values, fields


def _form(page: Page, status: int = 200, values: dict | None = None, fields: dict | None = None,
          error: str = "", field_errors: dict | None = None):
    page.section = "new-ticket"
    departments = [d for d in page.run(org.get_all_departments)]
    names = {d.id: d.name for d in departments}
    groups = [(g.id, "%s / %s" % (names.get(g.department_id, "?"), g.name)) for g in page.run(org.get_all_groups)]
    values = values or {"origin": FROM_CUSTOMER, "notify": "on"}
    department_id = _whole(values.get("department_id")) or (departments[0].id if departments else 0)
    effects = page.run(creation.new_ticket_form, department_id, values.get("email", ""), fields or {})
    return page.render("admin/ticket_new.html", status=status, title="New ticket", departments=departments,
                       groups=groups, values=values, error=error, effects=effects, field_errors=field_errors or {},
                       fields_url=page.url(FIELDS), tree=page.run(workspace_ops.ticket_tree),
                       current_node="")


def _whole(text) -> int:
    try:
        return int(text or 0)
    except ValueError:
        return 0


@route("GET", NEW)
def new_ticket_page(page: Page):
    return _form(page)


@route("GET", FIELDS, answers_json=True)
def custom_fields_fragment(page: Page):
    """The custom fields part of the form for the inputs in the query (the
    page's script swaps it in). A GET: it changes nothing, only asks."""
    _, fields = split_inputs(page.request.query)
    effects = page.run(creation.new_ticket_form, query_id(page.request, "department_id"),
                       page.request.arg("email"), fields)
    return page.render("admin/ticket_new_fields.html", effects=effects, field_errors={})


@route("POST", NEW)
def create(page: Page):
    request = page.request
    values, fields = split_inputs(request.form)
    if request.field("step") == REFRESH:
        return _form(page, 200, values, fields)
    department_id = form_id(request, "department_id")
    group_id = form_id(request, "group_id")
    address, subject, body = request.field("email").strip(), request.field("subject"), request.field("body")
    notify = request.field("notify") == "on"
    try:
        if request.field("origin") == TO_CUSTOMER:
            number = page.run(creation.create_ticket, department_id, group_id, 0, address, subject, body, False,
                              True, notify, None, None, None, fields)
        else:
            number = page.run(creation.create_ticket_from_customer_with_date, department_id, group_id, 0, address,
                              subject, body, False, notify, None, None, None, fields)
    except OperationError as failure:
        field = getattr(failure, "field", "")  # a broken custom field rule (ticket_start.FieldRuleBroken)
        return _form(page, 400, values, fields, "" if field else failure.message,
                     {field: failure.message} if field else None)
    return page.done(view_url(page, number), "Ticket %s created." % number)
