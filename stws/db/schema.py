"""Schema lifecycle: upgrade to the latest migration, and check for drift."""
from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config as AlembicConfig
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine

from stws.db.models import Base

MIGRATIONS_DIR = Path(__file__).with_name("migrations")


def alembic_config(connection=None) -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the database to ``revision``, keeping the data it holds."""
    with engine.begin() as connection:
        command.upgrade(alembic_config(connection), revision)


def downgrade(engine: Engine, revision: str) -> None:
    """Take the database back to ``revision`` ("base": no tables at all)."""
    with engine.begin() as connection:
        command.downgrade(alembic_config(connection), revision)


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def _modelled(name, type_, parent_names) -> bool:
    """Whether the drift check compares this object: not the full-text index,
    which differs per backend and is made by migration 0005 alone (an FTS5
    table and its shadow tables on SQLite, a tsvector table on PostgreSQL)."""
    from stws.domain.tickets.fulltext import is_index_table

    return not (type_ == "table" and is_index_table(name))


def pending_model_changes(engine: Engine) -> list:
    """Differences between the models and the migrated database (should be none)."""
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True, "include_name": _modelled})
        return compare_metadata(context, Base.metadata)
