"""``insert_once``: INSERT a row unless its key is taken, without an error.

For rows that stand for a claim or a shared record that several nodes may
create at the same moment. A plain INSERT that hits the key raises an
IntegrityError, which on PostgreSQL also aborts the whole transaction; ON
CONFLICT DO NOTHING (PostgreSQL, and SQLite's spelling of it) waits for a
competing insert to commit and then reports that nothing was inserted.
"""
from __future__ import annotations

from sqlalchemy.dialects import postgresql, sqlite


def insert_once(session, model, values: dict) -> bool:
    """Insert ``values`` into ``model``'s table; False when the key existed."""
    dialect = session.get_bind().dialect.name
    make = postgresql.insert if dialect == "postgresql" else sqlite.insert
    key = model.__table__.primary_key.columns
    # RETURNING, not rowcount: executed through the ORM session, a row
    # inserted on PostgreSQL was not reported in rowcount.
    inserted = session.connection().execute(make(model).values(**values).on_conflict_do_nothing()
                                            .returning(*key))
    return inserted.first() is not None
