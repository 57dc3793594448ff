"""The Ticket Watcher's run on a 100,000-ticket database with about 10,000
tickets due: time per run and per step, rows changed per second, and this
process's memory.

    .venv/bin/python bench/ticket_watcher.py [--tickets 100000] [--postgresql URL] [--no-sqlite]

For each backend (SQLite in a temp directory; PostgreSQL when ``--postgresql``
gives a URL of a server where we may create a database: a new database is
made there and dropped afterwards): seed the tickets with
``seed_tickets.seed`` (bulk inserts, ``--follow-ups`` of them with a due
follow-up), then make tickets due by the departments' settings, choosing
hours/days from the data so that about the ``--due-*`` counts fall due:

  close    Waiting tickets idle longer than auto_close_hours (all departments;
           Support and Billing email the closing notice into the spool)
  lock     Closed tickets of Support closed longer than auto_lock_hours
  delete   closed tickets of Billing closed longer than auto_delete_days
  follow   follow-ups due (made by the seed)
  queue    Active unassigned tickets in groups with receiving round-robin
           agents (Active tickets are unassigned until ``--due-queue`` are)

and one rebalance rule per group (all agents, due now; the seed gives open
tickets to the first four agents of a group, so the fifth gets its share).

Then the job runs as the thread runs it (``ticket_watcher.steps``, each step
in its own bounded transactions) three times at the same clock time: the
first run does the work, the next ones find nothing due and show what a
quiet run costs. Printed per run: seconds (and the CPU seconds of the
process: on a busy machine the difference is time spent waiting), tickets
changed, changed per second, and each step's share; then the process's RSS
before the first run and after the last (VmRSS, and the peak VmHWM). The
runs are made by a child process, so its memory is the watcher's, not the
seed's. The database has the server's settings (SQLite WAL with
synchronous=FULL: every batch commit is fsynced). About a minute per
backend with the defaults, most of it seeding.
"""
from __future__ import annotations

import argparse
import datetime as dt
import math
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _backends import add_backend_options, each_backend  # noqa: E402
from _server import memory_mib  # noqa: E402
import seed_tickets  # noqa: E402
from sqlalchemy import func, select, update  # noqa: E402

from stws.db.engine import Database  # noqa: E402
from stws.db.models import (  # noqa: E402
    Department, Group, GroupAgent, OutgoingMessage, RebalanceRule, Ticket, User,
)
from stws.workers.jobs import ticket_watcher  # noqa: E402

WAITING, CLOSED, LOCKED = 2, 3, 4


def _kth_oldest(session, column, condition, k: int):
    """The value of ``column`` of the k-th oldest row matching ``condition``."""
    return session.scalar(select(column).where(*condition).order_by(column).offset(max(k - 1, 0)).limit(1))


def _hours_before(now, moment) -> int:
    return max(1, math.ceil((now - moment).total_seconds() / 3600))


def make_due(db: Database, now: dt.datetime, due_close: int, due_lock: int, due_delete: int,
             due_queue: int) -> dict:
    """Department settings and rebalance rules that make about these counts due
    at ``now``; returns the counts really due."""
    with db.transaction() as session:
        departments = {d.name: d for d in session.scalars(select(Department).where(Department.is_deleted.is_(False)))}
        support, billing = departments["Support"], departments["Billing"]
        live = (Ticket.is_deleted.is_(False),)
        oldest = _kth_oldest(session, Ticket.idle_start_utc, live + (Ticket.status_id == WAITING,), due_close)
        close_hours = _hours_before(now, oldest) if oldest else 72
        for department in departments.values():
            department.auto_close_enabled, department.auto_close_hours = True, close_hours
        support.auto_close_send_email = billing.auto_close_send_email = True
        oldest = _kth_oldest(session, Ticket.date_closed_utc,
                             live + (Ticket.status_id == CLOSED, Ticket.department_id == support.id), due_lock)
        support.auto_lock_enabled, support.auto_lock_hours = True, _hours_before(now, oldest)
        oldest = _kth_oldest(session, Ticket.date_closed_utc,
                             live + (Ticket.status_id.in_((CLOSED, LOCKED)), Ticket.department_id == billing.id),
                             due_delete)
        billing.auto_delete_enabled = True
        billing.auto_delete_days = max(1, math.ceil((now - oldest).total_seconds() / 86400))
        for group in session.scalars(select(Group).where(Group.is_deleted.is_(False))):
            session.add(RebalanceRule(name="Even out %d" % group.id, department_id=group.department_id,
                                      group_id=group.id, include_all_agents=True, execute_on_interval_seconds=3600,
                                      date_created_utc=now - dt.timedelta(hours=2)))
        queued = (*live, Ticket.status_id == 1, Ticket.agent_id.is_(None), Ticket.is_spam.is_(False))
        missing = due_queue - session.scalar(select(func.count(Ticket.id)).where(*queued))
        if missing > 0:
            chosen = select(Ticket.id).where(*live, Ticket.status_id == 1, Ticket.agent_id.is_not(None),
                                             Ticket.is_spam.is_(False), Ticket.requires_follow_up.is_(False)) \
                .order_by(Ticket.id).limit(missing)
            session.execute(update(Ticket).where(Ticket.id.in_(chosen))
                            .values(agent_id=None).execution_options(synchronize_session=False))
        session.flush()

        def count(*condition):
            return session.scalar(select(func.count(Ticket.id)).where(*condition))

        active_rr = select(GroupAgent.group_id).join(User, User.id == GroupAgent.user_id).where(
            GroupAgent.is_receiving.is_(True), GroupAgent.distribution_mode.in_(("primary", "secondary")))
        return {
            "close": count(*live, Ticket.status_id == WAITING,
                           Ticket.idle_start_utc < now - dt.timedelta(hours=close_hours)),
            "lock": count(*live, Ticket.status_id == CLOSED, Ticket.department_id == support.id,
                          Ticket.date_closed_utc < now - dt.timedelta(hours=support.auto_lock_hours)),
            "delete": count(*live, Ticket.status_id.in_((CLOSED, LOCKED)), Ticket.department_id == billing.id,
                            Ticket.date_closed_utc < now - dt.timedelta(days=billing.auto_delete_days)),
            "follow": count(*live, Ticket.requires_follow_up.is_(True), Ticket.date_follow_up_utc <= now),
            "queue": count(*live, Ticket.status_id == 1, Ticket.agent_id.is_(None), Ticket.is_spam.is_(False),
                           Ticket.group_id.in_(active_rr)),
            "settings": "auto-close %d h (all), auto-lock %d h (Support), auto-delete %d days (Billing)" % (
                close_hours, support.auto_lock_hours, billing.auto_delete_days),
        }


def run_once(db: Database, now: dt.datetime) -> tuple[float, float, int, list]:
    """One run as the thread makes it: (seconds, CPU seconds of this process,
    changed, [(step, changed, seconds)])."""
    steps = []
    began, cpu = time.perf_counter(), time.process_time()
    for name, step in ticket_watcher.steps(now):
        started = time.perf_counter()
        changed = step(db)
        steps.append((name, changed, time.perf_counter() - started))
    return (time.perf_counter() - began, time.process_time() - cpu, sum(changed for _, changed, _ in steps),
            steps)


def bench(label: str, url: str, args) -> None:
    print("== %s: seeding %d tickets (%d with a due follow-up)" % (label, args.tickets, args.follow_ups), flush=True)
    seeded = seed_tickets.seed(url, tickets=args.tickets, follow_ups=args.follow_ups, admin_password="bench-Passw0rd!",
                               progress=None)
    print("   seeded in %.1f s" % seeded.seconds, flush=True)
    # The runs in a process of their own: its memory is the watcher's, not the seed's leftovers.
    command = [sys.executable, os.path.abspath(__file__), "--watch", url, "--runs", str(args.runs),
               "--due-close", str(args.due_close), "--due-lock", str(args.due_lock),
               "--due-delete", str(args.due_delete), "--due-queue", str(args.due_queue)]
    subprocess.run(command, check=True)


def watch(url: str, args) -> None:
    """Make tickets due, run the watcher ``args.runs`` times, print the figures."""
    db = Database(url, pool_size=2)
    try:
        now = dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=1)
        due = make_due(db, now, args.due_close, args.due_lock, args.due_delete, args.due_queue)
        print("   %s" % due.pop("settings"))
        print("   due: %s = %d tickets (+ rebalancing of the groups' active tickets)" % (
            ", ".join("%s %d" % item for item in due.items()), sum(due.values())))
        before = memory_mib()
        for number in range(1, args.runs + 1):
            seconds, cpu, changed, steps = run_once(db, now)
            print("   run %d: %.2f s (%.2f s CPU here), %d tickets changed, %.0f changed/s" % (
                number, seconds, cpu, changed, changed / seconds if seconds else 0))
            print("          " + ", ".join("%s %d in %.2f s" % step for step in steps))
        after = memory_mib()
        with db.transaction(writes=False) as session:
            notices = session.scalar(select(func.count(OutgoingMessage.id)))
        print("   closing notices in the spool: %d" % notices)
        print("   RSS of the watching process before the first run %.0f MiB, after the last %.0f MiB "
              "(peak %.0f MiB)" % (before["VmRSS"], after["VmRSS"], after["VmHWM"]))
    finally:
        db.dispose()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--follow-ups", type=int, default=1_000, help="tickets with a due follow-up")
    parser.add_argument("--due-close", type=int, default=2_200)
    parser.add_argument("--due-lock", type=int, default=3_000)
    parser.add_argument("--due-delete", type=int, default=3_000)
    parser.add_argument("--due-queue", type=int, default=600)
    parser.add_argument("--runs", type=int, default=3)
    add_backend_options(parser)
    parser.add_argument("--watch", metavar="URL", help=argparse.SUPPRESS)  # the child process's part
    args = parser.parse_args(argv)
    if args.watch:
        watch(args.watch, args)
        return 0
    each_backend(lambda label, url: bench(label, url, args), "tw", args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
