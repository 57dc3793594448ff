"""CPU per call of bench/_ticket_scenarios.py's reads in this process, without
HTTP: the endpoint (stws.soap.endpoint.AsmxEndpoint) is called as the
server's SOAP pool calls it, so what is measured is the call's own work
(request reading, authentication, the operation, the response writer), not
Twisted's HTTP nor a load generator competing for the CPUs. Steadier than
bench/tickets_1m.py's server CPU on a shared machine; compare before/after
with the same command from two worktrees.

    .venv/bin/python bench/tickets_inprocess.py sqlite:////tmp/me/1m.sqlite3 b,a,r3,r5,r7,r8 [--calls 200] [--repeats 5]
    .venv/bin/python bench/tickets_inprocess.py postgresql+psycopg://... runner

Per scenario: CPU ms per call, the least and the median of ``--repeats``
runs of ``--calls`` calls (the bodies taken in turn), and the response size;
with ``b`` (the spyne echo of bench/_extras.py, called the same way) asked
first, each median as a multiple of the echo's too. ``a`` is AuthEcho
(the shared path of every read). In process the echo costs far less than
over HTTP (no Twisted, no socket), so these ratios are larger than
tickets_1m's: they show where the time goes, not the issue's verdict.
``runner`` is GetTicketCount as admin through ``operations.runner.call``
alone (authentication, the operation's transaction; no SOAP): the shared
path's database work and little else.
The database is used in place (the admin password is set to the bench's,
and the ticket counts table is refreshed first, as a server's Event
Processing thread keeps it, so r5 and r6 read it as they do on a server).
"""
from __future__ import annotations

import argparse
import io
import os
import random
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _extras  # noqa: E402
import _soap  # noqa: E402
import _ticket_scenarios as scenarios  # noqa: E402
from _load import UNIQUE  # noqa: E402
from _measure import FAILED  # noqa: E402
from _server import ensure_admin_password  # noqa: E402
from stws.config import Config  # noqa: E402
from stws.domain.tickets import counts  # noqa: E402
from stws.runtime import start_runtime  # noqa: E402
from stws.services import SERVICES  # noqa: E402
from stws.soap.endpoint import AsmxEndpoint  # noqa: E402


def caller(endpoint, headers):
    def call(body: bytes) -> bytes:
        environ = {"REQUEST_METHOD": "POST", "CONTENT_TYPE": "text/xml; charset=utf-8",
                   "CONTENT_LENGTH": str(len(body)), "wsgi.input": io.BytesIO(body), "PATH_INFO": "/",
                   "QUERY_STRING": "", "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "1", "SERVER_PROTOCOL": "HTTP/1.1",
                   "wsgi.url_scheme": "http", "wsgi.errors": sys.stderr, "wsgi.version": (1, 0),
                   "wsgi.multithread": True, "wsgi.multiprocess": False, "wsgi.run_once": False}
        environ.update(("HTTP_" + name.upper().replace("-", "_"), value) for name, value in headers.items())
        status = []
        answer = b"".join(endpoint(environ, lambda line, _headers, _exc=None: status.append(line)))
        if not status[0].startswith("200") or FAILED in answer:
            raise RuntimeError("%s: %s" % (status[0], answer[:500]))
        return answer
    return call


def _runner(runtime, args) -> None:
    from _server import ADMIN_PASSWORD, ADMIN_USER
    from stws.operations import runner
    from stws.operations.tickets import lifecycle

    credentials = runner.PasswordCredentials(ADMIN_USER, ADMIN_PASSWORD)
    for _ in range(50):
        runner.call(runtime, lifecycle.open_ticket_count, credentials)
    runs = []
    for _ in range(args.repeats):
        began = time.process_time()
        for _ in range(args.calls):
            runner.call(runtime, lifecycle.open_ticket_count, credentials)
        runs.append((time.process_time() - began) / args.calls * 1000)
    runs.sort()
    print("  %-4s %-32s least %.3f  median %.3f" % ("", "runner.call GetTicketCount", runs[0], runs[len(runs) // 2]))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("url")
    parser.add_argument("keys", help="scenario keys, e.g. r3,r5,r7,r8")
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    ensure_admin_password(args.url)
    runtime = start_runtime(Config(listen="tcp:0:interface=127.0.0.1", data_dir=tempfile.mkdtemp(),
                                   database=args.url, threads=4))
    try:
        # The counts table as a running server keeps it (its Event Processing
        # thread, which is not started here): GetTicketCounts_* read it while fresh.
        counts.refresh(runtime.db)
        fixtures = scenarios.gather(args.url, random.Random(14))
        service = next(s for s in SERVICES if s.__service_name__ == scenarios.TICKETS)
        endpoint = AsmxEndpoint(service, runtime, "http://127.0.0.1:1/Services2/%s.asmx" % scenarios.TICKETS, 1 << 20)
        by_key = {s.key: s for s in scenarios.read_scenarios(fixtures, _soap.array_of_string_namespace(endpoint.wsdl))}
        echo_endpoint = AsmxEndpoint(_extras.EchoService, runtime,
                                     "http://127.0.0.1:1/Services2/%s.asmx" % _extras.ECHO_SERVICE, 1 << 20)
        endpoints = {"b": echo_endpoint, "a": echo_endpoint}
        by_key.update((s.key, s) for s in (scenarios.echo_scenario(), scenarios.auth_echo_scenario()))
        echo_median = None
        print("CPU ms per call in process, %d calls x %d, load average %.1f" % (
            args.calls, args.repeats, os.getloadavg()[0]))
        for key in args.keys.split(","):
            if key == "runner":
                _runner(runtime, args)
                continue
            scenario = by_key[key]
            call = caller(endpoints.get(key, endpoint), scenario.headers)
            bodies = [body.replace(UNIQUE, b"x") for body in scenario.bodies]
            for body in bodies[:50]:  # warm: prepared statements, caches, the database's pages
                call(body)
            runs = []
            for _ in range(args.repeats):
                began = time.process_time()
                for i in range(args.calls):
                    call(bodies[i % len(bodies)])
                runs.append((time.process_time() - began) / args.calls * 1000)
            runs.sort()
            median = runs[len(runs) // 2]
            if key == "b":
                echo_median = median
            ratio = "  %.2fx echo" % (median / echo_median) if echo_median else ""
            print("  %-4s %-32s least %.3f  median %.3f%s  (%d bytes)" % (
                key, scenario.title, runs[0], median, ratio, len(call(bodies[0]))), flush=True)
    finally:
        runtime.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
