"""What the bench adds to a server process (loaded by ``_stws_bench.tac``).

- ``/bench-bare``: a plain twisted.web resource answering any request with a
  fixed body, on the reactor thread: the cost of Twisted's HTTP alone.
- ``/Services2/svcBenchEcho.asmx``: a tiny service hosted exactly like the
  real ones (``AsmxEndpoint`` + ``AsmxResource`` on the server's own SOAP
  thread pool, same protocol classes and validator):
  ``Echo(text)`` is a plain spyne ``@rpc`` (no auth, no database), and
  ``AuthEcho(authUserName, authPassword, text)`` binds an operation
  (``stws.soap.operation``: authentication, role check, one read transaction)
  but touches no data of its own.
- ``/Services2/svcBenchEchoStock.asmx``: the same echo application under
  Twisted's stock ``WSGIResource`` on the general SOAP pool, which is how
  spyne is usually hosted on Twisted (and how stws hosted it before
  ``stws.soap.hosting.run_buffered``): what our hosting saves, and a
  baseline that does not move when it gets faster.

- ``/bench-memory`` (GET): what the server process holds, as JSON, for
  hunting memory growth (bench/soak.py): ``VmRSS``, live objects counted by
  type (``gc.get_objects``), and, once ``?tracemalloc=<frames>`` started
  tracing (it slows the server and adds to its memory), tracemalloc's top
  allocation sites. ``?baseline=1`` remembers this state; later calls add the difference to
  it. ``?trim=1`` first returns freed heap to the system (glibc
  ``malloc_trim``), which tells fragmentation from live growth. It runs on
  the reactor thread and stops it for a moment (about a second at 1M
  objects): a diagnostic, not something to poll under measurement.

- ``/admin/bench/layout``: a page of the management interface that renders
  its layout with nothing in it and runs no operation, through the same
  dispatch as every page (session check, CSRF rules, headers): the baseline
  of bench/admin_pages.py.

``install_start_hook`` also writes the listening port to a file once the
server listens, which is how ``_server.StwsServer`` learns it.
"""
from __future__ import annotations

import ctypes
import gc
import json
import os
import sys
import tracemalloc
from collections import Counter

from spyne import ServiceBase, rpc
from twisted.web.resource import Resource
from twisted.web.wsgi import WSGIResource

from stws.operations.runner import operation
from stws.security import roles
from stws.soap.endpoint import AsmxEndpoint
from stws.soap.hosting import AsmxResource
from stws.soap.operation import binds
from stws.soap.types import String, TypeFactory, service_namespace
from stws.web.admin import route

ECHO_SERVICE = "svcBenchEcho"
STOCK_ECHO_PATH = "svcBenchEchoStock.asmx"
BARE_PATH = "bench-bare"
MEMORY_PATH = "bench-memory"
T = TypeFactory(service_namespace(ECHO_SERVICE))

# About the size of Echo's response, so (a) and (b) move similar bytes.
BARE_BODY = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n'
    b'<soap11env:Envelope xmlns:soap11env="http://schemas.xmlsoap.org/soap/envelope/" '
    b'xmlns:tns="http://www.smartertools.com/SmarterTrack/Services2/svcBenchEcho.asmx">'
    b"<soap11env:Body><tns:EchoResponse><tns:EchoResult>hello</tns:EchoResult></tns:EchoResponse>"
    b"</soap11env:Body></soap11env:Envelope>"
)


@operation(role=roles.EVERYONE, writes=False)
def echo(context, text):
    return text


class EchoService(ServiceBase):
    __service_name__ = ECHO_SERVICE

    @rpc(String, _returns=String)
    def Echo(ctx, text):
        return text

    @binds(echo, ("text", String), returns=T.StringRequestResult)
    def AuthEcho(text):
        return {"RequestResult": text}


@route("GET", "/bench/layout")
def bare_layout(page):
    return page.render("admin/layout.html", title="Layout")


class BareResource(Resource):
    isLeaf = True

    def render(self, request):
        request.setHeader(b"content-type", b"text/xml; charset=utf-8")
        return BARE_BODY


def _type_counts() -> Counter:
    """Live objects tracked by the garbage collector, by type name."""
    counts = Counter()
    for thing in gc.get_objects():
        kind = type(thing)
        counts["%s.%s" % (kind.__module__, kind.__qualname__)] += 1
    return counts


def _rss_kib() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class MemoryResource(Resource):
    """``/bench-memory``: see the module docstring."""

    isLeaf = True
    TOP = 30

    def __init__(self):
        super().__init__()
        self.baseline_counts: Counter | None = None
        self.baseline_snapshot = None
        self.baseline_rss = 0

    def render_GET(self, request):
        frames = request.args.get(b"tracemalloc")
        if frames and not tracemalloc.is_tracing():
            tracemalloc.start(int(frames[0]))
        if request.args.get(b"trim"):
            try:
                ctypes.CDLL("libc.so.6").malloc_trim(0)
            except OSError:
                pass
        counts = _type_counts()
        answer = {"rss_kib": _rss_kib(), "objects": sum(counts.values()),
                  "top_types": counts.most_common(self.TOP), "threads": len(sys._current_frames())}
        snapshot = None
        if tracemalloc.is_tracing():
            snapshot = tracemalloc.take_snapshot().filter_traces(
                [tracemalloc.Filter(False, tracemalloc.__file__)])
            answer["traced_kib"] = tracemalloc.get_traced_memory()[0] // 1024
        if self.baseline_counts is not None:
            answer["rss_growth_kib"] = answer["rss_kib"] - self.baseline_rss
            grown = Counter(counts)
            grown.subtract(self.baseline_counts)
            answer["grown_types"] = [(name, n) for name, n in grown.most_common(self.TOP) if n > 0]
            if snapshot is not None and self.baseline_snapshot is not None:
                answer["grown_sites"] = [
                    {"kib": stat.size_diff // 1024, "count": stat.count_diff,
                     "where": [str(frame) for frame in stat.traceback.format()[-12:]]}
                    for stat in snapshot.compare_to(self.baseline_snapshot, "traceback")[:self.TOP]
                    if stat.size_diff > 0]
        if request.args.get(b"baseline"):
            self.baseline_counts, self.baseline_snapshot, self.baseline_rss = counts, snapshot, answer["rss_kib"]
        request.setHeader(b"content-type", b"application/json")
        return json.dumps(answer).encode()


def install_extras(web) -> None:
    """Mount the bare resource and the echo service on a started WebService."""
    site = web.site
    site.root.add(BARE_PATH, BareResource())
    site.root.add(MEMORY_PATH, MemoryResource())
    endpoint = AsmxEndpoint(
        EchoService, site.runtime, "%s/Services2/%s.asmx" % (site.base_url, ECHO_SERVICE),
        site.runtime.config.max_request_size,
    )
    services = site.root.getChild(b"services2", None)
    services.add(ECHO_SERVICE + ".asmx", AsmxResource(endpoint, web.reactor, web.pools))
    services.add(STOCK_ECHO_PATH, WSGIResource(web.reactor, web.pools.general, endpoint))
    site.endpoints.append(endpoint)


def install_start_hook(top, port_file: str, extras: bool) -> None:
    """Once the "web" service listens: add the extras, then write
    ``{"port": ..., "base_url": ..., "pid": ...}`` to ``port_file``."""
    web = top.getServiceNamed("web")
    start = web.startService

    def after_listen(_):
        if extras:
            install_extras(web)
        info = {"port": web.port.getHost().port, "base_url": web.base_url, "pid": os.getpid()}
        temporary = port_file + ".tmp"
        with open(temporary, "w") as stream:
            json.dump(info, stream)
        os.replace(temporary, port_file)

    def start_service():
        started = start()
        started.addCallback(after_listen)
        return started

    web.startService = start_service
