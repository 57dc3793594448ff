"""The customer lookup by address (``core.find_customer``: every
CreateTicketFromCustomer* and every imported mail) with and without the
index on lower(users.email).

    .venv/bin/python bench/customer_lookup.py [--customers 5000] [--postgresql URL] [--no-sqlite]

For each backend (SQLite in a temp directory; PostgreSQL when
``--postgresql`` gives a URL of a server where we may create a database: a
new database is made there and dropped afterwards): ``bench/seed_tickets.py``
seeds ``--customers`` customer accounts (no tickets), then ``--lookups``
addresses of random customers, upper-cased as some mail clients send them,
are looked up in one read transaction, each call timed; then again after
``DROP INDEX ix_users_email_lower``. Printed: median and p95 per lookup,
and the query plan of each round.
"""
from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _backends import add_backend_options, each_backend  # noqa: E402
from sqlalchemy import text  # noqa: E402

import seed_tickets  # noqa: E402
from stws.db.engine import Database  # noqa: E402
from stws.domain.tickets import core  # noqa: E402


def lookups(db: Database, addresses: list[str]) -> list[float]:
    timings = []
    with db.transaction(writes=False) as session:
        call = SimpleNamespace(session=session)
        for address in addresses:
            started = time.perf_counter()
            customer = core.find_customer(call, address)
            timings.append(time.perf_counter() - started)
            assert customer is not None, address
    return timings


def plan(db: Database, address: str) -> str:
    sql = str(core.customers_with_address(address).limit(2).compile(db.engine,
                                                                    compile_kwargs={"literal_binds": True}))
    with db.engine.connect() as connection:
        if db.is_sqlite:
            return "; ".join(row[3] for row in connection.execute(text("EXPLAIN QUERY PLAN " + sql)))
        return "; ".join(row[0].strip() for row in connection.execute(text("EXPLAIN " + sql)))


def bench(label: str, url: str) -> None:
    seeded = seed_tickets.seed(url, tickets=0, customers=ARGS.customers, progress=None, full_text_index=False)
    rng = random.Random(3)
    addresses = ["BENCHCUST%05d@CUSTOMERS.EXAMPLE" % rng.randrange(seeded.customers) for _ in range(ARGS.lookups)]
    db = Database(url, pool_size=1)
    try:
        for round_ in ("with ix_users_email_lower", "without"):
            with db.engine.begin() as connection:
                if round_ == "without":
                    connection.execute(text("DROP INDEX ix_users_email_lower"))
                connection.execute(text("ANALYZE main" if db.is_sqlite else "ANALYZE"))  # not the read-only index file
            lookups(db, addresses[:100])  # warm the page cache
            timings = sorted(lookups(db, addresses))
            print("%s, %d customers, %s: median %.0f us, p95 %.0f us per lookup (%d lookups)" % (
                label, seeded.customers, round_, statistics.median(timings) * 1e6,
                timings[int(len(timings) * 0.95) - 1] * 1e6, len(timings)))
            print("  plan: %s" % plan(db, addresses[0]))
    finally:
        db.dispose()


def main(argv=None) -> int:
    global ARGS
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=5_000)
    parser.add_argument("--lookups", type=int, default=2_000)
    add_backend_options(parser)
    ARGS = parser.parse_args(argv)
    each_backend(bench, "lookup", ARGS)
    return 0


ARGS = None

if __name__ == "__main__":
    sys.exit(main())
