"""svcTickets operations: agent availability ("Active Groups"), hand-off and signature.

The plain operations act on the calling account, which must be an agent;
the ...AsAdmin twins act on ``agentUserName`` and need the Manager role
(Administrators have it). See stws.domain.tickets.agents for the rules.
"""
from __future__ import annotations

from stws.domain.tickets import agents
from stws.security import roles
from stws.services.tickets import types as T
from stws.soap.operation import operation
from stws.soap.types import Bool, Int, String

AGENT_USER_NAME = ("agentUserName", String)
STATUSES = ("receivingStatusArr", T.ArrayOfReceivingStatusInfo)


def _status_infos(call, agent):
    return {"ReceivingStatus": [
        T.ReceivingStatusInfo(DepartmentId=row.department_id, DepartmentName=row.department_name,
                              GroupId=row.group_id, GroupName=row.group_name, IsReceiving=row.is_receiving)
        for row in agents.receiving_status(call, agent)
    ]}


def _wanted(receivingStatusArr):
    return [(item.DepartmentId or 0, item.GroupId or 0, bool(item.IsReceiving))
            for item in receivingStatusArr or [] if item is not None]


def _hand_off(call, agent):
    return {"Message": agents.hand_off_active_tickets(call, agent.id).message()}


@operation(returns=T.GenericResult, role=roles.AGENT)
def HandOffActiveTickets(call):
    """Give the caller's Active tickets (not Waiting, not pinned) to the other
    agents of their groups or to the queue; Message starts with how many."""
    return _hand_off(call, agents.calling_agent(call))


@operation(AGENT_USER_NAME, returns=T.GenericResult, role=roles.MANAGER)
def HandOffActiveTicketsAsAdmin(call, agentUserName):
    """HandOffActiveTickets for the agent ``agentUserName``."""
    return _hand_off(call, agents.agent_named(call, agentUserName))


@operation(STATUSES, returns=T.GenericResult, role=roles.AGENT)
def SetAgentReceivingStatus(call, receivingStatusArr):
    """Set IsReceiving of the caller in each group given (GroupId); groups not given keep theirs."""
    return {"Message": agents.set_receiving_status(call, agents.calling_agent(call), _wanted(receivingStatusArr))}


@operation(AGENT_USER_NAME, STATUSES, returns=T.GenericResult, role=roles.MANAGER)
def SetAgentReceivingStatusAsAdmin(call, agentUserName, receivingStatusArr):
    """SetAgentReceivingStatus for the agent ``agentUserName``."""
    agent = agents.agent_named(call, agentUserName)
    return {"Message": agents.set_receiving_status(call, agent, _wanted(receivingStatusArr))}


@operation(returns=T.ReceivingStatusInfoArrayResult, role=roles.AGENT, writes=False)
def GetAgentReceivingStatus(call):
    """One ReceivingStatusInfo per group the caller belongs to."""
    return _status_infos(call, agents.calling_agent(call))


@operation(AGENT_USER_NAME, returns=T.ReceivingStatusInfoArrayResult, role=roles.MANAGER, writes=False)
def GetAgentReceivingStatusAsAdmin(call, agentUserName):
    """GetAgentReceivingStatus for the agent ``agentUserName``."""
    return _status_infos(call, agents.agent_named(call, agentUserName))


@operation(("receiveTickets", Bool), returns=T.GenericResult, role=roles.AGENT)
def SetAgentReceivingStatusForAllGroups(call, receiveTickets):
    """Start or stop receiving tickets in every group of the caller."""
    return {"Message": agents.set_receiving_for_all_groups(call, agents.calling_agent(call), receiveTickets)}


@operation(AGENT_USER_NAME, ("receiveTickets", Bool), returns=T.GenericResult, role=roles.MANAGER)
def SetAgentReceivingStatusForAllGroupsAsAdmin(call, agentUserName, receiveTickets):
    """SetAgentReceivingStatusForAllGroups for the agent ``agentUserName``."""
    agent = agents.agent_named(call, agentUserName)
    return {"Message": agents.set_receiving_for_all_groups(call, agent, receiveTickets)}


@operation(("DepartmentID", Int), ("GroupID", Int), ("plainText", Bool), returns=T.StringRequestResult,
           role=roles.AGENT, writes=False)
def GetAgentsSignature(call, DepartmentID, GroupID, plainText):
    """The caller's signature, as plain text (plainText=true) or HTML; empty when none is set."""
    return {"RequestResult": agents.signature(call, DepartmentID, GroupID, plainText)}
