"""SQLite: the full-text index moves to a database file of its own

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-07
"""
import contextlib
import logging
import time

from alembic import op

from stws.db import fulltext_store

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None

# Why a file of its own: stws.db.fulltext_store. The index is moved as it is,
# FTS5's shadow tables row by row (no word is read again): searches stay fast
# right after the upgrade. About a minute per GB of index; the tickets' file
# keeps the freed pages for new rows (VACUUM gives them back to the disk).
# PostgreSQL has one writer per row, not per database: nothing to do there.
_BATCH = 2_000
log = logging.getLogger("stws.system")


def _copy(rows, write, table: str) -> int:
    """Every row ``rows`` yields for ``table``, written by ``write(sql, rows)``."""
    copied = 0
    statement = None
    while True:
        batch = rows.fetchmany(_BATCH)
        if not batch:
            return copied
        if statement is None:
            statement = "INSERT INTO %s VALUES (%s)" % (table, ", ".join("?" * len(batch[0])))
        write(statement, [tuple(row) for row in batch])
        copied += len(batch)


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return
    started = time.monotonic()
    path = fulltext_store.index_path(bind.engine.url.database)
    # The index file is written on a connection of its own: this migration's
    # connection may have it attached read-only, and cannot attach within
    # its transaction. Its reads see what earlier revisions of this run wrote.
    with contextlib.closing(fulltext_store.open_index(path)) as index:
        index.execute("BEGIN IMMEDIATE")
        index.execute("DROP TABLE IF EXISTS ticket_fts")  # left by an attempt that failed later
        index.execute(fulltext_store.CREATE_TABLE)
        for table in fulltext_store.SHADOW_TABLES:
            index.execute("DELETE FROM %s" % table)
            _copy(bind.exec_driver_sql("SELECT * FROM main.%s" % table), index.executemany, table)
        # Checkpointed by the index writer's first commit: this migration's
        # own connection reads the index file from before the copy and would hold a checkpoint back.
        index.execute("COMMIT")
    op.execute("DROP TABLE main.ticket_fts")
    log.info("Migration 0021: full-text index moved to %s in %.1f s", path, time.monotonic() - started)


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return
    path = fulltext_store.index_path(bind.engine.url.database)
    op.execute(fulltext_store.CREATE_TABLE)
    driver = bind.connection.driver_connection
    with contextlib.closing(fulltext_store.open_index(path)) as index:
        for table in fulltext_store.SHADOW_TABLES:
            driver.execute("DELETE FROM main.%s" % table)
            _copy(index.execute("SELECT * FROM %s" % table), driver.executemany, "main." + table)
        index.execute("DROP TABLE ticket_fts")
