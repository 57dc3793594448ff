"""svcTickets operations: agent availability ("Active Groups"), hand-off and signature.

The plain operations act on the calling account, which must be an agent;
the ...AsAdmin twins act on ``agentUserName`` and need the Manager role
(Administrators have it). Bound to stws.operations.tickets.agents.
"""
from __future__ import annotations

from stws.operations.tickets import agents as ops
from stws.services.tickets import types as T
from stws.soap.operation import binds
from stws.soap.types import Bool, Int, String

AGENT_USER_NAME = ("agentUserName", String)
STATUSES = ("receivingStatusArr", T.ArrayOfReceivingStatusInfo)


def _status_infos(statuses):
    return {"ReceivingStatus": [
        T.ReceivingStatusInfo(DepartmentId=row.department_id, DepartmentName=row.department_name,
                              GroupId=row.group_id, GroupName=row.group_name, IsReceiving=row.is_receiving)
        for row in statuses
    ]}


def _hand_off(hand_off):
    return {"Message": hand_off.message()}


def _summary(message):
    return {"Message": message}


@binds(ops.hand_off_active_tickets, returns=T.GenericResult)
def HandOffActiveTickets(hand_off):
    """Give the caller's Active tickets (not Waiting, not pinned) to the other
    agents of their groups or to the queue; Message starts with how many."""
    return _hand_off(hand_off)


@binds(ops.hand_off_active_tickets_as_admin, AGENT_USER_NAME, returns=T.GenericResult)
def HandOffActiveTicketsAsAdmin(hand_off):
    """HandOffActiveTickets for the agent ``agentUserName``."""
    return _hand_off(hand_off)


@binds(ops.set_agent_receiving_status, STATUSES, returns=T.GenericResult)
def SetAgentReceivingStatus(summary):
    """Set IsReceiving of the caller in each group given (GroupId); groups not given keep theirs."""
    return _summary(summary)


@binds(ops.set_agent_receiving_status_as_admin, AGENT_USER_NAME, STATUSES, returns=T.GenericResult)
def SetAgentReceivingStatusAsAdmin(summary):
    """SetAgentReceivingStatus for the agent ``agentUserName``."""
    return _summary(summary)


@binds(ops.agent_receiving_status, returns=T.ReceivingStatusInfoArrayResult)
def GetAgentReceivingStatus(statuses):
    """One ReceivingStatusInfo per group the caller belongs to."""
    return _status_infos(statuses)


@binds(ops.agent_receiving_status_as_admin, AGENT_USER_NAME, returns=T.ReceivingStatusInfoArrayResult)
def GetAgentReceivingStatusAsAdmin(statuses):
    """GetAgentReceivingStatus for the agent ``agentUserName``."""
    return _status_infos(statuses)


@binds(ops.set_agent_receiving_for_all_groups, ("receiveTickets", Bool), returns=T.GenericResult)
def SetAgentReceivingStatusForAllGroups(summary):
    """Start or stop receiving tickets in every group of the caller."""
    return _summary(summary)


@binds(ops.set_agent_receiving_for_all_groups_as_admin, AGENT_USER_NAME, ("receiveTickets", Bool),
       returns=T.GenericResult)
def SetAgentReceivingStatusForAllGroupsAsAdmin(summary):
    """SetAgentReceivingStatusForAllGroups for the agent ``agentUserName``."""
    return _summary(summary)


@binds(ops.agent_signature, ("DepartmentID", Int), ("GroupID", Int), ("plainText", Bool),
       returns=T.StringRequestResult)
def GetAgentsSignature(signature):
    """The caller's signature, as plain text (plainText=true) or HTML; empty when none is set."""
    return {"RequestResult": signature}
