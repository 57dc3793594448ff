"""svcTickets operations: custom fields and ticket properties, Key=Value
bags of a ticket. Bound to stws.operations.tickets.fields (who may read and
set what is said there). Unknown keys are reported in ``Message`` when
reading and make a set fail with INVALID_ARGUMENT.
"""
from __future__ import annotations

from stws.operations.tickets import fields as ops
from stws.services.tickets import types as T
from stws.soap.operation import binds
from stws.soap.types import ArrayOfString, Int, String

TICKET_NUMBER = ("ticketNumber", String)
REQUESTED = ("requestedValues", ArrayOfString)


def _settings(items_and_unknown, what: str):
    """The payload of a read: its items, and the unknown keys named in Message."""
    items, unknown = items_and_unknown
    message = "Unknown %s: %s." % (what, ", ".join(unknown)) if unknown else ""
    return {"RequestResults": items, "Message": message}


@binds(ops.custom_field_controls, ("departmentId", Int), returns=T.CustomFieldInfoArrayResult)
def GetCustomFieldControls(placed_fields):
    """The custom fields of the department's ticket template, in sort order."""
    return {"CustomFields": [
        T.CustomFieldInfo(
            CustomFieldId=placed.id, CustomTemplateId=placed.template_id,
            DisplayName=placed.display_name, IsRequiredByAgents=placed.is_required_by_agents,
            IsRequiredByAgentsToClose=placed.is_required_by_agents_to_close,
            IsRequiredByUsers=placed.is_required_by_users, IsVisibleToAgents=placed.is_visible_to_agents,
            IsVisibleToUsers=placed.is_visible_to_users, SortOrder=placed.sort_order,
        )
        for placed in placed_fields
    ]}


@binds(ops.ticket_custom_fields, TICKET_NUMBER, returns=T.SettingsRequestResult)
def GetTicketCustomFieldsList(items_and_unknown):
    """Every custom field of the ticket as DisplayName=value (default value when unset)."""
    return _settings(items_and_unknown, "custom fields")


@binds(ops.ticket_custom_fields, TICKET_NUMBER, REQUESTED, returns=T.SettingsRequestResult)
def GetTicketCustomFields(items_and_unknown):
    """The requested custom fields (display names, any case); an empty list returns all."""
    return _settings(items_and_unknown, "custom fields")


@binds(ops.set_ticket_custom_fields, TICKET_NUMBER, ("customFieldValues", ArrayOfString), returns=T.GenericResult)
def SetTicketCustomFields(changed):
    """Set DisplayName=value items, checked against each field's type; all or nothing."""
    return {"Message": "Changed: %s." % ", ".join(changed) if changed else "No value changed."}


@binds(ops.ticket_properties, TICKET_NUMBER, returns=T.SettingsRequestResult)
def GetTicketPropertiesList(items_and_unknown):
    """Every property of the ticket as Key=Value."""
    return _settings(items_and_unknown, "keys")


@binds(ops.ticket_properties, TICKET_NUMBER, REQUESTED, returns=T.SettingsRequestResult)
def GetTicketProperties(items_and_unknown):
    """The requested properties (keys in any case); an empty list returns all."""
    return _settings(items_and_unknown, "keys")


@binds(ops.set_ticket_properties, TICKET_NUMBER, ("ticketPropertyValues", ArrayOfString), returns=T.GenericResult)
def SetTicketProperties(changed):
    """Set Key=Value items: Subject, TicketStatusID/Status, Priority, DepartmentID, GroupID,
    AgentID (0 = unassign), CustomerEmailAddress, IsSpam, IsPinnedToAgent; all or nothing."""
    return {"Message": "Changed: %s." % ", ".join(changed)}
