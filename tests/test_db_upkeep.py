"""stws.db.upkeep: on SQLite, WAL checkpoints run on the upkeep thread, not
in commits, and the WAL stays bounded; on both backends, the tallies are
folded; and the Indexing thread's batches let other writers in."""
from __future__ import annotations

import os
import threading
import time

import pytest
from sqlalchemy import func, select, text

from stws.db import schema
from stws.db.engine import Database
from stws.db.models import TicketTally
from stws.db.upkeep import DatabaseUpkeep

CHUNK = 256 * 1024


@pytest.fixture
def db(database_url):
    database = Database(database_url, pool_size=2)
    schema.upgrade(database.engine)
    yield database
    database.dispose()


def _wait_for(condition, timeout=20.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def _wal_bytes(db) -> int:
    path = db.engine.url.database + "-wal"
    return os.path.getsize(path) if os.path.exists(path) else 0


def _write_chunks(db, count: int) -> None:
    for _ in range(count):
        with db.transaction() as session:
            session.execute(text("INSERT INTO scratch (data) VALUES (:data)"), {"data": os.urandom(CHUNK)})


def test_sqlite_checkpoints_leave_the_commits_and_the_wal_stays_bounded(db):
    if not db.is_sqlite:
        pytest.skip("WAL checkpoints are SQLite's")
    with db.transaction() as session:
        session.execute(text("CREATE TABLE scratch (id INTEGER PRIMARY KEY, data BLOB)"))
    upkeep = DatabaseUpkeep(db, checkpoint_seconds=0.02, fold_seconds=60)
    upkeep.start()
    try:
        with db.engine.connect() as connection:
            driver = connection.connection.driver_connection
            assert driver.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 0
        # 20 MiB written in 80 commits, the thread checkpointing meanwhile.
        for _ in range(8):
            _write_chunks(db, 10)
            done = upkeep.checkpoints
            _wait_for(lambda: upkeep.checkpoints >= done + 2)
        assert _wal_bytes(db) < 12 * 1024 * 1024
    finally:
        upkeep.stop()
    # Stopped: commits checkpoint for themselves again.
    with db.engine.connect() as connection:
        assert connection.connection.driver_connection.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 1000


def test_without_the_thread_nothing_checkpoints_while_autocheckpoint_is_off(db):
    """The check above can fail: with automatic checkpoints off and no thread,
    the same writes grow the WAL past that bound."""
    if not db.is_sqlite:
        pytest.skip("WAL checkpoints are SQLite's")
    with db.transaction() as session:
        session.execute(text("CREATE TABLE scratch (id INTEGER PRIMARY KEY, data BLOB)"))
    db.checkpoint_in_background(True)
    try:
        _write_chunks(db, 80)
        assert _wal_bytes(db) > 12 * 1024 * 1024
    finally:
        db.checkpoint_in_background(False)


def test_the_thread_folds_the_tallies(db):
    with db.transaction() as session:
        for n in (1, 1, -1, 1):
            session.add(TicketTally(brand_id=1, department_id=1, group_id=1, agent_id=0, status_id=1,
                                    follow_up=False, n=n))
    upkeep = DatabaseUpkeep(db, checkpoint_seconds=0.02, fold_seconds=0.05)
    upkeep.start()
    try:
        _wait_for(lambda: upkeep.folds >= 1)
    finally:
        upkeep.stop()
    with db.transaction(writes=False) as session:
        assert session.execute(select(TicketTally.n)).scalars().all() == [2]
        assert session.scalar(select(func.count(TicketTally.id))) == 1


def test_indexing_batches_let_writers_in(db):
    """While the Indexing job works off a backlog, a writer waiting for the
    lock gets it between two of its transactions, not after the whole run."""
    from stws.domain.tickets import fulltext
    from stws.workers.jobs import indexing

    if not db.is_sqlite:
        pytest.skip("on PostgreSQL writers do not take turns")

    with db.transaction() as session:
        session.execute(text("CREATE TABLE scratch (id INTEGER PRIMARY KEY, data BLOB)"))
    batches = []
    writes = []
    real_index_batch = fulltext.index_batch
    stop = threading.Event()

    def counting_batch(db, source, limit):
        done = real_index_batch(db, source, limit)
        if done:
            batches.append(len(writes))  # writes so far, when a batch with documents ran
        return done

    def writer():
        while not stop.is_set():
            with db.transaction() as session:
                session.execute(text("INSERT INTO scratch (data) VALUES (:data)"), {"data": b"0"})
                writes.append(time.monotonic())  # holding the lock: before the indexer can take it

    _backlog(db, documents=indexing.BATCH * 6)
    fulltext.index_batch = counting_batch
    thread = threading.Thread(target=writer)
    try:
        thread.start()
        _wait_for(lambda: writes)
        indexing.run(_JobContext(db))
    finally:
        fulltext.index_batch = real_index_batch
        stop.set()
        thread.join()
    # The run took several transactions, and between two of them the writer
    # (always waiting) wrote: in nearly every gap (a loaded machine may not
    # wake it in time for each).
    assert len(batches) >= 6
    gaps = list(zip(batches, batches[1:]))
    assert sum(later > earlier for earlier, later in gaps) >= 0.8 * len(gaps), batches


class _JobContext:
    """What the Indexing job reads of its context: the runtime's database."""

    def __init__(self, db):
        self.runtime = type("Runtime", (), {"db": db})()


def _backlog(db, documents: int) -> None:
    """Tickets (with their reference rows) waiting to be indexed."""
    from stws.db.models import Ticket
    from stws.domain.seed import seed_default_organisation, seed_reference_data

    with db.transaction() as session:
        seed_reference_data(session)
        seed_default_organisation(session)
    with db.transaction() as session:
        session.add_all([Ticket(ticket_number="T-%d" % n, brand_id=1, department_id=1, group_id=1, status_id=1,
                                priority_id=1, customer_email="c@example.org", subject="subject words %d" % n)
                         for n in range(documents)])
