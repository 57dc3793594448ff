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

from stws.db import fulltext_store

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
            # uri: the index file is attached by a file: URI (mode=ro); a plain path stays a path.
            connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "uri": True},
            pool_size=pool_size,
            max_overflow=pool_size,
            pool_use_lifo=True,
        )
        _configure_sqlite(engine, sqlite_options if sqlite_options is not None else {})
    else:
        engine = create_engine(url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True,
                               pool_use_lifo=True)
        _skippable_ping(engine.dialect)
    return engine


# Set on a thread around a checkout whose caller finds a dead connection
# itself and tries again (Database.read): SQLAlchemy's pre-ping is skipped.
_unpinged = threading.local()


def _skippable_ping(dialect) -> None:
    """The dialect's pre-ping, which ``_unpinged`` turns off for one checkout
    (everything else about SQLAlchemy's pre-ping stays as it is)."""
    ping = dialect.do_ping

    def do_ping(dbapi_connection):
        if getattr(_unpinged, "on", False):
            return True
        return ping(dbapi_connection)

    dialect.do_ping = do_ping


def _configure_sqlite(engine: Engine, options: dict) -> None:
    """``options["background_checkpoints"]``: connections made while it is
    true leave WAL checkpoints to stws.db.upkeep (Database.checkpoint_in_background).
    Every connection attaches the full-text index's file (stws.db.fulltext_store)."""
    path = engine.url.database
    if not path or path == ":memory:" or path.startswith("file:"):
        raise ValueError("stws keeps its SQLite database in a file: give its path (sqlite:////path/stws.sqlite3)")
    fulltext_store.prepare(path)

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
        fulltext_store.attach_for_reading(dbapi_connection, path)

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
        # SQLite: the writer of the full-text index's own file (stws.db.fulltext_store).
        self.fulltext_index = fulltext_store.IndexWriter(self.engine.url.database) if self.is_sqlite else None
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
        shared = getattr(self._local, "shared", None)
        if shared is not None and (shared.busy or shared.connection is None):
            shared = None  # nested, or nothing was read first: a connection of its own
        # A read on one_connection's connection on PostgreSQL runs in
        # autocommit, as the credential read before it: under READ COMMITTED
        # (PostgreSQL's default, which stws assumes throughout) every
        # statement of a transaction takes a snapshot of its own anyway, so
        # each reads what it would have read, and the BEGIN and COMMIT psycopg
        # would send are two round trips of a one-query read's four (about
        # 75 us of this process's CPU). Units that write keep their transaction.
        autocommit = shared is not None and not writes and not self.is_sqlite
        with self._writers_turn(writes):
            connection = shared.connection if shared is not None else self.engine.connect()
            driver = connection.connection.dbapi_connection
            unit = UnitOfWork(self, connection, driver, keep_connection=shared is not None)
            self._local.depth = getattr(self._local, "depth", 0) + 1
            if shared is not None:
                shared.busy = True
            if autocommit:
                driver.autocommit = True
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
                if autocommit and not driver.closed:
                    driver.autocommit = False
                if shared is not None:
                    shared.busy = False

    @contextlib.contextmanager
    def reading(self) -> Iterator[Connection]:
        """A pooled connection for a read or two that need no transaction of
        their own (a credential check): on SQLite each statement reads a
        snapshot by itself, without a BEGIN and COMMIT around it. Inside
        ``one_connection`` (and outside its unit of work) it is that
        block's connection, read in autocommit on PostgreSQL too, so no
        transaction is left open.

        On a thread running a SQLite commit group it is the group's
        connection: the read sees what is committed and what the group
        wrote so far, and a pool checkout and return (~60 us of a quick
        write's ~1 ms, bench/tickets_inprocess.py c1) are saved. (Not on
        PostgreSQL, where a failed read would abort the group's
        transaction.)"""
        group = self._group()
        if group is not None and self.is_sqlite:
            yield group.connection
            return
        shared = getattr(self._local, "shared", None)
        if shared is not None and shared.open and not shared.busy:
            if shared.connection is None:
                shared.connection = self.engine.connect()
            driver = shared.connection.connection.dbapi_connection
            if self.is_sqlite:  # isolation_level None: each statement is its own snapshot
                yield shared.connection
                return
            driver.autocommit = True  # as SQLAlchemy's own pre-ping does on psycopg
            try:
                yield shared.connection
            finally:
                driver.autocommit = False
            return
        connection = self.engine.connect()
        try:
            yield connection
        finally:
            connection.close()

    def read(self, read):
        """``read(connection)`` in ``reading``, returned. Inside
        ``one_connection`` on PostgreSQL the block's connection is checked
        out without SQLAlchemy's pre-ping, a round trip (~90 us of this
        process's CPU) every SOAP call paid before its first statement: if
        that connection turns out dead (the server restarted, the connection
        was cut), ``read`` fails on it, the connection is dropped and
        ``read`` runs again on one that was pinged, as the pre-ping would
        have had it. So ``read`` must only read (a credential check)."""
        shared = getattr(self._local, "shared", None)
        if self.is_sqlite or shared is None or not shared.open or shared.busy or shared.connection is not None:
            with self.reading() as connection:
                return read(connection)
        _unpinged.on = True
        try:
            shared.connection = self.engine.connect()
        finally:
            _unpinged.on = False
        try:
            with self.reading() as connection:
                return read(connection)
        except Exception:
            driver = shared.connection.connection.dbapi_connection
            if not (driver.closed or getattr(driver, "broken", False)):
                raise
        shared.connection.invalidate()
        shared.connection.close()
        shared.connection = None  # the next checkout pings
        with self.reading() as connection:
            return read(connection)

    @contextlib.contextmanager
    def one_connection(self) -> Iterator[None]:
        """Within the block, this thread's ``reading`` and its next
        ``unit_of_work`` (not one in a commit group) use one pooled
        connection, returned when the block ends.

        A SOAP call reads the caller's account, then runs its transaction:
        two checkouts of a pooled connection (on PostgreSQL each with
        SQLAlchemy's pre-ping round trip), which cost about a third of
        what the echo does (bench/tickets_1m.py, AuthEcho). The caller must
        not wait on another server inside the block while the connection
        is held (``release_connection`` first).
        """
        if getattr(self._local, "shared", None) is not None:
            yield  # the outer block decides
            return
        shared = self._local.shared = _SharedConnection()
        try:
            yield
        finally:
            self._local.shared = None
            shared.close()

    def release_connection(self) -> None:
        """Return ``one_connection``'s connection now, and make this thread's
        reads and units of work take their own again until the block ends."""
        shared = getattr(self._local, "shared", None)
        if shared is not None and not shared.busy:
            shared.close()

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

        On PostgreSQL too (the Email Import's batches: one transaction, one
        WAL flush, for many messages), though concurrent SOAP writes need it
        less there: PostgreSQL commits concurrent transactions in parallel.
        """
        if self._group() is not None:
            raise RuntimeError("this thread already runs a commit group")
        with self._writers_turn(True):
            connection = self.engine.connect()
            driver = connection.connection.dbapi_connection
            # The group's transaction as a whole, ended as a unit of work's is.
            whole = UnitOfWork(self, connection, driver)
            group = CommitGroup(self, connection, driver)
            try:
                if self.is_sqlite:
                    driver.execute(_sqlite_begin(True))  # psycopg begins at the first statement
                self._local.group = group
                yield group
                group.check()
                whole.commit()
            except BaseException:
                if _may_be_in_transaction(driver):
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
        if self.fulltext_index is not None:
            self.fulltext_index.close()


class _SharedConnection:
    """The connection of one ``Database.one_connection`` block."""

    __slots__ = ("connection", "busy", "open")

    def __init__(self):
        self.connection = None  # checked out at the first read
        self.busy = False  # a unit of work runs on it
        self.open = True  # False once released: reads and units take their own

    def close(self) -> None:
        self.open = False
        if self.connection is not None:
            self.connection.close()
            self.connection = None


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
            if _may_be_in_transaction(self.driver):
                unit.rollback()
            raise
        finally:
            unit.close()
        self.members += 1

    def check(self) -> None:
        """SQLite rolls the whole transaction back on some errors (I/O,
        disk full): then nothing of the group is left to commit."""
        if not _may_be_in_transaction(self.driver):
            raise GroupRolledBack("the database rolled the commit group back")


def _may_be_in_transaction(driver) -> bool:
    """Whether the DBAPI connection may be in a transaction: SQLite's says;
    PostgreSQL never ends one by itself (an error leaves it failed until
    rolled back, to a savepoint or whole), so psycopg's is taken to be."""
    return getattr(driver, "in_transaction", True)


class GroupRolledBack(Exception):
    """A commit group's transaction ended before its commit."""


class UnitOfWork:
    """One transaction on one pooled connection (``Database.unit_of_work``).

    ``driver`` is the DBAPI connection under ``connection``, for the few
    hot statements run on it directly (stws.db.prepared).
    """

    __slots__ = ("connection", "driver", "savepoint", "keep_connection", "_database", "_session")

    def __init__(self, database: Database, connection, driver, savepoint: str | None = None,
                 keep_connection: bool = False):
        self.connection = connection
        self.driver = driver
        # A member of a commit group is this savepoint of the group's
        # transaction, and ends only it.
        self.savepoint = savepoint
        # The connection is Database.one_connection's, returned when that block ends.
        self.keep_connection = keep_connection
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
        if self.savepoint is None and not self.keep_connection:
            self.connection.close()  # a group's connection is the group's to close
