"""A long mixed soak (issue 14): one server on a database of 1,000,000
tickets with every background thread running, a mixed load at 16
connections for ``--minutes``, and per minute what it served and what it
holds.

    .venv/bin/python bench/soak.py [--minutes 30] [--connections 16] [--tickets 1000000]
                                   [--copy-of /tmp/me/1m.sqlite3 | --seeded sqlite:////tmp/me/kept.sqlite3]
                                   [--interval 60] [--tracemalloc 12] [--stws-from /work/main] [--keep-data]

The database: seeded here with ``seed_tickets.seed`` (``--tickets``, 20 body
words, notes on 10 % of the tickets: as the shared 1M seed), or a copy of a
seeded SQLite file (``--copy-of``: copied into the temp data directory, with
its -wal, so every run starts from the same state), or one used in place
(``--seeded URL``). Then, before the server starts: the admin's password
set to the bench's, and 1,000 customers (``benchcust00000``..) given a
password, so that SOAP authentication is spread over many users.

The server: ``twistd -n`` with the bench extras (bench/_server.py), all
background threads as configured in production (Indexing, Event
Processing, Ticket Watcher, Auto-Inactive, SMTP Delivery, ...), SMTP
Delivery sending to a loopback sink (tests/mail/smtp_server.py in its own
process) through a default SMTP account made with svcSpool.

The load: ``--connections`` keep-alive connections (two client processes),
each a closed loop choosing a kind of request by weight (``KINDS``):

  info      GetTicketInfo of a random live ticket (admin)
  conv      GetTicketConversationPartList of a random live ticket (admin)
  search    GetTicketsBySearch IsOpen + EmailAddress of a busy customer (admin, or an agent: visibility)
  create    CreateTicketFromCustomer, a random customer and department (admin)
  reply     AddMessageToTicket to the customer with sendEmail (queues a mail) on a ticket this loop created
  note      AddTicketNote on such a ticket
  status    SetTicketProperties Status=Waiting / Active on such a ticket
  close     CloseTicket of the oldest such ticket, with a resolution
  heartbeat GET /admin/heartbeat, the session of one of the agents (all signed in at the start)
  list      GET /admin/tickets, an agent's group list (Active; Waiting sorted by subject)
  auth      svcBenchEcho.AuthEcho as one of 1,000 customers (credential cache; scrypt when it misses)

An error is an HTTP status other than 200, ``Result>false``, a heartbeat
answering ``"error"``, or a socket error; the first few of each kind are
printed. Every ``--interval`` seconds one line: requests/s per kind, errors,
p99 of the minute, the server's CPU share, VmRSS, the database and WAL file
sizes and the mails the sink received. At the end: RSS growth from the end of
minute 5 (``--settle``) to the end (target < 10 %), the error count (target
0), and what grew: objects by type from ``/bench-memory`` (bench/_extras.py)
at the end of minute 5 and at the end (and, with ``--tracemalloc N``, the
allocation sites that grew; that slows the server and adds to its memory,
so use it while hunting, not for the figure).
"""
from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import multiprocessing
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _smtp_sink  # noqa: E402
import _soap  # noqa: E402
from _server import ADMIN_PASSWORD, ADMIN_USER, StwsServer, sign_in  # noqa: E402

TICKETS, ECHO = "svcTickets", "svcBenchEcho"
FAILED = b"Result>false</"
CUSTOMER_PASSWORD = "bench-Customer-Passw0rd"
AUTH_USERS = 1000
RSS_GROWTH_TARGET = 0.10
# (kind, weight): what share of the requests each kind is.
KINDS = [("info", 20), ("conv", 8), ("search", 8), ("create", 6), ("reply", 5), ("note", 5), ("status", 4),
         ("close", 3), ("heartbeat", 20), ("list", 3), ("auth", 12)]
# A loop closes its oldest ticket instead of creating one above this many open.
OPEN_PER_LOOP = 40
ERROR_SAMPLES = 3


# ------------------------------------------------------------------ setup


def prepare_database(url: str) -> dict:
    """Give the admin the bench's password and AUTH_USERS customers one, and
    read what the load picks from: live ticket ids, busy customers,
    departments, customers to create tickets for, agents and their groups."""
    from sqlalchemy import create_engine, func, select, update

    from stws.db.models import Department, GroupAgent, Ticket, User
    from stws.security.auth import new_security_stamp
    from stws.security.passwords import hash_password

    engine = create_engine(url)
    rng = random.Random(14)
    try:
        with engine.begin() as connection:
            connection.execute(update(User).where(User.username == ADMIN_USER).values(
                password_hash=hash_password(ADMIN_PASSWORD), security_stamp=new_security_stamp(),
                lockout_until_utc=None, failed_login_count=0))
            names = ["benchcust%05d" % n for n in range(AUTH_USERS)]
            connection.execute(update(User).where(User.username.in_(names)).values(
                password_hash=hash_password(CUSTOMER_PASSWORD)))
            last_id = connection.scalar(select(func.max(Ticket.id)))
            ticket_ids = [row for row in connection.scalars(
                select(Ticket.id).where(Ticket.id.in_(rng.sample(range(1, last_id + 1), 6000)),
                                        Ticket.is_deleted.is_(False)))][:5000]
            busy = connection.execute(select(Ticket.customer_email).group_by(Ticket.customer_email)
                                      .order_by(func.count().desc()).limit(100)).scalars().all()
            departments = connection.scalars(select(Department.id).order_by(Department.id)).all()
            customers = connection.scalars(select(User.email).where(User.username.like("benchcust%"))
                                           .order_by(User.id).offset(AUTH_USERS).limit(2000)).all()
            agents = connection.execute(
                select(User.username, func.min(GroupAgent.group_id))
                .join(GroupAgent, GroupAgent.user_id == User.id).where(User.username.like("benchagent%"))
                .group_by(User.username).order_by(User.username)).all()
            auth_users = connection.scalars(select(User.username).where(User.username.in_(names))).all()
            tickets = connection.scalar(select(func.count()).select_from(Ticket))
    finally:
        engine.dispose()
    busy_set = {email.lower() for email in busy}
    return {"ticket_ids": ticket_ids, "busy": busy, "departments": departments, "tickets": tickets,
            "customers": [c for c in customers if c.lower() not in busy_set][:1000],
            "agents": [(name, group_id) for name, group_id in agents], "auth_users": auth_users}


def received_mails(record: Path) -> int:
    if not record.exists():
        return 0
    with open(record, "rb") as stream:
        return sum(1 for _ in stream)


def soap_ok(reply: _soap.Reply, what: str) -> _soap.Reply:
    if reply.status != 200 or reply.text("Result") != "true":
        raise SystemExit("%s failed: %s %s" % (what, reply.status, reply.body[:500]))
    return reply


# ------------------------------------------------------------------ load


class Loop:
    """One keep-alive connection making requests of every kind in turn (by
    weight), with the tickets it created and has not closed yet."""

    def __init__(self, index: int, port: int, plan: dict, array_namespace: str | None):
        self.rng = random.Random(1000 + index)
        self.port, self.plan, self.array_namespace = port, plan, array_namespace
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.open_tickets: list[str] = []
        self.waiting: set[str] = set()
        self.kinds = [kind for kind, _ in KINDS]
        self.weights = [weight for _, weight in KINDS]
        self.counter = 0

    # requests: (method, path, body, headers, fail marker)
    def soap(self, operation, params, service=TICKETS, user=(ADMIN_USER, ADMIN_PASSWORD)):
        auth = [("authUserName", user[0]), ("authPassword", user[1])]
        body = _soap.envelope(service, operation, auth + params, self.array_namespace)
        return "POST", "/Services2/%s.asmx" % service, body, _soap.headers(service, operation), FAILED

    def page(self, path, cookie, marker=None):
        return "GET", path, None, {"Cookie": cookie}, marker

    def request_for(self, kind: str):
        plan, rng = self.plan, self.rng
        if kind in ("reply", "note", "status", "close") and not self.open_tickets:
            kind = "create"
        if kind == "create" and len(self.open_tickets) >= OPEN_PER_LOOP:
            kind = "close"
        self.counter += 1
        if kind == "info":
            return kind, self.soap("GetTicketInfo", [("ticketId", rng.choice(plan["ticket_ids"]))])
        if kind == "conv":
            return kind, self.soap("GetTicketConversationPartList", [("ticketId", rng.choice(plan["ticket_ids"]))])
        if kind == "search":
            criteria = ["IsOpen=true", "EmailAddress=%s" % rng.choice(plan["busy"])]
            if rng.random() < 0.5:
                return kind, self.soap("GetTicketsBySearch", [("searchCriteria", criteria)])
            agent = rng.choice(plan["agents"])[0]
            return kind, self.soap("GetTicketsBySearch", [("searchCriteria", criteria)],
                                   user=(agent, plan["agent_password"]))
        if kind == "create":
            email = rng.choice(plan["customers"])
            return kind, self.soap("CreateTicketFromCustomer", [
                ("departmentId", rng.choice(plan["departments"])), ("fromAddress", email),
                ("subject", "Soak ticket %d from %s" % (self.counter, email)),
                ("body", "The website is down again since this morning (%d)." % self.counter),
                ("isHtml", False), ("sendAutoResponder", False)])
        if kind == "reply":
            number = rng.choice(self.open_tickets)
            return kind, self.soap("AddMessageToTicket", [
                ("ticketNumber", number), ("fromAddress", ""), ("toAddress", ""), ("ccAddress", ""),
                ("subject", ""), ("body", "We are looking into it (%d)." % self.counter), ("isHtml", False),
                ("toCustomer", True), ("sendEmail", True)])
        if kind == "note":
            return kind, self.soap("AddTicketNote", [("ticketNumber", rng.choice(self.open_tickets)),
                                                     ("messageType", "General"),
                                                     ("notetext", "Checked the logs (%d)." % self.counter)])
        if kind == "status":
            number = rng.choice(self.open_tickets)
            status = "Active" if number in self.waiting else "Waiting"
            self.waiting.symmetric_difference_update({number})
            return kind, self.soap("SetTicketProperties", [("ticketNumber", number),
                                                           ("ticketPropertyValues", ["Status=%s" % status])])
        if kind == "close":
            number = self.open_tickets.pop(0)
            self.waiting.discard(number)
            return kind, self.soap("CloseTicket", [("ticketNumber", number),
                                                   ("closingComment", "Fixed (%d)." % self.counter)])
        if kind == "heartbeat":
            return kind, self.page("/admin/heartbeat", rng.choice(plan["cookies"])[1], b'"error"')
        if kind == "list":
            (_, group_id), cookie = rng.choice(plan["cookies"])
            if rng.random() < 0.5:
                return kind, self.page("/admin/tickets?node=group-%d-active" % group_id, cookie)
            return kind, self.page("/admin/tickets?node=group-%d-waiting&sort=subject&order=asc" % group_id, cookie)
        if kind == "auth":
            user = rng.choice(plan["auth_users"])
            return kind, self.soap("AuthEcho", [("text", "soak")], service=ECHO, user=(user, CUSTOMER_PASSWORD))
        raise ValueError(kind)

    def one(self, stats, errors) -> None:
        kind, (method, path, body, headers, marker) = self.request_for(
            self.rng.choices(self.kinds, self.weights)[0])
        began = time.monotonic()
        try:
            self.connection.request(method, path, body, headers)
            response = self.connection.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException) as error:
            self.connection.close()
            self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            stats.record(kind, time.monotonic() - began, False)
            errors.append((kind, "%s: %s" % (type(error).__name__, error)))
            return
        ok = response.status == 200 and not (marker and marker in data)
        stats.record(kind, time.monotonic() - began, ok)
        if not ok:
            errors.append((kind, "%d %s" % (response.status, data[:400])))
        elif kind == "create":
            self.open_tickets.append(_soap.Reply(200, data).text("RequestResult"))


class Stats:
    """Counts and latencies per kind since the last report, for one client process."""

    def __init__(self):
        self.lock = threading.Lock()
        self.reset()

    def reset(self):
        self.counts, self.failed, self.latencies = defaultdict(int), defaultdict(int), []

    def record(self, kind, seconds, ok):
        with self.lock:
            self.counts[kind] += 1
            if not ok:
                self.failed[kind] += 1
            self.latencies.append(seconds)

    def take(self):
        with self.lock:
            taken = (dict(self.counts), dict(self.failed), self.latencies)
            self.reset()
            return taken


def client_process(first_loop: int, loops: int, port: int, plan: dict, array_namespace, start_at: float,
                   interval: float, stop_at: float, queue) -> None:
    """``loops`` connections until ``stop_at``; every ``interval`` seconds
    (from ``start_at``) puts (period, counts, failures, latencies, error samples) on ``queue``."""
    stats, errors = Stats(), []
    stop = threading.Event()

    def run(index):
        loop = Loop(index, port, plan, array_namespace)
        while not stop.is_set() and time.monotonic() < stop_at:
            loop.one(stats, errors)

    while time.monotonic() < start_at:
        time.sleep(0.01)
    workers = [threading.Thread(target=run, args=(first_loop + i,), daemon=True) for i in range(loops)]
    for worker in workers:
        worker.start()
    period = 0
    while True:
        period += 1
        boundary = min(start_at + period * interval, stop_at)
        time.sleep(max(0.0, boundary - time.monotonic()))
        if boundary >= stop_at:
            stop.set()
            for worker in workers:
                worker.join(90)
        counts, failed, latencies = stats.take()
        samples, errors[:] = list(errors), []
        queue.put((period, counts, failed, latencies, samples))
        if boundary >= stop_at:
            return


# ------------------------------------------------------------------ report


def file_mib(path: Path) -> float:
    try:
        return os.stat(path).st_blocks * 512 / 2**20
    except FileNotFoundError:
        return 0.0


def memory_report(server, baseline=False, trim=False, tracemalloc_frames=0) -> dict:
    """What /bench-memory (bench/_extras.py) says."""
    query = "&".join("%s=%d" % (name, value) for name, value in (
        ("baseline", baseline), ("trim", trim), ("tracemalloc", tracemalloc_frames)) if value)
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=300)
    connection.request("GET", "/bench-memory" + ("?" + query if query else ""))
    answer = json.loads(connection.getresponse().read())
    connection.close()
    return answer


def print_growth(report: dict) -> None:
    print("  objects: %s in all (%+d KiB RSS since minute %s)" % (
        "{:,}".format(report["objects"]), report.get("rss_growth_kib", 0), report.get("since", "?")))
    grown = report.get("grown_types") or []
    print("  object types that grew the most: " + (", ".join("%s +%s" % (name, "{:,}".format(n))
                                                            for name, n in grown[:15]) or "none"))
    for site in (report.get("grown_sites") or [])[:12]:
        print("  +%d KiB in %+d blocks at:" % (site["kib"], site["count"]))
        for line in site["where"][-8:]:
            print("      " + line)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--interval", type=float, default=60.0, help="seconds per report line (60)")
    parser.add_argument("--settle", type=float, default=5.0,
                        help="minutes after which RSS growth is measured (5)")
    parser.add_argument("--tickets", type=int, default=1_000_000, help="tickets to seed (1000000)")
    parser.add_argument("--copy-of", default="", help="a seeded SQLite file to copy (with its -wal and its -fulltext index file) and use")
    parser.add_argument("--seeded", default="", help="URL of a seeded database to use in place")
    parser.add_argument("--tracemalloc", type=int, default=0,
                        help="frames per traceback to trace in the server (0: off; slows it)")
    parser.add_argument("--stws-from", default="",
                        help="run the server on the stws package of another checkout (e.g. /work/main: a before)")
    parser.add_argument("--keep-data", action="store_true")
    args = parser.parse_args(argv)
    import seed_tickets

    data_dir = Path(tempfile.mkdtemp(prefix="stws-bench-soak-"))
    database_file = data_dir / "soak.sqlite3"
    url = args.seeded or "sqlite:///%s" % database_file
    print("stws soak: %.0f minutes, %d connections, %d CPUs, load average %.1f, %s UTC" % (
        args.minutes, args.connections, os.cpu_count() or 0, os.getloadavg()[0],
        dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M")), flush=True)
    sink = server = None
    try:
        if args.copy_of:
            began = time.monotonic()
            for suffix in ("", "-wal", "-fulltext", "-fulltext-wal"):  # the full-text index file too
                if os.path.exists(args.copy_of + suffix):
                    subprocess.run(["cp", "--sparse=always", args.copy_of + suffix, str(database_file) + suffix],
                                   check=True)
            print("copied %s in %.0f s" % (args.copy_of, time.monotonic() - began), flush=True)
        elif not args.seeded:
            seeded = seed_tickets.seed(url, tickets=args.tickets, admin_password=ADMIN_PASSWORD, progress=None,
                                       body_words=20, notes=0.1)
            print("seeded %s tickets in %.0f s" % ("{:,}".format(seeded.tickets), seeded.seconds), flush=True)
        if url.startswith("sqlite:///"):
            database_file = Path(url[len("sqlite:///"):])
        plan = prepare_database(url)
        plan["agent_password"] = seed_tickets.AGENT_PASSWORD
        print("database: %s tickets, %d agents, %d customers with a password" % (
            "{:,}".format(plan["tickets"]), len(plan["agents"]), len(plan["auth_users"])), flush=True)
        sink, smtp_port, sink_record = _smtp_sink.start(data_dir)
        env = {"PYTHONPATH": os.path.abspath(args.stws_from)} if args.stws_from else {}
        server = StwsServer(extras=True, database=url, data_dir=data_dir, env=env).start(timeout=300)
        auth = [("authUserName", ADMIN_USER), ("authPassword", ADMIN_PASSWORD)]
        soap_ok(_soap.call(server.service_url("svcSpool"), "svcSpool", "CreateSmtpAccount", auth + [
            ("name", "soak sink"), ("server", "127.0.0.1"), ("port", smtp_port), ("security", "none"),
            ("useAuthentication", False), ("username", ""), ("password", ""),
            ("fromAddress", "support@helpdesk.example"), ("fromName", "Soak"), ("isDefault", True)]),
            "CreateSmtpAccount")
        wsdl = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
        wsdl.request("GET", "/Services2/%s.asmx?WSDL" % TICKETS)
        array_namespace = _soap.array_of_string_namespace(wsdl.getresponse().read())
        wsdl.close()
        plan["cookies"] = [((name, group_id), sign_in(server.port, name, plan["agent_password"]))
                           for name, group_id in plan["agents"]]
        print("server pid %d%s; %d agents signed in; SMTP sink on 127.0.0.1:%d" % (
            server.pid, " (stws from %s)" % args.stws_from if args.stws_from else "", len(plan["cookies"]),
            smtp_port), flush=True)
        if args.tracemalloc:
            memory_report(server, tracemalloc_frames=args.tracemalloc)
        return soak(args, server, plan, array_namespace, sink_record, database_file)
    finally:
        code = server.stop(timeout=60) if server is not None else None
        if code is not None:
            print("server stopped: exit code %s (-15 is a clean stop)" % code)
        if sink is not None:
            sink.kill()
            sink.wait()
        if args.keep_data:
            print("data kept in %s" % data_dir)
        else:
            shutil.rmtree(data_dir, ignore_errors=True)


def soak(args, server, plan, array_namespace, sink_record: Path, database_file: Path) -> int:
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    processes_count = 2 if args.connections > 1 else 1
    per_process = [args.connections // processes_count + (1 if i < args.connections % processes_count else 0)
                   for i in range(processes_count)]
    start_at = time.monotonic() + 3.0
    stop_at = start_at + args.minutes * 60
    periods = int((stop_at - start_at + args.interval - 1e-6) // args.interval)
    settle_period = max(1, int(round(args.settle * 60 / args.interval)))
    processes = [context.Process(target=client_process, args=(sum(per_process[:i]), count, server.port, plan,
                                                              array_namespace, start_at, args.interval, stop_at,
                                                              queue))
                 for i, count in enumerate(per_process)]
    for process in processes:
        process.start()
    kinds = [kind for kind, _ in KINDS]
    print()
    print("  %5s %7s %6s %7s %6s %6s %7s %7s %7s %7s  %s" % (
        "min", "req/s", "errors", "p99 ms", "CPU %", "CPU ms", "RSS MiB", "DB MiB", "WAL MiB", "mails",
        " ".join("%6s" % kind[:6] for kind in kinds)))
    totals, failures, samples = defaultdict(int), defaultdict(int), defaultdict(list)
    rss_at, lines, arrived = {}, [], defaultdict(list)
    settled_report = None
    cpu_before, wall_before = server.cpu_seconds(), time.monotonic()
    try:
        for period in range(1, periods + 1):
            while len(arrived[period]) < len(processes):
                piece = queue.get(timeout=args.interval + 300)
                arrived[piece[0]].append(piece)
            pieces = arrived.pop(period)
            now = time.monotonic()
            cpu = server.cpu_seconds()
            cpu_share = (cpu - cpu_before) / (now - wall_before)
            cpu_before, wall_before = cpu, now
            rss = server.memory()["VmRSS"] / 1024
            rss_at[period] = rss
            counts, failed, latencies = defaultdict(int), defaultdict(int), []
            for _, piece_counts, piece_failed, piece_latencies, piece_samples in pieces:
                for kind, n in piece_counts.items():
                    counts[kind] += n
                    totals[kind] += n
                for kind, n in piece_failed.items():
                    failed[kind] += n
                    failures[kind] += n
                latencies.extend(piece_latencies)
                for kind, text in piece_samples:
                    if len(samples[kind]) < ERROR_SAMPLES:
                        samples[kind].append((period, text))
            seconds = min(args.interval, args.minutes * 60 - (period - 1) * args.interval)
            latencies.sort()
            p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000 if latencies else 0
            requests = sum(counts.values())
            line = "  %5.1f %7.1f %6d %7.0f %6.0f %6.2f %7.1f %7.0f %7.1f %7d  %s" % (
                ((period - 1) * args.interval + seconds) / 60, requests / seconds, sum(failed.values()), p99,
                cpu_share * 100, cpu_share * seconds * 1000 / requests if requests else 0, rss,
                file_mib(database_file), file_mib(Path(str(database_file) + "-wal")), received_mails(sink_record),
                " ".join("%6.1f" % (counts.get(kind, 0) / seconds) for kind in kinds))
            print(line, flush=True)
            lines.append(line)
            if period == settle_period and period < periods:
                settled_report = memory_report(server, baseline=True)
    finally:
        for process in processes:
            process.join(120)
            if process.is_alive():
                process.kill()
    print()
    errors = sum(failures.values())
    print("requests: %s in %.0f minutes (%s); errors: %d (target 0)" % (
        "{:,}".format(sum(totals.values())), args.minutes,
        ", ".join("%s %s" % (kind, "{:,}".format(totals[kind])) for kind in kinds), errors))
    for kind, texts in samples.items():
        print("  %s failed %d times; first: %s" % (kind, failures[kind], " | ".join(
            "minute %d: %s" % (period, text) for period, text in texts)))
    verdict = 0 if errors == 0 else 1
    if settled_report is not None:
        final = memory_report(server)
        final["since"] = "%.0f" % (settle_period * args.interval / 60)
        start_rss, end_rss = rss_at[settle_period], rss_at[max(rss_at)]
        growth = (end_rss - start_rss) / start_rss
        print("RSS: %.1f MiB at minute %.0f, %.1f MiB at the end: %+.1f %% (target < %.0f %%: %s); peak %.1f MiB" % (
            start_rss, settle_period * args.interval / 60, end_rss, growth * 100, RSS_GROWTH_TARGET * 100,
            "met" if growth < RSS_GROWTH_TARGET else "NOT met", server.memory()["VmHWM"] / 1024))
        print_growth(final)
        trimmed = memory_report(server, trim=True)
        print("  after malloc_trim: RSS %.1f MiB (what the heap held free but not returned)" % (
            trimmed["rss_kib"] / 1024))
        if growth >= RSS_GROWTH_TARGET:
            verdict = 1
    else:
        print("RSS: too short a soak for the growth after minute %.0f" % args.settle)
    print("database %.0f MiB, WAL %.1f MiB; mails received by the sink: %d" % (
        file_mib(database_file), file_mib(Path(str(database_file) + "-wal")), received_mails(sink_record)))
    return verdict


if __name__ == "__main__":
    sys.exit(main())
