"""svcTickets operations: moving tickets (to a group or agent, to another
help desk server) and scheduling follow-ups. Bound to
stws.operations.tickets.transfer."""
from __future__ import annotations

from stws.operations.tickets import transfer as ops
from stws.services.tickets import types as T
from stws.soap.operation import binds
from stws.soap.types import Bool, Int, String, When


@binds(ops.set_follow_up, ("ticketId", Int), ("followUpDateUtc", When), ("newGroupId", Int), ("newAgentId", Int),
       ("newStatus", String), ("pinToAgent", Bool), ("comment", String), returns=T.GenericResult)
def SetFollowUp(ticket):
    """At ``followUpDateUtc`` the ticket returns to ``newGroupId``/``newAgentId``
    with ``newStatus`` (0 / empty = keep), pinned if ``pinToAgent``;
    ``comment`` becomes a Follow-Up comment. Replaces a pending follow-up."""
    return {}


@binds(ops.remove_follow_up, ("ticketId", Int), returns=T.GenericResult)
def RemoveFollowUp(ticket):
    """Cancel the ticket's pending follow-up."""
    return {}


@binds(ops.transfer_ticket, ("ticketNumber", String), ("targetGroupID", Int), ("targetAgentID", Int),
       ("transferComment", String), ("ticketStatus", String), returns=T.GenericResult)
def TransferTicket(ticket):
    """Move the ticket to ``targetGroupID`` (0 = its group) and ``targetAgentID``
    (0 = the group's distribution); ``ticketStatus`` empty keeps the status."""
    return {}


@binds(ops.transfer_ticket_to_instance, ("ticketNumber", String), ("transferServerID", Int),
       ("targetDepartmentID", Int), ("targetDepartmentName", String), ("targetGroupID", Int),
       ("targetGroupName", String), ("targetAgentID", Int), ("targetUserName", String),
       ("transferComment", String), ("ticketStatus", String), returns=T.GenericResult)
def TransferTicketToInstance(message):
    """Recreate the ticket on another server (a transfer server) and close it
    here (or set ``ticketStatus``); Message says the remote ticket number."""
    return {"Message": message}
