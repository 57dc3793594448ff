"""Custom fields and ticket properties: Key=Value bags of a ticket.

Reading is open to every account that can see the ticket (customers see
only the custom fields visible to users); setting properties needs an
employee role, setting custom fields the right to see the ticket (customers:
their own tickets, user-visible fields only). Unknown keys are reported in
``Message`` when reading and make a set fail with INVALID_ARGUMENT.
"""
from __future__ import annotations

from stws.domain.tickets import core
from stws.domain.tickets import fields
from stws.security import roles
from stws.services.tickets import types as T
from stws.soap.operation import operation
from stws.soap.types import ArrayOfString, Int, String


def _settings(items_and_unknown, what: str):
    items, unknown = items_and_unknown
    message = "Unknown %s: %s." % (what, ", ".join(unknown)) if unknown else ""
    return {"RequestResults": items, "Message": message}


@operation(("departmentId", Int), returns=T.CustomFieldInfoArrayResult, role=roles.EVERYONE, writes=False)
def GetCustomFieldControls(call, departmentId):
    """The custom fields of the department's ticket template, in sort order."""
    return {"CustomFields": [
        T.CustomFieldInfo(
            CustomFieldId=definition.id, CustomTemplateId=placement.template_id,
            DisplayName=definition.display_name, IsRequiredByAgents=placement.is_required_by_agents,
            IsRequiredByAgentsToClose=placement.is_required_by_agents_to_close,
            IsRequiredByUsers=placement.is_required_by_users, IsVisibleToAgents=placement.is_visible_to_agents,
            IsVisibleToUsers=placement.is_visible_to_users, SortOrder=placement.sort_order,
        )
        for placement, definition in fields.department_fields(call, departmentId)
    ]}


@operation(("ticketNumber", String), returns=T.SettingsRequestResult, role=roles.EVERYONE, writes=False)
def GetTicketCustomFieldsList(call, ticketNumber):
    """Every custom field of the ticket as DisplayName=value (default value when unset)."""
    ticket = core.get_ticket_by_number(call, ticketNumber)
    return _settings(fields.get_ticket_field_values(call, ticket), "custom fields")


@operation(("ticketNumber", String), ("requestedValues", ArrayOfString), returns=T.SettingsRequestResult,
           role=roles.EVERYONE, writes=False)
def GetTicketCustomFields(call, ticketNumber, requestedValues):
    """The requested custom fields (display names, any case); an empty list returns all."""
    ticket = core.get_ticket_by_number(call, ticketNumber)
    return _settings(fields.get_ticket_field_values(call, ticket, requestedValues), "custom fields")


@operation(("ticketNumber", String), ("customFieldValues", ArrayOfString), returns=T.GenericResult,
           role=roles.EVERYONE)
def SetTicketCustomFields(call, ticketNumber, customFieldValues):
    """Set DisplayName=value items, checked against each field's type; all or nothing."""
    ticket = core.get_ticket_by_number(call, ticketNumber)
    changed = fields.set_ticket_field_values(call, ticket, customFieldValues)
    return {"Message": "Changed: %s." % ", ".join(changed) if changed else "No value changed."}


@operation(("ticketNumber", String), returns=T.SettingsRequestResult, role=roles.EVERYONE, writes=False)
def GetTicketPropertiesList(call, ticketNumber):
    """Every property of the ticket as Key=Value."""
    ticket = core.get_ticket_by_number(call, ticketNumber)
    return _settings(fields.get_ticket_properties(call, ticket), "keys")


@operation(("ticketNumber", String), ("requestedValues", ArrayOfString), returns=T.SettingsRequestResult,
           role=roles.EVERYONE, writes=False)
def GetTicketProperties(call, ticketNumber, requestedValues):
    """The requested properties (keys in any case); an empty list returns all."""
    ticket = core.get_ticket_by_number(call, ticketNumber)
    return _settings(fields.get_ticket_properties(call, ticket, requestedValues), "keys")


@operation(("ticketNumber", String), ("ticketPropertyValues", ArrayOfString), returns=T.GenericResult,
           role=roles.AGENT)
def SetTicketProperties(call, ticketNumber, ticketPropertyValues):
    """Set Key=Value items: Subject, TicketStatusID/Status, Priority, DepartmentID, GroupID,
    AgentID (0 = unassign), CustomerEmailAddress, IsSpam, IsPinnedToAgent; all or nothing."""
    ticket = core.get_ticket_by_number(call, ticketNumber)
    changed = fields.set_ticket_properties(call, ticket, ticketPropertyValues)
    return {"Message": "Changed: %s." % ", ".join(changed)}
