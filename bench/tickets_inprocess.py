"""CPU per call of bench/_ticket_scenarios.py's reads and creation in this
process, without HTTP: the endpoint (stws.soap.endpoint.AsmxEndpoint) is
called as the server's SOAP pool calls it, so what is measured is the
call's own work (request reading, authentication, the operation, the
response writer), not Twisted's HTTP nor a load generator competing for the
CPUs. Steadier than bench/tickets_1m.py's server CPU on a shared machine;
compare before/after with the same command from two worktrees.

    .venv/bin/python bench/tickets_inprocess.py sqlite:////tmp/me/1m.sqlite3 b,a,r3,r5,r7,r8 [--calls 200] [--repeats 5]
    .venv/bin/python bench/tickets_inprocess.py postgresql+psycopg://... runner
    .venv/bin/python bench/tickets_inprocess.py sqlite:////tmp/me/1m-copy.sqlite3 c1 [--group 4] [--profile out.prof]

``c1`` (CreateTicketFromCustomer) writes: give it a copy of the seed. On
SQLite it runs as the server runs a quick write, whole on a commit-group
thread (stws.db.group_commit), ``--group`` calls handed over at once (so
they share one commit, as concurrent requests do; 1: each commits alone);
on PostgreSQL on the calling thread, each in its own transaction. The CPU
is the process's, every thread's. ``--profile FILE`` writes a cProfile of
the calls' own thread (for c1 on SQLite the commit-group thread) over the
runs, in thread CPU time; with several scenarios asked, one file each,
``FILE.<key>``.

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
import cProfile
import io
import os
import random
import shutil
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _extras  # noqa: E402
import _soap  # noqa: E402
import _ticket_scenarios as scenarios  # noqa: E402
from _load import UNIQUE  # noqa: E402
from _measure import FAILED  # noqa: E402
from _server import ensure_admin_password  # noqa: E402
from stws.config import Config  # noqa: E402
from stws.db.group_commit import GroupCommitPool, LeavesCommitGroup  # noqa: E402
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


def in_groups(runtime, call, group: int):
    """``calls(bodies)``: ``call`` of every body, on the commit-group thread
    (started here) ``group`` at a time as the server's SOAP hosting hands
    quick writes to it; a call that must leave the group (a password not in
    the credential cache yet) runs on this thread, as on the general pool."""
    pool = runtime.write_groups = GroupCommitPool(runtime.db)
    pool.start()
    done = threading.Semaphore(0)

    def calls(bodies) -> None:
        for start in range(0, len(bodies), group):
            outcomes = []

            def on_result(success, result):
                outcomes.append((success, result))
                done.release()

            batch = bodies[start:start + group]
            for body in batch:
                pool.callInThreadWithCallback(on_result, call, body)
            for _ in batch:
                done.acquire()
            for (success, result), body in zip(outcomes, batch):
                if not success:
                    if not isinstance(result.value, LeavesCommitGroup):
                        result.raiseException()
                    call(body)

    return pool, calls


def _creation(runtime, endpoint, scenario, args) -> None:
    call = caller(endpoint, scenario.headers)
    bodies = [body.replace(UNIQUE, b"x") for body in scenario.bodies]
    pool = None
    if runtime.db.is_sqlite:
        pool, run = in_groups(runtime, call, args.group)
    else:
        def run(batch):
            for body in batch:
                call(body)
    profiler = None
    try:
        run(bodies[:50])  # warm, and the admin's password into the credential cache
        if args.profile:
            profiler = cProfile.Profile(time.thread_time)  # CPU, not waits (fsync)
            if pool is not None:
                pool.callInThreadWithCallback(lambda *_: None, profiler.enable)
            else:
                profiler.enable()
        runs = []
        for n in range(args.repeats):
            batch = [bodies[(50 + n * args.calls + i) % len(bodies)] for i in range(args.calls)]
            began = time.process_time()
            run(batch)
            runs.append((time.process_time() - began) / args.calls * 1000)
        if profiler is not None:
            if pool is not None:
                finished = threading.Event()
                pool.callInThreadWithCallback(lambda *_: finished.set(), profiler.disable)
                finished.wait()
            else:
                profiler.disable()
            profiler.dump_stats(_profile_path(args, "c1"))
    finally:
        if pool is not None:
            pool.stop()
            runtime.write_groups = None
    runs.sort()
    print("  %-4s %-32s least %.3f  median %.3f  (groups of %d)" % (
        scenario.key, scenario.title, runs[0], runs[len(runs) // 2],
        args.group if pool is not None else 1), flush=True)


def _profile_path(args, key: str) -> str:
    """``--profile``'s file; with several scenarios asked, one file each (``<file>.<key>``)."""
    return args.profile if "," not in args.keys else "%s.%s" % (args.profile, key)


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
    parser.add_argument("--group", type=int, default=4, help="c1 on SQLite: calls handed to the commit group at once")
    parser.add_argument("--profile", help="write a cProfile of the calls' thread here "
                        "(several scenarios: one file each, named <file>.<key>)")
    args = parser.parse_args(argv)
    ensure_admin_password(args.url)
    data_dir = tempfile.mkdtemp()
    runtime = start_runtime(Config(listen="tcp:0:interface=127.0.0.1", data_dir=data_dir,
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
            if key == "c1":
                _creation(runtime, endpoint, scenarios.creation_scenario(fixtures), args)
                continue
            scenario = by_key[key]
            call = caller(endpoints.get(key, endpoint), scenario.headers)
            bodies = [body.replace(UNIQUE, b"x") for body in scenario.bodies]
            for body in bodies[:50]:  # warm: prepared statements, caches, the database's pages
                call(body)
            profiler = cProfile.Profile(time.thread_time) if args.profile else None
            runs = []
            for _ in range(args.repeats):
                if profiler is not None:
                    profiler.enable()
                began = time.process_time()
                for i in range(args.calls):
                    call(bodies[i % len(bodies)])
                runs.append((time.process_time() - began) / args.calls * 1000)
                if profiler is not None:
                    profiler.disable()
            if profiler is not None:
                profiler.dump_stats(_profile_path(args, key))
            runs.sort()
            median = runs[len(runs) // 2]
            if key == "b":
                echo_median = median
            ratio = "  %.2fx echo" % (median / echo_median) if echo_median else ""
            print("  %-4s %-32s least %.3f  median %.3f%s  (%d bytes)" % (
                key, scenario.title, runs[0], median, ratio, len(call(bodies[0]))), flush=True)
    finally:
        runtime.close()
        shutil.rmtree(data_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
