"""The agents' workspace of the management interface: the tree of ticket
counts, its nodes as ticket lists, and the follow-up reminders.

Counts are the count operations' numbers (``counts.global_counts``: the
``ticket_counts`` table the Event Processing thread keeps while it is
fresh, the live GROUP BY otherwise), over the tickets the caller can see,
added up per node:

* ``my-active`` / ``my-waiting`` / ``my-follow-ups``: the caller's own tickets;
* ``group-<id>-active`` / ``-waiting`` / ``-queued``: each group the caller
  belongs to (every agent's tickets; queued = active with no agent);
* ``department-<id>-...``: the same per department, for managers (who see
  every ticket).

A node's list is a ticket search (``search.run_search``, the statement
GetTicketsBySearch runs, visibility included) with the node's criteria,
so a list and its count cannot disagree on what a node means.

Reminders: the follow-ups that bring a ticket back to the caller (its
follow-up agent, else its agent) that are due now or fall due within ``ahead``. The
Ticket Watcher applies a due follow-up (and clears it) within its interval,
so a browser that polls every Heartbeat Interval learns of each follow-up
before it falls due, and shows its reminder when it does; ix_tickets_follow_up
(the scheduled follow-ups by date) keeps that query to the few
follow-ups due by then. The heartbeat reads them in one statement with the
counts table's stamp and the open ticket's version (``pulse``).
"""
from __future__ import annotations

import datetime as dt
import functools
import re
from dataclasses import dataclass, field

from sqlalchemy import Integer, bindparam, func, literal_column, select, true

from stws.db.models import FOLLOW_UP_SCHEDULED, Department, Group, GroupAgent, Ticket, TicketPriority, UtcDateTime
from stws.db.prepared import PreparedQuery
from stws.errors import InvalidArgument
from stws.domain.tickets import core, counts, search
from stws.domain.tickets import workspace as tickets_workspace

MAX_REMINDERS = 20
PAGE_SIZES = (25, 50, 100, 200)


@dataclass(frozen=True)
class Node:
    """A leaf of the tree: its key (``data-count`` in the page, ``node`` in a list's URL) and label."""

    key: str
    label: str


@dataclass
class Branch:
    """A heading of the tree with its leaves (My tickets, a group, a department)."""

    label: str
    nodes: list[Node]


@dataclass
class Tree:
    branches: list[Branch]
    counts: dict[str, int]  # node key -> number of tickets
    interval_seconds: int = 10  # how often the page refreshes them (the Heartbeat Interval)


@dataclass(frozen=True)
class Reminder:
    ticket_number: str
    subject: str
    due_utc: dt.datetime


@dataclass
class Listing:
    """One page of a ticket list."""

    title: str
    tickets: list  # rows of core.INFO_COLUMNS
    next_offset: int | None
    priorities: dict[int, str] = field(default_factory=dict)


# --------------------------------------------------------------- the tree


_MY_GROUPS = PreparedQuery(
    select(Group.id, Group.name, Department.name.label("department"))
    .join(GroupAgent, GroupAgent.group_id == Group.id)
    .join(Department, Department.id == Group.department_id)
    .where(GroupAgent.user_id == bindparam("user_id", type_=Integer), Group.is_deleted.is_(False))
    .order_by(Department.name, Group.name, Group.id))
_DEPARTMENTS = PreparedQuery(
    select(Department.id, Department.name).where(Department.is_deleted.is_(False))
    .order_by(Department.name, Department.id))

_STATES = (("active", "Active"), ("waiting", "Waiting"), ("queued", "Queued"))


def tree(call, stamp=counts._ASK, counted: dict[str, int] | None = None) -> Tree:
    """The caller's tree with its counts (see the module docstring);
    ``stamp``: ``counts.table_stamp``, if the caller asked it; ``counted``:
    the counts already known (``tree_counts``), instead of counting."""
    user_id = call.principal.user_id
    tally: dict[str, int] = {"my-active": 0, "my-waiting": 0, "my-follow-ups": 0}
    branches = [Branch("My tickets", [Node("my-active", "Active"), Node("my-waiting", "Waiting"),
                                      Node("my-follow-ups", "Follow-ups")])]
    groups = _MY_GROUPS.all(call.connection, {"user_id": user_id})
    for group in groups:
        branches.append(Branch("%s · %s" % (group.department, group.name),
                               [Node("group-%d-%s" % (group.id, state), label) for state, label in _STATES]))
        tally.update(("group-%d-%s" % (group.id, state), 0) for state, _ in _STATES)
    managers = core.sees_all_tickets(call)
    if managers:
        for department in _DEPARTMENTS.all(call.connection, {}):
            branches.append(Branch("Department " + department.name,
                                   [Node("department-%d-%s" % (department.id, state), label)
                                    for state, label in _STATES]))
            tally.update(("department-%d-%s" % (department.id, state), 0) for state, _ in _STATES)
    if counted is not None:
        # Known nodes only: a group made since they were counted shows 0 until the next count.
        tally.update((key, number) for key, number in counted.items() if key in tally)
        return Tree(branches, tally)
    for row in counts.global_counts(call, stamp):
        queued = row.active if row.user_id == 0 else 0
        if row.user_id == user_id:
            tally["my-active"] += row.active
            tally["my-waiting"] += row.waiting
            tally["my-follow-ups"] += row.follow_up
        for prefix in ("group-%d-" % row.group_id, "department-%d-" % row.department_id):
            if prefix + "active" in tally:
                tally[prefix + "active"] += row.active
                tally[prefix + "waiting"] += row.waiting
                tally[prefix + "queued"] += queued
    return Tree(branches, tally)


class _TreeCounts:
    """The heartbeat's counts per viewer, for as long as the counts table
    stays as it is: every open browser asks every few seconds, the table
    changes once per Event Processing run. Keyed by the table's stamp, so a
    new run replaces them all; the tree's groups and departments (whose
    zero counts it holds) are as current as the counts themselves."""

    def __init__(self):
        # (stamp, viewer -> counts), replaced as a whole: threads read it without a lock.
        self.current: tuple = (None, {})

    def known(self, call, stamp: str) -> dict[str, int] | None:
        """The counts kept for the caller under the fresh ``stamp``, if any (no query)."""
        kept, by_viewer = self.current
        found = by_viewer.get((call.principal.user_id, core.viewer_kind(call))) if kept == stamp else None
        return None if found is None else dict(found)

    def get(self, call, stored) -> dict[str, int]:
        stamp = counts.table_stamp(call, stored)
        if stamp is None:  # the table is stale: counted live, every time
            return tree(call, stamp).counts
        found = self.known(call, stamp)
        if found is None:
            found = tree(call, stamp).counts
            kept, by_viewer = self.current
            if kept != stamp:
                by_viewer = {}
                self.current = (stamp, by_viewer)
            by_viewer[(call.principal.user_id, core.viewer_kind(call))] = dict(found)
        return found


_tree_counts = _TreeCounts()


def tree_counts(call, stored=counts._ASK) -> dict[str, int]:
    """``tree(call).counts``, kept while the counts table does not change;
    ``stored``: the table's stamp as stored (``Pulse.counts_stamp``), if read."""
    return _tree_counts.get(call, stored)


def known_tree_counts(call, stored: str | None) -> dict[str, int] | None:
    """``tree_counts`` if they are kept for the caller under the stamp
    ``stored`` (and it is fresh), without a query; else None."""
    stamp = counts.table_stamp(call, stored)
    return None if stamp is None else _tree_counts.known(call, stamp)


# --------------------------------------------------------------- lists

_NODE = re.compile(r"^(my|group|department)(?:-(\d+))?-(active|waiting|queued|follow-ups)$")
# Each state as search criteria (GetTicketsBySearch's keys).
_STATE_CRITERIA = {
    "active": ["IsActive=true"],
    "waiting": ["IsOpen=true", "IsActive=false"],
    "queued": ["IsActive=true", "AgentId=0"],
}


def node_criteria(call, node: str) -> tuple[list[str], bool, str]:
    """(search criteria, whether only follow-ups, title) of the tree node ``node``."""
    found = _NODE.match(node or "")
    if found is None:
        raise InvalidArgument("%r is not a list of the ticket tree." % node)
    kind, number, state = found.groups()
    if (kind == "my") != (number is None) or (kind == "my" and state == "queued") \
            or (kind != "my" and state == "follow-ups"):
        raise InvalidArgument("%r is not a list of the ticket tree." % node)
    label = state.replace("-", " ").capitalize()
    if kind == "my":
        owner = ["AgentId=%d" % call.principal.user_id]
        if state == "follow-ups":
            return owner, True, "My tickets: follow-ups"
        return owner + _STATE_CRITERIA[state], False, "My tickets: " + label
    key = "GroupId" if kind == "group" else "DepartmentId"
    return ["%s=%s" % (key, number)] + _STATE_CRITERIA[state], False, "%s %s: %s" % (kind.capitalize(), number, label)


_PRIORITY_NAMES = PreparedQuery(select(TicketPriority.id, TicketPriority.name))


def ticket_list(call, node: str, criteria: list[str], sort_by: str, descending: bool, offset: int,
                size: int) -> Listing:
    """One page of the tickets of tree node ``node`` (if any) that match
    ``criteria`` (GetTicketsBySearch's Key=Value items), sorted on the server."""
    if size not in PAGE_SIZES:
        raise InvalidArgument("%r is not a page size; use one of %s." % (size, ", ".join(map(str, PAGE_SIZES))))
    items = list(criteria)
    follow_ups, title = False, "Search results"
    if node:
        extra, follow_ups, title = node_criteria(call, node)
        items += extra
    items += ["SortBy=" + sort_by, "SortOrder=" + ("Descending" if descending else "Ascending"),
              "MaxResults=%d" % size, "Offset=%d" % max(0, offset)]
    wanted = search.parse_criteria(call, items)
    if follow_ups:
        search.with_follow_up(wanted)
    found = search.run_search(call, wanted)
    priorities = {row.id: row.name for row in _PRIORITY_NAMES.all(call.connection, {})}
    return Listing(title, found.tickets, found.next_offset, priorities)


# --------------------------------------------------------------- reminders


_DUE = (select(Ticket.id, Ticket.ticket_number, Ticket.subject, Ticket.date_follow_up_utc)
        .where(FOLLOW_UP_SCHEDULED,
               Ticket.date_follow_up_utc <= bindparam("until", type_=UtcDateTime()),
               Ticket.is_deleted.is_not(True),
               # The agent the ticket comes back to: an expression, so that the
               # planner walks ix_tickets_follow_up (the few follow-ups due by
               # then), not the agent's index (all their tickets, ever).
               func.coalesce(Ticket.follow_up_agent_id, Ticket.agent_id) == bindparam("viewer", type_=Integer))
        .order_by(Ticket.date_follow_up_utc, Ticket.id)
        .limit(MAX_REMINDERS))


@dataclass(frozen=True)
class Pulse:
    """What a heartbeat reads: the counts table's stamp as stored, the
    caller's follow-ups due soon, and the open ticket's version."""

    counts_stamp: str | None
    reminders: list[Reminder]
    # The version (workspace.version_of) of the ticket asked for; None: gone,
    # not the caller's to see, or none asked for.
    ticket_version: str | None


@functools.lru_cache(maxsize=None)
def _pulse(kind: str | None) -> PreparedQuery:
    """Prebuilt: ``pulse``'s one statement for a viewer of ``kind`` (None: no
    ticket asked for). The stamp and the version are columns of every row;
    the due follow-ups are joined to a row of their own, so that without
    any the statement still returns one (its follow-up columns NULL)."""
    due = _DUE.subquery("due")
    columns = [counts.STORED_STAMP.label("counts_stamp")]
    if kind is not None:
        columns.append(tickets_workspace.version_select(kind).scalar_subquery().label("ticket_modified"))
    one = select(literal_column("1").label("one")).subquery("one")
    return PreparedQuery(
        select(*columns, due.c.ticket_number, due.c.subject, due.c.date_follow_up_utc)
        .select_from(one.outerjoin(due, true()))
        .order_by(due.c.date_follow_up_utc, due.c.id))


# (whole second, the datetime of it): the last ``_until`` made, shared by every thread.
_last_until: list = [(None, None)]


def _until(moment: dt.datetime) -> dt.datetime:
    """``moment`` (UTC, aware) rounded up to the whole second, the same object for every
    heartbeat in that second: binding a datetime costs ~10 us on SQLite, and
    stws.db.prepared converts the same object only once (a follow-up due
    within the second after is told of one heartbeat sooner, no harm)."""
    second = int(moment.timestamp()) + (1 if moment.microsecond else 0)
    seen, made = _last_until[0]
    if seen != second:
        made = dt.datetime.fromtimestamp(second, dt.timezone.utc)
        _last_until[0] = (second, made)
    return made


def pulse(call, connection, now: dt.datetime, ahead: dt.timedelta, ticket_number: str = "") -> Pulse:
    """The heartbeat's reads in one statement on ``connection`` (a snapshot
    of its own: no transaction needed around it): the counts table's stamp,
    the caller's follow-ups due by ``now + ahead`` (rounded up to the whole
    second) that are not applied yet, and with ``ticket_number`` that
    ticket's version."""
    kind = core.viewer_kind(call) if ticket_number else None
    rows = _pulse(kind).all(connection, {"until": _until(now + ahead), "viewer": call.principal.user_id,
                                         "number": tickets_workspace.ticket_number_key(ticket_number)})
    first = rows[0]
    version = None
    if kind is not None and first.ticket_modified is not None:
        version = tickets_workspace.version_of(first.ticket_modified)
    return Pulse(first.counts_stamp,
                 [Reminder(row.ticket_number, row.subject, row.date_follow_up_utc) for row in rows
                  if row.ticket_number is not None],
                 version)
