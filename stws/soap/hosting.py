"""Twisted hosting of the .asmx endpoints under ``/Services2/``.

- ``BoundedRequest`` refuses request bodies over the configured size while
  they arrive (Twisted would otherwise buffer any size to a temp file).
- Paths match case-insensitively, as IIS does (``/services2/SVCTICKETS.ASMX``).
- ``GET /Services2/`` lists the services; ``GET x.asmx`` lists its
  operations; ``GET x.asmx?op=Name`` shows a sample request; ``?WSDL`` and
  ``?wsdl`` serve the prebuilt WSDL; POSTs go to spyne through
  ``WSGIResource`` on the SOAP thread pool (spyne's own Twisted transport is
  broken on current Twisted).
"""
from __future__ import annotations

import re
from urllib.parse import unquote

from twisted.web import http, server
from twisted.web.pages import notFound
from twisted.web.resource import Resource
from twisted.web.wsgi import WSGIResource

from stws.web import render_page


class BoundedRequest(server.Request):
    max_body = 32 * 1024 * 1024  # replaced per site by make_bounded_request()
    _too_big = False
    _received = 0

    def gotLength(self, length):
        self._too_big = length is not None and length > self.max_body
        super().gotLength(0 if self._too_big else length)

    def handleContentChunk(self, data):  # also sees chunked bodies
        self._received += len(data)
        if not self._too_big and self._received > self.max_body:
            self._too_big = True
            self.content.seek(0)
            self.content.truncate()
        if not self._too_big:
            super().handleContentChunk(data)

    def process(self):
        if self._too_big:
            self.setResponseCode(http.REQUEST_ENTITY_TOO_LARGE)
            self.setHeader(b"content-type", b"text/plain; charset=utf-8")
            self.setHeader(b"connection", b"close")
            self.write(b"Request body larger than %d bytes.\n" % self.max_body)
            self.finish()
            return
        super().process()


def make_bounded_request(max_body: int):
    return type("BoundedRequest", (BoundedRequest,), {"max_body": max_body})


class CaseInsensitiveDirectory(Resource):
    def __init__(self):
        super().__init__()
        self._children: dict[bytes, Resource] = {}

    def add(self, name: str, resource: Resource) -> None:
        self._children[name.lower().encode()] = resource

    def getChild(self, path, request):
        child = self._children.get(path.lower())
        if child is not None:
            return child
        if path == b"" and self.index_page is not None:
            return self.index_page
        return notFound()

    index_page = None


class ServicesIndex(Resource):
    isLeaf = True

    def __init__(self, endpoints):
        super().__init__()
        self.endpoints = endpoints

    def render_GET(self, request):
        request.setHeader(b"content-type", b"text/html; charset=utf-8")
        return render_page("services_index.html", endpoints=self.endpoints)


class SoapPools:
    """The thread pools SOAP calls run on: ``reads`` for operations declared
    read-only, ``general`` for the others (and for requests that do not
    name their operation in SOAPAction or the SOAP 1.2 action). The two may
    be the same pool.

    Why two on SQLite: every SQLite call releases the GIL, and getting it
    back costs more the more threads run Python meanwhile. Reads are
    CPU-bound there, so a small pool serves them with less CPU per call
    (bench/soap_throughput.py, GetAllAgents: 2.7 ms of CPU per call with 8
    threads, 2.0 with 2), while writes (which wait on the write lock and
    fsync) and slow calls (password hashing, transfers to another instance,
    which wait on the network) keep the larger pool and cannot hold up the
    reads.
    """

    def __init__(self, general, reads=None):
        self.general = general
        self.reads = reads or general

    def all(self) -> list:
        return [self.general] if self.reads is self.general else [self.general, self.reads]


_SOAP12_ACTION = re.compile(rb'action\s*=\s*"?([^";]+)', re.IGNORECASE)


def requested_operation(request) -> str | None:
    """The operation a SOAP request names in its SOAPAction header (1.1) or
    the action parameter of its Content-Type (1.2), if it names one."""
    action = request.getHeader(b"soapaction")
    if action is None:
        match = _SOAP12_ACTION.search(request.getHeader(b"content-type") or b"")
        action = match.group(1) if match else None
    if not action:
        return None
    return action.strip().strip(b'"').rpartition(b"/")[2].decode("latin-1") or None


class AsmxResource(Resource):
    """One .asmx URL: help pages and WSDL on GET, SOAP on POST."""

    isLeaf = True

    def __init__(self, endpoint, reactor, pools: SoapPools):
        super().__init__()
        self.endpoint = endpoint
        self._general = WSGIResource(reactor, pools.general, endpoint)
        self._reads = WSGIResource(reactor, pools.reads, endpoint) if pools.reads is not pools.general else None

    def wsgi_for(self, request) -> WSGIResource:
        """The WSGI resource (so the pool) a POST runs on."""
        if self._reads is not None and requested_operation(request) in self.endpoint.read_only_operations:
            return self._reads
        return self._general

    def render(self, request):
        if request.method == b"POST":
            return self.wsgi_for(request).render(request)
        if request.method in (b"GET", b"HEAD"):
            return self._render_get(request)
        request.setResponseCode(http.NOT_ALLOWED)
        request.setHeader(b"allow", b"GET, HEAD, POST")
        return b""

    def _render_get(self, request):
        query = _query_parameters(request.uri)
        if "wsdl" in query:
            request.setHeader(b"content-type", b"text/xml; charset=utf-8")
            return self.endpoint.wsdl
        request.setHeader(b"content-type", b"text/html; charset=utf-8")
        if "op" in query:
            name = query["op"]
            info = self.endpoint.operation(name)
            if info is None:
                request.setResponseCode(http.NOT_FOUND)
                return render_page("asmx_unknown_operation.html", endpoint=self.endpoint, name=name)
            return render_page("asmx_operation.html", endpoint=self.endpoint, op=info)
        return render_page("asmx_service.html", endpoint=self.endpoint)


def _query_parameters(uri: bytes) -> dict[str, str]:
    """Query parameters by lower-case name; ``?WSDL`` (no "=") counts too,
    which ``request.args`` drops."""
    _, _, query = uri.partition(b"?")
    parameters = {}
    for item in query.split(b"&"):
        key, _, value = item.partition(b"=")
        if key:
            parameters.setdefault(unquote(key.decode("latin-1")).lower(), unquote(value.decode("latin-1")))
    return parameters


def build_services_directory(endpoints, reactor, pools: SoapPools) -> CaseInsensitiveDirectory:
    directory = CaseInsensitiveDirectory()
    directory.index_page = ServicesIndex(endpoints)
    for endpoint in endpoints:
        directory.add(endpoint.name + ".asmx", AsmxResource(endpoint, reactor, pools))
    return directory
