"""Ticket counts read from ``ticket_tallies`` (models.TicketTally): exact
to the last commit, and to the caller's own transaction (the triggers
append in the writing transaction), at the cost of summing a few hundred
rows instead of counting the tickets (100,000 open ones at 1,000,000).

Why a trigger-kept table and not the ``ticket_counts`` table plus a delta:
that table is a snapshot of the Event Processing thread's last run, and
what changed since cannot be told from the tickets alone (a ticket closed
since has left its old bucket, and nothing records which); counters
updated by the operations themselves would miss every bulk UPDATE (the
Ticket Watcher's, the purge's) and the next write path someone adds.
Triggers see every write, whoever makes it.

Buckets are those of stws.domain.tickets.lifecycle: active and waiting by
the status's flags (read here by joining ``ticket_statuses``, so statuses
stay data), follow-up by the flag, queued = active with no agent;
deleted tickets are never tallied. Visibility is ``core.visible_to``'s rule
on the table's columns; customers are counted by customer, which the table
does not keep, so their counts stay live (one customer's tickets, indexed).
"""
from __future__ import annotations

from sqlalchemy import Integer, and_, bindparam, case, func, or_, select

from stws.db.models import GroupAgent, TicketStatus, TicketTally
from stws.db.prepared import PreparedQuery

T, S = TicketTally, TicketStatus
_VIEWER = bindparam("viewer", type_=Integer)
_GROUPS_OF_VIEWER = select(GroupAgent.group_id).where(GroupAgent.user_id == _VIEWER)
_SEEN_BY = {"all": None, "agent": or_(T.group_id.in_(_GROUPS_OF_VIEWER), T.agent_id == _VIEWER)}


def _tally(condition):
    return func.coalesce(func.sum(case((condition, T.n), else_=0)), 0)


_ACTIVE = and_(S.is_open.is_(True), S.is_active.is_(True))
_WAITING = and_(S.is_open.is_(True), S.is_active.is_(False))
_COUNTED = or_(S.is_open.is_(True), T.follow_up.is_(True))
_BUCKETS = (_tally(_ACTIVE).label("active"), _tally(_WAITING).label("waiting"),
            _tally(T.follow_up.is_(True)).label("follow_up"))
_KEY = (T.brand_id, T.department_id, T.group_id, T.agent_id)


def _where(query, kind: str, *conditions):
    seen = _SEEN_BY[kind]
    return query.where(*conditions, *([] if seen is None else [seen]))


_OPEN = {kind: PreparedQuery(_where(select(func.coalesce(func.sum(T.n), 0).label("open")).join(S, S.id == T.status_id),
                                    kind, S.is_open.is_(True)))
         for kind in _SEEN_BY}
_PER_COMBINATION = {kind: PreparedQuery(
    _where(select(*_KEY, *_BUCKETS).join(S, S.id == T.status_id), kind, _COUNTED)
    .group_by(*_KEY).having(func.sum(T.n) != 0).order_by(*_KEY)) for kind in _SEEN_BY}
_OF_AGENT = PreparedQuery(
    select(T.brand_id, T.department_id, T.group_id, *_BUCKETS).join(S, S.id == T.status_id)
    .where(_COUNTED, T.agent_id == _VIEWER)
    .group_by(T.brand_id, T.department_id, T.group_id).having(func.sum(T.n) != 0))
_OF_GROUPS_OF_VIEWER = PreparedQuery(
    select(T.group_id, *_BUCKETS, _tally(and_(_ACTIVE, T.agent_id == 0)).label("queued")).join(S, S.id == T.status_id)
    .where(_COUNTED, T.group_id.in_(_GROUPS_OF_VIEWER)).group_by(T.group_id))


def open_count(connection, kind: str, viewer: int) -> int:
    """Open tickets seen by a viewer of ``kind`` ("all" or "agent")."""
    return int(_OPEN[kind].first(connection, {"viewer": viewer})[0])


def per_combination(connection, kind: str, viewer: int) -> list[tuple]:
    """(brand, department, group, agent, active, waiting, follow_up) for each
    combination with a counted ticket a viewer of ``kind`` sees, in key order."""
    return [tuple(int(v) for v in row) for row in combination_rows(connection, kind, viewer)]


def combination_rows(connection, kind: str, viewer: int) -> list:
    """``per_combination``'s rows as the driver gives them (plain tuples;
    the sums may be decimals on PostgreSQL)."""
    return _PER_COMBINATION[kind].driver_rows(connection, {"viewer": viewer})


def of_agent(connection, agent_id: int) -> list[tuple]:
    """(brand, department, group, active, waiting, follow_up) of the tickets assigned to ``agent_id``."""
    return [tuple(int(v) for v in row) for row in _OF_AGENT.all(connection, {"viewer": agent_id})]


def of_groups_of(connection, viewer: int) -> dict[int, tuple]:
    """{group id: (active, waiting, follow_up, queued)} over all tickets of
    each group ``viewer`` belongs to (groups with no counted ticket absent)."""
    return {int(g): (int(a), int(w), int(f), int(q))
            for g, a, w, f, q in _OF_GROUPS_OF_VIEWER.all(connection, {"viewer": viewer})}
