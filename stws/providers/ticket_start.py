"""Asking the custom field and ticket providers whether, where and with
which custom fields a new ticket starts: the one place every way of
creating a ticket goes through (svcTickets' CreateTicket*, the email
import, the agents' new ticket form).

Two steps, because a provider is never called inside a transaction:

1. ``consult(runtime, NewTicketRequest)``, before the creating transaction:
   reads what the providers need (a transaction of its own, only when one
   of them is enabled), then calls

   * the **custom field provider**'s GetCustomFieldOptions (loginUsername
     when known, departmentName, location=REGULAR, interactiontype=TICKET,
     ``cf_<field>=<current value>`` for each field of the department's
     ticket template): ``CanStartTickets=false`` declines the ticket with
     the provider's Message; its ``CustomFieldDataItems`` change the
     visibility, required flag and list options of fields for this ticket;
   * the **ticket provider**'s StartTicket (loginUsername when known,
     emailFrom when the ticket comes from an address, departmentName,
     subject, ticketNumber, ``cf_*``): ``TicketCreation=FALSE`` declines
     it with the provider's Message; ``cf_<field>=<value>`` sets fields;
     ``departmentName=<other>`` re-routes the ticket there.

   and checks the result against the (changed) field rules. It returns
   None when neither provider is enabled and the submitter filled in no
   fields: one look at the gateway's settings snapshot, so
   CreateTicketFromCustomer stays a quick write. (The web form's fields are
   checked and recorded by the same rules with or without providers.)
2. ``record(call, new_ticket, start)``, inside the creating transaction:
   writes the custom field values and one history event saying what the
   providers decided.

Before either, ``form_effects(runtime, NewTicketRequest)`` tells the new
ticket form which fields to show for the inputs so far (the same
GetCustomFieldOptions call and the same rules): a courtesy, the consult at
submit stays the authority.

Decisions (README, "Ticket and custom field providers"):

* ``ticketNumber`` is sent empty: a number is made from the ticket's
  database id, which exists only inside the creating transaction.
* A field the custom field provider hides is not required, and a value the
  submitter gave for it is dropped (they could not see it); the ticket
  provider may still set it (that is how a provider stores what customers
  must not see). Changed list options bind every value written, from the
  submitter or the ticket provider, visible or not.
* Requiredness: a field is required when the custom field provider says so
  and, where the submitter fills the fields in (the web form), when the
  template requires it of users. svcTickets and email cannot fill fields,
  so for them only the provider's requirement counts, and only a value
  (the field's default, or one the ticket provider sets) satisfies it.
* ``cf_`` outputs naming a field the ticket's template does not have, and a
  ``departmentName`` naming no live department, are ignored and logged; the
  latter also in the ticket's history (the ticket stays where it was sent:
  a provider's typo must not lose a customer's ticket).
* An answer without ``CanStartTickets`` / ``TicketCreation`` allows.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field

from sqlalchemy import func, insert, select

from stws.db.models import CustomField, CustomTemplateField, Department, TicketCustomValue, User
from stws.domain import validation
from stws.errors import InvalidArgument, OperationError, ResultCode
from stws.domain.tickets import core
from stws.domain.tickets.fields import parse_field_value
from stws.providers.gateway import keys

providers_log = logging.getLogger("stws.providers")

CUSTOM_FIELD, TICKET = "CustomField", "Ticket"


class ProviderDeclined(OperationError):
    """A provider decided against the request (TicketCreation=FALSE,
    CanStartTickets=false, ChatCreation=FALSE): its Message is for the
    person who asked. Result code 3: not permitted, and nothing to retry."""

    code = ResultCode.PERMISSION_DENIED

    def __init__(self, message: str, provider: str):
        super().__init__(message)
        self.provider = provider


class FieldRuleBroken(ProviderDeclined):
    """The ticket breaks a custom field rule as the custom field provider
    changed it (a required field without a value, a value outside the
    changed list options) or the ticket provider set a field to a value of
    the wrong type. Result code 4. ``field``: the field's display name, so
    a form can show the Message beside it."""

    code = ResultCode.INVALID_ARGUMENT

    def __init__(self, message: str, provider: str, field: str = ""):
        super().__init__(message, provider)
        self.field = field


@dataclass(frozen=True)
class NewTicketRequest:
    """A ticket about to be created, as the providers are asked about it."""

    department_id: int
    subject: str
    user_id: int | None = None  # the customer's account, when the caller names it
    address: str | None = None  # the customer's address (email sender, fromAddress, toAddress)
    submitted: dict = field(default_factory=dict)  # field display name -> value the submitter filled in
    submitter_fills_fields: bool = False  # the web form: the template's required-by-users flags count


@dataclass(frozen=True)
class TicketStart:
    """What the providers decided for one ticket (``consult``)."""

    department_id: int  # where it goes: the requested department, or the one the ticket provider chose
    rerouted: bool
    values: tuple  # (field id, display name, stored value) to write
    history: tuple  # lines of the ticket's "ProvidersConsulted" event
    providers_asked: bool = True  # False: only the submitter's fields were checked (no event)


@dataclass(frozen=True)
class FormField:
    """A custom field as the new ticket form shows it."""

    name: str
    data_type: str  # stws.domain.tickets.fields.DATA_TYPES
    value: str  # what the submitter typed, else the field's default
    options: tuple  # a list field's options (the provider's when it changed them)
    required: bool
    lookup: bool  # the provider's answer depends on this field's value: ask again when it changes


@dataclass(frozen=True)
class FormEffects:
    """The fields of a new ticket form for the inputs so far (``form_effects``)."""

    fields: tuple  # FormField of the visible fields, in template order
    notice: str = ""  # the provider's refusal (CanStartTickets=false), or why it could not be asked


@dataclass(frozen=True)
class _Field:
    """A field of a ticket template, with what ``parse_field_value`` reads."""

    id: int
    display_name: str
    data_type: str
    default_value: str
    options: str
    visible_to_users: bool
    required_by_users: bool


@dataclass(frozen=True)
class _Department:
    id: int
    name: str
    fields: tuple  # of _Field, in template order


# ---------------------------------------------------------------- reading


def _department(session, department_id: int | None = None, name: str | None = None) -> _Department | None:
    query = select(Department.id, Department.name, Department.ticket_custom_template_id).where(
        Department.is_deleted.is_(False))
    if name is not None:
        query = query.where(func.lower(Department.name) == name.strip().lower())
    else:
        query = query.where(Department.id == department_id)
    row = session.execute(query.limit(1)).first()
    if row is None:
        return None
    fields = ()
    if row.ticket_custom_template_id is not None:
        fields = tuple(_Field(d.id, d.display_name, d.data_type, d.default_value or "", d.options or "",
                              p.is_visible_to_users, p.is_required_by_users)
                       for p, d in session.execute(
                           select(CustomTemplateField, CustomField)
                           .join(CustomField, CustomField.id == CustomTemplateField.field_id)
                           .where(CustomTemplateField.template_id == row.ticket_custom_template_id)
                           .order_by(CustomTemplateField.sort_order, CustomField.display_name, CustomField.id)))
    return _Department(row.id, row.name, fields)


def _username(session, request: NewTicketRequest) -> str:
    """The customer's user name when known: the account named, else the one
    live account with the address."""
    if request.user_id:
        return session.scalar(select(User.username).where(User.id == request.user_id)) or ""
    if request.address:
        names = session.scalars(select(User.username).where(
            func.lower(User.email) == request.address.lower(), User.is_deleted.is_(False)).limit(2)).all()
        return names[0] if len(names) == 1 else ""
    return ""


# ---------------------------------------------------------------- consulting


def enabled(runtime) -> tuple:
    """The settings of (the custom field provider, the ticket provider) when
    enabled as web services, else None each, from the gateway's snapshot."""
    by_name = runtime.providers.settings().by_name
    return tuple(by_name[name] if by_name[name].is_external else None for name in (CUSTOM_FIELD, TICKET))


def consult(runtime, request: NewTicketRequest) -> TicketStart | None:
    """Ask the enabled providers about ``request`` (see the module
    docstring); None when neither is enabled. Raises ProviderDeclined
    (FieldRuleBroken) when the ticket must not be created, RemoteFailure /
    ProviderRefused (code 9) when a provider cannot be asked, and
    LeavesCommitGroup on the commit-group thread. Never inside a
    transaction."""
    # Called with these settings even if they change meanwhile: one decision per ticket.
    ask_fields, ask_ticket = enabled(runtime)
    if not (ask_fields or ask_ticket or request.submitter_fills_fields):
        return None
    gateway = runtime.providers
    if ask_fields or ask_ticket:
        gateway.leave_commit_group()
    address = validation.email(request.address) if request.address else ""
    department, username = _read(runtime, request)
    if department is None:
        return None  # creating the ticket reports the missing department
    rules = _Rules(department, request)
    history = []
    if ask_fields:
        answer = _field_options(runtime, ask_fields, department, username, rules)
        if not answer.flag("CanStartTickets", True):
            raise ProviderDeclined(answer.message or "The custom field provider does not allow a new ticket in %s."
                                   % department.name, CUSTOM_FIELD)
        rules.change(answer.custom_fields)
        if answer.custom_fields:
            history.append("Custom field provider changed: %s" % ", ".join(c.name for c in answer.custom_fields))
    target = department
    provider_values = {}
    if ask_ticket:
        answer = gateway.call(TICKET, "StartTicket", settings=ask_ticket, inputs=[
            *([("loginUsername", username)] if username else []), *([("emailFrom", address)] if address else []),
            ("departmentName", department.name), ("subject", request.subject or ""), ("ticketNumber", ""),
            *rules.current_items()], accepts=keys("TicketCreation", "departmentName", "cf_*"))
        if not answer.flag("TicketCreation", True):
            raise ProviderDeclined(answer.message or "The ticket provider declined the ticket.", TICKET)
        provider_values = answer.prefixed("cf_")
        wanted = answer.get("departmentName").strip()
        if wanted and wanted.lower() != department.name.lower():
            with runtime.db.transaction(writes=False) as session:
                other = _department(session, name=wanted)
            if other is None:
                note = ("The ticket provider asked to move the ticket to department %r, which does not exist; "
                        "it stays in %s." % (wanted, department.name))
                providers_log.warning("StartTicket: %s", note)
                history.append(note)
            else:
                target = other
                history.append("Re-routed by the ticket provider from %s to %s" % (department.name, other.name))
    values = rules.final_values(target, provider_values, history)
    if values:
        history.append("Custom fields set: %s" % ", ".join(name for _, name, _ in values))
    return TicketStart(target.id, target.id != department.id, tuple(values), tuple(history),
                       providers_asked=bool(ask_fields or ask_ticket))


def _read(runtime, request: NewTicketRequest) -> tuple:
    """(the requested department with its fields, the customer's user name)."""
    with runtime.db.transaction(writes=False) as session:
        return _department(session, request.department_id), _username(session, request)


def _field_options(runtime, settings, department: _Department, username: str, rules: "_Rules"):
    """The custom field provider's GetCustomFieldOptions answer for a ticket
    of ``department`` with the fields as they stand."""
    return runtime.providers.call(CUSTOM_FIELD, "GetCustomFieldOptions", settings=settings, inputs=[
        *([("loginUsername", username)] if username else []), ("departmentName", department.name),
        ("location", "REGULAR"), ("interactiontype", "TICKET"), *rules.current_items()],
        accepts=keys("CanStartTickets", "CanStartChats"))


def form_effects(runtime, request: NewTicketRequest) -> FormEffects:
    """The fields the new ticket form shows for ``request`` (the inputs so
    far): the template's fields visible to users, with the custom field
    provider's changes when it is enabled. Never raises for the provider:
    a refusal or a provider that cannot be asked becomes the ``notice``
    (the fields then show as the template defines them), since submitting
    asks again and decides. Never inside a transaction."""
    ask_fields, _ = enabled(runtime)
    department, username = _read(runtime, request)
    if department is None:
        return FormEffects(())
    rules = _Rules(department, request)
    notice = ""
    if ask_fields:
        runtime.providers.leave_commit_group()
        try:
            answer = _field_options(runtime, ask_fields, department, username, rules)
        except OperationError as failure:
            if failure.code != ResultCode.REMOTE_FAILURE:
                raise
            notice = ("The custom field provider could not be asked, so the fields are shown as the template "
                      "defines them; a ticket can be created once it answers again. (%s)" % failure.message)
        else:
            rules.change(answer.custom_fields)
            if not answer.flag("CanStartTickets", True):
                notice = answer.message or ("The custom field provider does not allow a new ticket in %s."
                                            % department.name)
    return FormEffects(tuple(rules.form_field(definition) for definition in department.fields
                             if rules.visible(definition)), notice)


# What a form sends for a field left empty, by type, when the field has no default.
_UNSET = {"checkbox": "false"}


class _Rules:
    """The fields of one ticket as the submitter filled them in and the
    custom field provider changed them."""

    def __init__(self, department: _Department, request: NewTicketRequest):
        self.request = request
        self.changes = {}  # lower-case field name -> CustomFieldChange
        self.submitted = {name.strip().lower(): value for name, value in request.submitted.items()}
        self.fields = department.fields

    def change(self, changes) -> None:
        self.changes = {change.name.lower(): change for change in changes}

    def visible(self, definition: _Field) -> bool:
        change = self.changes.get(definition.display_name.lower())
        return change.visible if change is not None and change.change_visible else definition.visible_to_users

    def required(self, definition: _Field) -> bool:
        change = self.changes.get(definition.display_name.lower())
        if change is not None and change.change_required:
            return change.required
        return self.request.submitter_fills_fields and definition.required_by_users

    def options(self, definition: _Field) -> tuple | None:
        change = self.changes.get(definition.display_name.lower())
        return change.list_options if change is not None and change.change_list_options else None

    def form_field(self, definition: _Field) -> FormField:
        value = self.submitted.get(definition.display_name.lower())
        options = self.options(definition)
        if options is None and definition.data_type == "list":
            options = tuple(line for line in definition.options.split("\n") if line)
        change = self.changes.get(definition.display_name.lower())
        return FormField(definition.display_name, definition.data_type,
                         definition.default_value if value is None else value, tuple(options or ()),
                         self.required(definition), bool(change and change.display_with_information_lookup))

    def submitted_value(self, definition: _Field) -> str | None:
        """What the submitter gave for a field they could see."""
        if not self.visible(definition):
            return None
        return self.submitted.get(definition.display_name.lower())

    def current_items(self) -> list[tuple[str, str]]:
        """``cf_<name>=<value>`` of every field of the template, as it stands."""
        items = []
        for definition in self.fields:
            value = self.submitted_value(definition)
            items.append(("cf_" + definition.display_name, definition.default_value if value is None else value))
        return items

    def final_values(self, department: _Department, provider_values: dict, history: list) -> list:
        """(field id, name, stored value) to write on the ticket in
        ``department``, checked against the rules; FieldRuleBroken when one
        is broken."""
        by_name = {definition.display_name.lower(): definition for definition in department.fields}
        given = {name.strip().lower(): value for name, value in provider_values.items()}
        for name in provider_values:
            if name.strip().lower() in by_name:
                continue
            note = "the ticket provider set custom field %r, which the tickets of %s do not have; ignored" % (
                name, department.name)
            providers_log.warning("StartTicket: %s", note)
            history.append(note[0].upper() + note[1:])
        dropped = [d.display_name for d in department.fields
                   if not self.visible(d) and d.display_name.lower() in self.submitted]
        if dropped:
            providers_log.info("new ticket: dropped values of hidden custom fields %s", ", ".join(dropped))
        values = []
        for definition in department.fields:
            source, text = "ticket provider", given.get(definition.display_name.lower())
            if text is None:
                source, text = "submitter", self.submitted_value(definition)
            stored = None if text is None else self._parsed(definition, text, source)
            if source == "submitter" and stored == (definition.default_value or _UNSET.get(definition.data_type, "")):
                stored = None  # a form sends every field it shows: one left as it was is not set
            if stored is not None:
                values.append((definition.id, definition.display_name, stored))
            final = definition.default_value if stored is None else stored
            if self.visible(definition) and self.required(definition) and final == "":
                raise FieldRuleBroken("The ticket was not created: the custom field %s is required and has no "
                                      "value." % definition.display_name, CUSTOM_FIELD, definition.display_name)
        return values

    def _parsed(self, definition: _Field, text: str, source: str) -> str:
        options = self.options(definition)
        value = (text or "").strip()
        if options is not None and value:
            match = next((option for option in options if option.lower() == value.lower()), None)
            if match is None:
                raise FieldRuleBroken("The ticket was not created: %r (from the %s) is not one of the options of "
                                      "the custom field %s: %s." % (text, source, definition.display_name,
                                                                    ", ".join(options) or "none"), CUSTOM_FIELD,
                                      definition.display_name)
            return match
        try:
            return parse_field_value(definition, text)
        except InvalidArgument as error:
            raise FieldRuleBroken("The ticket was not created: the %s's value of the custom field %s is invalid: %s"
                                  % (source, definition.display_name, error.message), TICKET,
                                  definition.display_name) from None


# ---------------------------------------------------------------- recording


_INSERT_VALUE = insert(TicketCustomValue.__table__)


def record(call, ticket_id: int, start: TicketStart | None) -> None:
    """Write what ``consult`` decided on the ticket just created (in its transaction)."""
    if start is None:
        return
    connection = call.connection
    if start.values:
        connection.execute(_INSERT_VALUE, [{"ticket_id": ticket_id, "field_id": field_id, "value": value}
                                           for field_id, _, value in start.values])
    if not start.providers_asked:
        return
    core.insert_events(call, [core.event_row(
        call, ticket_id, "ProvidersConsulted", "Started through the external providers",
        "\n".join(start.history) or "The providers allowed the ticket without changes.")])
