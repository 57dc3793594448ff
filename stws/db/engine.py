"""Engine and session factory for SQLite (embedded default) and PostgreSQL.

Every unit of work is one transaction: ``Database.transaction()`` opens a
session, commits when the block ends normally and rolls back otherwise.

SQLite specifics: WAL journal (readers never wait for the writer), full
fsync on commit (a committed ticket or spool row survives power loss),
foreign keys on, and a busy timeout. Python's sqlite3 starts transactions
lazily at the first write, which lets two read-then-write transactions
deadlock on the upgrade; so we take over BEGIN ourselves and open writing
transactions with ``BEGIN IMMEDIATE`` (the write lock up front, waiting on
the busy timeout), and reading ones with a plain ``BEGIN``. Writing
transactions of one process also queue on a lock of their own first (see
``Database.__init__``).
"""
from __future__ import annotations

import contextlib
import logging
import threading
from typing import Iterator

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session, sessionmaker

SQLITE_BUSY_TIMEOUT_MS = 30_000
error_log = logging.getLogger("stws.error")
_WRITE_OPTION = "stws_writes"


# The WAL file is cut back to this size when it is reset after a checkpoint
# (it keeps its largest size otherwise).
SQLITE_JOURNAL_SIZE_LIMIT = 64 * 1024 * 1024


def make_engine(url: str, pool_size: int = 10, sqlite_options: dict | None = None) -> Engine:
    # LIFO: a call gets the connection used last, not the one idle longest.
    # SQLite keeps a page cache and prepared statements per connection, and
    # drops the cache when another connection wrote since; cycling through
    # all pooled connections (FIFO, the default) met a cold cache nearly every
    # time. CreateTicketFromCustomer one call at a time (bench, /proc CPU per
    # request, paired runs): 2.85 -> 2.44 and 3.48 -> 3.02 ms. On PostgreSQL it
    # lets connections beyond the busy few idle (and time out server-side).
    if url.startswith("sqlite"):
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
            pool_size=pool_size,
            max_overflow=pool_size,
            pool_use_lifo=True,
        )
        _configure_sqlite(engine, sqlite_options if sqlite_options is not None else {})
    else:
        engine = create_engine(url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True,
                               pool_use_lifo=True)
    return engine


def _configure_sqlite(engine: Engine, options: dict) -> None:
    """``options["background_checkpoints"]``: connections made while it is
    true leave WAL checkpoints to stws.db.upkeep (Database.checkpoint_in_background)."""
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA journal_size_limit=%d" % SQLITE_JOURNAL_SIZE_LIMIT)
        if options.get("background_checkpoints"):
            cursor.execute("PRAGMA wal_autocheckpoint=0")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=%d" % SQLITE_BUSY_TIMEOUT_MS)
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection):
        if connection.connection.dbapi_connection.in_transaction:
            return  # begun on the driver by Database.unit_of_work
        writes = connection.get_execution_options().get(_WRITE_OPTION, True)
        connection.exec_driver_sql(_sqlite_begin(writes))


def _sqlite_begin(writes: bool) -> str:
    return "BEGIN IMMEDIATE" if writes else "BEGIN"


def _keep_loaded(session, instance) -> None:
    """Hold every object a session loads for as long as the session lives.

    The identity map only references objects weakly: a row looked up in
    one function and dropped is gone when the next one asks for it, and
    ``session.get`` then queries again. Operations look the same rows up
    repeatedly (the caller's user after authentication, a status per
    ticket in a list of 1,000 tickets), so this keeps them: sessions are
    one unit of work each, and anything they load is small next to what
    the operation returns. GetTicketsBySearch with 75 tickets: 43 -> 26 ms
    of CPU (bench/tickets_throughput.py).
    """
    session.info.setdefault("stws_loaded", []).append(instance)


class Database:
    """The engine plus a session factory; one per server process."""

    def __init__(self, url: str, pool_size: int = 10):
        self.url = url
        self._sqlite_options = {"background_checkpoints": False}
        self.engine = make_engine(url, pool_size=pool_size, sqlite_options=self._sqlite_options)
        # Rows stay loaded after commit: results are serialized after the
        # transaction ends, and expiring them would cost one query per row.
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        event.listen(self._sessions, "loaded_as_persistent", _keep_loaded)
        # SQLite has one writer at a time. Writers of this process queue here
        # rather than in SQLite's busy handler, which polls with sleeps of up
        # to 100 ms: under concurrent writes the lock sat idle while waiters
        # slept, and unlucky ones waited seconds. CreateTicketFromCustomer,
        # 16 connections (bench/tickets_throughput.py, loaded 2-CPU machine,
        # two runs each): 24 -> 44 req/s, p95 2.2-3.3 s -> 0.64-0.74 s,
        # p99 4.1-5.3 s -> 0.73-1.0 s. Other processes on the same file
        # still meet the busy timeout.
        self._sqlite_writer = threading.RLock() if self.is_sqlite else None
        # The CommitGroup this thread is running, if any (``group_commit``),
        # and how many transactions it has open (``depth``).
        self._local = threading.local()

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    def checkpoint_in_background(self, on: bool) -> None:
        """SQLite: whether commits leave WAL checkpoints to a thread of their
        own (stws.db.upkeep) instead of running one when the WAL passes
        1,000 pages. The pool is emptied so that every connection from now
        on is opened so; connections in use keep what they had until they
        are returned (and then closed)."""
        if self._sqlite_options["background_checkpoints"] != on:
            self._sqlite_options["background_checkpoints"] = on
            self.engine.dispose()

    @contextlib.contextmanager
    def _writers_turn(self, writes: bool) -> Iterator[None]:
        """Wait for this process's SQLite write lock when ``writes``."""
        writer = self._sqlite_writer if writes else None
        # Bounded like SQLite's own wait: past it, BEGIN IMMEDIATE decides
        # (and fails with "database is locked" as it would have anyway).
        if writer is not None and not writer.acquire(timeout=SQLITE_BUSY_TIMEOUT_MS / 1000):
            writer = None
        try:
            yield
        finally:
            if writer is not None:
                writer.release()

    @contextlib.contextmanager
    def transaction(self, writes: bool = True) -> Iterator[Session]:
        """One unit of work: commit on success, roll back on any exception."""
        group = self._group() if writes else None
        if group is not None:
            with group.member() as unit:
                yield unit.session
            return
        with self._writers_turn(writes):
            session = self._sessions()
            self._local.depth = getattr(self._local, "depth", 0) + 1
            try:
                session.connection(execution_options={_WRITE_OPTION: writes})
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise
            finally:
                self._local.depth -= 1
                session.close()
                session.info.pop("stws_loaded", None)

    @contextlib.contextmanager
    def unit_of_work(self, writes: bool = True) -> Iterator["UnitOfWork"]:
        """Like ``transaction``, for the SOAP operations: the transaction is
        begun and ended on the driver connection, SQLAlchemy's Core
        connection is there for queries, and the ORM session is only made if
        the work asks for one (``unit.session``).

        Every SOAP call pays this: SQLAlchemy's begin/commit machinery and
        a Session cost more than a cached login check and a small query
        together (a Session transaction about 80 us against 13 us for the
        same on the bare driver), so a call that needs neither never pays
        for them. Once SQLAlchemy is used it joins the transaction (the
        SQLite begin hook sees the driver already in one; psycopg begins
        implicitly) and ends it.

        On a thread running a ``group_commit``, a writing unit is a member of
        that group (a savepoint in its transaction) instead.
        """
        group = self._group() if writes else None
        if group is not None:
            with group.member() as unit:
                yield unit
            return
        with self._writers_turn(writes):
            held = None if writes else self._held()
            connection = held if held is not None else self.engine.connect()
            driver = connection.connection.dbapi_connection
            unit = UnitOfWork(self, connection, driver, closes_connection=held is None)
            self._local.depth = getattr(self._local, "depth", 0) + 1
            try:
                # No stws_writes option needed: the begin hook sees the
                # driver in this transaction and leaves it alone.
                if self.is_sqlite:
                    driver.execute(_sqlite_begin(writes))
                yield unit
                unit.commit()
            except BaseException:
                unit.rollback()
                raise
            finally:
                self._local.depth -= 1
                unit.close()

    @contextlib.contextmanager
    def reading(self) -> Iterator[Connection]:
        """A pooled connection for a read or two that need no transaction of
        their own (a credential check): on SQLite each statement reads a
        snapshot by itself, without a BEGIN and COMMIT around it."""
        held = self._held()
        if held is not None:
            try:
                yield held
            finally:
                if held.in_transaction():  # SQLAlchemy began one: end it, as closing would
                    held.rollback()
            return
        connection = self.engine.connect()
        try:
            yield connection
        finally:
            connection.close()

    @contextlib.contextmanager
    def one_connection(self) -> Iterator[None]:
        """Inside the block, this thread's ``reading`` and its read-only
        ``unit_of_work`` (not nested in another) take the same pooled
        connection, checked out once: a request of the management interface
        reads its session and then runs its operation, and each checkout and
        return through SQLAlchemy's pool costs ~40 us (a tenth of a
        workspace heartbeat's time on its thread). Writing units keep a
        connection of their own (and, on SQLite, their commit group)."""
        if getattr(self._local, "held", None) is not None:
            yield
            return
        holder = self._local.held = [None]  # checked out on first use (``_held``)
        try:
            yield
        finally:
            self._local.held = None
            if holder[0] is not None:
                holder[0].close()

    def _held(self) -> Connection | None:
        """The connection of the ``one_connection`` block this thread is in
        (checked out now if not yet), unless a transaction is open here."""
        holder = getattr(self._local, "held", None)
        if holder is None or getattr(self._local, "depth", 0):
            return None
        if holder[0] is None:
            holder[0] = self.engine.connect()
        return holder[0]

    @contextlib.contextmanager
    def group_commit(self) -> Iterator["CommitGroup"]:
        """One SQLite transaction, committed once, for the writing units of
        work this thread runs inside the block (each a savepoint, so one
        that fails is undone alone). Whoever runs work in a group must not
        tell anyone it is done before the block has ended without an
        exception: until then nothing of it is committed.

        Why: a commit writes every page its transaction changed to the WAL
        and fsyncs it. A new ticket changes about 27 pages (the ticket, its
        indexes, message, history, the agent's assignment), and most are the
        same pages for the next ticket. In-process, 100,000-ticket database:
        0.67 ms of CPU per ticket committed alone, 0.42 in groups of 4 and
        0.28 in groups of 8 (stws.db.group_commit uses this for quick SOAP
        writes).
        """
        if not self.is_sqlite:
            raise ValueError("group commit is for SQLite; PostgreSQL commits concurrent transactions itself")
        if self._group() is not None:
            raise RuntimeError("this thread already runs a commit group")
        with self._writers_turn(True):
            connection = self.engine.connect()
            driver = connection.connection.dbapi_connection
            # The group's transaction as a whole, ended as a unit of work's is.
            whole = UnitOfWork(self, connection, driver)
            group = CommitGroup(self, connection, driver)
            try:
                driver.execute(_sqlite_begin(True))
                self._local.group = group
                yield group
                group.check()
                whole.commit()
            except BaseException:
                if driver.in_transaction:
                    whole.rollback()
                for undo in group.undo_on_failure:
                    try:
                        undo()
                    except Exception:  # the rest must still be undone
                        error_log.exception("undoing a member of a failed commit group failed")
                raise
            finally:
                self._local.group = None
                whole.close()
        for action in group.after_commit:
            try:
                action()
            except Exception:  # the group is committed: its members succeeded
                error_log.exception("an action after a group commit failed")

    def after_commit(self, action) -> None:
        """Run ``action()`` once the work done so far on this thread is
        committed: now, or when this thread's commit group has ended."""
        group = self._group()
        if group is None:
            action()
        else:
            group.after_commit.append(action)

    def on_rollback(self, session: Session, undo) -> None:
        """Run ``undo()`` if what ``session`` did is never committed: its
        transaction rolls back, or, in a commit group, the group fails after
        this member's savepoint was released (a file written for a row must
        not outlive a row that never was)."""
        group = self._group()
        state = {"ended": False}

        def committed(_session):
            state["ended"] = True
            if group is not None:  # released into the group: the group decides
                group.undo_on_failure.append(undo)

        def rolled_back(_session):
            if not state["ended"]:
                state["ended"] = True
                undo()

        event.listen(session, "after_commit", committed, once=True)
        event.listen(session, "after_rollback", rolled_back, once=True)

    def in_transaction(self) -> bool:
        """Whether this thread is inside a transaction of this database (a
        unit of work, ``transaction`` or a commit group). Calls to other
        servers refuse to run there (stws.remote)."""
        return getattr(self._local, "depth", 0) > 0 or self._group() is not None

    def _group(self) -> "CommitGroup | None":
        return getattr(self._local, "group", None)

    def dispose(self) -> None:
        self.engine.dispose()


class CommitGroup:
    """The transaction of ``Database.group_commit``: one connection, one
    BEGIN IMMEDIATE, a savepoint per member."""

    def __init__(self, database: Database, connection, driver):
        self.connection = connection
        self.driver = driver
        self._database = database
        self._savepoints = 0
        self.members = 0
        # Run once the group has committed (Database.after_commit).
        self.after_commit: list = []
        # Run if it does not commit, for members that had succeeded (Database.on_rollback).
        self.undo_on_failure: list = []

    @contextlib.contextmanager
    def member(self) -> Iterator["UnitOfWork"]:
        self.check()
        self._savepoints += 1
        unit = UnitOfWork(self._database, self.connection, self.driver, savepoint="stws_%d" % self._savepoints)
        self.driver.execute("SAVEPOINT " + unit.savepoint)
        try:
            yield unit
            self.check()
            unit.commit()
        except BaseException:
            if self.driver.in_transaction:
                unit.rollback()
            raise
        finally:
            unit.close()
        self.members += 1

    def check(self) -> None:
        """SQLite rolls the whole transaction back on some errors (I/O,
        disk full): then nothing of the group is left to commit."""
        if not self.driver.in_transaction:
            raise GroupRolledBack("the database rolled the commit group back")


class GroupRolledBack(Exception):
    """A commit group's transaction ended before its commit."""


class UnitOfWork:
    """One transaction on one pooled connection (``Database.unit_of_work``).

    ``driver`` is the DBAPI connection under ``connection``, for the few
    hot statements run on it directly (stws.db.prepared).
    """

    __slots__ = ("connection", "driver", "savepoint", "_database", "_session", "_closes_connection")

    def __init__(self, database: Database, connection, driver, savepoint: str | None = None,
                 closes_connection: bool = True):
        self.connection = connection
        self.driver = driver
        # False: the connection is held for more (Database.one_connection).
        self._closes_connection = closes_connection and savepoint is None
        # A member of a commit group is this savepoint of the group's
        # transaction, and ends only it.
        self.savepoint = savepoint
        self._database = database
        self._session = None

    @property
    def session(self) -> Session:
        """An ORM session in this unit's transaction, made on first use; it
        commits and rolls back the transaction itself from then on (in a
        commit group, a savepoint of its own inside the unit's)."""
        if self._session is None:
            mode = "control_fully"
            if self.savepoint is not None:
                mode = "create_savepoint"
                if not self.connection.in_transaction():
                    # So that the session sees the group's transaction (else
                    # it would begin, and commit, one of its own): SQLAlchemy
                    # joins it, the begin hook issuing nothing.
                    self.connection.begin()
            self._session = self._database._sessions(bind=self.connection, join_transaction_mode=mode)
        return self._session

    def commit(self) -> None:
        if self.savepoint is None:
            self._transaction_owner().commit()
            return
        if self._session is not None:
            self._session.commit()
        self.driver.execute("RELEASE " + self.savepoint)

    def rollback(self) -> None:
        if self.savepoint is None:
            self._transaction_owner().rollback()
            return
        if self._session is not None:
            self._session.rollback()
        self.driver.execute("ROLLBACK TO " + self.savepoint)
        self.driver.execute("RELEASE " + self.savepoint)

    def _transaction_owner(self):
        """Whoever ends the transaction: the session once there is one, else
        SQLAlchemy's connection once it joined, else the driver."""
        if self._session is not None:
            return self._session
        if self.connection.in_transaction():
            return self.connection
        return self.driver

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session.info.pop("stws_loaded", None)
        if self._closes_connection:
            self.connection.close()  # a group's connection is the group's to close
