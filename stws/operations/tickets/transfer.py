"""Moving tickets (to a group or agent, to another help desk server) and
scheduling follow-ups. See stws.domain.tickets.transfer."""
from __future__ import annotations

from stws.db.models import Ticket
from stws.domain.tickets import transfer
from stws.operations.runner import operation
from stws.security import roles


@operation(role=roles.AGENT)
def set_follow_up(context, ticket_id, follow_up_date, new_group_id, new_agent_id, new_status, pin_to_agent,
                  comment) -> Ticket:
    """At ``follow_up_date`` the ticket returns to the group and agent (0 /
    empty: keep) with the status, pinned if asked; replaces a pending one."""
    return transfer.set_follow_up(context, ticket_id, follow_up_date, new_group_id, new_agent_id, new_status,
                                  pin_to_agent, comment)


@operation(role=roles.AGENT)
def remove_follow_up(context, ticket_id) -> Ticket:
    return transfer.remove_follow_up(context, ticket_id)


@operation(role=roles.AGENT)
def transfer_ticket(context, ticket_number, target_group_id, target_agent_id, comment, status) -> Ticket:
    """Move the ticket to a group (0: its own) and agent (0: the group's
    distribution); an empty ``status`` keeps the status."""
    return transfer.transfer_ticket(context, ticket_number, target_group_id, target_agent_id, comment, status)


# No transaction around it: the remote calls must happen outside any (a
# stws.remote rule); the domain function reads in a read-only transaction,
# then calls, then writes the outcome in a transaction of its own.
@operation(role=roles.AGENT, writes=False, slow=True, transaction=False)
def transfer_ticket_to_instance(context, ticket_number, server_id, department_id, department_name, group_id,
                                group_name, agent_id, user_name, comment, status) -> str:
    """Recreate the ticket on a transfer server and close it here (or set
    ``status``); what happened, with the remote ticket number."""
    target = transfer.RemoteTarget(department_id, department_name or "", group_id, group_name or "", agent_id,
                                   user_name or "")
    return transfer.transfer_to_instance(context, ticket_number, server_id, target, comment, status)
