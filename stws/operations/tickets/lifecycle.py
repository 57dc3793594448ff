"""Finding tickets, counting them, closing, deleting, status, URL and
related items.

Counting buckets (see stws.domain.tickets.lifecycle): Active = open and
active status; Waiting = open, not active; FollowUp = a follow-up is
scheduled (whatever the status); Queued = active with no agent. Deleted
tickets are never counted.
"""
from __future__ import annotations

from stws.db.models import Ticket, TicketLink
from stws.domain.tickets import counts, lifecycle, search
from stws.operations.runner import operation
from stws.security import roles


@operation(role=roles.AGENT)
def add_related_item(context, ticket_number, related_item_number) -> TicketLink:
    """Relate a ticket to another ticket (by its number) or to a call log (by
    its call number; a ticket number is tried first)."""
    return lifecycle.add_related_item(context, ticket_number, related_item_number)


@operation(role=roles.EVERYONE, writes=False)
def search_tickets(context, criteria) -> search.Found:
    """One page of the tickets the caller can see that match every
    ``Key=Value`` item of ``criteria`` (stws.domain.tickets.search), as rows
    of core.INFO_COLUMNS read by a prebuilt statement (a hot path)."""
    return search.find_tickets(context, criteria)


@operation(role=roles.MANAGER)
def delete_ticket(context, ticket_id) -> Ticket:
    """Soft delete: the ticket disappears now; the purge removes it later."""
    return lifecycle.delete_ticket(context, ticket_id)


# The two counts come from the counts the Event Processing thread keeps
# while it runs (stws.domain.tickets.counts), counted live otherwise.
@operation(role=roles.AGENT, writes=False)
def agent_ticket_counts(context) -> list[lifecycle.Counts]:
    """The caller's own tickets counted per brand, department and group
    (every group of theirs, with zeros if need be)."""
    return counts.agent_counts(context)


@operation(role=roles.AGENT, writes=False)
def global_ticket_counts(context) -> list[lifecycle.Counts]:
    """Counts per (brand, department, group, agent) of the tickets the caller can see."""
    return counts.global_counts(context)


@operation(role=roles.EVERYONE, writes=False)
def open_ticket_count(context) -> int:
    """The number of open tickets the caller can see."""
    return lifecycle.open_ticket_count(context)


@operation(role=roles.AGENT, writes=False)
def group_ticket_info(context) -> list[str]:
    """``Group.<id>.<what>=<value>`` items of each group of the caller."""
    return lifecycle.group_ticket_info(context)


@operation(role=roles.AGENT)
def close_ticket(context, ticket_number, closing_comment) -> Ticket:
    """Closed status and date; a non-empty comment becomes a General note."""
    return lifecycle.close_ticket(context, ticket_number, closing_comment)


@operation(role=roles.EVERYONE, writes=False)
def ticket_status(context, ticket_number) -> str:
    """The display name of the ticket's status."""
    return lifecycle.ticket_status_name(context, ticket_number)


@operation(role=roles.AGENT, writes=False)
def ticket_url(context, ticket_number) -> str:
    """The absolute URL of the ticket in the management interface."""
    return lifecycle.ticket_url(context, ticket_number)
