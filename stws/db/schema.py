"""Schema lifecycle: upgrade to the latest migration, and check for drift."""
from __future__ import annotations

import contextlib
from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config as AlembicConfig
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection, Engine

from stws.db.models import Base

MIGRATIONS_DIR = Path(__file__).with_name("migrations")


def alembic_config(connection=None) -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


class ForeignKeyViolation(RuntimeError):
    """A migration left rows referring to rows that do not exist (SQLite)."""


@contextlib.contextmanager
def _migrating(engine: Engine):
    """A connection in one transaction, to run migrations on.

    On SQLite, Alembic's batch mode alters a table by recreating it (copy,
    drop the old one, rename the copy); while foreign keys are enforced,
    dropping a table that other rows refer to fails (and would run their
    ON DELETE actions). So, as SQLite's procedure for schema changes says,
    enforcement is off while migrating (the pragma is a no-op inside a
    transaction, hence before BEGIN) and PRAGMA foreign_key_check must
    find nothing before the commit; only when a migration ran, as the
    check reads every table.
    """
    with engine.connect() as connection:
        dbapi = connection.connection.driver_connection if connection.dialect.name == "sqlite" else None
        enforced = dbapi is not None and dbapi.execute("PRAGMA foreign_keys").fetchone()[0]
        if enforced:
            dbapi.execute("PRAGMA foreign_keys=OFF")
        try:
            with connection.begin():
                started_at = _revision(connection)
                yield connection
                if enforced and _revision(connection) != started_at:
                    violations = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
                    if violations:
                        raise ForeignKeyViolation("migration left rows with dangling keys "
                                                  "(table, rowid, parent, key): %r" % violations[:20])
        finally:
            if enforced:
                dbapi.execute("PRAGMA foreign_keys=ON")


def _revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the database to ``revision``, keeping the data it holds."""
    with _migrating(engine) as connection:
        command.upgrade(alembic_config(connection), revision)


def downgrade(engine: Engine, revision: str) -> None:
    """Take the database back to ``revision`` ("base": no tables at all)."""
    with _migrating(engine) as connection:
        command.downgrade(alembic_config(connection), revision)


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return _revision(connection)


def head_revision() -> str:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def _modelled(name, type_, parent_names) -> bool:
    """Whether the drift check compares this object: not the full-text index,
    which differs per backend and is made by migration 0005 alone (an FTS5
    table and its shadow tables on SQLite, a tsvector table on PostgreSQL),
    nor the indexes one backend alone has (``BACKEND_INDEXES``)."""
    if type_ == "index" and name in BACKEND_INDEXES:
        return False
    return not (type_ == "table" and is_index_table(name))


# Indexes made by a migration on one backend only, not in the models:
# PostgreSQL's newest-activity-first list indexes (migrations 0016, 0020).
BACKEND_INDEXES = frozenset(["ix_tickets_%s_status_newest" % owner for owner in ("group", "agent", "department")]
                            + ["ix_tickets_newest"])


# The full-text index's tables (stws.domain.tickets.fulltext), made by
# migration 0005 alone (FTS5 adds shadow tables ticket_fts_data, _idx,
# _content, _docsize, _config).
INDEX_TABLES = ("ticket_fts", "ticket_search")


def is_index_table(name: str) -> bool:
    return name in INDEX_TABLES or name.startswith("ticket_fts_")


def pending_model_changes(engine: Engine) -> list:
    """Differences between the models and the migrated database (should be none)."""
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True, "include_name": _modelled})
        return compare_metadata(context, Base.metadata)
