"""svcTickets on PostgreSQL with one and two stws nodes behind HAProxy,
beside SQLite's single node: what a second node adds.

    .venv/bin/python bench/cluster.py [--tickets 1000000] [--postgresql URL] [--sqlite URL | --no-sqlite]
                                      [--seconds 10] [--warmup 3] [--rounds 2] [--connections 16]
                                      [--only b,t1,t2,t3] [--scenarios tickets_throughput]

Starts a throw-away PostgreSQL 15 (initdb + pg_ctl on a free 127.0.0.1 port,
durable commits) unless ``--postgresql`` names a database, and seeds it
with ``seed_tickets`` (a database seeded before is reused as it is: keep a
1,000,000-ticket one and pass it again); the same for SQLite (``--sqlite``,
else a new file in the temp folder). Then starts stws nodes a and b on the
PostgreSQL database (``twistd -n`` as in _server.py, bench extras, one
shared data directory: see _cluster for what nodes share), one SQLite node,
and HAProxy (Debian's, a config written by _cluster) with two frontends on
127.0.0.1: one balancing over node a alone, one round robin over a and b.
Each scenario is measured on each setup in turn, scenario by scenario, for
``--rounds`` rounds (the table takes medians):

  sqlite  SQLite, one node, direct
  pg      PostgreSQL, node a, direct
  lb1     PostgreSQL, HAProxy -> node a          (what the balancer costs: lb1/pg)
  lb2     PostgreSQL, HAProxy -> nodes a and b   (what the second node adds: lb2/lb1)

Scenarios come from ``--scenarios``' module (default tickets_throughput:
b the spyne echo, the baseline; t1 GetTicketInfo; t2 CreateTicketFromCustomer;
t3 GetTicketsBySearch): any module with ``scenarios(seeded, ticket_ids,
department_ids, array_namespace, rng) -> [_measure.Scenario]`` plugs in.
Each setup's figures are divided by the echo of the same setup and round.

The table prints, per scenario and setup: req/s, p95/p99, the ratio to the
echo, the stws nodes' CPU time per request (per node: its CPU over the
requests it answered, by HAProxy's count), HAProxy's and PostgreSQL's CPU
per request, and lb2/lb1. All processes share this machine's CPUs, so a
second node can only add what the first leaves idle; the CPU per request
says what separate machines would give (see bench/README.md).
"""
from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import random
import shutil
import signal
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _soap  # noqa: E402
from _cluster import HAProxy, Node, PostgresServer, Target, postgres_cpu, seeded_database  # noqa: E402
from _load import have_wrk  # noqa: E402
from _measure import check, measure, ms, settle  # noqa: E402
from _server import ADMIN_PASSWORD  # noqa: E402
from tickets_throughput import INDEXING_INTERVAL, WRITERS, _department_ids, _live_ticket_ids, _safe  # noqa: E402

TICKETS = "svcTickets"
BASELINE = "b"


class Setup:
    """A target with the scenarios built for its database."""

    def __init__(self, target: Target, scenarios: dict):
        self.target, self.scenarios = target, scenarios


def build_scenarios(module, seeded, url: str, node, rng_seed: int = 7) -> dict:
    wsdl = urllib.request.urlopen(node.service_url(TICKETS) + "?WSDL", timeout=30).read()
    made = module.scenarios(seeded, _live_ticket_ids(url), _department_ids(node),
                            _soap.array_of_string_namespace(wsdl), random.Random(rng_seed))
    return {scenario.key: scenario for scenario in made}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tickets", type=int, default=1_000_000, help="tickets to seed a new database with")
    parser.add_argument("--postgresql", default="", help="SQLAlchemy URL of a PostgreSQL database on loopback "
                                                         "(empty: seeded; seeded before: reused); default: a "
                                                         "throw-away server")
    parser.add_argument("--sqlite", default="", help="SQLAlchemy URL of an SQLite database (seeded if new, "
                                                     "reused if seeded); default: a new one in the temp folder")
    parser.add_argument("--no-sqlite", action="store_true", help="PostgreSQL setups only")
    parser.add_argument("--seconds", type=float, default=10.0, help="measured seconds per scenario (10)")
    parser.add_argument("--warmup", type=float, default=3.0, help="warm-up seconds per scenario (3)")
    parser.add_argument("--rounds", type=int, default=2, help="measurements of each scenario and setup (2)")
    parser.add_argument("--connections", type=int, default=16, help="keep-alive connections (16)")
    parser.add_argument("--threads", type=int, default=None, help="SOAP threads per node (server default)")
    parser.add_argument("--client", choices=("auto", "wrk", "python"), default="auto",
                        help="load generator (auto: wrk when installed)")
    parser.add_argument("--only", default="b,t1,t2,t3", help="scenarios to run (b, the baseline, always)")
    parser.add_argument("--scenarios", default="tickets_throughput",
                        help="module in bench/ whose scenarios() to run (tickets_throughput)")
    parser.add_argument("--stop-threads", default="", help="background threads to stop in the databases before the "
                                                           "nodes start, e.g. Indexing (a seed cut short before its "
                                                           "full-text index was complete leaves that thread a backlog)")
    parser.add_argument("--keep-data", action="store_true", help="keep the temp folder (nodes' logs, HAProxy's)")
    args = parser.parse_args(argv)
    args.profile_out = ""
    # SIGTERM (timeout, a CI limit) unwinds like Ctrl-C: nodes, HAProxy and PostgreSQL are stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if args.client == "auto":
        args.client = "wrk" if have_wrk() else "python"
    wanted = [BASELINE] + [key.strip() for key in args.only.split(",") if key.strip() and key.strip() != BASELINE]
    module = importlib.import_module(args.scenarios)
    began = time.monotonic()
    root = Path(tempfile.mkdtemp(prefix="stws-bench-cluster-"))
    print("stws cluster: %d s measured (+%d s warm-up) per scenario and setup, %d round(s), %d connections, "
          "client %s, %d CPUs, load average %.1f" % (args.seconds, args.warmup, args.rounds, args.connections,
                                                     args.client, os.cpu_count() or 0, os.getloadavg()[0]),
          flush=True)
    results: dict[tuple[str, str], list] = {}
    setups: list[Setup] = []
    stops: list[str] = []
    try:
        with contextlib.ExitStack() as stack:
            pg_url = args.postgresql
            if not pg_url:
                postgres = stack.enter_context(PostgresServer())
                pg_url = postgres.create_database("stws_cluster")
                print("started PostgreSQL at %s" % _safe(postgres.admin_url))
            databases = [("PostgreSQL", pg_url)]
            if not args.no_sqlite:
                databases.append(("SQLite", args.sqlite or "sqlite:///%s" % (root / "tickets.sqlite3")))
            seeded = {}
            for name, url in databases:
                print("seeding %s ..." % _safe(url), flush=True)
                seeded[name], reused = seeded_database(url, args.tickets, ADMIN_PASSWORD, progress=None)
                heavy = seeded[name].top_customers[:100]
                print("  %s %d tickets (%d open), %d customers; the 100 customers searched have %d..%d tickets" % (
                    "reused, holds" if reused else "seeded in %.0f s:" % seeded[name].seconds,
                    seeded[name].tickets, seeded[name].open_tickets, seeded[name].customers, heavy[-1][1],
                    heavy[0][1]), flush=True)

            stopped = [name.strip() for name in args.stop_threads.split(",") if name.strip()]
            if stopped:
                for _, url in databases:
                    _stop_threads(url, stopped)
                print("stopped (in the databases, so on every node): %s" % ", ".join(stopped))

            # One data directory for both PostgreSQL nodes (what nodes share, see _cluster).
            shared = root / "pg-data"
            node_a, node_b = (Node(name, extras=True, threads=args.threads, database=pg_url, data_dir=shared,
                                   run_dir=root / ("node-" + name)) for name in ("a", "b"))
            for node in (node_a, node_b):
                node.start()  # one after the other: the first start upgrades the schema if need be
                stack.callback(lambda node=node: stops.append("node %s: %s" % (node.name, _stopped(node.stop()))))
            proxy = stack.enter_context(HAProxy(root / "haproxy", {"one": [node_a], "two": [node_a, node_b]}))
            database_cpu = postgres_cpu(pg_url)
            others = {"postgresql": database_cpu} if database_cpu else {}
            pg_scenarios = build_scenarios(module, seeded["PostgreSQL"], pg_url, node_a)
            if not args.no_sqlite:
                single = Node("s", extras=True, threads=args.threads, database=databases[1][1],
                              data_dir=root / "sqlite-data")
                single.start()
                stack.callback(lambda: stops.append("SQLite node: %s" % _stopped(single.stop())))
                setups.append(Setup(Target("sqlite", "SQLite, 1 node", single.base_url, [single]),
                                    build_scenarios(module, seeded["SQLite"], databases[1][1], single)))
            setups += [
                Setup(Target("pg", "PostgreSQL, 1 node", node_a.base_url, [node_a], others=others), pg_scenarios),
                Setup(Target("lb1", "PostgreSQL, HAProxy, 1 node", proxy.url("one"), [node_a], proxy, "one",
                             others), pg_scenarios),
                Setup(Target("lb2", "PostgreSQL, HAProxy, 2 nodes", proxy.url("two"), [node_a, node_b], proxy,
                             "two", others), pg_scenarios),
            ]
            # After a write, the nodes on that database (the Indexing thread runs on whichever holds it).
            on_postgresql = Target("pg-nodes", "nodes a and b", "", [node_a, node_b])
            writers_of = {setup.target.key: setup.target if setup.target.key == "sqlite" else on_postgresql
                          for setup in setups}
            missing = [key for key in wanted if key not in pg_scenarios]
            if missing:
                raise SystemExit("no scenario %s in %s" % (", ".join(missing), args.scenarios))
            for setup in setups:
                for key in wanted:
                    check(setup.target, setup.scenarios[key])
            print("nodes a (pid %d) and b (pid %d) on PostgreSQL; HAProxy pid %d: %s -> a, %s -> a, b; %s" % (
                node_a.pid, node_b.pid, proxy.pid, proxy.url("one"), proxy.url("two"),
                "SQLite node pid %d" % single.pid if not args.no_sqlite else "no SQLite"))
            print()
            print("  %-3s %-6s %9s %7s %8s %8s %7s %8s %-22s %8s %8s" % (
                "", "setup", "req/s", "failed", "p95 ms", "p99 ms", "x echo", "CPU ms", "per node ms (share)",
                "proxy ms", "pg ms"))
            for round_number in range(1, args.rounds + 1):
                print("  round %d of %d" % (round_number, args.rounds), flush=True)
                echo = {}
                for key in wanted:
                    for setup in setups:
                        result = _measure_one(setup, key, args)
                        results.setdefault((key, setup.target.key), []).append(result)
                        if key == BASELINE:
                            echo[setup.target.key] = result.rps
                        result.ratio_to_echo = result.rps / echo[setup.target.key]
                        _print_line(key, setup.target.key, result)
                        if key in WRITERS:
                            # Let the Indexing thread (on whichever node holds it) work off what was written.
                            settle(writers_of[setup.target.key], quiet=INDEXING_INTERVAL + 2)
    finally:
        if args.keep_data:
            print("kept %s" % root)
        else:
            shutil.rmtree(root, ignore_errors=True)
    _print_table(wanted, setups, results, args)
    print("stops: %s" % "; ".join(stops))
    failed = sum(r.failures + r.errors for rounds in results.values() for r in rounds)
    print("load average now %.1f; total bench time %.0f s%s" % (
        os.getloadavg()[0], time.monotonic() - began, "; %d FAILED requests" % failed if failed else ""))
    return 1 if failed else 0


def _measure_one(setup: Setup, key: str, args):
    """One measurement, with the CPU of every process and the responses of
    every node during the measured run (HAProxy's counts include the warm-up:
    only their shares are used)."""
    target = setup.target
    served_before = target.served_by()
    result = measure(target, setup.scenarios[key], args)
    served_after = target.served_by()
    result.not_up = target.not_up()
    result.cpu = target.last_run_cpu()
    served = {node: served_after.get(node, 0) - served_before.get(node, 0) for node in served_after}
    total = sum(served.values())
    result.share = {node: count / total for node, count in served.items()} if total else {
        node.name: 1.0 for node in target.nodes}
    return result


def _per_request(result, name: str) -> float | None:
    if not result.requests or name not in result.cpu:
        return None
    return 1000.0 * result.cpu[name] / result.requests


def _node_ms(result) -> dict[str, float | None]:
    """Each node's CPU per request it answered."""
    figures = {}
    for node, share in result.share.items():
        answered = result.requests * share
        figures[node] = 1000.0 * result.cpu[node] / answered if answered else None
    return figures


def _print_line(key, setup_key, result) -> None:
    nodes = " ".join("%s %s (%.0f%%)" % (node, ms(value), 100 * result.share[node])
                     for node, value in _node_ms(result).items())
    print("  %-3s %-6s %9.1f %7d %8s %8s %7s %8s %-22s %8s %8s" % (
        key, setup_key, result.rps, result.failures + result.errors, ms(result.latency_ms_p95),
        ms(result.latency_ms_p99), ms(result.ratio_to_echo, "%.3f"), ms(result.server_cpu_ms_per_request), nodes,
        ms(_per_request(result, "haproxy")), ms(_per_request(result, "postgresql"))), flush=True)
    if result.not_up:
        print("      HAProxy counts node(s) %s as down after this run" % ", ".join(result.not_up))


def _print_table(wanted, setups, results, args) -> None:
    print()
    print("medians of %d round(s); CPU ms: the stws nodes' CPU time per request (all their threads), per node: "
          "over the requests it answered; proxy ms / pg ms: HAProxy's / PostgreSQL's CPU per request" % args.rounds)
    print("  %-3s %-28s %9s %8s %8s %7s %8s %-16s %8s %8s %8s" % (
        "", "setup", "req/s", "p95 ms", "p99 ms", "x echo", "CPU ms", "per node ms", "proxy ms", "pg ms",
        "lb2/lb1"))
    for key in wanted:
        for setup in setups:
            rounds = results.get((key, setup.target.key))
            if not rounds:
                continue
            median = lambda values: statistics.median(v for v in values if v is not None) if any(  # noqa: E731
                v is not None for v in values) else None
            node_names = list(rounds[0].share)
            per_node = " ".join("%s %s" % (n, ms(median([_node_ms(r).get(n) for r in rounds])))
                                for n in node_names)
            gain = ""
            if setup.target.key == "lb2" and (key, "lb1") in results:
                gain = "%.2f" % statistics.median(
                    two.rps / one.rps for two, one in zip(rounds, results[(key, "lb1")]))
            print("  %-3s %-28s %9.1f %8s %8s %7s %8s %-16s %8s %8s %8s" % (
                key, setup.target.title, median([r.rps for r in rounds]), ms(median([r.latency_ms_p95 for r in rounds])),
                ms(median([r.latency_ms_p99 for r in rounds])), ms(median([r.ratio_to_echo for r in rounds]), "%.3f"),
                ms(median([r.server_cpu_ms_per_request for r in rounds])), per_node,
                ms(median([_per_request(r, "haproxy") for r in rounds])),
                ms(median([_per_request(r, "postgresql") for r in rounds])), gain))
    print("  (%d CPUs for everything: load generator, HAProxy, PostgreSQL and the nodes; a second node on the same "
          "CPUs adds only what the first leaves idle. On machines of its own, a node serves about 1000 / CPU ms "
          "requests per second per core, as long as PostgreSQL keeps up: its pg ms per request is the share "
          "that does not scale out)" % (os.cpu_count() or 0))


def _stop_threads(url: str, names: list[str]) -> None:
    """StopThread as an administrator would, before any node runs."""
    from stws.db.engine import Database
    from stws.workers import registry
    from stws.workers.framework import ensure_rows, set_enabled

    db = Database(url, pool_size=1)
    try:
        ensure_rows(db, registry.definitions())
        for name in names:
            set_enabled(db, name, False)
    finally:
        db.dispose()


def _stopped(code) -> str:
    return {-15: "clean on SIGTERM", -9: "hung after SIGTERM, killed"}.get(code, "exit %s" % code)


if __name__ == "__main__":
    sys.exit(main())
