"""Closed-loop HTTP load on keep-alive connections: ``wrk`` when it is on
PATH (``apt-get install wrk``; a C client that leaves the CPU to the
server), otherwise Python processes with ``http.client``.

    result = run_load(url, body, headers, seconds=10, connections=16)
    result.rps, result.requests, result.failures

``body`` may contain ``UNIQUE`` (the bytes below) once; every request then
gets a different token there (``<run tag>t<thread>n<counter>``, letters and
digits only), e.g. for unique user names. ``body`` may also be a list of
bodies (without ``UNIQUE``): requests take them in turn, e.g. to spread
reads over many rows. A response counts as a failure when its status is
not 200 or when it contains ``fail_marker``. Latency percentiles: p50, p95
and p99 in milliseconds.

``method="GET"`` sends GETs without a body (the Python client only), and
``headers`` may then be a list of header dicts: connection i sends
``headers[i % len(headers)]`` (e.g. the session cookies of many users).

Bounds: wrk runs for ``seconds`` (its duration is a hard bound); the Python
client stops at ``seconds`` or after ``max_requests`` per connection,
whichever comes first. Only loopback URLs are accepted.
"""
from __future__ import annotations

import http.client
import multiprocessing
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

UNIQUE = b"@@UNIQUE@@"
LOOPBACK = {"127.0.0.1", "localhost", "::1"}


@dataclass
class LoadResult:
    tool: str
    requests: int
    failures: int
    errors: int
    seconds: float
    latency_ms_p50: float | None = None
    latency_ms_p99: float | None = None
    latency_ms_p95: float | None = None
    # Filled in by _measure.measure: CPU time the server used during the run.
    server_cpu_seconds: float | None = None

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def server_cpu_ms_per_request(self) -> float | None:
        if self.server_cpu_seconds is None or not self.requests:
            return None
        return 1000.0 * self.server_cpu_seconds / self.requests


def have_wrk() -> bool:
    return shutil.which("wrk") is not None


def run_load(url: str, body: bytes | list[bytes], headers: dict | list[dict], *, seconds: float,
             connections: int = 16, tool: str = "auto", fail_marker: bytes | None = None,
             max_requests: int = 1_000_000, tag: str = "r", method: str = "POST") -> LoadResult:
    host = urlsplit(url).hostname
    if host not in LOOPBACK:
        raise ValueError("load is only generated against loopback, not %r" % host)
    bodies = list(body) if isinstance(body, (list, tuple)) else [body]
    if not bodies:
        raise ValueError("no request body")
    if len(bodies) > 1 and any(UNIQUE in item for item in bodies):
        raise ValueError("UNIQUE works with a single body only")
    body = bodies[0] if len(bodies) == 1 else bodies
    if len(bodies) == 1 and body.count(UNIQUE) > 1:
        raise ValueError("UNIQUE may occur once in the body")
    if method != "POST" or isinstance(headers, list):
        if tool == "wrk":
            raise ValueError("the wrk script sends POSTs with one set of headers only")
        tool = "python"
    if tool == "auto":
        tool = "wrk" if have_wrk() else "python"
    if tool == "wrk":
        return _run_wrk(url, body, headers, seconds, connections, fail_marker, tag)
    return _run_python(url, body, headers, seconds, connections, fail_marker, max_requests, tag, method)


# ---------------------------------------------------------------- wrk

_WRK_SCRIPT = r"""
local threads = {}
wrk.method = "POST"
wrk.body = %(body)s
%(headers)s
local unique = %(unique)s
local part1, part2 = %(part1)s, %(part2)s
local fail_marker = %(fail_marker)s
local bodies = %(bodies)s

function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end

function init(args)
  responses = 0
  failures = 0
  counter = 0
  token_prefix = %(tag)s .. "t" .. tid .. "n"
end

if unique then
  function request()
    counter = counter + 1
    return wrk.format(nil, nil, nil, part1 .. token_prefix .. counter .. part2)
  end
elseif bodies then
  function request()
    counter = counter %% #bodies + 1
    return wrk.format(nil, nil, nil, bodies[counter])
  end
end

function response(status, headers, body)
  responses = responses + 1
  if status ~= 200 or (fail_marker and body and string.find(body, fail_marker, 1, true)) then
    failures = failures + 1
  end
end

function done(summary, latency, requests)
  local r, f = 0, 0
  for _, t in ipairs(threads) do
    r = r + t:get("responses")
    f = f + t:get("failures")
  end
  io.write(string.format("STWS-BENCH responses=%%d failures=%%d p50_us=%%d p99_us=%%d p95_us=%%d\n",
                         r, f, latency:percentile(50), latency:percentile(99), latency:percentile(95)))
end
"""


def _lua_string(data: bytes | str | None) -> str:
    if data is None:
        return "nil"
    if isinstance(data, str):
        data = data.encode("utf-8")
    out = []
    for byte in data:
        char = chr(byte)
        if char in '\\"' or byte < 32 or byte > 126:
            out.append("\\%03d" % byte)
        else:
            out.append(char)
    return '"%s"' % "".join(out)


def _run_wrk(url, body, headers, seconds, connections, fail_marker, tag) -> LoadResult:
    bodies = body if isinstance(body, list) else None
    body = bodies[0] if bodies else body
    part1, _, part2 = body.partition(UNIQUE)
    unique = UNIQUE in body
    script = _WRK_SCRIPT % dict(
        body=_lua_string(body),
        bodies="{%s}" % ", ".join(_lua_string(item) for item in bodies) if bodies else "nil",
        headers="\n".join("wrk.headers[%s] = %s" % (_lua_string(k), _lua_string(v)) for k, v in headers.items()),
        unique="true" if unique else "false",
        part1=_lua_string(part1), part2=_lua_string(part2),
        fail_marker=_lua_string(fail_marker), tag=_lua_string(tag),
    )
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as stream:
        stream.write(script)
        script_path = stream.name
    try:
        duration = max(1, int(round(seconds)))
        completed = subprocess.run(
            ["wrk", "-t1", "-c%d" % connections, "-d%ds" % duration, "--timeout", "30s",
             "-s", script_path, url],
            capture_output=True, text=True, timeout=duration + 60,
        )
    finally:
        os.unlink(script_path)
    output = completed.stdout
    if completed.returncode != 0:
        raise RuntimeError("wrk failed (%s): %s %s" % (completed.returncode, output, completed.stderr))
    match = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m)", output)
    if not match:
        raise RuntimeError("cannot read wrk's output:\n" + output)
    requests = int(match.group(1))
    elapsed = float(match.group(2)) * {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}[match.group(3)]
    errors = 0
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    if socket_errors:
        errors = sum(int(n) for n in socket_errors.groups())
    ours = re.search(r"STWS-BENCH responses=(\d+) failures=(\d+) p50_us=(\d+) p99_us=(\d+) p95_us=(\d+)", output)
    failures = int(ours.group(2)) if ours else 0
    p50 = int(ours.group(3)) / 1000 if ours else None
    p99 = int(ours.group(4)) / 1000 if ours else None
    p95 = int(ours.group(5)) / 1000 if ours else None
    return LoadResult("wrk", requests, failures, errors, elapsed, p50, p99, p95)


# ---------------------------------------------------------------- Python

def _connection_loop(url, body, headers, start_at, stop_at, max_requests, fail_marker, token_prefix, out,
                     offset=0, method="POST", index=0):
    parts = urlsplit(url)
    if isinstance(headers, list):
        headers = headers[index % len(headers)]
    bodies = body if isinstance(body, list) else None
    body = bodies[0] if bodies else body
    part1, _, part2 = body.partition(UNIQUE)
    unique = UNIQUE in body
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    ok = failures = errors = 0
    latencies = []
    last_done = start_at
    while time.monotonic() < start_at:
        time.sleep(0.001)
    for n in range(max_requests):
        if time.monotonic() >= stop_at:
            break
        if unique:
            payload = part1 + (token_prefix + str(n)).encode() + part2
        elif bodies:
            payload = bodies[(offset + n) % len(bodies)]
        else:
            payload = body
        began = time.monotonic()
        try:
            if method == "POST":
                connection.request("POST", parts.path, payload, headers)
            else:
                connection.request(method, parts.path + ("?" + parts.query if parts.query else ""), None, headers)
            response = connection.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException):
            errors += 1
            connection.close()
            connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
            continue
        last_done = time.monotonic()
        latencies.append(last_done - began)
        if response.status != 200 or (fail_marker and fail_marker in data):
            failures += 1
        else:
            ok += 1
    connection.close()
    out.append((ok + failures, failures, errors, last_done, latencies))


def _process_main(url, body, headers, start_at, stop_at, max_requests, fail_marker, tag, threads, queue,
                  first_offset=0, method="POST"):
    results: list = []
    workers = [
        threading.Thread(target=_connection_loop, args=(url, body, headers, start_at, stop_at, max_requests,
                                                        fail_marker, "%st%dn" % (tag, i), results,
                                                        (first_offset + i) * 7919, method, first_offset + i))
        for i in range(threads)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    queue.put(results)


def _run_python(url, body, headers, seconds, connections, fail_marker, max_requests, tag,
                method="POST") -> LoadResult:
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process_count = max(1, min(connections, 2))
    per_process = [connections // process_count + (1 if i < connections % process_count else 0)
                   for i in range(process_count)]
    start_at = time.monotonic() + 1.0  # time for the processes to start (monotonic is system-wide)
    stop_at = start_at + seconds
    processes = [
        context.Process(target=_process_main, args=(url, body, headers, start_at, stop_at, max_requests,
                                                    fail_marker, "%sp%d" % (tag, i), count, queue,
                                                    sum(per_process[:i]), method))
        for i, count in enumerate(per_process)
    ]
    for process in processes:
        process.start()
    results = []
    for _ in processes:
        results.extend(queue.get(timeout=seconds + 120))
    for process in processes:
        process.join(30)
    requests = sum(r[0] for r in results)
    failures = sum(r[1] for r in results)
    errors = sum(r[2] for r in results)
    elapsed = max(r[3] for r in results) - start_at if results else 0.0
    latencies = sorted(x for r in results for x in r[4])
    p50 = latencies[len(latencies) // 2] * 1000 if latencies else None
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000 if latencies else None
    p95 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.95))] * 1000 if latencies else None
    return LoadResult("python", requests, failures, errors, max(elapsed, 1e-9), p50, p99, p95)
