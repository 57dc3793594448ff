"""SQLite: the full-text index in a database file of its own.

The FTS5 table ``ticket_fts`` (stws.domain.tickets.fulltext says what it
holds) lives in ``<database file>-fulltext``, not in the tickets' file.
Why: SQLite has one writer at a time per file, and FTS5 merges its
segments inside the transactions that add documents. At 1,000,000 tickets
every fourth batch of 200 documents took 0.5-2 s (at most 5 s) of merging,
and while the Indexing thread held the tickets' writer lock for it, every
ticket creation queued behind it (creation p99 4.4 s under bench/
tickets_1m.py's mixed load, 0.46 s with Indexing stopped). In a file of
its own the index has its own writer lock, which only the Indexing thread
takes (``IndexWriter``).

Every pooled connection attaches the index file read-only as schema
``fulltext`` (``attach_for_reading``), so searches join it with the
tickets as before, by its unqualified name. Read-only matters: ``BEGIN
IMMEDIATE`` takes the writer lock of every attached file that can be
written, and would queue creations behind the index again.

The Indexing thread writes documents in a transaction of the index file,
then marks the rows indexed in one of the tickets' file (never both at
once). A crash between the two only indexes those rows again.

The index is derived data: a tickets file whose index file is missing (a
backup restored without it) gets an empty index, and every row is indexed
again by the Indexing thread (``prepare``); until it has caught up,
searches find the unindexed rows by substring (slower, not wrong).
"""
from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import threading
import urllib.parse
from typing import Iterator

log = logging.getLogger("stws.system")

SCHEMA = "fulltext"
SUFFIX = "-fulltext"
BUSY_TIMEOUT_MS = 30_000
JOURNAL_SIZE_LIMIT = 64 * 1024 * 1024

CREATE_TABLE = ("CREATE VIRTUAL TABLE ticket_fts USING fts5("
                "ticket_id UNINDEXED, kind UNINDEXED, item_id UNINDEXED, content, "
                "tokenize = 'unicode61 remove_diacritics 2')")
# What FTS5 keeps of ticket_fts, table by table (the index's whole state).
SHADOW_TABLES = tuple("ticket_fts_" + part for part in ("config", "data", "idx", "content", "docsize"))
# The first revision whose index lives in the index file (migration 0021).
FIRST_REVISION = "0021"
INDEXED_TABLES = ("tickets", "ticket_messages", "ticket_comments")


def index_path(database_path: str) -> str:
    return database_path + SUFFIX


def open_index(path: str) -> sqlite3.Connection:
    """A connection whose main database is the index file (created if
    missing), committing with a full fsync like the tickets' file: the rows
    marked indexed there must never outlive their documents here."""
    connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False,
                                 timeout=BUSY_TIMEOUT_MS / 1000)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=FULL")
    connection.execute("PRAGMA journal_size_limit=%d" % JOURNAL_SIZE_LIMIT)
    return connection


def attach_for_reading(dbapi_connection, database_path: str) -> None:
    uri = "file:%s?mode=ro" % urllib.parse.quote(os.path.abspath(index_path(database_path)))
    dbapi_connection.execute("ATTACH DATABASE ? AS %s" % SCHEMA, (uri,))


def _has_table(connection, schema: str, name: str) -> bool:
    return connection.execute("SELECT 1 FROM %s.sqlite_master WHERE type = 'table' AND name = ?" % schema,
                              (name,)).fetchone() is not None


def prepare(database_path: str) -> None:
    """Make sure the index file exists (the read-only ATTACH cannot create
    it), and, when the tickets' schema has its index there but the file
    has no index (lost, or not restored), make an empty one and mark every
    row for indexing."""
    with contextlib.closing(open_index(index_path(database_path))) as index:
        if _has_table(index, "main", "ticket_fts"):
            return
        tickets = sqlite3.connect(database_path, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000)
        try:
            if not _has_table(tickets, "main", "alembic_version"):
                return  # a new database: the migrations make the index
            revision = tickets.execute("SELECT version_num FROM alembic_version").fetchone()
            if revision is None or revision[0] < FIRST_REVISION:
                return  # migration 0021 moves the index here
            log.warning("The full-text index file %s has no index: it is made again, every ticket, message "
                        "and note is indexed anew by the Indexing thread.", index_path(database_path))
            index.execute(CREATE_TABLE)
            tickets.execute("BEGIN IMMEDIATE")
            for table in INDEXED_TABLES:
                tickets.execute("UPDATE %s SET is_indexed = 0 WHERE is_indexed = 1" % table)
            tickets.execute("DELETE FROM fulltext_removals")
            tickets.execute("COMMIT")
        finally:
            tickets.close()


class IndexWriter:
    """The Indexing thread's way to write the index file: one connection,
    one writer at a time in this process (other processes on the same file
    meet SQLite's busy timeout)."""

    def __init__(self, database_path: str):
        self.path = index_path(database_path)
        self._lock = threading.Lock()
        self._connection: sqlite3.Connection | None = None

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A writing transaction of the index file, committed when the block
        ends normally and rolled back otherwise."""
        with self._lock:
            if self._connection is None:
                self._connection = open_index(self.path)
            connection = self._connection
            connection.execute("BEGIN IMMEDIATE")
            try:
                yield connection
                connection.execute("COMMIT")
            except BaseException:
                if connection.in_transaction:
                    connection.execute("ROLLBACK")
                raise

    def close(self) -> None:
        with self._lock:
            if self._connection is not None:
                self._connection.close()
                self._connection = None
