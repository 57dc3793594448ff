"""Twisted hosting of the .asmx endpoints under ``/Services2/``.

- ``BoundedRequest`` refuses request bodies over the configured size while
  they arrive (Twisted would otherwise buffer any size to a temp file).
- Paths match case-insensitively, as IIS does (``/services2/SVCTICKETS.ASMX``).
- ``GET /Services2/`` lists the services; ``GET x.asmx`` lists its
  operations; ``GET x.asmx?op=Name`` shows a sample request; ``?WSDL`` and
  ``?wsdl`` serve the prebuilt WSDL; POSTs go to spyne's WSGI application
  on a SOAP thread pool (spyne's own Twisted transport is broken on current
  Twisted), answered whole by ``run_buffered`` (see there why not Twisted's
  ``WSGIResource``).
"""
from __future__ import annotations

import re
import sys
from urllib.parse import unquote

from twisted.internet.threads import deferToThreadPool
from twisted.web import http, server
from twisted.web.pages import notFound
from twisted.web.util import redirectTo
from twisted.web.resource import Resource

from stws.logs import log_internal_error
from stws.db.group_commit import LeavesCommitGroup
from stws.soap.reader import NAMED_OPERATION
from stws.web import render_page
from stws.web.strict_http import DeclaredMethodsOnly, refuse_method


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

    def render(self, request):
        """The folder's own URL without its slash (``/Services2``): to the
        index page, as IIS does."""
        if self.index_page is None:
            return notFound().render(request)
        if request.method not in (b"GET", b"HEAD"):
            return refuse_method(request, (b"GET", b"HEAD"))
        body = redirectTo(request.path + b"/", request)
        request.setResponseCode(http.MOVED_PERMANENTLY)  # redirectTo says 302
        return body

    index_page = None


class ServicesIndex(DeclaredMethodsOnly, Resource):
    isLeaf = True

    def __init__(self, endpoints):
        super().__init__()
        self.endpoints = endpoints

    def render_GET(self, request):
        request.setHeader(b"content-type", b"text/html; charset=utf-8")
        return render_page("services_index.html", endpoints=self.endpoints)


class SoapPools:
    """The thread pools SOAP calls run on: ``reads`` for the quick operations
    declared read-only, ``writes`` for the other quick ones, ``general`` for
    the rest (slow calls, and requests that do not name their operation in
    SOAPAction or the SOAP 1.2 action), ``web`` for the management
    interface's pages. They may all be one pool.

    Why separate small pools on SQLite: every SQLite call releases the GIL,
    and getting it back costs more the more threads run Python meanwhile;
    SQLite also takes one writer at a time, so more writing threads only
    queue on its lock. Small pools serve both with less CPU per call
    (bench/soap_throughput.py, GetAllAgents: 2.7 ms of CPU per call with 8
    threads, 2.0 with 2), while slow calls (password hashing, transfers to
    another instance and self-diagnostics, which wait on other servers)
    keep the larger pool and hold up neither reads nor writes. The writes
    "pool" on SQLite is the one thread committing quick writes in groups
    (stws.db.group_commit): a request that runs there whole batches best
    (CreateTicketFromCustomer: 0.56 ms of CPU per call, against 0.82 when
    only its transaction went there from the general pool). A request
    whose password is not in the credential cache leaves it for the
    general pool (CredentialCheckIsSlow), where the password is verified
    and only the transaction goes to the group; so does one that must call
    an external provider first (LeavesCommitGroup).
    """

    def __init__(self, general, reads=None, writes=None, web=None):
        self.general = general
        self.reads = reads or general
        self.writes = writes or general
        # The management interface's pages (stws.web.admin).
        self.web = web or general

    def all(self) -> list:
        """Every pool once; the writes pool last (calls elsewhere may wait on it)."""
        unique = []
        for pool in (self.general, self.reads, self.web, self.writes):
            if all(pool is not seen for seen in unique):
                unique.append(pool)
        return unique

    def for_operation(self, endpoint, operation: str | None):
        if operation in endpoint.read_only_operations:
            return self.reads
        if operation in endpoint.quick_write_operations:
            return self.writes
        return self.general


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
        self.reactor = reactor
        self.pools = pools

    def pool_for(self, operation: str | None):
        """The thread pool a POST naming ``operation`` runs on."""
        return self.pools.for_operation(self.endpoint, operation)

    def render(self, request):
        if request.method == b"POST":
            return self._render_post(request)
        if request.method in (b"GET", b"HEAD"):
            return self._render_get(request)
        return refuse_method(request, (b"GET", b"HEAD", b"POST"))

    def _render_post(self, request):
        environ = wsgi_environ(request)
        operation = environ[NAMED_OPERATION] = requested_operation(request)
        gone = []
        request.notifyFinish().addErrback(gone.append)  # the client went away
        answer = deferToThreadPool(self.reactor, self.pool_for(operation), run_buffered, self.endpoint, environ)
        answer.addErrback(self._run_elsewhere, environ)
        answer.addCallbacks(_send_response, _send_internal_error, callbackArgs=(request, gone),
                            errbackArgs=(request, gone))
        return server.NOT_DONE_YET

    def _run_elsewhere(self, failure, environ):
        """Run again on the general pool a request that left the commit-group
        thread because it must wait: a password to verify, a provider to
        call (SoapPools)."""
        # Not failure.trap: Twisted matches BaseException subclasses by exact type only.
        if not isinstance(failure.value, LeavesCommitGroup):
            return failure
        environ["wsgi.input"].seek(0)
        return deferToThreadPool(self.reactor, self.pools.general, run_buffered, self.endpoint, environ)

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


def wsgi_environ(request) -> dict:
    """The WSGI environ of a POST, as ``twisted.web.wsgi`` builds it."""
    host = request.getClientAddress()
    uri, _, query = request.uri.partition(b"?")
    environ = {
        "REQUEST_METHOD": request.method.decode("latin-1"),
        "REMOTE_ADDR": getattr(host, "host", ""),
        "REMOTE_PORT": str(getattr(host, "port", "")),
        "SCRIPT_NAME": uri.decode("latin-1"),
        "PATH_INFO": "",
        "QUERY_STRING": query.decode("latin-1"),
        "CONTENT_TYPE": (request.getHeader(b"content-type") or b"").decode("latin-1"),
        "CONTENT_LENGTH": (request.getHeader(b"content-length") or b"").decode("latin-1"),
        "SERVER_NAME": request.getRequestHostname().decode("latin-1"),
        "SERVER_PORT": str(request.getHost().port),
        "SERVER_PROTOCOL": request.clientproto.decode("latin-1"),
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "https" if request.isSecure() else "http",
        "wsgi.run_once": False,
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.input": request.content,
        "wsgi.errors": sys.stderr,  # PEP 3333 requires one; under twistd, the server's log
    }
    for name, values in request.requestHeaders.getAllRawHeaders():
        key = "HTTP_" + name.decode("latin-1").upper().replace("-", "_")
        environ[key] = ",".join(value.decode("latin-1") for value in values).replace("\n", " ")
    return environ


def run_buffered(application, environ) -> tuple[str, list, bytes]:
    """Run a WSGI application to the end on this (pool) thread and return
    its status, headers and whole body, for the reactor to send at once.

    Twisted's ``WSGIResource`` makes the pool thread wait for the reactor
    on every written chunk (``blockingCallFromThread``) and wakes the
    reactor a second time to finish: two thread hand-offs per call, with
    the pool thread idle meanwhile. A SOAP answer is one document that
    spyne has fully built anyway, so here the thread hands it over once
    and goes on to the next call.
    """
    started = []
    chunks = []

    def start_response(status, headers, exc_info=None):
        if exc_info is not None and started:
            raise exc_info[1].with_traceback(exc_info[2])
        started[:] = [status, headers]
        return chunks.append

    result = application(environ, start_response)
    try:
        chunks.extend(result)
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()
    status, headers = started
    return status, headers, b"".join(chunks)


_HEADERS_TWISTED_SETS = {"server", "date", "content-length"}


def _send_response(answer, request, gone) -> None:
    if gone:
        return
    status, headers, body = answer
    code, _, reason = status.partition(" ")
    request.setResponseCode(int(code), reason.encode("latin-1"))
    for name, value in headers:
        if name.lower() not in _HEADERS_TWISTED_SETS:
            request.responseHeaders.addRawHeader(name.encode("latin-1"), value.encode("latin-1"))
    request.setHeader(b"content-length", b"%d" % len(body))
    request.write(body)
    request.finish()


def _send_internal_error(failure, request, gone) -> None:
    """spyne turns an operation's exceptions into faults; this is for a bug
    around it. The client gets a reference, the error log the traceback."""
    told = log_internal_error("SOAP request failed outside the operation",
                              (failure.type, failure.value, failure.getTracebackObject()))
    if gone:
        return
    request.setResponseCode(http.INTERNAL_SERVER_ERROR)
    request.setHeader(b"content-type", b"text/plain; charset=utf-8")
    request.write(told.encode() + b"\n")
    request.finish()


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
