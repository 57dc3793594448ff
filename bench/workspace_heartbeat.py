"""The ticket workspace: its heartbeat against the SOAP echo, the CPU that
200 open browsers cost, and the list pages' latency, on a large database.

    .venv/bin/python bench/workspace_heartbeat.py [--tickets 1000000] [--agents-per-group 4]
                                                  [--seconds 10] [--warmup 3] [--rounds 3]
                                                  [--connections 16] [--requests 200]
                                                  [--seeded sqlite:////path/kept.sqlite3] [--keep-data] [--no-lists]
                                                  [--profile h,ht [--profile-out DIR]]

Seeds a new SQLite database with ``seed_tickets.seed`` (4 departments x 3
groups x ``--agents-per-group`` agents: 48 by default), marks the agents
active (so each heartbeat goes through the Auto-Inactive bookkeeping as in
production: one UPDATE per agent per Heartbeat Interval) and starts one
server process on it (``twistd -n`` with the bench extras). The
Auto-Inactive thread is stopped (nobody beats between scenarios; it would
set the agents inactive and hand their tickets off mid-run). The Event
Processing thread runs as configured, and the measurements wait until it
has filled ``ticket_counts``: the counts then come from that table, as
they do in a running help desk. Every agent signs in over HTTP.
``--seeded`` runs on a database this script seeded before (a copy: the
server upgrades it and its agents' sessions stay in it) instead of seeding.

  b   svcBenchEcho.Echo (spyne baseline), POST, 16 connections              the baseline
  h   GET /admin/heartbeat, 16 connections cycling over every agent's
      session                                                              target >= 1 x b
  hm  the same as admin (a manager: every department's totals too)       context
  hg  GET /admin/heartbeat as the agents of one group (the agents' first
      group of l1 below), 16 connections cycling over them                context for ht
  ht  the same agents with a ticket page open: GET /admin/heartbeat?ticket=
      (an open ticket of their group; the page follows it: one indexed
      lookup more per heartbeat)                                          target >= 1 x b; ht/hg: its cost

From h's server CPU time per request: the share of one core that 200
browsers polling every 10 s (20 requests/s) take (target < 10 %).

Then the list pages, one request at a time over one keep-alive connection
(the server's time per page), ``--requests`` each, as an agent of a front
line group, and as admin for a department list:

  l1  My tickets: Active (the default page)
  l2  the group's Active list, newest activity first
  l3  the group's Waiting list sorted by subject
  l4  the group's Active list, sorted by customer, page 3 (offset 50)
  l4p the group's Active list, highest priority first
  l5  the group's Active list, 100 per page
  l6  search: words (full text) + open
  l7  search: a customer's address (the one with the most tickets)
  l8  Department Support: Active, as admin (every ticket of the department) target p95 < 50 ms each
"""
from __future__ import annotations

import argparse
import http.client
import os
import shutil
import statistics
import sys
import tempfile
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _soap  # noqa: E402
from _load import run_load  # noqa: E402
from _measure import Scenario, ms, profile, settle  # noqa: E402
from _server import ADMIN_PASSWORD, ADMIN_USER, StwsServer, ensure_admin_password, sign_in  # noqa: E402

# SQLAlchemy, the models and the seeder are imported where used: the load
# generator's processes (spawned) import this module again, and under load
# those imports alone took longer than a short measurement.

ECHO = "svcBenchEcho"
HEARTBEAT_TARGET = 1.0
BROWSERS, POLL_SECONDS, CPU_SHARE_TARGET = 200, 10, 0.10
LIST_P95_TARGET_MS = 50.0
def get(connection, path: str, cookie: str) -> tuple[int, bytes]:
    connection.request("GET", path, headers={"Cookie": cookie})
    answer = connection.getresponse()
    return answer.status, answer.read()


def counts_stamp(url: str) -> str | None:
    """When ticket_counts was last computed, as stored."""
    from sqlalchemy import create_engine, select

    from stws.db.models import Setting
    from stws.domain.tickets import counts

    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return connection.execute(select(Setting.value).where(Setting.name == counts.COMPUTED_SETTING)).scalar()
    finally:
        engine.dispose()


def wait_for_counts(url: str, before: str | None, timeout: float = 600.0) -> float:
    """Seconds until the Event Processing thread has (re)computed ticket_counts since ``before``."""
    began = time.monotonic()
    while time.monotonic() - began < timeout:
        if counts_stamp(url) not in (None, before):
            return time.monotonic() - began
        time.sleep(1)
    raise SystemExit("the Event Processing thread did not compute ticket_counts within %.0f s" % timeout)


def agents_of(url: str) -> list[tuple[str, int, str]]:
    """(username, group id, group name) of every bench agent (its first group), made active."""
    from sqlalchemy import create_engine, select, update

    from stws.db.models import Group, GroupAgent, User

    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(update(User).where(User.username.like("benchagent%")).values(is_active_agent=True))
        rows = connection.execute(
            select(User.username, Group.id, Group.name).join(GroupAgent, GroupAgent.user_id == User.id)
            .join(Group, Group.id == GroupAgent.group_id).where(User.username.like("benchagent%"))
            .order_by(User.username, Group.id)).all()
    engine.dispose()
    first = {}
    for username, group_id, name in rows:
        first.setdefault(username, (username, group_id, name))
    return list(first.values())


def described(url: str):
    """What ``seed_tickets.seed`` returns, for a database it seeded before."""
    import seed_tickets
    from sqlalchemy import create_engine, func, select

    from stws.db.models import Ticket

    engine = create_engine(url)
    with engine.connect() as connection:
        tickets = connection.execute(select(func.count()).select_from(Ticket)).scalar()
        open_tickets = connection.execute(select(func.count()).select_from(Ticket)
                                          .where(Ticket.status_id.in_(seed_tickets.OPEN_STATUSES))).scalar()
        top = connection.execute(select(Ticket.customer_email, func.count()).group_by(Ticket.customer_email)
                                 .order_by(func.count().desc()).limit(1)).first()
    engine.dispose()
    return seed_tickets.Seeded(tickets=tickets, open_tickets=open_tickets, top_customers=[(top[0], top[1], 0)])


def open_ticket_of_group(url: str, group_id: int) -> str:
    """The number of an open ticket of the group (what an agent of it has open)."""
    import seed_tickets
    from sqlalchemy import create_engine, select

    from stws.db.models import Ticket

    engine = create_engine(url)
    with engine.connect() as connection:
        number = connection.execute(select(Ticket.ticket_number).where(
            Ticket.group_id == group_id, Ticket.status_id.in_(seed_tickets.OPEN_STATUSES),
            Ticket.is_deleted.is_(False)).order_by(Ticket.id.desc()).limit(1)).scalar()
    engine.dispose()
    return number


@dataclass
class Load:
    """One scenario's requests (what ``_measure.profile`` takes too)."""

    key: str
    title: str
    path: str
    headers: dict | list
    method: str = "GET"
    load_body: bytes = b""
    fail_marker: bytes | None = None

    def url(self, server) -> str:
        return server.url(self.path)


def load(server, scenario: Load, args):
    settle(server)
    url = scenario.url(server)
    common = dict(connections=args.connections, tool="python", method=scenario.method,
                  fail_marker=scenario.fail_marker)
    if args.warmup > 0:
        run_load(url, scenario.load_body, scenario.headers, seconds=args.warmup, tag="w", **common)
    cpu_before = server.cpu_seconds()
    result = run_load(url, scenario.load_body, scenario.headers, seconds=args.seconds, tag="m", **common)
    result.server_cpu_seconds = server.cpu_seconds() - cpu_before
    return result


def list_latency(server, cookie: str, path: str, requests: int, warmup: int = 10) -> dict:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    for _ in range(warmup):
        status, body = get(connection, path, cookie)
        if status != 200:
            raise SystemExit("%s answered %d: %s" % (path, status, body[:300]))
    times = []
    cpu_before = server.cpu_seconds()
    rows = body.count(b"<tr>") - 1
    for _ in range(requests):
        began = time.perf_counter()
        status, _ = get(connection, path, cookie)
        times.append(time.perf_counter() - began)
        if status != 200:
            raise SystemExit("%s answered %d" % (path, status))
    cpu = (server.cpu_seconds() - cpu_before) / requests
    connection.close()
    times.sort()
    return {"p50": statistics.median(times) * 1000, "p95": times[int(len(times) * 0.95) - 1] * 1000,
            "cpu": cpu * 1000, "rows": rows}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tickets", type=int, default=1_000_000)
    parser.add_argument("--agents-per-group", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--requests", type=int, default=200, help="requests per list page (200)")
    parser.add_argument("--keep-data", action="store_true")
    parser.add_argument("--no-lists", action="store_true", help="only the heartbeat scenarios, not the list pages")
    parser.add_argument("--seeded", default="", help="URL of a database this script seeded before")
    parser.add_argument("--profile", default="", type=lambda text: {k.strip() for k in text.split(",") if k.strip()},
                        help="scenarios to sample with py-spy after the rounds, e.g. b,h,ht (.venv/bin/pip install py-spy)")
    parser.add_argument("--profile-out", default="", help="keep the collapsed stacks (flamegraph input) in this folder")
    args = parser.parse_args(argv)
    args.client = "python"  # what _measure.profile loads with (GETs with many sessions need it)
    import seed_tickets

    data_dir = Path(tempfile.mkdtemp(prefix="stws-bench-workspace-"))
    url = args.seeded or "sqlite:///%s" % (data_dir / "workspace.sqlite3")
    print("stws ticket workspace: %d s measured (+%d s warm-up) per scenario, %d connections, %d rounds, "
          "%d CPUs, load average %.1f" % (args.seconds, args.warmup, args.connections, args.rounds,
                                          os.cpu_count() or 0, os.getloadavg()[0]), flush=True)
    try:
        if args.seeded:
            ensure_admin_password(url)
            seeded = described(url)
            print("seeded before: %s tickets (%s open)" % ("{:,}".format(seeded.tickets),
                                                          "{:,}".format(seeded.open_tickets)), flush=True)
        else:
            seeded = seed_tickets.seed(url, tickets=args.tickets, agents_per_group=args.agents_per_group,
                                       admin_password=ADMIN_PASSWORD, progress=None)
            print("seeded %s tickets (%s open), %d customers in %d groups in %.0f s"
                  % ("{:,}".format(seeded.tickets), "{:,}".format(seeded.open_tickets), seeded.customers,
                     seeded.groups, seeded.seconds), flush=True)
        agents = agents_of(url)
        print("%d agents (made active)" % len(agents), flush=True)
        stamp_before = counts_stamp(url)
        server = StwsServer(extras=True, database=url, data_dir=data_dir)
        server.start()
        try:
            auth = [("authUserName", ADMIN_USER), ("authPassword", ADMIN_PASSWORD)]
            reply = _soap.call(server.service_url("svcDiagnostics"), "svcDiagnostics", "StopThread",
                               auth + [("threadName", "Auto-Inactive")])
            assert reply.status == 200 and reply.text("Result") == "true", reply.text("Message")
            print("ticket_counts filled by Event Processing after %.0f s" % wait_for_counts(url, stamp_before), flush=True)
            cookies = [sign_in(server.port, name, seed_tickets.AGENT_PASSWORD) for name, _, _ in agents]
            admin = sign_in(server.port, ADMIN_USER, ADMIN_PASSWORD)
            _, first_group, _ = agents[0]
            group_cookies = [cookie for cookie, (_, group_id, _) in zip(cookies, agents) if group_id == first_group]
            ticket = open_ticket_of_group(url, first_group)
            echo = Scenario("b", "Echo", "Services2/%s.asmx" % ECHO, ECHO, "Echo", [("text", "hello")])
            plan = [
                Load("b", "Echo (spyne baseline)", echo.path, echo.headers, "POST", echo.load_body),
                Load("h", "heartbeat, %d agents" % len(cookies), "admin/heartbeat",
                     [{"Cookie": c} for c in cookies], fail_marker=b'"error"'),
                Load("hm", "heartbeat, admin (manager)", "admin/heartbeat", {"Cookie": admin}, fail_marker=b'"error"'),
                Load("hg", "heartbeat, %d agents of a group" % len(group_cookies), "admin/heartbeat",
                     [{"Cookie": c} for c in group_cookies], fail_marker=b'"error"'),
                # A ticket gone or not seen answers "version":null: a failure here.
                Load("ht", "heartbeat, ticket page open", "admin/heartbeat?ticket=" + ticket,
                     [{"Cookie": c} for c in group_cookies], fail_marker=b'"version":null'),
            ]
            print()
            print("  %-3s %-30s %9s %8s %7s %8s %8s %8s %10s" % (
                "", "scenario", "req/s", "requests", "failed", "p50 ms", "p95 ms", "x echo", "CPU ms/r"))
            results: dict[str, list] = {}
            for round_number in range(1, args.rounds + 1):
                print("  round %d of %d" % (round_number, args.rounds))
                this_round = {}
                for scenario in plan:
                    key, title = scenario.key, scenario.title
                    result = this_round[key] = load(server, scenario, args)
                    results.setdefault(key, []).append(result)
                    ratio = result.rps / this_round["b"].rps if key != "b" and this_round["b"].rps else None
                    result.ratio = ratio
                    print("  %-3s %-30s %9.1f %8d %7d %8s %8s %8s %10s" % (
                        key, title, result.rps, result.requests, result.failures + result.errors,
                        ms(result.latency_ms_p50), ms(result.latency_ms_p95), ms(ratio, "%.3f"),
                        ms(result.server_cpu_ms_per_request, "%.3f")), flush=True)
            for scenario in plan:
                if scenario.key in args.profile:
                    print("\n  profile of %s (%s):" % (scenario.key, scenario.title))
                    profile(server, scenario, args)

            username, group_id, group_name = agents[0]
            agent_cookie = cookies[0]
            email = seeded.top_customers[0][0]
            pages = [
                ("l1", agent_cookie, "/admin/tickets"),
                ("l2", agent_cookie, "/admin/tickets?node=group-%d-active" % group_id),
                ("l3", agent_cookie, "/admin/tickets?node=group-%d-waiting&sort=subject&order=asc" % group_id),
                ("l4", agent_cookie, "/admin/tickets?node=group-%d-active&sort=customer&order=asc&offset=50"
                 % group_id),
                ("l4p", agent_cookie, "/admin/tickets?node=group-%d-active&sort=priority&order=desc" % group_id),
                ("l5", agent_cookie, "/admin/tickets?node=group-%d-active&size=100" % group_id),
                ("l6", agent_cookie, "/admin/tickets?text=%s&state=open" % urllib.parse.quote("website down")),
                ("l7", agent_cookie, "/admin/tickets?email=%s" % urllib.parse.quote(email)),
                ("l8", admin, "/admin/tickets?node=department-1-active"),
            ] if not args.no_lists else []
            if pages:
                print()
                print("  list pages as %s (%s, group %d) and admin, %d requests each, one connection:"
                      % (username, group_name, group_id, args.requests))
                print("  %-3s %-78s %5s %8s %8s %9s" % ("", "page", "rows", "p50 ms", "p95 ms", "CPU ms/r"))
            lists = {}
            for key, cookie, path in pages:
                figures = lists[key] = list_latency(server, cookie, path, args.requests)
                print("  %-3s %-78s %5d %8.2f %8.2f %9.2f" % (key, path, figures["rows"], figures["p50"],
                                                            figures["p95"], figures["cpu"]), flush=True)
            memory = server.memory()
        finally:
            server.stop()
    finally:
        if args.keep_data:
            print("data kept in %s" % data_dir)
        else:
            shutil.rmtree(data_dir, ignore_errors=True)
    return summary(args, results, lists, memory, seeded)


def summary(args, results: dict, lists: dict, memory: dict, seeded) -> int:
    print()
    ratios = [r.ratio for r in results["h"]]
    ratio = statistics.median(ratios)
    print("h/b = %.3f (median of %d rounds: %s; target >= %.1f: %s); hm/b = %.3f" % (
        ratio, len(ratios), " ".join("%.3f" % r for r in ratios), HEARTBEAT_TARGET,
        "met" if ratio >= HEARTBEAT_TARGET else "NOT met", statistics.median(r.ratio for r in results["hm"])))
    # The server's CPU per request against the echo's, round by round: steadier than req/s on a busy machine.
    cpu_ratios = {key: ["%.2f" % (r.server_cpu_ms_per_request / b.server_cpu_ms_per_request)
                        for r, b in zip(results[key], results["b"])] for key in ("h", "hm", "ht")}
    print("CPU per request against the echo's, per round: h %s; hm %s; ht %s" % tuple(
        " ".join(cpu_ratios[key]) for key in ("h", "hm", "ht")))
    with_ticket = statistics.median(r.ratio for r in results["ht"])
    cpu_of = {key: statistics.median(r.server_cpu_seconds / r.requests for r in results[key]) for key in ("hg", "ht")}
    print("ht/b = %.3f (a ticket page open; target >= %.1f: %s); ht/hg = %.3f in req/s; CPU per heartbeat %.3f ms "
          "with the ticket, %.3f ms without (+%.3f ms)" % (
              with_ticket, HEARTBEAT_TARGET, "met" if with_ticket >= HEARTBEAT_TARGET else "NOT met",
              statistics.median(t.rps / g.rps for t, g in zip(results["ht"], results["hg"])),
              cpu_of["ht"] * 1000, cpu_of["hg"] * 1000, (cpu_of["ht"] - cpu_of["hg"]) * 1000))
    share_with_ticket = cpu_of["ht"] * BROWSERS / POLL_SECONDS
    print("%d browsers on a ticket page polling every %d s: %.1f %% of one core (target < %.0f %%: %s)" % (
        BROWSERS, POLL_SECONDS, share_with_ticket * 100, CPU_SHARE_TARGET * 100,
        "met" if share_with_ticket < CPU_SHARE_TARGET else "NOT met"))
    cpu_per_request = statistics.median(r.server_cpu_seconds / r.requests for r in results["h"])
    share = cpu_per_request * BROWSERS / POLL_SECONDS
    print("%d browsers polling every %d s: %d requests/s x %.3f ms CPU = %.1f %% of one core (target < %.0f %%: %s)"
          % (BROWSERS, POLL_SECONDS, BROWSERS // POLL_SECONDS, cpu_per_request * 1000, share * 100,
             CPU_SHARE_TARGET * 100, "met" if share < CPU_SHARE_TARGET else "NOT met"))
    if lists:
        worst = max(lists, key=lambda key: lists[key]["p95"])
        print("list pages: slowest %s p95 %.2f ms (target < %.0f ms for every page: %s)" % (
            worst, lists[worst]["p95"], LIST_P95_TARGET_MS,
            "met" if lists[worst]["p95"] < LIST_P95_TARGET_MS else "NOT met"))
    print("server peak RSS %.0f MiB; database: %s tickets" % (memory["VmHWM"] / 1024, "{:,}".format(seeded.tickets)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
