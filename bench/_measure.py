"""Scenarios of SOAP benchmarks: one operation with its request body (or
bodies), checked by hand, then warmed up and measured under load, and
optionally profiled with py-spy. Shared by soap_throughput and
tickets_throughput.

    scenario = Scenario("c", "GetAllAgents", "Services2/svcOrganization.asmx", "svcOrganization",
                        "GetAllAgents", params, fail_marker=FAILED)
    check(server, scenario)                       # one request: status 200, no fail marker
    result = measure(server, scenario, args)      # warm-up, then the measured run (a _load.LoadResult)
    profile(server, scenario, args)               # an extra run under py-spy; prints where the time goes

``params`` is [(name, value), ...] in contract order, or a list of such
lists: requests then take the bodies in turn (e.g. a different ticket id
each). ``args`` carries seconds, warmup, connections, client and
profile_out (argparse in the scripts).
"""
from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import _soap
from _load import UNIQUE, run_load

# Matches the Result element whatever its prefix (spyne writes tns:, our
# response writer a default namespace).
FAILED = b"Result>false</"


class Scenario:
    def __init__(self, key, title, path, service, operation, params, fail_marker=None, array_namespace=None):
        self.key, self.title = key, title
        self.path, self.service, self.operation = path, service, operation
        if params and isinstance(params[0], list):
            self.bodies = [_soap.envelope(service, operation, p, array_namespace) for p in params]
        else:
            self.bodies = [_soap.envelope(service, operation, params, array_namespace)]
        self.body = self.bodies[0]
        self.headers = _soap.headers(service, operation)
        self.fail_marker = fail_marker

    @property
    def load_body(self):
        """What run_load takes: the body, or the list of bodies to take in turn."""
        return self.body if len(self.bodies) == 1 else self.bodies

    def url(self, server):
        return server.url(self.path)


def check(server, scenario: Scenario) -> _soap.Reply:
    """One request by hand: right status and content, before any load."""
    body = scenario.body.replace(UNIQUE, b"check")
    reply = post(scenario.url(server), body, scenario.headers)
    if reply.status != 200 or (scenario.fail_marker and scenario.fail_marker in reply.body):
        raise SystemExit("scenario %s does not work: %s %s" % (scenario.key, reply.status, reply.body[:600]))
    return reply


def post(url, body, headers) -> _soap.Reply:
    import http.client
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        connection.request("POST", parts.path, body, headers)
        response = connection.getresponse()
        return _soap.Reply(response.status, response.read())
    finally:
        connection.close()


def settle(server, quiet: float = 0.5, idle_share: float = 0.05, timeout: float = 120.0) -> float:
    """Wait until the server has been idle (under ``idle_share`` of one CPU)
    for ``quiet`` seconds in a row; returns the seconds waited.

    Work a scenario leaves behind runs on after it: the Indexing thread
    (every 10 s) indexes the tickets CreateTicketFromCustomer made.
    Measured on top of it, the next scenario paid for it (GetTicketInfo
    1.37 -> 2.04 ms of CPU per call from one round to the next). After a
    scenario that writes, pass a ``quiet`` longer than that interval."""
    began = quiet_since = time.monotonic()
    step = 0.5
    while time.monotonic() - began < timeout:
        before = server.cpu_seconds()
        time.sleep(step)
        now = time.monotonic()
        if server.cpu_seconds() - before >= idle_share * step:
            quiet_since = now
        elif now - quiet_since >= quiet:
            break
    return time.monotonic() - began


def measure(server, scenario: Scenario, args, connections: int | None = None):
    """Wait for the server to be idle, warm up for ``args.warmup`` seconds,
    then measure for ``args.seconds`` (the result also has the server's CPU
    time during the measured run)."""
    connections = connections or args.connections
    settle(server)
    if args.warmup > 0:
        run_load(scenario.url(server), scenario.load_body, scenario.headers, seconds=args.warmup,
                 connections=connections, tool=args.client, fail_marker=scenario.fail_marker,
                 tag="w" + scenario.key)
    cpu_before = server.cpu_seconds()
    result = run_load(scenario.url(server), scenario.load_body, scenario.headers, seconds=args.seconds,
                      connections=connections, tool=args.client, fail_marker=scenario.fail_marker,
                      tag="m" + scenario.key)
    result.server_cpu_seconds = server.cpu_seconds() - cpu_before
    return result


def ms(value, form: str = "%.2f") -> str:
    return "-" if value is None else form % value


# ---------------------------------------------------------------- profiling


def py_spy() -> str | None:
    candidate = Path(sys.executable).with_name("py-spy")
    return str(candidate) if candidate.exists() else shutil.which("py-spy")


def profile(server, scenario, args, top: int = 25, connections: int | None = None) -> None:
    tool = py_spy()
    if tool is None:
        print("  (no py-spy: .venv/bin/pip install py-spy)")
        return
    seconds = max(3, int(args.seconds))
    with tempfile.TemporaryDirectory() as folder:
        raw = Path(folder) / "profile.txt"
        sampler = subprocess.Popen(
            [tool, "record", "--pid", str(server.pid), "--duration", str(seconds), "--rate", "500",
             "--gil", "--nonblocking", "--format", "raw", "--output", str(raw)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(0.5)
        result = run_load(scenario.url(server), scenario.load_body, scenario.headers, seconds=seconds,
                          connections=connections or args.connections, tool=args.client,
                          fail_marker=scenario.fail_marker, tag="p" + scenario.key,
                          method=getattr(scenario, "method", "POST"))
        _, error = sampler.communicate(timeout=seconds + 60)
        if not raw.exists():
            print("  py-spy failed: %s" % error.decode(errors="replace").strip()[-500:])
            return
        stacks = _read_collapsed(raw)
    if args.profile_out:
        target = Path(args.profile_out) / ("profile-%s.txt" % scenario.key)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text("".join("%s %d\n" % (";".join(stack), n) for stack, n in stacks.items()))
        print("  collapsed stacks: %s" % target)
    total = sum(stacks.values())
    print("  %d samples of the GIL holder at %.0f req/s (under the profiler); share of samples:" % (total, result.rps))
    inclusive, self_time = Counter(), Counter()
    for stack, count in stacks.items():
        for frame in set(stack):
            inclusive[frame] += count
        self_time[stack[-1]] += count
    print("  -- inclusive, stws code and the layers it calls")
    for frame, count in inclusive.most_common():
        if top <= 0:
            break
        if "stws/" in frame or "bench/_extras" in frame or any(k in frame for k in _LAYERS):
            print("  %5.1f%%  %s" % (100.0 * count / total, _short(frame)))
            top -= 1
    print("  -- self")
    for frame, count in self_time.most_common(15):
        print("  %5.1f%%  %s" % (100.0 * count / total, _short(frame)))


# Entry points of the layers worth seeing in the inclusive list.
_LAYERS = (
    "wsgi.py:", "application.py:", "_base.py:", "soap11.py:", "xml.py:", "orm/session.py:", "engine/base.py:",
    "threadpool.py:", "http.py:", "server.py:",
)


def _read_collapsed(path: Path) -> Counter:
    stacks = Counter()
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            stacks[tuple(stack.split(";"))] += int(count)
    return stacks


def _short(frame: str) -> str:
    for marker in ("site-packages/", str(Path(__file__).resolve().parent.parent) + "/"):
        if marker in frame:
            head, _, tail = frame.partition(marker)
            name = head.split(" (")[0]
            return "%s (%s" % (name, tail)
    return frame
