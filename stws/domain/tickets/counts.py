"""Ticket counts kept current by the Event Processing thread.

``refresh`` recomputes the whole ``ticket_counts`` table: a GROUP BY over
the tickets in a read transaction, then DELETE + INSERT of its rows in one
short write transaction, with exactly the buckets and filter of the live
counts (``lifecycle._count_columns``, ``lifecycle._counted``): per (brand, department, group, agent; 0 =
unassigned), Active, Waiting and Follow-up over tickets that are not
deleted. When it ran is stored in ``settings`` (``COMPUTED_SETTING``), so an
empty table (no counted ticket at all) is still known to be current.

``current_counts(session, max_age)`` reads the table when it was refreshed
at most ``max_age`` ago, and returns None otherwise (the thread is stopped,
lags, or never ran). GetTicketCounts_Agent and GetTicketCounts_Global use
``agent_counts`` / ``global_counts`` here: the table when it is fresh
(``fresh_for``: two Event Processing intervals), the live GROUP BY over the
tickets otherwise. Both give the same numbers for the same tickets; the
table's may be up to one interval (60 s by default) behind the tickets,
as SmarterTrack's counts are behind its Event Processing thread.

``global_counts`` reads the table with statements prepared once
(stws.db.prepared) on the call's connection, without an ORM session: the
management interface's workspace asks for these counts at every heartbeat
of every open browser (stws.domain.tickets.navigation).
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import Integer, bindparam, delete, insert, or_, select

from stws.db.models import GroupAgent, Setting, TicketCount, utcnow
from stws.db.prepared import PreparedQuery
from stws import background_threads as threads
from stws.domain.tickets import core, lifecycle, tallies

COMPUTED_SETTING = "ticket_counts.computed_utc"
THREAD = "Event Processing"
INTERVALS_FRESH = 2  # the table is used while younger than two thread intervals

_COLUMNS = ["brand_id", "department_id", "group_id", "agent_id", "active", "waiting", "follow_up", "computed_utc"]


def compute(session) -> list[tuple]:
    """The counts per (brand, department, group, agent), from the tallies the
    database keeps exact (stws.domain.tickets.tallies): a few hundred rows,
    no longer a GROUP BY over every ticket (2 s at a million)."""
    return tallies.per_combination(session.connection(), "all", 0)


def store(session, rows: list[tuple], now: dt.datetime) -> int:
    """Replace the table's rows with ``rows`` (from ``compute``), computed at ``now``."""
    session.execute(delete(TicketCount))
    if rows:
        session.execute(insert(TicketCount), [
            dict(zip(_COLUMNS, (*row[:4], int(row[4]), int(row[5]), int(row[6]), now))) for row in rows])
    stamp = now.astimezone(dt.timezone.utc).isoformat()
    setting = session.get(Setting, COMPUTED_SETTING)
    if setting is None:
        session.add(Setting(name=COMPUTED_SETTING, value=stamp))
    else:
        setting.value = stamp
    return len(rows)


def refresh(db, now: dt.datetime | None = None) -> int:
    """Recompute the table; returns its row count.

    The GROUP BY reads in a transaction of its own (a snapshot), and only
    the few hundred resulting rows are written (DELETE + INSERT) in the
    write transaction: on SQLite the write lock is then held for
    milliseconds, not for the whole GROUP BY (2 s over a million tickets).
    ``now`` is taken before the read, so the stamp never claims more than
    the snapshot has.
    """
    now = now or utcnow()
    with db.transaction(writes=False) as session:
        rows = compute(session)
    with db.transaction() as session:
        return store(session, rows, now)


def computed_at(session) -> dt.datetime | None:
    setting = session.get(Setting, COMPUTED_SETTING)
    return _parse_stamp(setting.value if setting is not None else None)


def _parse_stamp(value: str | None) -> dt.datetime | None:
    if not value:
        return None
    try:
        return dt.datetime.fromisoformat(value)
    except ValueError:
        return None


def _is_fresh(computed: dt.datetime | None, max_age: dt.timedelta, now: dt.datetime | None = None) -> bool:
    return computed is not None and dt.timedelta(0) <= (now or utcnow()) - computed <= max_age


def current_counts(session, max_age: dt.timedelta, where=None, now: dt.datetime | None = None
                   ) -> list[lifecycle.Counts] | None:
    """The counts of the table (rows matching ``where``, a condition on
    ``TicketCount``), sorted by brand, department, group, agent; or None
    when the table was not refreshed within ``max_age``."""
    if not _is_fresh(computed_at(session), max_age, now):
        return None
    query = _table_select()
    if where is not None:
        query = query.where(where)
    return [lifecycle.Counts(*row) for row in session.execute(_in_order(query))]


def _table_select():
    return select(TicketCount.brand_id, TicketCount.department_id, TicketCount.group_id, TicketCount.agent_id,
                  TicketCount.active, TicketCount.waiting, TicketCount.follow_up)


def _in_order(query):
    return query.order_by(TicketCount.brand_id, TicketCount.department_id, TicketCount.group_id,
                          TicketCount.agent_id)


def fresh_for(runtime) -> dt.timedelta:
    """How old the table may be and still be used: two intervals of the
    Event Processing thread as this node configures it."""
    config = getattr(runtime, "config", None)
    interval = threads.interval_of(THREAD, getattr(config, "thread_intervals", None))
    return dt.timedelta(seconds=INTERVALS_FRESH * interval)


# --------------------------------------------------------------- the count operations


def agent_counts(call) -> list[lifecycle.Counts]:
    """GetTicketCounts_Agent: as ``lifecycle.agent_counts``, from the table when fresh."""
    if table_stamp(call) is None:
        return lifecycle.agent_counts(call)
    found = {}
    for row in _ROWS_OF_AGENT.all(call.connection, {"viewer": call.principal.user_id}):
        counts = lifecycle.Counts(*row)
        found[counts.brand_id, counts.department_id, counts.group_id] = counts
    return lifecycle.with_member_groups(call, found)


_COMPUTED = PreparedQuery(select(Setting.value).where(Setting.name == COMPUTED_SETTING))
_VIEWER = bindparam("viewer", type_=Integer)
# The table's rows a viewer sees: every row ("all"), or for an agent
# core.visibility_filter's rule on the table's columns.
_ROWS_SEEN_BY = {
    "all": PreparedQuery(_in_order(_table_select())),
    "agent": PreparedQuery(_in_order(_table_select().where(or_(
        TicketCount.group_id.in_(select(GroupAgent.group_id).where(GroupAgent.user_id == _VIEWER)),
        TicketCount.agent_id == _VIEWER)))),
}


_ROWS_OF_AGENT = PreparedQuery(_in_order(_table_select().where(TicketCount.agent_id == _VIEWER)))

_ASK = object()


# The stored stamp as a column of another statement (the workspace's heartbeat reads it with the rest).
STORED_STAMP = select(Setting.value).where(Setting.name == COMPUTED_SETTING).scalar_subquery()


def table_stamp(call, stored=_ASK) -> str | None:
    """When the table was computed (as stored), if it is fresh for this node;
    else None. ``stored``: the setting's value (``STORED_STAMP``), if the caller read it."""
    if stored is _ASK:
        row = _COMPUTED.first(call.connection, {})
        stored = row.value if row is not None else None
    return stored if _is_fresh(_parse_stamp(stored), fresh_for(call.runtime)) else None


def global_counts(call, stamp=_ASK) -> Sequence[lifecycle.Counts]:
    """GetTicketCounts_Global: as ``lifecycle.global_counts``, from the table
    when fresh (``stamp``: what ``table_stamp`` said, if the caller asked it);
    for staff the Listing of ``lifecycle.shared_counts``."""
    rows_seen = _ROWS_SEEN_BY.get(core.viewer_kind(call))
    if rows_seen is None:
        return lifecycle.global_counts(call)  # customers: counted by customer, which the table does not keep
    if (table_stamp(call) if stamp is _ASK else stamp) is None:
        return lifecycle.global_counts(call)
    return lifecycle.shared_counts(rows_seen.driver_rows(call.connection, {"viewer": call.principal.user_id}))
