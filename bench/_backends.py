"""Run a benchmark on a fresh database of each backend asked for.

    add_backend_options(parser)        # --postgresql URL, --no-sqlite
    ...
    each_backend(bench, "idx", args)

calls ``bench("SQLite", url)`` with an SQLite file in a temp folder, then
``bench("PostgreSQL", url)`` with a new database made on the PostgreSQL
server given by --postgresql (an SQLAlchemy URL; loopback only); each is
removed afterwards, however the run ends.
"""
from __future__ import annotations

import shutil
import tempfile
import uuid

from sqlalchemy import create_engine, text


def add_backend_options(parser) -> None:
    parser.add_argument("--postgresql", metavar="URL", help="a PostgreSQL server to make a database on")
    parser.add_argument("--no-sqlite", action="store_true", help="PostgreSQL only")


def each_backend(bench, tag: str, args) -> None:
    """``args``: parsed options of ``add_backend_options``."""
    postgresql = args.postgresql
    if not args.no_sqlite:
        directory = tempfile.mkdtemp(prefix="stws-bench-%s-" % tag)
        try:
            bench("SQLite", "sqlite:///%s/bench.sqlite3" % directory)
        finally:
            shutil.rmtree(directory, ignore_errors=True)
    if postgresql:
        admin = create_engine(postgresql, isolation_level="AUTOCOMMIT")
        name = "stws_bench_%s_%s" % (tag, uuid.uuid4().hex[:8])
        with admin.connect() as connection:
            connection.execute(text('CREATE DATABASE "%s"' % name))
        try:
            bench("PostgreSQL", admin.url.set(database=name).render_as_string(hide_password=False))
        finally:
            with admin.connect() as connection:
                connection.execute(text('DROP DATABASE IF EXISTS "%s" WITH (FORCE)' % name))
            admin.dispose()
