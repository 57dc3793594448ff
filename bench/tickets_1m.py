"""Every svcTickets read and ticket creation on a 1,000,000-ticket database,
side by side with the spyne echo of the same round, on SQLite and (with
``--postgresql``) on PostgreSQL in the same run.

    .venv/bin/python bench/tickets_1m.py [--tickets 1000000] [--seconds 10] [--warmup 3] [--rounds 1]
                                         [--connections 8] [--mixed-seconds 90] [--mixed-connections 16]
                                         [--seeded sqlite:////tmp/me/1m.sqlite3]
                                         [--postgresql URL | --postgresql-seeded URL] [--no-sqlite]
                                         [--only b,r1,r3,c1,mixed] [--profile r1,r18] [--profile-out DIR]

Per backend: seeds a new database with ``seed_tickets.seed`` (``--body-words
20 --notes 0.1`` as the 1M seed for everyone is made; a few minutes on
SQLite), or runs on one seeded before (``--seeded``: an SQLite database
seed_tickets made, used in place, so pass a copy; ``--postgresql-seeded``:
a PostgreSQL database seed_tickets made, kept), starts one server on it
(bench extras), then per round: the echo ``b``, ``a`` (AuthEcho: the
credential check, role check and empty read transaction every read pays), each read of
bench/_ticket_scenarios.py (r1..r21), creation alone ``c1``; then the
mixed load: creation on 4 connections beside five reads on 12 (16 in all)
for ``--mixed-seconds``, with the server's RSS before and after. One line
per scenario: requests/s, requests, failed, p50/p95/p99, the ratio to the
round's echo and the server's CPU time per request (all threads, during
the measured run). Then the verdicts against issue 14's targets:
every read and creation >= 0.8 x echo, full-text search (r9) p95 < 50 ms,
creation's p99 under the mixed load < 50 ms. ``--profile r1,r18`` samples
the server with py-spy during an extra run after those scenarios'
measurement (see _measure.profile; ``.venv/bin/pip install py-spy``).
"""
from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _soap  # noqa: E402
import _ticket_scenarios as scenarios  # noqa: E402
import seed_tickets  # noqa: E402
from _load import have_wrk  # noqa: E402
from _measure import check, measure, ms, profile, settle  # noqa: E402
from _server import ADMIN_PASSWORD, ADMIN_USER, StwsServer, ensure_admin_password  # noqa: E402
from stws.workers import registry  # noqa: E402

RATIO_TARGET = 0.8
FULL_TEXT_KEY, FULL_TEXT_P95_MS = "r9", 50.0
MIXED_CREATION_P99_MS = 50.0
INDEXING_INTERVAL = next(d.interval for d in registry.definitions() if d.name == "Indexing")


def bench_backend(name: str, url: str, args, seed: bool) -> dict:
    print("== %s" % name, flush=True)
    if seed:
        print("seeding %s tickets ..." % "{:,}".format(args.tickets), flush=True)
        seeded = seed_tickets.seed(url, tickets=args.tickets, admin_password=ADMIN_PASSWORD, progress=None,
                                   body_words=20, notes=0.1)
        print("seeded %s tickets (%s open) in %.0f s" % ("{:,}".format(seeded.tickets),
                                                          "{:,}".format(seeded.open_tickets), seeded.seconds))
    else:
        ensure_admin_password(url)
    data_dir = Path(tempfile.mkdtemp(prefix="stws-bench-1m-"))
    rng = random.Random(14)
    server = StwsServer(extras=True, threads=args.threads, database=url, data_dir=data_dir)
    began = time.monotonic()
    server.start(timeout=900)  # a first start may migrate a million tickets
    print("server pid %d at %s (started in %.0f s)" % (server.pid, server.base_url, time.monotonic() - began))
    results: dict = {}
    try:
        for thread in args.stop_thread:
            # To tell what a background thread adds to a scenario (e.g. Indexing to the mixed load's creations).
            _thread_switch(server, "StopThread", thread)
            print("background thread %s stopped" % thread)
        fixtures = scenarios.gather(url, rng)
        wsdl = urllib.request.urlopen(server.service_url(scenarios.TICKETS) + "?WSDL", timeout=60).read()
        array_namespace = _soap.array_of_string_namespace(wsdl)
        plan = [scenarios.echo_scenario(), scenarios.auth_echo_scenario()] + scenarios.read_scenarios(
            fixtures, array_namespace) + [scenarios.creation_scenario(fixtures)]
        wanted = set(args.only.split(",")) if args.only else None
        to_profile = {key.strip() for key in args.profile.split(",") if key.strip()}
        plan = [s for s in plan if wanted is None or s.key in wanted or s.key in ("b", "a")]
        for scenario in plan:
            check(server, scenario)
        print("  %-4s %-31s %9s %8s %7s %8s %8s %8s %8s %8s" % (
            "", "scenario (%d connections)" % args.connections, "req/s", "requests", "failed", "p50 ms",
            "p95 ms", "p99 ms", "x echo", "CPU ms"), flush=True)
        for round_number in range(1, args.rounds + 1):
            if args.rounds > 1:
                print("  round %d of %d" % (round_number, args.rounds))
            echo = None
            for scenario in plan:
                result = measure(server, scenario, args)
                if scenario.key == "c1":
                    settle(server, quiet=INDEXING_INTERVAL + 2)
                if scenario.key == "b":
                    echo = result
                else:
                    result.ratio_to_echo = result.rps / echo.rps if echo and echo.rps else None
                results.setdefault(scenario.key, []).append(result)
                _line(scenario.key, scenario.title, result)
                if scenario.key in to_profile and round_number == args.rounds:
                    print("  profile of %s:" % scenario.key, flush=True)
                    profile(server, scenario, args)
        if wanted is None or "mixed" in wanted:
            settle(server)
            rss_before = server.memory()["VmRSS"] / 1024
            mixed = scenarios.run_mixed(server, scenarios.mixed_plan(fixtures, array_namespace),
                                        args.mixed_seconds, args.client)
            rss_after = server.memory()["VmRSS"] / 1024
            requests = sum(r.requests for k, r in mixed.items() if k != "all")
            print("  mixed load, %d s, %d connections in all: %.0f req/s, server CPU %.2f ms per request, "
                  "RSS %.0f -> %.0f MiB" % (args.mixed_seconds, sum(c for _, c in
                                                                    scenarios.mixed_plan(fixtures, None)),
                                            requests / args.mixed_seconds, 1000 * mixed["all"] / max(requests, 1),
                                            rss_before, rss_after))
            for key, result in mixed.items():
                if key != "all":
                    _line(key, "  (mixed) " + key, result)
            results["mixed"] = mixed
        results["memory"] = server.memory()
    finally:
        for thread in args.stop_thread:  # the stop is kept in the database: a seeded copy must not keep it
            _thread_switch(server, "StartThread", thread)
        code = server.stop(timeout=30)
        shutil.rmtree(data_dir, ignore_errors=True)
    _verdicts(name, results, args)
    print("server peak RSS (VmHWM) %.0f MiB; stop: %s" % (
        results.get("memory", {}).get("VmHWM", 0) / 1024, {-15: "clean", -9: "killed"}.get(code, code)), flush=True)
    return results


def _line(key, title, result) -> None:
    print("  %-4s %-31s %9.1f %8d %7d %8s %8s %8s %8s %8s" % (
        key, title[:31], result.rps, result.requests, result.failures + result.errors,
        ms(result.latency_ms_p50), ms(result.latency_ms_p95), ms(result.latency_ms_p99),
        ms(getattr(result, "ratio_to_echo", None), "%.3f"), ms(result.server_cpu_ms_per_request)), flush=True)


def _verdicts(name: str, results: dict, args) -> None:
    missed = []
    for key, rounds in results.items():
        if key in ("b", "a", "mixed", "memory"):
            continue
        # A scenario none of whose requests ended in the measured time has ratio 0.
        ratios = [r.ratio_to_echo for r in rounds if getattr(r, "ratio_to_echo", None) is not None]
        if ratios and statistics.median(ratios) < RATIO_TARGET:
            missed.append("%s %.2f" % (key, statistics.median(ratios)))
    print("  %s verdicts: x echo < %.1f: %s" % (name, RATIO_TARGET, ", ".join(missed) or "none"))
    if FULL_TEXT_KEY in results:
        p95 = statistics.median(r.latency_ms_p95 if r.requests else float("inf") for r in results[FULL_TEXT_KEY])
        print("  %s full-text search p95 %.1f ms (target < %.0f: %s)" % (
            FULL_TEXT_KEY, p95, FULL_TEXT_P95_MS, "met" if p95 < FULL_TEXT_P95_MS else "NOT met"))
    if "mixed" in results:
        p99 = results["mixed"]["m-c"].latency_ms_p99
        print("  creation p99 under the mixed load %.1f ms (target < %.0f: %s)" % (
            p99, MIXED_CREATION_P99_MS, "met" if p99 < MIXED_CREATION_P99_MS else "NOT met"))


def _thread_switch(server, operation: str, thread: str) -> None:
    """svcDiagnostics StopThread / StartThread of a background thread."""
    reply = _soap.call(server.service_url("svcDiagnostics"), "svcDiagnostics", operation,
                       [("authUserName", ADMIN_USER), ("authPassword", ADMIN_PASSWORD), ("threadName", thread)])
    if reply.status != 200 or reply.text("Result") != "true":
        raise SystemExit("%s %s: %s" % (operation, thread, reply.text("Message")))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tickets", type=int, default=1_000_000)
    parser.add_argument("--seeded", default="", help="SQLite URL of a database seed_tickets made (used in place)")
    parser.add_argument("--postgresql", default="", help="a PostgreSQL server (URL) to make and seed a database on")
    parser.add_argument("--postgresql-seeded", default="", help="a PostgreSQL database seed_tickets made (kept)")
    parser.add_argument("--no-sqlite", action="store_true")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--mixed-seconds", type=float, default=90.0)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--client", choices=("auto", "wrk", "python"), default="auto")
    parser.add_argument("--only", default="", help="scenario keys (b and a are always run), e.g. r3,r5,c1,mixed")
    parser.add_argument("--profile", default="", help="scenarios to profile with py-spy after their measurement")
    parser.add_argument("--stop-thread", action="append", default=[], metavar="NAME",
                        help="stop this background thread (e.g. Indexing) before measuring; repeatable")
    parser.add_argument("--profile-out", default="", help="folder to keep the collapsed py-spy stacks in")
    args = parser.parse_args(argv)
    if args.client == "auto":
        args.client = "wrk" if have_wrk() else "python"
    began = time.monotonic()
    print("stws svcTickets at %s tickets: %d s measured (+%d s warm-up) per scenario, %d connections, %d "
          "round(s), client %s, %d CPUs, load average %.1f" % (
              "{:,}".format(args.tickets), args.seconds, args.warmup, args.connections, args.rounds, args.client,
              os.cpu_count() or 0, os.getloadavg()[0]), flush=True)
    failed = 0
    if not args.no_sqlite:
        if args.seeded:
            results = bench_backend("SQLite", args.seeded, args, seed=False)
        else:
            folder = tempfile.mkdtemp(prefix="stws-bench-1m-db-")
            try:
                results = bench_backend("SQLite", "sqlite:///%s/tickets.sqlite3" % folder, args, seed=True)
            finally:
                shutil.rmtree(folder, ignore_errors=True)
        failed += _failed(results)
    if args.postgresql_seeded:
        failed += _failed(bench_backend("PostgreSQL", args.postgresql_seeded, args, seed=False))
    elif args.postgresql:
        from sqlalchemy import create_engine, text

        admin = create_engine(args.postgresql, isolation_level="AUTOCOMMIT")
        name = "stws_bench_1m_%s" % uuid.uuid4().hex[:8]
        with admin.connect() as connection:
            connection.execute(text('CREATE DATABASE "%s"' % name))
        try:
            failed += _failed(bench_backend("PostgreSQL", admin.url.set(database=name).render_as_string(
                hide_password=False), args, seed=True))
        finally:
            with admin.connect() as connection:
                connection.execute(text('DROP DATABASE IF EXISTS "%s" WITH (FORCE)' % name))
            admin.dispose()
    print("total bench time %.0f s%s; load average now %.1f" % (
        time.monotonic() - began, "; %d FAILED requests" % failed if failed else "", os.getloadavg()[0]))
    return 1 if failed else 0


def _failed(results: dict) -> int:
    total = 0
    for key, value in results.items():
        if key == "memory":
            continue
        runs = [v for k, v in value.items() if k != "all"] if key == "mixed" else value
        total += sum(r.failures + r.errors for r in runs)
    return total


if __name__ == "__main__":
    sys.exit(main())
