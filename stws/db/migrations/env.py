"""Alembic environment: runs migrations on the connection stws hands over.

stws calls Alembic programmatically (stws.db.schema.upgrade), passing the
open connection in ``config.attributes["connection"]``; the ``alembic``
command line works too, with ``-x url=...``.
"""
from alembic import context
from sqlalchemy import create_engine

from stws.db.models import Base

config = context.config
target_metadata = Base.metadata


def _run(connection):
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # ALTER support on SQLite
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option("sqlalchemy.url")
    engine = create_engine(url)
    with engine.connect() as conn:
        _run(conn)
