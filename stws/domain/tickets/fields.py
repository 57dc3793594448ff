"""Data attached to a ticket by key: custom fields and ticket properties.

Custom fields
    Definitions (``custom_fields``) are placed on custom templates
    (``custom_template_fields``, with the per-template flags and sort order);
    a department selects its ticket template
    (``departments.ticket_custom_template_id``). A ticket's custom fields are
    the fields of its department's template; values live in
    ``ticket_custom_values`` and a field never set reads as its default
    value. Values are addressed by the field's display name (any case) and
    checked against the field's data type. Accounts without an employee role
    (customers) see and set only the fields visible to users.

    The definitions have no svcTickets operations (the contract has none);
    ``create_field``, ``create_template``, ``put_field_on_template`` and
    ``set_department_template`` manage them with a plain session.

Ticket properties
    The ``Key=Value`` bag of GetTicketProperties / SetTicketProperties,
    built on ``stws.domain.properties.PropertyBag``: all or nothing, unknown
    and read-only keys reported by name, every change in the ticket history.
"""
from __future__ import annotations

import datetime as dt
import decimal
import re
from dataclasses import dataclass, field

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import aliased

from stws.db.models import (
    CustomField, CustomTemplate, CustomTemplateField, Department, Group, GroupAgent, Ticket, TicketCustomValue,
    TicketMessage, TicketPriority, TicketStatus, User, utcnow,
)
from stws.db.prepared import PreparedQuery
from stws.domain import organization as org
from stws.domain import validation
from stws.errors import AlreadyExists, InvalidArgument, InvalidState, NotFound
from stws.domain.properties import Property, PropertyBag, format_value, parse_bool, parse_datetime, parse_int
from stws.domain.tickets import core
from stws.security import roles

# ======================================================================
# Custom field definitions
# ======================================================================

DATA_TYPES = ("text", "textarea", "number", "date", "checkbox", "list")
MAX_TEXT = 4000
MAX_TEXTAREA = 100_000
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_CONTROL_OR_NEWLINE = re.compile(r"[\x00-\x1f\x7f]")


def create_field(session, display_name: str, data_type: str = "text", default_value: str = "",
                 options=()) -> CustomField:
    """A custom field definition; ``options`` are the choices of a list field."""
    name = validation.name(display_name, "custom field name")
    if "=" in name:
        raise InvalidArgument("A custom field name cannot contain '=' (values are sent as Name=Value).")
    kind = (data_type or "text").strip().lower()
    if kind not in DATA_TYPES:
        raise InvalidArgument("%r is not a custom field type; use one of: %s." % (data_type, ", ".join(DATA_TYPES)))
    choices = [validation.name(option, "list option") for option in options or ()]
    if kind == "list" and not choices:
        raise InvalidArgument("A list field needs at least one option.")
    if kind != "list" and choices:
        raise InvalidArgument("Only list fields have options.")
    if len({choice.lower() for choice in choices}) != len(choices):
        raise InvalidArgument("The options of a list field must differ (ignoring case).")
    if session.scalars(select(CustomField.id).where(func.lower(CustomField.display_name) == name.lower())).first():
        raise AlreadyExists("A custom field named %r exists already." % name)
    definition = CustomField(display_name=name, data_type=kind, default_value="", options="\n".join(choices))
    if default_value:
        definition.default_value = parse_field_value(definition, default_value)
    session.add(definition)
    session.flush()
    return definition


def create_template(session, name: str) -> CustomTemplate:
    name = validation.name(name, "custom template name")
    if session.scalars(select(CustomTemplate.id).where(func.lower(CustomTemplate.name) == name.lower())).first():
        raise AlreadyExists("A custom template named %r exists already." % name)
    template = CustomTemplate(name=name)
    session.add(template)
    session.flush()
    return template


def put_field_on_template(session, template_id: int, field_id: int, sort_order: int = 0, *,
                          visible_to_users: bool = True, visible_to_agents: bool = True,
                          required_by_users: bool = False, required_by_agents: bool = False,
                          required_by_agents_to_close: bool = False) -> CustomTemplateField:
    """Place a field on a template, or change its flags there."""
    if session.get(CustomTemplate, template_id) is None:
        raise NotFound("There is no custom template with id %s." % template_id)
    if session.get(CustomField, field_id) is None:
        raise NotFound("There is no custom field with id %s." % field_id)
    placement = session.get(CustomTemplateField, (template_id, field_id))
    if placement is None:
        placement = CustomTemplateField(template_id=template_id, field_id=field_id)
        session.add(placement)
    placement.sort_order = sort_order
    placement.is_visible_to_users = visible_to_users
    placement.is_visible_to_agents = visible_to_agents
    placement.is_required_by_users = required_by_users
    placement.is_required_by_agents = required_by_agents
    placement.is_required_by_agents_to_close = required_by_agents_to_close
    session.flush()
    return placement


def set_department_template(session, department_id: int, template_id: int | None) -> None:
    """The ticket custom template of a department (None: no custom fields)."""
    department = session.get(Department, department_id)
    if department is None or department.is_deleted:
        raise NotFound("There is no department with id %s." % department_id)
    if template_id is not None and session.get(CustomTemplate, template_id) is None:
        raise NotFound("There is no custom template with id %s." % template_id)
    department.ticket_custom_template_id = template_id
    session.flush()


def list_options(definition: CustomField) -> list[str]:
    return [line for line in (definition.options or "").split("\n") if line]


def parse_field_value(definition: CustomField, text: str) -> str:
    """The stored form of ``text`` for a field, or InvalidArgument.

    Empty means "no value" for every type. Numbers are stored in plain
    decimal notation, dates as YYYY-MM-DD (or a UTC date and time when one
    is given), checkboxes as true/false, list values as the option's spelling.
    """
    kind = definition.data_type
    name = definition.display_name
    if kind == "textarea":
        value = (text or "").strip("\r\n")
        if len(value) > MAX_TEXTAREA:
            raise InvalidArgument("%s is longer than %d characters." % (name, MAX_TEXTAREA))
        if _CONTROL.search(value):
            raise InvalidArgument("%s contains control characters." % name)
        return value
    value = (text or "").strip()
    if not value:
        return ""
    if kind == "text":
        if len(value) > MAX_TEXT:
            raise InvalidArgument("%s is longer than %d characters." % (name, MAX_TEXT))
        if _CONTROL_OR_NEWLINE.search(value):
            raise InvalidArgument("%s is a single line and cannot contain control characters." % name)
        return value
    if kind == "number":
        try:
            number = decimal.Decimal(value)
        except decimal.InvalidOperation:
            number = None
        if number is None or not number.is_finite() or len(value) > 60:
            raise InvalidArgument("%s must be a number, not %r." % (name, text))
        return format(number, "f")
    if kind == "date":
        try:
            return dt.date.fromisoformat(value).isoformat()
        except ValueError:
            pass
        try:
            return format_value(parse_datetime(value))
        except ValueError:
            raise InvalidArgument("%s must be a date (YYYY-MM-DD), not %r." % (name, text)) from None
    if kind == "checkbox":
        try:
            return format_value(parse_bool(value))
        except ValueError:
            raise InvalidArgument("%s is a checkbox: use true or false, not %r." % (name, text)) from None
    if kind == "list":
        for option in list_options(definition):
            if option.lower() == value.lower():
                return option
        raise InvalidArgument("%r is not an option of %s; use one of: %s."
                              % (text, name, ", ".join(list_options(definition))))
    raise InvalidArgument("%s has an unknown type %r." % (name, kind))


# ======================================================================
# Custom fields of departments and tickets
# ======================================================================


def is_employee(call) -> bool:
    return call.principal.has_role(roles.AGENT)


def template_fields(call, template_id: int | None) -> list[tuple[CustomTemplateField, CustomField]]:
    """The fields of a template the caller may see, in sort order."""
    if template_id is None:
        return []
    query = (select(CustomTemplateField, CustomField)
             .join(CustomField, CustomField.id == CustomTemplateField.field_id)
             .where(CustomTemplateField.template_id == template_id)
             .order_by(CustomTemplateField.sort_order, CustomField.display_name, CustomField.id))
    if not is_employee(call):
        query = query.where(CustomTemplateField.is_visible_to_users.is_(True))
    return [tuple(row) for row in call.session.execute(query).all()]


# GetCustomFieldControls on the driver (stws.db.prepared): a live
# department's template, then its placed fields as plain columns.
_DEPARTMENT_TEMPLATE = PreparedQuery(
    select(Department.ticket_custom_template_id)
    .where(Department.id == bindparam("department_id"), Department.is_deleted.is_(False)))
_PLACED_FIELDS = (
    select(CustomField.id, CustomField.display_name, CustomTemplateField.template_id,
           CustomTemplateField.is_required_by_agents, CustomTemplateField.is_required_by_agents_to_close,
           CustomTemplateField.is_required_by_users, CustomTemplateField.is_visible_to_agents,
           CustomTemplateField.is_visible_to_users, CustomTemplateField.sort_order)
    .join(CustomField, CustomField.id == CustomTemplateField.field_id)
    .where(CustomTemplateField.template_id == bindparam("template_id"))
    .order_by(CustomTemplateField.sort_order, CustomField.display_name, CustomField.id))
_PLACED_FIELDS_FOR = {True: PreparedQuery(_PLACED_FIELDS),  # employees: all of them
                      False: PreparedQuery(_PLACED_FIELDS.where(CustomTemplateField.is_visible_to_users.is_(True)))}


def department_fields(call, department_id: int) -> list:
    """The fields of a live department's ticket template the caller may see,
    in sort order (``template_fields``' rule): rows of the field's id and
    display name and its placement's template id, flags and sort order."""
    department = _DEPARTMENT_TEMPLATE.first(call.connection, {"department_id": department_id}) \
        if department_id else None
    if department is None:
        raise NotFound("There is no department with id %s." % department_id)
    if department.ticket_custom_template_id is None:
        return []
    return _PLACED_FIELDS_FOR[is_employee(call)].all(
        call.connection, {"template_id": department.ticket_custom_template_id})


def _ticket_fields(call, ticket: Ticket):
    department = call.session.get(Department, ticket.department_id)
    return template_fields(call, department.ticket_custom_template_id)


def _stored_values(call, ticket: Ticket) -> dict[int, str]:
    rows = call.session.scalars(select(TicketCustomValue).where(TicketCustomValue.ticket_id == ticket.id))
    return {row.field_id: row.value for row in rows}


# GetTicketCustomFields* on the driver (stws.db.prepared), without the
# Session and ORM entities ``template_fields`` and ``_stored_values`` load
# for the set path: the ticket's template, its fields, the stored values.
_TICKET_TEMPLATE = core.VisibleTicketQuery(
    select(Ticket.id, Department.ticket_custom_template_id.label("template_id"))
    .join(Department, Department.id == Ticket.department_id))
_TEMPLATE_FIELDS = (
    select(CustomField.id, CustomField.display_name, CustomField.default_value)
    .join(CustomTemplateField, CustomField.id == CustomTemplateField.field_id)
    .where(CustomTemplateField.template_id == bindparam("template_id"))
    .order_by(CustomTemplateField.sort_order, CustomField.display_name, CustomField.id))
_TEMPLATE_FIELDS_FOR = {True: PreparedQuery(_TEMPLATE_FIELDS),  # employees: all of them
                        False: PreparedQuery(_TEMPLATE_FIELDS.where(CustomTemplateField.is_visible_to_users.is_(True)))}
_STORED_VALUES = PreparedQuery(select(TicketCustomValue.field_id, TicketCustomValue.value)
                               .where(TicketCustomValue.ticket_id == bindparam("ticket_id")))


def get_ticket_field_values(call, ticket_number: str, requested=None) -> tuple[list[str], list[str]]:
    """``DisplayName=value`` items of the requested fields of a ticket the
    caller can see (all when none are requested), and the requested names
    the ticket has no field for."""
    ticket = _TICKET_TEMPLATE.by_number(call, ticket_number)
    connection = call.connection
    fields = [] if ticket.template_id is None else _TEMPLATE_FIELDS_FOR[is_employee(call)].all(
        connection, {"template_id": ticket.template_id})
    by_name = {definition.display_name.lower(): definition for definition in fields}
    stored = dict(_STORED_VALUES.all(connection, {"ticket_id": ticket.id})) if fields else {}
    names = [name.strip() for name in requested or [] if name and name.strip()]
    wanted = [by_name.get(name.lower()) for name in names] if names else fields
    unknown = [name for name in names if name.lower() not in by_name]
    items = ["%s=%s" % (d.display_name, stored.get(d.id, d.default_value)) for d in wanted if d is not None]
    return items, unknown


def set_ticket_field_values(call, ticket: Ticket, assignments) -> list[str]:
    """Set fields by display name; all or nothing. Returns the names of the
    fields whose value changed (the history event lists them)."""
    core.require_changeable(call, ticket)
    fields = _ticket_fields(call, ticket)
    by_name = {definition.display_name.lower(): (placement, definition) for placement, definition in fields}
    employee = is_employee(call)
    problems, parsed, seen = [], [], set()
    for item in assignments or []:
        if item is None or not item.strip():
            continue
        name, sep, text = item.partition("=")
        name = name.strip()
        entry = by_name.get(name.lower())
        if not sep:
            problems.append("%r is not of the form Name=Value" % item)
        elif entry is None:
            problems.append("the ticket has no custom field %r" % name)
        elif name.lower() in seen:
            problems.append("%s is given more than once" % entry[1].display_name)
        else:
            seen.add(name.lower())
            placement, definition = entry
            try:
                value = parse_field_value(definition, text)
            except InvalidArgument as error:
                problems.append(error.message.rstrip("."))
                continue
            required = placement.is_required_by_agents if employee else placement.is_required_by_users
            if required and value == "":
                problems.append("%s is required and cannot be empty" % definition.display_name)
                continue
            parsed.append((definition, value))
    if problems:
        raise InvalidArgument("Nothing was changed: " + "; ".join(problems) + ".")
    if not parsed:
        raise InvalidArgument("No Name=Value items were given; nothing was changed.")
    stored = {row.field_id: row for row in call.session.scalars(
        select(TicketCustomValue).where(TicketCustomValue.ticket_id == ticket.id))}
    changed, details = [], []
    for definition, value in parsed:
        row = stored.get(definition.id)
        old = row.value if row is not None else definition.default_value
        if row is None:
            call.session.add(TicketCustomValue(ticket_id=ticket.id, field_id=definition.id, value=value))
        else:
            row.value = value
        if old != value:
            changed.append(definition.display_name)
            details.append("%s: %s -> %s" % (definition.display_name, _quote(old), _quote(value)))
    if changed:
        core.touch(ticket)
        core.record_event(call, ticket, "CustomFieldsChanged", "Custom fields changed: %s" % ", ".join(changed),
                          "\n".join(details))
    return changed


def missing_to_close(call, ticket: Ticket) -> list[str]:
    """Fields "required by agents to close" that have no value on the ticket."""
    stored = _stored_values(call, ticket)
    return [definition.display_name for placement, definition in _ticket_fields(call, ticket)
            if placement.is_required_by_agents_to_close and not stored.get(definition.id, definition.default_value)]


def require_fields_to_close(call, ticket: Ticket, status: TicketStatus) -> None:
    """An agent closing a ticket must first fill in the fields its template
    requires for closing."""
    if status.is_open or not _status_is_open(call, ticket) or not is_employee(call):
        return
    missing = missing_to_close(call, ticket)
    if missing:
        raise InvalidState("Ticket %s cannot be closed before these custom fields have a value: %s."
                           % (ticket.ticket_number, ", ".join(missing)))


def _status_is_open(call, ticket: Ticket) -> bool:
    return call.session.get(TicketStatus, ticket.status_id).is_open


def _quote(value: str, limit: int = 200) -> str:
    if len(value) > limit:
        value = value[:limit] + "..."
    return repr(value)


# ======================================================================
# Ticket properties
# ======================================================================


@dataclass
class _Edit:
    """The context of one Get/SetTicketProperties call."""

    call: object
    given: set = field(default_factory=set)  # lower-case keys being set

    @property
    def session(self):
        return self.call.session


# Cross-key rules need this order: department, then group, then agent, then pin.
_APPLY_ORDER = {"departmentid": 0, "groupid": 1, "agentid": 2, "ispinnedtoagent": 3}
# Keys naming the same thing; only one of each set may be given per call.
_ALIASES = ({"priority", "ticketpriorityid"}, {"status", "ticketstatusid"})


def _status(edit, ticket) -> TicketStatus:
    return edit.session.get(TicketStatus, ticket.status_id)


def _first_message_id():
    """The id of a ticket's first message (correlated to ``tickets`` only:
    the statement joins ``ticket_messages`` itself too)."""
    message = aliased(TicketMessage)
    return (select(message.id).where(message.ticket_id == Ticket.id)
            .order_by(message.is_first_message.desc(), message.date_received_utc, message.id)
            .limit(1).correlate(Ticket).scalar_subquery())


# Every readable property of a ticket in one row (the readers below take
# its columns by name): the ticket, its status, the names of its priority,
# department, group and agent, and its first message's bodies.
_PROPERTIES_ROW = core.VisibleTicketQuery(
    select(*Ticket.__table__.columns,
           TicketStatus.display_name.label("status_display_name"), TicketStatus.is_open.label("status_is_open"),
           TicketStatus.is_active.label("status_is_active"), TicketStatus.is_locked.label("status_is_locked"),
           TicketPriority.name.label("priority_name"), Department.name.label("department_name"),
           Group.name.label("group_name"), User.username.label("agent_user_name"),
           TicketMessage.id.label("first_message_id"), TicketMessage.body_html.label("first_message_html"),
           TicketMessage.body_text.label("first_message_text"))
    .join(TicketStatus, TicketStatus.id == Ticket.status_id)
    .outerjoin(TicketPriority, TicketPriority.id == Ticket.priority_id)
    .outerjoin(Department, Department.id == Ticket.department_id)
    .outerjoin(Group, Group.id == Ticket.group_id)
    .outerjoin(User, User.id == Ticket.agent_id)
    .outerjoin(TicketMessage, TicketMessage.id == _first_message_id()))


def _body_html(edit, row) -> str:
    if row.first_message_id is None:
        return ""
    return row.first_message_html or core.text_to_html(row.first_message_text)


def _body_text(edit, row) -> str:
    return row.first_message_text if row.first_message_id is not None else ""


def _read(attribute, zero_for_none=False, empty_for_none=False):
    """A reader of the column ``attribute`` of ``_PROPERTIES_ROW``."""
    def read(edit, row):
        value = getattr(row, attribute)
        if value is None and (zero_for_none or empty_for_none):
            return 0 if zero_for_none else ""
        return value
    return read


def _event(edit, ticket, event_type, description, details=""):
    core.record_event(edit.call, ticket, event_type, description, details)


def _set_subject(edit, ticket, value):
    if value != ticket.subject:
        _event(edit, ticket, "SubjectChanged", "Subject changed", "%s -> %s" % (_quote(ticket.subject), _quote(value)))
        ticket.subject = value


def _set_status(edit, ticket, status):
    require_fields_to_close(edit.call, ticket, status)
    core.set_status(edit.call, ticket, status, "SetTicketProperties")


def _set_priority(edit, ticket, priority):
    if priority.id != ticket.priority_id:
        old = edit.session.get(TicketPriority, ticket.priority_id)
        _event(edit, ticket, "PriorityChanged", "Priority changed from %s to %s" % (old.name, priority.name))
        ticket.priority_id = priority.id


def _is_member(session, agent_id: int, group_id: int) -> bool:
    return session.get(GroupAgent, (group_id, agent_id)) is not None


def _move_to_group(edit, ticket, group: Group):
    """Put the ticket in ``group``; unless AgentID is being set too, an agent
    who is not a member of the new group loses it to the group's distribution."""
    if group.id == ticket.group_id:
        return
    old = edit.session.get(Group, ticket.group_id)
    ticket.group_id = group.id
    _event(edit, ticket, "GroupChanged", "Moved from group %s to %s" % (old.name, group.name))
    if "agentid" in edit.given:
        return
    if ticket.agent_id and _is_member(edit.session, ticket.agent_id, group.id):
        return
    if _status(edit, ticket).is_open:
        core.distribute(edit.call, ticket)
    elif ticket.agent_id:
        ticket.agent_id = None
        ticket.is_pinned_to_agent = False
        _event(edit, ticket, "Unassigned", "Unassigned: not a member of group %s" % group.name)


def _set_department(edit, ticket, department: Department):
    if department.id == ticket.department_id:
        return
    old = edit.session.get(Department, ticket.department_id)
    ticket.department_id = department.id
    ticket.brand_id = department.brand_id
    _event(edit, ticket, "DepartmentChanged", "Moved from department %s to %s" % (old.name, department.name))
    if "groupid" not in edit.given:
        _move_to_group(edit, ticket, core.resolve_group(edit.call, department, None))


def _set_group(edit, ticket, group: Group):
    if group.department_id != ticket.department_id:
        if "departmentid" in edit.given:
            raise InvalidArgument("Nothing was changed: group %s (%s) does not belong to department %s."
                                  % (group.id, group.name, ticket.department_id))
        _set_department(edit, ticket, edit.session.get(Department, group.department_id))
    _move_to_group(edit, ticket, group)


def _set_agent(edit, ticket, agent: User | None):
    if agent is not None and not _is_member(edit.session, agent.id, ticket.group_id):
        group = edit.session.get(Group, ticket.group_id)
        raise InvalidArgument("Nothing was changed: agent %s is not a member of group %s (%s)."
                              % (agent.username, group.id, group.name))
    new_id = agent.id if agent is not None else None
    if new_id == ticket.agent_id:
        return
    ticket.agent_id = new_id
    ticket.is_pinned_to_agent = False
    ticket.hold_start_assigned_utc = utcnow() if agent is not None else None
    if agent is not None:
        _event(edit, ticket, "Assigned", "Assigned to %s" % agent.username)
    else:
        _event(edit, ticket, "Unassigned", "Unassigned (back to the queue of its group)")


def _set_customer_email(edit, ticket, value):
    if value != ticket.customer_email:
        _event(edit, ticket, "CustomerEmailChanged", "Customer email address changed",
               "%s -> %s" % (ticket.customer_email, value))
        ticket.customer_email = value


def _set_flag(attribute, label):
    def apply(edit, ticket, value):
        if getattr(ticket, attribute) != value:
            setattr(ticket, attribute, value)
            _event(edit, ticket, label + "Changed", "%s set to %s" % (label, format_value(value)))
    return apply


def _set_pinned(edit, ticket, value):
    if value and not ticket.agent_id:
        raise InvalidArgument("Nothing was changed: the ticket has no agent to be pinned to.")
    if value != ticket.is_pinned_to_agent:
        ticket.is_pinned_to_agent = value
        ticket.hold_start_pinned_utc = utcnow() if value else None
        _event(edit, ticket, "IsPinnedToAgentChanged",
               "Pinned to its agent" if value else "No longer pinned to its agent")


# Parsing a value some keys take needs the database (an id must name a
# row): those keys keep the text as it was given (``_as_given``) and resolve
# it with the call's context (``_Edit``), still before anything is applied.

def _as_given(text: str) -> str:
    return text


def _status_by_id(edit, text):
    status = edit.session.get(TicketStatus, parse_int(text))
    if status is None:
        raise ValueError("%r is not a ticket status id (1-4: Active, Waiting, Closed, Closed and Locked)" % text)
    return status


def _priority(edit, text):
    session = edit.session
    value = text.strip()
    row = None
    if value.lstrip("-").isdigit():
        row = session.get(TicketPriority, int(value))
    elif value:
        row = session.scalars(select(TicketPriority).where(func.lower(TicketPriority.name) == value.lower())).first()
    if row is None:
        names = ", ".join("%d=%s" % (p.id, p.name) for p in session.scalars(
            select(TicketPriority).order_by(TicketPriority.sort_order)))
        raise ValueError("%r is not a priority (%s)" % (text, names))
    return row


def _department(edit, text):
    return org.get_department(edit.call, parse_int(text))


def _group(edit, text):
    row = org.get_group(edit.call, parse_int(text))
    if edit.session.get(Department, row.department_id).is_deleted:
        raise NotFound("Group %s belongs to a deleted department." % row.id)
    return row


def _agent(edit, text):
    agent_id = parse_int(text)
    if agent_id == 0:
        return None
    if agent_id < 0:
        raise ValueError("%r is not a user id" % text)
    user = org.get_user(edit.call, agent_id)
    if not org.is_agent(user):
        raise ValueError("user %s is not an agent" % user.username)
    return user


def _status_by_name(edit, text):
    return core.status_by_name(edit.session, text)


def _subject(text):
    return validation.name(text, "subject", 1000)


_TICKET_PROPERTIES = PropertyBag("Ticket", [
    Property("TicketID", _read("id")),
    Property("TicketNumber", _read("ticket_number")),
    Property("Subject", _read("subject"), _subject, _set_subject),
    Property("TicketStatusID", _read("status_id"), _as_given, _set_status, resolve=_status_by_id),
    Property("Status", _read("status_display_name"), _as_given, _set_status, resolve=_status_by_name),
    Property("Priority", _read("priority_id"), _as_given, _set_priority, resolve=_priority),
    Property("TicketPriorityID", _read("priority_id"), _as_given, _set_priority, resolve=_priority),
    Property("PriorityName", _read("priority_name", empty_for_none=True)),
    Property("BrandID", _read("brand_id")),
    Property("DepartmentID", _read("department_id"), _as_given, _set_department, resolve=_department),
    Property("DepartmentName", _read("department_name", empty_for_none=True)),
    Property("GroupID", _read("group_id"), _as_given, _set_group, resolve=_group),
    Property("GroupName", _read("group_name", empty_for_none=True)),
    Property("AgentID", _read("agent_id", zero_for_none=True), _as_given, _set_agent, resolve=_agent),
    Property("AgentUserName", _read("agent_user_name", empty_for_none=True)),
    Property("CustomerEmailAddress", _read("customer_email"), validation.email, _set_customer_email),
    Property("UserIdCustomer", _read("customer_id", zero_for_none=True)),
    Property("DateReceivedUTC", lambda edit, t: t.date_first_message_utc or t.date_opened_utc),
    Property("DateOpenedUtc", _read("date_opened_utc")),
    Property("LastReplyDateUtc", lambda edit, t: t.last_reply_utc or t.date_opened_utc),
    Property("DateClosedUtc", _read("date_closed_utc")),
    Property("DateModifiedUtc", _read("date_modified_utc")),
    Property("IdleStartTimeUtc", _read("idle_start_utc")),
    Property("IsOpen", _read("status_is_open")),
    Property("IsActive", _read("status_is_active")),
    Property("IsLocked", _read("status_is_locked")),
    Property("IsDeleted", _read("is_deleted")),
    Property("IsSpam", _read("is_spam"), parse_bool, _set_flag("is_spam", "IsSpam")),
    Property("IsPinnedToAgent", _read("is_pinned_to_agent"), parse_bool, _set_pinned),
    Property("RequiresFollowUp", _read("requires_follow_up")),
    Property("ShowInFollowUpView", _read("show_in_follow_up_view")),
    Property("DateFollowUpUtc", _read("date_follow_up_utc")),
    Property("ReplyCountIn", _read("reply_count_in")),
    Property("ReplyCountOut", _read("reply_count_out")),
    Property("BodyHTML", _body_html),
    Property("BodyText", _body_text),
])


def get_ticket_properties(call, ticket_number: str, requested=None) -> tuple[list[str], list[str]]:
    """``Key=Value`` of the requested properties of a ticket the caller can
    see (none requested: all), read in one query (``_PROPERTIES_ROW``)."""
    row = _PROPERTIES_ROW.by_number(call, ticket_number)
    return _TICKET_PROPERTIES.get(_Edit(call), row, requested)


def set_ticket_properties(call, ticket: Ticket, assignments) -> list[str]:
    """Apply ``Key=Value`` items (all or nothing); returns the keys set."""
    core.require_changeable(call, ticket)
    items = [item for item in assignments or [] if item is not None and item.strip()]
    keys = [item.partition("=")[0].strip().lower() for item in items]
    repeated = sorted({key for key in keys if keys.count(key) > 1})
    for aliases in _ALIASES:
        if len([key for key in keys if key in aliases]) > 1 and not set(repeated) & aliases:
            repeated.append("/".join(sorted(aliases)))
    if repeated:
        raise InvalidArgument("Nothing was changed: %s given more than once." % ", ".join(repeated))
    ordered = sorted(zip(keys, items), key=lambda pair: _APPLY_ORDER.get(pair[0], len(_APPLY_ORDER)))
    edit = _Edit(call, set(keys))
    changed = _TICKET_PROPERTIES.set(edit, ticket, [item for _, item in ordered])
    core.touch(ticket)
    return changed
