"""Agent availability ("Active Groups"), hand-off and signature.

The plain operations act on the calling account, which must be an agent;
the ..._as_admin twins act on the agent named ``agent_user_name`` and need
the Manager role (Administrators have it). The rules are in
stws.domain.tickets.agents.
"""
from __future__ import annotations

from stws.domain.tickets import agents
from stws.operations.runner import operation
from stws.security import roles


def _wanted(statuses) -> list[tuple[int, int, bool]]:
    """(department id or 0, group id, receiving) of each item of ``statuses``:
    objects shaped like svcTickets' ReceivingStatusInfo (DepartmentId,
    GroupId, IsReceiving), as SOAP hands them over; None items are skipped."""
    return [(item.DepartmentId or 0, item.GroupId or 0, bool(item.IsReceiving))
            for item in statuses or [] if item is not None]


@operation(role=roles.AGENT)
def hand_off_active_tickets(context) -> agents.HandOff:
    return agents.hand_off_active_tickets(context, agents.calling_agent(context).id)


@operation(role=roles.MANAGER)
def hand_off_active_tickets_as_admin(context, agent_user_name) -> agents.HandOff:
    return agents.hand_off_active_tickets(context, agents.agent_named(context, agent_user_name).id)


@operation(role=roles.AGENT)
def set_agent_receiving_status(context, statuses) -> str:
    """Returns a summary of the change."""
    return agents.set_receiving_status(context, agents.calling_agent(context), _wanted(statuses))


@operation(role=roles.MANAGER)
def set_agent_receiving_status_as_admin(context, agent_user_name, statuses) -> str:
    agent = agents.agent_named(context, agent_user_name)
    return agents.set_receiving_status(context, agent, _wanted(statuses))


@operation(role=roles.AGENT, writes=False)
def agent_receiving_status(context) -> list[agents.Receiving]:
    # The caller's account was just read by authentication: its id is all it takes.
    return agents.receiving_status(context, context.principal.user_id)


@operation(role=roles.MANAGER, writes=False)
def agent_receiving_status_as_admin(context, agent_user_name) -> list[agents.Receiving]:
    return agents.receiving_status(context, agents.agent_named(context, agent_user_name).id)


@operation(role=roles.AGENT)
def set_agent_receiving_for_all_groups(context, receive_tickets) -> str:
    """Returns a summary of the change."""
    return agents.set_receiving_for_all_groups(context, agents.calling_agent(context), receive_tickets)


@operation(role=roles.MANAGER)
def set_agent_receiving_for_all_groups_as_admin(context, agent_user_name, receive_tickets) -> str:
    agent = agents.agent_named(context, agent_user_name)
    return agents.set_receiving_for_all_groups(context, agent, receive_tickets)


@operation(role=roles.AGENT, writes=False)
def agent_signature(context, department_id, group_id, plain_text) -> str:
    """The caller's signature (empty when none is set)."""
    return agents.signature(context, department_id, group_id, plain_text)
