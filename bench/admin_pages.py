"""Server time per page of the management interface: the Diagnostics tabs
and the Spool with 100,000 outgoing messages, against the bare layout.

    .venv/bin/python bench/admin_pages.py [--messages 100000] [--requests 200] [--warmup 20]
                                          [--postgresql URL] [--no-sqlite]

Starts one server process (``_server.StwsServer`` with the bench extras) on
a fresh database per backend, stops the SMTP Delivery thread (through
svcDiagnostics, so the seeded messages stay as seeded), seeds the outgoing
spool straight into the database (90 % sent, 8 % failed, 2 % queued for
later; about 700 bytes of raw content each) and 2,000 incoming messages,
signs in as ``admin`` and requests each page ``--requests`` times, one
request at a time over one keep-alive connection from this process. On
loopback with one request in flight, the latency is the server's time for
the page; the server's CPU time per request is printed beside it.

  base  /admin/bench/layout: the layout rendered with nothing in it, no
        operation run, through the same dispatch (session, headers)       the baseline
  d1-3  Diagnostics: Options, Current Thread Status, Log Files             target p95 < 50 ms
  s1    Spool, Outgoing, first page (newest first)                         target p95 < 50 ms
  s2    Spool, Outgoing, a page in the middle (offset 50,000)              target p95 < 50 ms
  s3    Spool, Outgoing, sorted by subject                                 target p95 < 50 ms
  s4    Spool, Incoming                                                    target p95 < 50 ms
  s5    a message's raw content (the pop-up)                               target p95 < 50 ms

Also printed: the same layout rendered by Jinja in this process (no HTTP),
to show what the template alone costs.
"""
from __future__ import annotations

import argparse
import datetime as dt
import http.client
import os
import re
import statistics
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from sqlalchemy import create_engine, insert  # noqa: E402

from _backends import add_backend_options, each_backend  # noqa: E402
from _server import ADMIN_PASSWORD, ADMIN_USER, StwsServer  # noqa: E402
from stws.db.models import IncomingMessage, OutgoingMessage  # noqa: E402

TARGET_P95_MS = 50.0
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


class Browserless:
    """One keep-alive connection with the session cookie of a signed-in admin."""

    def __init__(self, port: int):
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.cookies: dict[str, str] = {}

    def request(self, method: str, path: str, form: dict | None = None) -> tuple[int, bytes, dict]:
        headers = {"Cookie": "; ".join("%s=%s" % item for item in self.cookies.items())}
        body = None
        if form is not None:
            body = urllib.parse.urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        self.connection.request(method, path, body=body, headers=headers)
        answer = self.connection.getresponse()
        data = answer.read()
        for value in answer.headers.get_all("Set-Cookie") or []:
            name, _, rest = value.partition("=")
            self.cookies[name] = rest.partition(";")[0]
        return answer.status, data, dict(answer.headers)

    def sign_in(self, username: str, password: str) -> None:
        _, page, _ = self.request("GET", "/admin/signin")
        token = _CSRF.search(page.decode()).group(1)
        status, _, _ = self.request("POST", "/admin/signin",
                                    {"username": username, "password": password, "csrf_token": token})
        if status != 303 or not self.cookies.get("stws_session"):
            raise SystemExit("signing in failed (%d)" % status)


def seed_spool(database_url: str, outgoing: int, incoming: int) -> None:
    engine = create_engine(database_url)
    now = dt.datetime.now(dt.timezone.utc)
    body = ("Hello,\r\n\r\n" + "This is a line of a reply to a ticket.\r\n" * 14).encode()
    rows = []
    with engine.begin() as connection:
        for number in range(outgoing):
            status = "sent" if number % 50 >= 5 else ("failed" if number % 50 >= 1 else "queued")
            subject = "Re: [#%08d] Question number %d about an invoice" % (number, number)
            raw = (b"From: Support <support@example.com>\r\nTo: customer%d@example.org\r\nSubject: %s\r\n"
                   b"Message-ID: <bench-%d@example.com>\r\n\r\n" % (number % 5000, subject.encode(), number)) + body
            created = now - dt.timedelta(seconds=outgoing - number)
            rows.append(dict(
                status=status, from_address="support@example.com", recipients="customer%d@example.org" % (number % 5000),
                subject=subject, message_id_header="<bench-%d@example.com>" % number, raw_content=raw,
                date_created_utc=created, next_attempt_utc=now + dt.timedelta(days=30), attempts=0 if status != "failed" else 10,
                last_error="550 mailbox unavailable" if status == "failed" else "",
                date_sent_utc=created if status == "sent" else None,
            ))
            if len(rows) == 5000:
                connection.execute(insert(OutgoingMessage), rows)
                rows = []
        if rows:
            connection.execute(insert(OutgoingMessage), rows)
    incoming_rows = [_incoming_row(number, now) for number in range(incoming)]
    with engine.begin() as connection:
        connection.execute(insert(IncomingMessage), incoming_rows)
    if engine.dialect.name == "postgresql":
        # What autovacuum does soon after bulk inserts (PostgreSQL 13+): the
        # statistics, and the visibility map that index-only scans need.
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql("VACUUM ANALYZE spool_outgoing")
            connection.exec_driver_sql("VACUUM ANALYZE spool_incoming")
    engine.dispose()


def _incoming_row(number: int, now: dt.datetime) -> dict:
    return dict(status="imported" if number % 10 else "failed", dedupe_key="bench-%d" % number,
                file_name="bench-%d.eml" % number, from_address="customer%d@example.org" % number,
                subject="Question %d" % number, size=2048, attempts=1, date_received_utc=now,
                date_imported_utc=now if number % 10 else None, last_error="" if number % 10 else "no sender")


def measure(client: Browserless, server: StwsServer, path: str, requests: int, warmup: int) -> dict:
    for _ in range(warmup):
        status, _, _ = client.request("GET", path)
        if status != 200:
            raise SystemExit("%s answered %d" % (path, status))
    times = []
    cpu_before = server.cpu_seconds()
    for _ in range(requests):
        started = time.perf_counter()
        status, _, _ = client.request("GET", path)
        times.append(time.perf_counter() - started)
        if status != 200:
            raise SystemExit("%s answered %d" % (path, status))
    cpu = (server.cpu_seconds() - cpu_before) / requests
    times.sort()
    return {"p50": statistics.median(times) * 1000, "p95": times[int(len(times) * 0.95) - 1] * 1000,
            "cpu": cpu * 1000}


def jinja_layout_ms(rounds: int = 2000) -> float:
    """The bare layout rendered by Jinja here: the template's own cost."""
    from stws.web import render_page

    context = dict(title="Layout", page=None, root="/admin", signed_in=None, roles=None, csrf_token="x", notice="",
                   notice_is_error=False, url=lambda path, **q: path, static=lambda name: "/admin/static/" + name)
    render_page("admin/layout.html", **context)
    started = time.perf_counter()
    for _ in range(rounds):
        render_page("admin/layout.html", **context)
    return (time.perf_counter() - started) / rounds * 1000


def bench(backend: str, database_url: str, args) -> None:
    print("\n== %s: %s outgoing messages" % (backend, "{:,}".format(args.messages)))
    with StwsServer(extras=True, database=database_url) as server:
        url = database_url
        client = Browserless(server.port)
        client.sign_in(ADMIN_USER, ADMIN_PASSWORD)
        _, page, _ = client.request("GET", "/admin/settings/diagnostics?tab=threads")
        token = _CSRF.search(page.decode()).group(1)
        client.request("POST", "/admin/settings/diagnostics/threads",
                       {"name": "SMTP Delivery", "action": "stop", "csrf_token": token})
        started = time.perf_counter()
        seed_spool(url, args.messages, args.incoming)
        print("seeded in %.1f s" % (time.perf_counter() - started))
        pages = [
            ("base", "/admin/bench/layout"),
            ("d1", "/admin/settings/diagnostics?tab=options"),
            ("d2", "/admin/settings/diagnostics?tab=threads"),
            ("d3", "/admin/settings/diagnostics?tab=logs"),
            ("s1", "/admin/settings/spool?tab=outgoing"),
            ("s2", "/admin/settings/spool?tab=outgoing&offset=%d" % (args.messages // 2)),
            ("s3", "/admin/settings/spool?tab=outgoing&sort=subject&order=desc"),
            ("s4", "/admin/settings/spool?tab=incoming"),
            ("s5", "/admin/settings/spool/raw?tab=outgoing&id=%d" % (args.messages // 3)),
        ]
        results = {}
        print("%-5s %-62s %9s %9s %10s %8s" % ("", "page", "p50 ms", "p95 ms", "CPU ms/r", "p95/base"))
        for tag, path in pages:
            results[tag] = measure(client, server, path, args.requests, args.warmup)
            figures = results[tag]
            print("%-5s %-62s %9.2f %9.2f %10.2f %8.2f" % (tag, path, figures["p50"], figures["p95"], figures["cpu"],
                                                           figures["p95"] / results["base"]["p95"]))
        print("Jinja render of the same layout in this process: %.3f ms" % jinja_layout_ms())
        worst = max((tag for tag in results if tag != "base"), key=lambda tag: results[tag]["p95"])
        verdict = "met" if results[worst]["p95"] < TARGET_P95_MS else "NOT met"
        print("target p95 < %.0f ms for every page: %s (slowest: %s, p95 %.2f ms)"
              % (TARGET_P95_MS, verdict, worst, results[worst]["p95"]))
        print("server peak RSS %.0f MiB" % (server.memory()["VmHWM"] / 1024))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--incoming", type=int, default=2_000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=20)
    add_backend_options(parser)
    args = parser.parse_args()
    each_backend(lambda backend, url: bench(backend, url, args), "admin", args)


if __name__ == "__main__":
    main()
