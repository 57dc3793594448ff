"""svcTickets operations: moving tickets (to a group or agent, to another
help desk server) and scheduling follow-ups."""
from __future__ import annotations

from stws.domain.tickets import transfer
from stws.security import roles
from stws.services.tickets import types as T
from stws.soap.operation import operation
from stws.soap.types import Bool, Int, String, When


@operation(("ticketId", Int), ("followUpDateUtc", When), ("newGroupId", Int), ("newAgentId", Int),
           ("newStatus", String), ("pinToAgent", Bool), ("comment", String),
           returns=T.GenericResult, role=roles.AGENT)
def SetFollowUp(call, ticketId, followUpDateUtc, newGroupId, newAgentId, newStatus, pinToAgent, comment):
    """At ``followUpDateUtc`` the ticket returns to ``newGroupId``/``newAgentId``
    with ``newStatus`` (0 / empty = keep), pinned if ``pinToAgent``;
    ``comment`` becomes a Follow-Up comment. Replaces a pending follow-up."""
    transfer.set_follow_up(call, ticketId, followUpDateUtc, newGroupId, newAgentId, newStatus, pinToAgent, comment)
    return {}


@operation(("ticketId", Int), returns=T.GenericResult, role=roles.AGENT)
def RemoveFollowUp(call, ticketId):
    """Cancel the ticket's pending follow-up."""
    transfer.remove_follow_up(call, ticketId)
    return {}


@operation(("ticketNumber", String), ("targetGroupID", Int), ("targetAgentID", Int), ("transferComment", String),
           ("ticketStatus", String), returns=T.GenericResult, role=roles.AGENT)
def TransferTicket(call, ticketNumber, targetGroupID, targetAgentID, transferComment, ticketStatus):
    """Move the ticket to ``targetGroupID`` (0 = its group) and ``targetAgentID``
    (0 = the group's distribution); ``ticketStatus`` empty keeps the status."""
    transfer.transfer_ticket(call, ticketNumber, targetGroupID, targetAgentID, transferComment, ticketStatus)
    return {}


# Read-only transaction: the remote calls must not hold the write lock; the
# outcome is written in a transaction of its own (see the domain module).
@operation(("ticketNumber", String), ("transferServerID", Int), ("targetDepartmentID", Int),
           ("targetDepartmentName", String), ("targetGroupID", Int), ("targetGroupName", String),
           ("targetAgentID", Int), ("targetUserName", String), ("transferComment", String),
           ("ticketStatus", String), returns=T.GenericResult, role=roles.AGENT, writes=False, slow=True)
def TransferTicketToInstance(call, ticketNumber, transferServerID, targetDepartmentID, targetDepartmentName,
                             targetGroupID, targetGroupName, targetAgentID, targetUserName, transferComment,
                             ticketStatus):
    """Recreate the ticket on another server (a transfer server) and close it
    here (or set ``ticketStatus``); Message says the remote ticket number."""
    target = transfer.RemoteTarget(targetDepartmentID, targetDepartmentName or "", targetGroupID,
                                   targetGroupName or "", targetAgentID, targetUserName or "")
    message = transfer.transfer_to_instance(call, ticketNumber, transferServerID, target, transferComment,
                                            ticketStatus)
    return {"Message": message}
