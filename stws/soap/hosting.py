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


class AsmxResource(Resource):
    """One .asmx URL: help pages and WSDL on GET, SOAP on POST."""

    isLeaf = True

    def __init__(self, endpoint, reactor, thread_pool):
        super().__init__()
        self.endpoint = endpoint
        self._wsgi = WSGIResource(reactor, thread_pool, endpoint)

    def render(self, request):
        if request.method == b"POST":
            return self._wsgi.render(request)
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


def build_services_directory(endpoints, reactor, thread_pool) -> CaseInsensitiveDirectory:
    directory = CaseInsensitiveDirectory()
    directory.index_page = ServicesIndex(endpoints)
    for endpoint in endpoints:
        directory.add(endpoint.name + ".asmx", AsmxResource(endpoint, reactor, thread_pool))
    return directory
