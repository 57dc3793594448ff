"""The Indexing thread on a 100,000-ticket database: catch-up rate
(documents/s) from nothing indexed, the cost of a steady-state run, Text
search latency before and after indexing, and this process's memory.

    .venv/bin/python bench/indexing.py [--tickets 100000] [--postgresql URL] [--no-sqlite]

For each backend (SQLite in a temp directory; PostgreSQL when
``--postgresql`` gives a URL of a server where we may create a database: a
new database is made there and dropped afterwards):

1. ``bench/seed_tickets.py`` fills the database in a child process (so its
   memory is not counted here): ``--tickets`` tickets with their first
   message, ``--body-words`` extra words from a long-tailed vocabulary per
   message (real mail has more distinct words than the seed's template) and
   an internal note on ``--notes`` of the tickets; ``--no-full-text-index``:
   nothing is indexed.
2. Text searches as an administrator and as an agent, each ``--repeat``
   times; with nothing indexed every row matches by substring (the
   fallback), which is what Text cost before the index.
3. Catch-up: runs exactly as the thread makes them (``fulltext.index_pending``:
   1,000 documents per transaction, 20,000 per run) until none is due.
   Printed: documents, seconds, documents/s, the longest run, and the
   median and longest batch transaction (on SQLite the time the write lock
   is held), the index's size.
4. The same searches on the index, and the ratio.
5. A steady-state run: 1,000 new messages, 500 new notes and 1,000 changed
   tickets, indexed by one run; then a run with nothing to do.
6. This process's RSS before the catch-up and after the last step (VmRSS,
   and the peak VmHWM).

The database uses the server's settings (SQLite WAL with synchronous=FULL:
every batch commit is fsynced). About 1.5 minutes for SQLite with the
defaults on an idle machine, about 3 for PostgreSQL.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _backends import add_backend_options, each_backend  # noqa: E402
from _server import memory_mib  # noqa: E402
from sqlalchemy import insert, select, text, update  # noqa: E402

from stws.db.engine import Database  # noqa: E402
from stws.db.models import GroupAgent, Ticket, TicketComment, TicketMessage  # noqa: E402
from stws.domain.tickets import fulltext, search  # noqa: E402
from stws.security import roles  # noqa: E402
from stws.security.principals import Principal  # noqa: E402
from stws.domain.context import Context  # noqa: E402

SEED = Path(__file__).resolve().with_name("seed_tickets.py")
# (label, criteria): a customer's address word in one body, a subject word of
# about 1 ticket in 12, two words of a note, a word found nowhere.
SEARCHES = (
    ("rare word", ["Text=benchcust00042"]),
    ("common word, 20 results", ["Text=website", "MaxResults=20"]),
    ("two words, open only", ["Text=invoice question", "IsOpen=true"]),
    ("no match", ["Text=zzyzx"]),
)


def seed(url: str, args) -> None:
    command = [sys.executable, str(SEED), url, "--tickets", str(args.tickets), "--admin-password",
               "bench-Passw0rd!", "--body-words", str(args.body_words), "--notes", str(args.notes),
               "--no-full-text-index"]
    started = time.monotonic()
    completed = subprocess.run(command, capture_output=True, text=True)
    if completed.returncode:
        raise SystemExit("seeding failed:\n%s%s" % (completed.stdout, completed.stderr))
    print("   seeded in %.1f s (child process)" % (time.monotonic() - started))


def search_timings(db: Database, principals) -> dict:
    """{(search label, role): (median ms, found)}."""
    results = {}
    for label, criteria in SEARCHES:
        for role, principal in principals:
            timings = []
            for _ in range(ARGS.repeat):
                with db.transaction(writes=False) as session:
                    started = time.perf_counter()
                    page = search.find_tickets(Context.in_session(session, principal, None), criteria)
                    timings.append(time.perf_counter() - started)
            results[(label, role)] = (statistics.median(timings) * 1000, len(page.tickets))
    return results


def catch_up(db: Database) -> dict:
    batches = []
    original = fulltext.index_batch

    def timed(db, source, limit):
        started = time.perf_counter()
        done = original(db, source, limit)
        batches.append(time.perf_counter() - started)
        return done

    fulltext.index_batch = timed
    runs = []
    began = time.perf_counter()
    try:
        while True:
            progress = fulltext.index_pending(db)
            if not progress.documents:
                break
            runs.append((progress.documents, progress.seconds))
    finally:
        fulltext.index_batch = original
    seconds = time.perf_counter() - began
    documents = sum(done for done, _ in runs)
    return dict(documents=documents, seconds=seconds, rate=documents / seconds, runs=len(runs),
                longest_run=max(s for _, s in runs), median_batch=statistics.median(batches) * 1000,
                longest_batch=max(batches) * 1000)


def index_size(db: Database) -> str:
    with db.transaction(writes=False) as session:
        if db.is_sqlite:
            pages = session.scalar(text("PRAGMA page_count")) * session.scalar(text("PRAGMA page_size"))
            try:  # dbstat is compiled into most SQLite builds (Debian's is)
                sizes = dict(session.execute(text(
                    "SELECT name, sum(pgsize) FROM dbstat WHERE name LIKE 'ticket_fts%' GROUP BY name")).all())
            except Exception:  # noqa: BLE001 - no dbstat: the file size alone
                return "database file %.0f MiB" % (pages / 2 ** 20)
            return "ticket_fts %.0f MiB (%.0f MiB of it the copy of the text) in a %.0f MiB database" % (
                sum(sizes.values()) / 2 ** 20, sizes.get("ticket_fts_content", 0) / 2 ** 20, pages / 2 ** 20)
        size = session.scalar(text("SELECT pg_total_relation_size('ticket_search')"))
        return "ticket_search %.0f MiB with its GIN index" % (size / 2 ** 20)


def new_activity(db: Database) -> int:
    """1,000 new messages, 500 new notes, 1,000 changed tickets (rows due for one run)."""
    with db.transaction() as session:
        ticket_ids = list(session.scalars(select(Ticket.id).order_by(Ticket.id.desc()).limit(1_000)))
        session.execute(insert(TicketMessage), [
            dict(ticket_id=ticket_id, direction=2, subject="Re: follow-up", from_address="c@example.com",
                 body_text="Still broken after the restart, error code %d, please call me back" % ticket_id)
            for ticket_id in ticket_ids])
        session.execute(insert(TicketComment), [
            dict(ticket_id=ticket_id, comment_type_id=1, text="Escalated to level 2 (case %d)" % ticket_id)
            for ticket_id in ticket_ids[:500]])
        session.execute(update(Ticket).where(Ticket.id.in_(ticket_ids)).values(is_indexed=False))
    return 2_500


def bench(label: str, url: str) -> None:
    print("== %s: seeding %d tickets (%d extra body words, notes on %.0f %%)" % (
        label, ARGS.tickets, ARGS.body_words, ARGS.notes * 100))
    seed(url, ARGS)
    db = Database(url, pool_size=2)
    try:
        with db.transaction(writes=False) as session:
            agent_id = session.scalar(select(GroupAgent.user_id).order_by(GroupAgent.user_id).limit(1))
            due = fulltext.pending_count(session)
        principals = [("admin", Principal(1, "admin", roles.effective_roles([roles.ADMINISTRATOR]))),
                      ("agent", Principal(agent_id, "agent", roles.effective_roles([roles.AGENT])))]
        print("   rows due for indexing: %d" % due)
        before_search = search_timings(db, principals)
        before = memory_mib()
        caught = catch_up(db)
        print("   catch-up: %(documents)d documents in %(seconds).1f s = %(rate).0f documents/s; "
              "%(runs)d runs, longest %(longest_run).1f s; batch transaction median %(median_batch).0f ms, "
              "longest %(longest_batch).0f ms" % caught)
        print("   %s" % index_size(db))
        after_search = search_timings(db, principals)
        print("   Text search, median of %d (ms): substring fallback (nothing indexed) -> index" % ARGS.repeat)
        for key, (fallback_ms, found_before) in before_search.items():
            index_ms, found_after = after_search[key]
            print("     %-26s %-5s %8.1f -> %6.1f  (x%.0f)  found %d / %d" % (
                key[0], key[1], fallback_ms, index_ms, fallback_ms / index_ms if index_ms else 0,
                found_before, found_after))
        made = new_activity(db)
        progress = fulltext.index_pending(db)
        print("   steady state: %d rows due -> %d documents in %.2f s" % (made, progress.documents, progress.seconds))
        progress = fulltext.index_pending(db)
        print("   a run with nothing due: %.1f ms" % (progress.seconds * 1000))
        with db.transaction(writes=False) as session:
            assert fulltext.pending_count(session) == 0
        after = memory_mib()
        print("   RSS before the catch-up %.0f MiB, after the last run %.0f MiB (peak %.0f MiB)" % (
            before["VmRSS"], after["VmRSS"], after["VmHWM"]))
    finally:
        db.dispose()


def main(argv=None) -> int:
    global ARGS
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--body-words", type=int, default=40, help="extra vocabulary words per message body")
    parser.add_argument("--notes", type=float, default=0.3, help="share of tickets with an internal note")
    parser.add_argument("--repeat", type=int, default=5, help="runs of each search")
    add_backend_options(parser)
    ARGS = parser.parse_args(argv)
    each_backend(bench, "idx", ARGS)
    return 0


ARGS = None

if __name__ == "__main__":
    sys.exit(main())
