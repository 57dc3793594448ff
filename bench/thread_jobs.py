"""Auto-Purge and the ticket counts (Event Processing) on a large database.

    .venv/bin/python bench/seed_tickets.py sqlite:////tmp/b.sqlite3 --tickets 1000000
    .venv/bin/python bench/thread_jobs.py sqlite:////tmp/b.sqlite3

CHANGES THE DATABASE (it purges): run it on a copy. First it gives the seeded
database what a purge has to deal with (once; ``--no-prepare`` skips it):
three history events per ticket by its agent, a deletion date 30 days after
opening for the deleted tickets (so most are past the 90 days), a Resolution
comment on every fifth deleted ticket (never purged), 300 customers (all
with tickets: kept) and 3 agents deleted long ago. Then it prints:

* the ticket counts: one refresh (the GROUP BY read, and its write
  transaction, which is what holds SQLite's write lock), and
  GetTicketCounts_Global / _Agent as an administrator and as an agent,
  live GROUP BY against the table (asserting both give the same numbers);
* two Auto-Purge runs (the job as the thread runs it): rows purged, time,
  and the median and longest batch transaction (SQLite's write lock).
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import func, insert, literal, select, update  # noqa: E402

from stws.config import Config  # noqa: E402
from stws.db.models import GroupAgent, Ticket, TicketComment, TicketEvent, User  # noqa: E402
from stws.domain.tickets import counts, lifecycle  # noqa: E402
from stws.runtime import start_runtime  # noqa: E402
from stws.security import roles  # noqa: E402
from stws.security.principals import Principal  # noqa: E402
from stws.domain.context import Context  # noqa: E402
from stws.workers.framework import JobContext  # noqa: E402
from stws.workers.jobs import auto_purge  # noqa: E402
from stws.workers.registry import definitions  # noqa: E402

MARK = "BenchEvent"
LONG_AGO = dt.datetime(2020, 1, 1, tzinfo=dt.timezone.utc)


def prepare(db) -> None:
    with db.transaction() as session:
        if session.scalar(select(TicketEvent.id).where(TicketEvent.event_type == MARK).limit(1)):
            print("already prepared")
            return
    started = time.perf_counter()
    with db.transaction() as session:
        deleted = session.execute(select(Ticket.id, Ticket.date_opened_utc).where(Ticket.is_deleted.is_(True))).all()
        if deleted:
            session.execute(update(Ticket), [{"id": i, "date_deleted_utc": opened + dt.timedelta(days=30)}
                                             for i, opened in deleted])
        session.execute(insert(TicketComment).from_select(
            ["ticket_id", "comment_type_id", "user_id", "text", "is_html", "date_entered_utc", "is_indexed"],
            select(Ticket.id, literal(2), Ticket.agent_id, literal("resolved"), literal(False),
                   Ticket.date_opened_utc, literal(False))
            .where(Ticket.is_deleted.is_(True), Ticket.id % 5 == 0)))
        for kind in (MARK, "Assigned", "StatusChanged"):
            session.execute(insert(TicketEvent).from_select(
                ["ticket_id", "date_utc", "user_id", "user_name", "event_type", "description", "details"],
                select(Ticket.id, Ticket.date_opened_utc, Ticket.agent_id, literal("bench"), literal(kind),
                       literal("bench event"), literal(""))))
        for pattern, n in (("benchcust%", 300), ("benchagent%", 3)):
            ids = select(User.id).where(User.username.like(pattern)).order_by(User.id).limit(n).scalar_subquery()
            session.execute(update(User).where(User.id.in_(ids)).values(is_deleted=True, date_deleted_utc=LONG_AGO))
    print("prepared in %.1f s" % (time.perf_counter() - started))


def timed(fn, repeat=5):
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def bench_counts(runtime) -> None:
    writes = []

    def refresh():
        now = counts.utcnow()
        with runtime.db.transaction(writes=False) as session:
            rows = counts.compute(session)
        started = time.perf_counter()
        with runtime.db.transaction() as session:
            stored = counts.store(session, rows, now)
        writes.append(time.perf_counter() - started)
        return stored

    seconds, rows = timed(refresh, 3)
    print("counts refresh: %d rows, %.3f s median; its write transaction %.1f ms median"
          % (rows, seconds, statistics.median(writes) * 1e3))
    with runtime.db.transaction(writes=False) as session:
        agent_id = session.scalar(select(GroupAgent.user_id).order_by(GroupAgent.user_id).limit(1))
    for who, user_id, kinds in (("admin", 1, {roles.EVERYONE, roles.AGENT, roles.MANAGER, roles.ADMINISTRATOR}),
                                ("agent", agent_id, {roles.EVERYONE, roles.AGENT})):
        for name, live, table in (("Global", lifecycle.global_counts, counts.global_counts),
                                  ("Agent", lifecycle.agent_counts, counts.agent_counts)):
            with runtime.db.transaction(writes=False) as session:
                call = Context.in_session(session, Principal(user_id, who, frozenset(kinds)), runtime)
                live_s, live_rows = timed(lambda: live(call))
                table_s, table_rows = timed(lambda: table(call))
            assert live_rows == table_rows, (who, name)
            print("%s GetTicketCounts_%-6s live %8.2f ms, table %7.2f ms (%d entries, equal)"
                  % (who, name, live_s * 1e3, table_s * 1e3, len(table_rows)))


def bench_purge(runtime) -> None:
    batches = []
    for name in ("purge_tickets", "_purge"):
        original = getattr(auto_purge, name)

        def measured(*args, _original=original, **kwargs):
            started = time.perf_counter()
            n = _original(*args, **kwargs)
            if n:
                batches.append(time.perf_counter() - started)
            return n

        setattr(auto_purge, name, measured)
    definition = next(d for d in definitions() if d.name == "Auto-Purge Deleted Items")
    for attempt in ("first", "second"):
        batches.clear()
        started = time.perf_counter()
        n = auto_purge.run(JobContext(runtime, definition, dt.datetime.now(dt.timezone.utc)))
        line = "purge, %s run: %d rows in %.2f s" % (attempt, n, time.perf_counter() - started)
        if batches:
            line += "; batch transactions (%d rows each): median %.3f s, longest %.3f s, %d of them" % (
                auto_purge.BATCH, statistics.median(batches), max(batches), len(batches))
        print(line)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("database", help="SQLAlchemy URL of a database seeded by bench/seed_tickets.py (a copy)")
    parser.add_argument("--no-prepare", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("STWS_ADMIN_PASSWORD", "bench-Admin-Passw0rd")
    with tempfile.TemporaryDirectory() as directory:
        runtime = start_runtime(Config(data_dir=Path(directory) / "data", database=args.database))
        with runtime.db.transaction(writes=False) as session:
            print("%d tickets, %d deleted" % (
                session.scalar(select(func.count(Ticket.id))),
                session.scalar(select(func.count(Ticket.id)).where(Ticket.is_deleted.is_(True)))))
        if not args.no_prepare:
            prepare(runtime.db)
        bench_counts(runtime)
        bench_purge(runtime)
        runtime.close()


if __name__ == "__main__":
    main()
