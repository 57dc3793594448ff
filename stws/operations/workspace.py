"""The agents' ticket workspace in the management interface: the tree of
counts, its ticket lists and search, and the heartbeat every open
workspace page polls (stws.domain.tickets.navigation).

The heartbeat is called by every open browser every Heartbeat Interval, so
it is one statement of a few indexed lookups on the driver connection
(``workspace_heartbeat``), and the runner records the agent's heartbeat for
Auto-Inactive as it does for every SOAP call (stws.security.heartbeat).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from stws.db.models import utcnow
from stws.domain.tickets import navigation
from stws.domain.context import Context
from stws.operations.runner import operation
from stws.security import heartbeat as agent_heartbeat
from stws.security import roles


@dataclass
class Heartbeat:
    counts: dict[str, int]
    reminders: list[navigation.Reminder]
    interval_seconds: int
    now_utc: dt.datetime
    # The version of the ticket the polling page shows (None: gone, or no
    # longer the caller's to see); only when the page asked for one.
    ticket_version: str | None = None


@operation(role=roles.AGENT, writes=False)
def ticket_tree(context) -> navigation.Tree:
    """The tree of the caller's ticket lists with their counts, and the
    Heartbeat Interval at which the page refreshes them."""
    # Every workspace page shows the tree: its counts are the heartbeat's,
    # kept while the counts table stays as it is (navigation.tree_counts).
    tree = navigation.tree(context, counted=navigation.tree_counts(context))
    tree.interval_seconds = int(agent_heartbeat.interval(context.runtime).total_seconds())
    return tree


@operation(role=roles.AGENT, writes=False, transaction=False)
def workspace_heartbeat(context, ticket_number: str = "") -> Heartbeat:
    """The tree's counts, the caller's follow-ups due by the next heartbeat,
    and the Heartbeat Interval (Diagnostics > Options) to poll at; with
    ``ticket_number`` (an open ticket page), that ticket's version, so the
    page knows when to fetch its changed parts.

    One statement (navigation.pulse), read as the session was (on the
    request's connection, no BEGIN and COMMIT around it: a statement reads
    a snapshot by itself); the counts come from the heartbeat's cache while
    the counts table keeps the stamp it read. Only when they must be
    counted (a new Event Processing run, a viewer not seen since) does a
    read transaction follow."""
    interval = agent_heartbeat.interval(context.runtime)
    now = utcnow()
    # One interval ahead, and a little more for a late poll: every
    # follow-up is seen before the Ticket Watcher applies (and clears) it.
    with context.runtime.db.reading() as connection:
        pulse = navigation.pulse(context, connection, now, interval * 2, ticket_number)
    counted = navigation.known_tree_counts(context, pulse.counts_stamp)
    if counted is None:
        with context.runtime.db.unit_of_work(writes=False) as unit:
            counted = navigation.tree_counts(Context(context.principal, context.runtime, unit), pulse.counts_stamp)
    return Heartbeat(counted, pulse.reminders, int(interval.total_seconds()), now,
                     pulse.ticket_version if ticket_number else None)


@operation(role=roles.AGENT, writes=False)
def ticket_list(context, node: str, criteria: list[str], sort_by: str, descending: bool, offset: int,
                size: int) -> navigation.Listing:
    """One page of a tree node's tickets and/or a search (GetTicketsBySearch's
    criteria), sorted and paged on the server."""
    return navigation.ticket_list(context, node, criteria, sort_by, descending, offset, size)
