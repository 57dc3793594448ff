"""Which thread pool a SOAP call runs on (stws.soap.hosting.SoapPools):
on SQLite, quick operations declared read-only run on a small pool of
their own, the other quick ones on another; slow and undeclared operations
and requests that name no operation run on the general pool; on
PostgreSQL there is one pool. And how a call's answer gets back
(stws.soap.hosting.run_buffered)."""
from __future__ import annotations

import io
import threading
import urllib.request

import pytest
from twisted.internet import threads
from twisted.internet.error import ConnectionDone
from twisted.python.failure import Failure
from twisted.web import server
from twisted.web.test.requesthelper import DummyRequest

from conftest import strings
from stws.db.group_commit import YieldsToCommitGroups
from stws.security import auth
from stws.soap.hosting import requested_operation
from stws.soap.types import service_namespace

TICKETS = service_namespace("svcTickets")


def soap_request(soap_action: str | None = None, content_type: str = "text/xml; charset=utf-8") -> DummyRequest:
    request = DummyRequest([b""])
    request.method = b"POST"
    request.requestHeaders.setRawHeaders(b"content-type", [content_type.encode()])
    if soap_action is not None:
        request.requestHeaders.setRawHeaders(b"soapaction", [soap_action.encode()])
    return request


def test_the_operation_comes_from_soapaction_or_the_soap12_action():
    assert requested_operation(soap_request('"%s/GetTicketInfo"' % TICKETS)) == "GetTicketInfo"
    assert requested_operation(soap_request("%s/CloseTicket" % TICKETS)) == "CloseTicket"
    soap12 = 'application/soap+xml; charset=utf-8; action="%s/GetTicketInfo"' % TICKETS
    assert requested_operation(soap_request(content_type=soap12)) == "GetTicketInfo"
    assert requested_operation(soap_request()) is None
    assert requested_operation(soap_request('""')) is None


def tickets_resource(server):
    return server.web.site.root.getChild(b"services2", None).getChild(b"svctickets.asmx", None)


async def test_quick_reads_and_quick_writes_run_on_their_own_pools_on_sqlite(server):
    pools = server.web.pools
    resource = tickets_resource(server)
    read = resource.pool_for("GetTicketInfo")
    write = resource.pool_for("CloseTicket")
    unnamed = resource.pool_for(None)
    transfer = resource.pool_for("TransferTicketToInstance")
    if not server.runtime.db.is_sqlite:
        assert pools.reads is pools.general and pools.writes is pools.general
        assert server.runtime.write_groups is None
        assert read is write is unnamed is transfer
        return
    assert len({id(pools.reads), id(pools.writes), id(pools.general)}) == 3
    assert pools.reads.max < pools.general.max and pools.writes.max < pools.general.max
    assert read is pools.reads and write is pools.writes
    # The commit-group thread takes the transactions of other threads' writes too.
    assert server.runtime.write_groups is pools.writes
    # Writes first: the quick reads and the pages wait for a running group (stws.db.group_commit).
    assert isinstance(pools.reads, YieldsToCommitGroups) and pools.reads.groups is pools.writes
    assert isinstance(pools.web, YieldsToCommitGroups) and pools.web.groups is pools.writes
    assert not isinstance(pools.general, YieldsToCommitGroups)
    assert unnamed is pools.general
    assert {"GetTicketInfo", "GetTicketsBySearch", "GetTicketCounts_Global"} <= resource.endpoint.read_only_operations
    assert {"CloseTicket", "CreateTicketFromCustomer"} <= resource.endpoint.quick_write_operations
    # Calls that wait on another server stay on the general pool.
    assert "TransferTicketToInstance" not in resource.endpoint.read_only_operations | \
        resource.endpoint.quick_write_operations
    assert transfer is pools.general


async def test_a_quick_write_whose_password_is_not_cached_is_verified_off_the_commit_group(server):
    """The first call of an account verifies its password (slow): never on
    the commit-group thread, which leaves the request to the general pool."""
    org = await server.client("svcOrganization")
    created = await org.CreateUser(*server.admin, "fresh", "fresh-Passw0rd!", "fresh@example.com", True, "Fresh")
    assert created.Result, created.Message
    verified_on = []
    real_verify = auth.verify_password

    def watched(password, stored):
        verified_on.append(threading.current_thread().name)
        return real_verify(password, stored)

    auth.verify_password = watched
    try:
        # A quick write (the commit-group pool on SQLite), the first call of "fresh".
        changed = await org.SetUsersProperties("fresh", "fresh-Passw0rd!", created.RequestResult,
                                               strings("DisplayName=Fresh Two"))
        again = await org.SetUsersProperties("fresh", "fresh-Passw0rd!", created.RequestResult,
                                             strings("DisplayName=Fresh Three"))
    finally:
        auth.verify_password = real_verify
    assert changed.Result and again.Result, (changed.Message, again.Message)
    assert len(verified_on) == 1  # the second call found the password in the cache
    assert verified_on[0] != "commit-groups"


async def test_a_request_left_to_spyne_leaves_the_commit_group_the_same_way(server):
    """With a SOAP Header the request is read by spyne, not stws.soap.reader:
    the request still leaves the commit-group thread for its password check."""
    org = await server.client("svcOrganization")
    created = await org.CreateUser(*server.admin, "headed", "headed-Passw0rd!", "headed@example.com", True, "H")
    namespace = service_namespace("svcOrganization")
    body = (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Header/><soap:Body>'
        '<SetUsersProperties xmlns="%s"><authUserName>headed</authUserName><authPassword>headed-Passw0rd!</authPassword>'
        '<userID>%d</userID><propertyValues><string>DisplayName=Headed</string></propertyValues>'
        '</SetUsersProperties></soap:Body></soap:Envelope>' % (namespace, created.RequestResult)
    ).encode()

    def post():
        request = urllib.request.Request(server.url("svcOrganization"), data=body, headers={
            "Content-Type": "text/xml; charset=utf-8", "SOAPAction": '"%s/SetUsersProperties"' % namespace})
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, answer.read().decode()

    status, answer = await threads.deferToThread(post)
    assert status == 200 and "<Result>true</Result>" in answer, answer
    properties = await org.GetUsersProperties(*server.admin, created.RequestResult, strings("DisplayName"))
    assert properties.RequestResults.string == ["DisplayName=Headed"]


async def test_password_hashing_runs_on_the_general_pool(server):
    """CreateUser hashes the new password first (tens of ms of CPU): not on
    the write pool, where it would hold up every quick write."""
    organization = server.web.site.root.getChild(b"services2", None).getChild(b"svcorganization.asmx", None)
    assert organization.pool_for("CreateUser") is server.web.pools.general
    assert organization.pool_for("SetUsersProperties") is server.web.pools.writes


async def test_every_pool_serves_calls(server):
    """A read (read pool), a quick write (write pool) and CreateUser
    (general pool) all answer."""
    org = await server.client("svcOrganization")
    agents = await org.GetAllAgents(*server.admin)
    assert agents.Result, agents.Message
    created = await org.CreateUser(*server.admin, "poolcheck", "pool-Passw0rd!", "pool@example.com", True, "Pool")
    assert created.Result, created.Message
    changed = await org.SetUsersProperties(*server.admin, created.RequestResult, strings("DisplayName=Pool Two"))
    assert changed.Result, changed.Message



async def test_the_self_diagnostic_waits_on_mail_servers_so_it_is_not_a_quick_read(server):
    directory = server.web.site.root.getChild(b"services2", None)
    diagnostics = directory.getChild(b"svcdiagnostics.asmx", None).endpoint
    assert "GetThreadStatuses" in diagnostics.read_only_operations
    assert "RunSelfDiagnostic" not in diagnostics.read_only_operations


class _FakeEndpoint:
    """A WSGI application standing in for an AsmxEndpoint."""

    read_only_operations = frozenset()
    quick_write_operations = frozenset()

    def __init__(self, answer=None, release=None):
        self.answer = answer
        self.release = release  # a threading.Event the call waits for
        self.environ = None

    def __call__(self, environ, start_response):
        self.environ = environ
        if self.release is not None:
            self.release.wait(10)
        if self.answer is None:
            raise RuntimeError("secret detail of a bug")
        start_response("200 OK", [("Content-Type", "text/xml; charset=utf-8"), ("Server", "spyne")])
        return [b"<a>", self.answer, b"</a>"]


def _post_through(endpoint, pool):
    from twisted.internet import reactor

    from stws.soap.hosting import AsmxResource, SoapPools

    request = soap_request('"%s/Anything"' % TICKETS)
    request.content = io.BytesIO(b"<Envelope/>")
    request.isSecure = lambda: False  # DummyRequest lacks it
    request.requestHeaders.setRawHeaders(b"x-custom", [b"one", b"two"])
    done = request.notifyFinish()
    assert AsmxResource(endpoint, reactor, SoapPools(pool)).render(request) is server.NOT_DONE_YET
    return request, done


@pytest.fixture
def pool():
    from twisted.python.threadpool import ThreadPool

    threads_ = ThreadPool(minthreads=1, maxthreads=1, name="test-soap")
    threads_.start()
    yield threads_
    threads_.stop()


async def test_an_answer_is_sent_whole_with_the_application_headers(pool):
    endpoint = _FakeEndpoint(b"body")
    request, done = _post_through(endpoint, pool)
    await done
    assert request.responseCode == 200
    assert b"".join(request.written) == b"<a>body</a>"
    assert request.responseHeaders.getRawHeaders(b"content-type") == [b"text/xml; charset=utf-8"]
    assert request.responseHeaders.getRawHeaders(b"content-length") == [b"11"]
    assert request.responseHeaders.getRawHeaders(b"server") is None  # Twisted's own, not the application's
    assert endpoint.environ["HTTP_SOAPACTION"] == '"%s/Anything"' % TICKETS
    assert endpoint.environ["HTTP_X_CUSTOM"] == "one,two"
    assert endpoint.environ["wsgi.input"].read() == b"<Envelope/>"
    assert callable(endpoint.environ["wsgi.errors"].write)


async def test_a_failure_outside_the_operation_gives_a_reference_not_the_details(pool, caplog):
    request, done = _post_through(_FakeEndpoint(None), pool)
    await done
    assert request.responseCode == 500
    text = b"".join(request.written).decode()
    assert "reference" in text and "secret detail" not in text and "Traceback" not in text
    reference = text.split("reference ")[1].split(")")[0]
    logged = [r for r in caplog.records if r.name == "stws.error" and reference in r.getMessage()]
    assert logged and "secret detail of a bug" in str(logged[0].exc_info[1])


async def test_nothing_is_written_for_a_client_that_went_away(pool):
    release = threading.Event()
    request, done = _post_through(_FakeEndpoint(b"late", release), pool)
    done.addErrback(lambda _: None)
    request.processingFailed(Failure(ConnectionDone("client closed the connection")))
    release.set()
    # The answer arrives after the client left; the next call through the
    # same one-thread pool proves the first one has ended.
    second, second_done = _post_through(_FakeEndpoint(b"next"), pool)
    await second_done
    assert b"".join(second.written) == b"<a>next</a>"
    assert request.written == [] and request.finished == 0
