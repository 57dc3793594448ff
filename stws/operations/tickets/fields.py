"""Custom fields and ticket properties: Key=Value bags of a ticket.

Reading is open to every account that can see the ticket (customers see
only the custom fields visible to users); setting properties needs an
employee role, setting custom fields the right to see the ticket (customers:
their own tickets, user-visible fields only). Reads return ``(items,
unknown)``: the ``Key=Value`` items and the requested keys that do not
exist; a set with an unknown key or a bad value changes nothing
(INVALID_ARGUMENT). See stws.domain.tickets.fields.
"""
from __future__ import annotations

from stws.domain.tickets import core
from stws.domain.tickets import fields
from stws.operations.runner import operation
from stws.security import roles


@operation(role=roles.EVERYONE, writes=False)
def custom_field_controls(context, department_id) -> list:
    """The placed fields of the department's ticket template, in sort order (fields.department_fields)."""
    return fields.department_fields(context, department_id)


@operation(role=roles.EVERYONE, writes=False)
def ticket_custom_fields(context, ticket_number, requested=None) -> tuple[list[str], list[str]]:
    """``DisplayName=value`` of the requested custom fields (none requested: all)."""
    return fields.get_ticket_field_values(context, ticket_number, requested)


@operation(role=roles.EVERYONE)
def set_ticket_custom_fields(context, ticket_number, assignments) -> list[str]:
    """Set ``DisplayName=value`` items; the names of the fields that changed."""
    ticket = core.get_ticket_by_number(context, ticket_number)
    return fields.set_ticket_field_values(context, ticket, assignments)


@operation(role=roles.EVERYONE, writes=False)
def ticket_properties(context, ticket_number, requested=None) -> tuple[list[str], list[str]]:
    """``Key=Value`` of the requested properties (none requested: all)."""
    return fields.get_ticket_properties(context, ticket_number, requested)


@operation(role=roles.AGENT)
def set_ticket_properties(context, ticket_number, assignments) -> list[str]:
    """Set ``Key=Value`` items; the keys set."""
    ticket = core.get_ticket_by_number(context, ticket_number)
    return fields.set_ticket_properties(context, ticket, assignments)
