"""The partial indexes of tickets (migration 0022) serve the queries they
were made for. A query can use a partial index only when its WHERE implies
the index's condition (SQLite: written the same way), so a query written
differently would read the whole table instead, with the same answers: only
its plan shows it. Each query is captured as the code runs it and explained
with the same parameters; on PostgreSQL with sequential scans off, so the
plan shows whether the index can serve the query, not whether a handful of
rows makes a scan cheaper."""
from __future__ import annotations

import contextlib
import datetime as dt

import pytest
from sqlalchemy import event, update

from stws.db.models import Department, Ticket
from stws.domain.context import Context
from stws.domain.tickets import fulltext, navigation, search, transfer, watcher
from stws.security import roles
from stws.security.principals import Principal
from stws.workers.jobs import auto_purge
from workers import rows
from workers.test_framework import runtime  # noqa: F401 (fixture)

NOW = dt.datetime(2026, 6, 1, tzinfo=dt.timezone.utc)
CLOSED = 3


@contextlib.contextmanager
def captured(runtime, marker: str):
    """The (SQL, parameters) of every SELECT run through SQLAlchemy inside
    the block whose SQL contains ``marker``; filled when the block ends."""
    statements = []

    def seen(_connection, _cursor, statement, parameters, _context, _executemany):
        if statement.lstrip().upper().startswith("SELECT") and marker in statement:
            statements.append((statement, parameters))

    event.listen(runtime.db.engine, "before_cursor_execute", seen)
    try:
        yield statements
    finally:
        event.remove(runtime.db.engine, "before_cursor_execute", seen)


def plan(runtime, statement: str, parameters) -> str:
    with runtime.db.engine.connect() as connection:
        cursor = connection.connection.dbapi_connection.cursor()
        if runtime.db.is_sqlite:
            cursor.execute("EXPLAIN QUERY PLAN " + statement, parameters)
            return " | ".join(row[3] for row in cursor.fetchall())
        cursor.execute("SET enable_seqscan = off")
        cursor.execute("EXPLAIN " + statement, parameters)
        return " | ".join(row[0] for row in cursor.fetchall())


def assert_served_by(runtime, statements: list, index: str) -> None:
    assert statements, "the query did not run"
    for statement, parameters in statements:
        explained = plan(runtime, statement, parameters)
        assert index in explained, "%s\n%s" % (explained, statement)


def test_follow_ups_due_and_reminders(runtime):
    with runtime.db.transaction() as session:
        rows.ticket(session)
    with captured(runtime, "date_follow_up_utc <=") as due:
        with runtime.db.transaction() as session:
            transfer.apply_due_follow_ups(session, NOW)
            session.execute(navigation._DUE, {"until": NOW, "viewer": 1})
    assert len(due) == 2
    assert_served_by(runtime, due, "ix_tickets_follow_up")


def test_deleted_tickets_to_purge(runtime):
    with runtime.db.transaction() as session:
        rows.ticket(session, deleted_at=NOW - dt.timedelta(days=400))
    with captured(runtime, "date_deleted_utc <") as purge:
        auto_purge.purge_tickets(runtime, NOW - dt.timedelta(days=90), 10)
    assert_served_by(runtime, purge, "ix_tickets_deleted")


def test_closed_tickets_to_lock(runtime):
    with runtime.db.transaction() as session:
        rows.ticket(session, status=CLOSED)
        session.execute(update(Department).values(auto_lock_enabled=True))
    with captured(runtime, "date_closed_utc <") as due:
        with runtime.db.transaction() as session:
            watcher.auto_lock(session, NOW, 10)
    assert_served_by(runtime, due, "ix_tickets_closed_due")


def test_tickets_not_indexed_yet(runtime):
    with captured(runtime, "is_indexed") as unindexed:
        with runtime.db.transaction(writes=False) as session:
            session.execute(fulltext.unindexed_ids(runtime.db.is_sqlite, Ticket)).all()
    assert_served_by(runtime, unindexed, "ix_tickets_unindexed")


@pytest.mark.parametrize("role", [roles.ADMINISTRATOR, roles.MANAGER])
@pytest.mark.parametrize("listed, index", [("follow-ups", "ix_tickets_follow_up"),
                                           ("deleted", "ix_tickets_deleted")])
def test_the_follow_up_and_deleted_lists(runtime, role, listed, index):
    """The management interface's follow-up list and a search of deleted
    tickets start from those few tickets, whoever looks, on a database
    without statistics (nobody ran ANALYZE). SQLite only: PostgreSQL's plan
    depends on its statistics. (Written as plain conditions, SQLite walked
    every ticket newest first looking for them: 8.4 s and 1.5 s at
    1,000,000 tickets.)"""
    if not runtime.db.is_sqlite:
        pytest.skip("SQLite's plan")
    with runtime.db.transaction() as session:
        manager = rows.user(session, "alice", agent=True)
        rows.member(session, 1, manager.id)
        wanted = rows.ticket(session, follow_up=listed == "follow-ups",
                             deleted_at=NOW if listed == "deleted" else None)
        rows.ticket(session)
    viewer = Principal(1 if role == roles.ADMINISTRATOR else manager.id, "x", roles.effective_roles([role]))
    criteria = ["IsDeleted=true"] if listed == "deleted" else []
    with captured(runtime, "FROM tickets") as statements:
        with runtime.db.transaction(writes=False) as session:
            call = Context.in_session(session, viewer, runtime)
            search_of = search.parse_criteria(call, criteria)
            if listed == "follow-ups":
                search.with_follow_up(search_of)
            found = session.execute(search.search_statement(call, search_of)).all()
    assert [row.id for row in found] == [wanted.id]
    assert_served_by(runtime, statements, index)
