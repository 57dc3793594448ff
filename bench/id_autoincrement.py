"""What SQLite's AUTOINCREMENT (migration 0012: ids clients saw are never
handed out again) costs a ticket creation, against the same tables without
it, in one run.

    .venv/bin/python bench/id_autoincrement.py [--tickets 2000] [--rounds 3]

Each round makes two throw-away data directories: one at the newest schema,
one whose tables 0012 rebuilt are rebuilt back without AUTOINCREMENT (the
migration's own downgrade step). In each, ``--tickets`` customer tickets
are created in-process through the operation SOAP's CreateTicketFromCustomer
runs (one transaction each, as without load). Printed per round: CPU
milliseconds per creation (process time: the fsync of each commit is wall
time, not CPU, and would hide the difference) and wall milliseconds, and the
ratio with/without. AUTOINCREMENT adds one read and one write of the
sqlite_sequence row per insert into those tables.
"""
from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from stws.config import Config  # noqa: E402
from stws.operations import runner  # noqa: E402
from stws.operations.tickets import creation  # noqa: E402
from stws.runtime import start_runtime  # noqa: E402
from stws.security.principals import system_principal  # noqa: E402

MIGRATION = Path(__file__).resolve().parent.parent / "stws/db/migrations/versions/0012_ids_never_reused.py"


def _migration():
    spec = importlib.util.spec_from_file_location("migration_0012", MIGRATION)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def without_autoincrement(runtime) -> None:
    migration = _migration()
    with runtime.db.engine.connect() as connection:
        driver = connection.connection.driver_connection
        driver.execute("PRAGMA foreign_keys=OFF")  # as while migrating (stws.db.schema)
        with connection.begin():
            for table in migration.TABLES:
                migration._rebuild_with_autoincrement(driver, table, autoincrement=False)
        driver.execute("PRAGMA foreign_keys=ON")


def measure(autoincrement: bool, tickets: int) -> tuple[float, float]:
    """(CPU ms, wall ms) per creation."""
    with tempfile.TemporaryDirectory(prefix="stws-autoinc-") as folder:
        runtime = start_runtime(Config(data_dir=Path(folder)))
        try:
            if not autoincrement:
                without_autoincrement(runtime)
            # Acting as the administrator, as SOAP would after authenticating.
            with runtime.db.transaction(writes=False) as session:
                acting = system_principal(session, "bench")
            cpu, wall = time.process_time(), time.perf_counter()
            for number in range(tickets):
                runner.run(runtime, creation.create_ticket_from_customer, acting,
                           (1, "customer%d@example.com" % (number % 200), "Printer %d" % number, "It is on fire.",
                            False, False))
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        finally:
            runtime.close()
    return cpu * 1000 / tickets, wall * 1000 / tickets


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tickets", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    ratios = []
    for round_number in range(1, args.rounds + 1):
        # Alternate which goes first: the second of a pair runs on a warmer cache.
        order = (True, False) if round_number % 2 else (False, True)
        results = {mode: measure(mode, args.tickets) for mode in order}
        (cpu_on, wall_on), (cpu_off, wall_off) = results[True], results[False]
        ratios.append(cpu_on / cpu_off)
        print("round %d: AUTOINCREMENT %.3f ms CPU (%.2f ms wall) per creation; without %.3f ms CPU (%.2f ms wall);"
              " CPU ratio %.3f" % (round_number, cpu_on, wall_on, cpu_off, wall_off, cpu_on / cpu_off))
    print("median CPU ratio with/without AUTOINCREMENT over %d rounds: %.3f" % (args.rounds, statistics.median(ratios)))


if __name__ == "__main__":
    main()
