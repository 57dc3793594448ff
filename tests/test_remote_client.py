"""stws.remote.PeerClient against real peers on 127.0.0.1: a spyne provider in
its own namespace, a live stws server, and twisted.web resources that
misbehave on purpose (HTML, malformed XML, a fault, slow, oversized, ...).

Test bodies run in the reactor; the client blocks, so every call goes
through ``threads.deferToThread`` (or the client's own ``call_deferred``).
"""
from __future__ import annotations

import datetime as dt
import logging

import pytest
from spyne import Array, Boolean, ComplexModel, ServiceBase, Unicode, rpc
from twisted.internet import defer, reactor, threads
from twisted.web.resource import Resource

from stws.errors import ResultCode
from stws.logs import LogFiles
from stws.remote import CircuitBreakers, FailureKind, PeerClient, RemoteFailure, TimeBudget

from scripted_peers import PingOnly, ScriptedPeer, closed_port, peers, wsgi_resource  # noqa: F401 (peers: a fixture)

PROVIDER_NS = "http://provider.example.org/login/v2"


# ------------------------------------------------------------------ peers


class ExternalLoginProviderInputs(ComplexModel):
    __namespace__ = PROVIDER_NS
    InputVariables = Array(Unicode)


class ExternalLoginProviderResult(ComplexModel):
    __namespace__ = PROVIDER_NS
    Success = Boolean
    Message = Unicode
    OutputVariables = Array(Unicode)


class LoginProvider(ServiceBase):
    """A provider as a SmarterTrack customer writes one (not in tempuri.org)."""

    @rpc(ExternalLoginProviderInputs, _returns=ExternalLoginProviderResult)
    def Authenticate(ctx, inputs):
        values = dict(item.split("=", 1) for item in inputs.InputVariables or [])
        if values.get("authPW") != "provider-secret":
            return ExternalLoginProviderResult(Success=False, Message="Permission Denied")
        verdict = "OK" if values.get("loginPassword") == "right" else "FAIL"
        return ExternalLoginProviderResult(Success=True, Message="", OutputVariables=[
            "Authentication=" + verdict, "EmailAddress=%s@example.org" % values.get("loginUsername")])


class Counting(Resource):
    """Serves ``inner`` and counts the requests: WSDL reads and calls."""

    isLeaf = True

    def __init__(self, inner):
        super().__init__()
        self.inner = inner
        self.wsdl_requests = self.calls = 0

    def render(self, request):
        if request.method == b"GET" and b"wsdl" in request.uri.partition(b"?")[2].lower():
            self.wsdl_requests += 1
        elif request.method == b"POST":
            self.calls += 1
        return self.inner.render(request)


@pytest.fixture
def provider(peers):
    counting = Counting(wsgi_resource(LoginProvider, PROVIDER_NS))
    counting.url = peers.serve(counting, "LoginProvider.asmx")
    return counting


@pytest.fixture
def client():
    peer_client = PeerClient(max_threads=2, breakers=CircuitBreakers(threshold=3, cool_down=30))
    peer_client.start()
    yield peer_client
    peer_client.stop()


async def scripted(peers, provider, mode) -> tuple[ScriptedPeer, str]:
    """A misbehaving peer with the provider's (valid) WSDL."""
    import requests
    wsdl = (await threads.deferToThread(requests.get, provider.url + "?WSDL", timeout=10)).content
    peer = ScriptedPeer(wsdl, mode)
    return peer, peers.serve(peer)


def inputs(**values):
    return {"InputVariables": {"string": ["%s=%s" % item for item in values.items()]}}


def authenticate(client, url, password="right", **options):
    return threads.deferToThread(client.call, url, "Authenticate", peer=options.pop("peer", "Acme login"),
                                 inputs=inputs(authPW="provider-secret", loginUsername="jo", loginPassword=password),
                                 **options)


async def failure_of(deferred) -> RemoteFailure:
    with pytest.raises(RemoteFailure) as caught:
        await deferred
    assert caught.value.code == ResultCode.REMOTE_FAILURE == 9
    return caught.value


# ------------------------------------------------------------------ calls that work


async def test_provider_in_its_own_namespace(client, provider):
    result = await authenticate(client, provider.url)
    assert result.Success is True
    assert list(result.OutputVariables.string) == ["Authentication=OK", "EmailAddress=jo@example.org"]
    result = await authenticate(client, provider.url, password="wrong")
    assert result.OutputVariables.string[0] == "Authentication=FAIL"


async def test_wsdl_is_read_once_for_many_calls_until_invalidated(client, provider):
    for _ in range(5):
        await authenticate(client, provider.url)
    # Concurrent first calls of another client share one fetch too.
    other = PeerClient()
    results = await _gather([authenticate(other, provider.url) for _ in range(4)])
    assert all(result.Success for result in results)
    assert (provider.wsdl_requests, provider.calls) == (2, 9)
    client.invalidate(provider.url)
    await authenticate(client, provider.url)
    assert provider.wsdl_requests == 3


def _gather(deferreds):
    return defer.gatherResults(deferreds, consumeErrors=True)


async def test_binds_the_configured_url_not_the_address_in_the_wsdl(client, provider, peers):
    # The same provider under a second address: its WSDL names that address,
    # but the client calls the URL it was given.
    import requests
    wsdl = (await threads.deferToThread(requests.get, provider.url + "?WSDL", timeout=10)).content
    elsewhere = wsdl.replace(provider.url.encode(), b"http://127.0.0.1:%d/nowhere.asmx" % closed_port())
    assert elsewhere != wsdl
    proxy = Counting(wsgi_resource(LoginProvider, PROVIDER_NS))
    url = peers.serve(_WsdlOverride(proxy, elsewhere))
    assert (await authenticate(client, url)).Success is True
    assert proxy.calls == 1


class _WsdlOverride(Resource):
    isLeaf = True

    def __init__(self, inner, wsdl):
        super().__init__()
        self.inner, self.wsdl = inner, wsdl

    def render(self, request):
        if request.method == b"GET":
            request.setHeader(b"content-type", b"text/xml; charset=utf-8")
            return self.wsdl
        return self.inner.render(request)


async def test_a_live_stws_server(client, server):
    url = server.url("svcOrganization")
    result = await threads.deferToThread(client.call, url, "GetAllDepartments", *server.admin, peer="Partner")
    assert result.Result is True and result.Departments.DepartmentInfo[0].Name
    refused = await threads.deferToThread(client.call, url, "GetAllDepartments", "admin", "wrong", peer="Partner")
    assert refused.Result is False and refused.ResultCode == 1  # in-band: the caller judges it


async def test_call_deferred_runs_on_the_clients_pool(client, provider):
    result = await client.call_deferred(provider.url, "Authenticate", peer="Acme",
                                        inputs=inputs(authPW="provider-secret", loginPassword="right"))
    assert result.Success is True


def test_call_deferred_needs_a_started_pool(provider):
    with pytest.raises(RuntimeError, match="before start"):
        PeerClient().call_deferred(provider.url, "Authenticate", inputs=inputs())


def test_call_refuses_the_reactor_thread(client, provider):
    with pytest.raises(RuntimeError, match="call_deferred"):
        client.call(provider.url, "Authenticate", inputs=inputs())


# ------------------------------------------------------------------ failures


async def test_connection_refused(client):
    url = "http://127.0.0.1:%d/LoginProvider.asmx" % closed_port()
    failure = await failure_of(authenticate(client, url))
    assert failure.kind == FailureKind.UNREACHABLE
    assert failure.message == "Cannot connect to Acme login (%s): connection refused" % url


async def test_html_answer(client, provider, peers):
    _, url = await scripted(peers, provider, "html")
    failure = await failure_of(authenticate(client, url))
    assert failure.kind == FailureKind.HTML
    assert failure.message == ('Acme login answered Authenticate with a web page (HTTP 500, "Runtime Error"), not '
                               'SOAP: is %s the address of its .asmx web service?' % url)


async def test_html_instead_of_a_wsdl(client, peers):
    page = Resource()
    page.isLeaf = True
    page.render_GET = lambda request: b"<!DOCTYPE html><html><head><title>Welcome</title></head></html>"
    url = peers.serve(page, "index.html")
    failure = await failure_of(authenticate(client, url))
    assert failure.kind == FailureKind.HTML
    assert "answered the request for its WSDL (%s?WSDL) with a web page (HTTP 200, \"Welcome\")" % url \
        in failure.message


async def test_malformed_xml(client, provider, peers):
    _, url = await scripted(peers, provider, "malformed")
    failure = await failure_of(authenticate(client, url))
    assert failure.kind == FailureKind.MALFORMED
    assert failure.message.startswith("Acme login answered Authenticate with malformed XML (HTTP 200): ")


async def test_soap_fault(client, provider, peers):
    _, url = await scripted(peers, provider, "fault")
    failure = await failure_of(authenticate(client, url))
    assert failure.kind == FailureKind.FAULT
    assert failure.message == ("Acme login answered Authenticate with a SOAP fault: Server was unable to process "
                               "request. ---> Object reference not set to an instance of an object.")


async def test_http_error_status(client, provider, peers):
    _, url = await scripted(peers, provider, "status")
    failure = await failure_of(authenticate(client, url))
    assert failure.kind == FailureKind.HTTP_STATUS
    assert failure.message == "Acme login answered Authenticate with HTTP status 503 Service Unavailable."


async def test_slow_answer_past_the_timeout(client, provider, peers):
    _, url = await scripted(peers, provider, "slow")
    await authenticate(client, provider.url)  # (not this one)
    failure = await failure_of(authenticate(client, url, timeout=0.5))
    assert failure.kind == FailureKind.TIMEOUT
    assert failure.message == "Acme login (%s) did not answer Authenticate within 0.5 seconds." % url


@pytest.mark.parametrize("mode", ["trickle", "trickle-sized"])
async def test_answer_trickling_in_past_the_timeout(client, provider, peers, mode):
    _, url = await scripted(peers, provider, mode)
    started = reactor.seconds()
    failure = await failure_of(authenticate(client, url, timeout=0.8))
    assert failure.kind == FailureKind.TIMEOUT and "within 0.8 seconds" in failure.message
    assert reactor.seconds() - started < 3


async def test_time_budget_of_a_sequence(client, provider, peers):
    _, slow = await scripted(peers, provider, "slow")
    budget = TimeBudget(0.6, "The sign-in took longer than 0.6 seconds and was abandoned.")
    assert (await authenticate(client, provider.url, budget=budget)).Success
    failure = await failure_of(authenticate(client, slow, timeout=10, budget=budget))
    assert (failure.kind, failure.message) == (FailureKind.BUDGET, budget.exhausted_message)
    # Spent: the next call is not even made.
    calls = provider.calls
    failure = await failure_of(authenticate(client, provider.url, budget=budget))
    assert failure.kind == FailureKind.BUDGET and provider.calls == calls


async def test_oversized_answer(provider, peers):
    small = PeerClient(max_answer_bytes=1024 * 1024)
    _, url = await scripted(peers, provider, "oversized")
    failure = await failure_of(authenticate(small, url))
    assert failure.kind == FailureKind.TOO_LARGE
    assert failure.message == "Acme login answered Authenticate with more than 1 MiB; the answer was dropped."


async def test_wsdl_without_the_method(client, peers):
    url = peers.serve(wsgi_resource(PingOnly, "http://tempuri.org/"))
    failure = await failure_of(authenticate(client, url))
    assert failure.kind == FailureKind.MISSING_OPERATION
    assert failure.message == ("The web service of Acme login (%s) has no operation Authenticate; its WSDL offers "
                               "Ping." % url)


async def test_our_programming_errors_are_not_remote_failures(client, provider):
    # Arguments the operation does not have: our bug, raised as such.
    with pytest.raises(TypeError):
        await threads.deferToThread(client.call, provider.url, "Authenticate", inputz=inputs())
    with pytest.raises(TypeError):
        await threads.deferToThread(client.call, provider.url, "Authenticate", inputs(), inputs())
    # Neither counts against the peer.
    assert client.breakers.consecutive_failures(provider.url) == 0
    assert (await authenticate(client, provider.url)).Success


# ------------------------------------------------------------------ circuit breaker


async def test_circuit_breaker_opens_fails_fast_and_closes_after_a_good_trial(provider, peers):
    now = [1000.0]
    client = PeerClient(breakers=CircuitBreakers(threshold=3, cool_down=30, clock=lambda: now[0]))
    peer, url = await scripted(peers, provider, "status")
    for _ in range(3):
        assert (await failure_of(authenticate(client, url))).kind == FailureKind.HTTP_STATUS
    assert peer.calls == 3
    before = dt.datetime.now(dt.timezone.utc)
    failure = await failure_of(authenticate(client, url))
    assert failure.kind == FailureKind.CIRCUIT_OPEN and peer.calls == 3
    until = dt.datetime.strptime(failure.message.rsplit("before ", 1)[1], "%H:%M:%S UTC.").time()
    expected = (before + dt.timedelta(seconds=30)).time().replace(microsecond=0)
    assert abs(dt.datetime.combine(before.date(), until) - dt.datetime.combine(before.date(), expected)) \
        <= dt.timedelta(seconds=2)
    assert failure.message.startswith("Acme login failed 3 times in a row; not called again before ")

    # After the cool-down one trial goes through; it fails: open again.
    now[0] += 31
    assert (await failure_of(authenticate(client, url))).kind == FailureKind.HTTP_STATUS
    assert (await failure_of(authenticate(client, url))).kind == FailureKind.CIRCUIT_OPEN
    assert peer.calls == 4

    # The next trial succeeds: closed, calls go through again.
    now[0] += 31
    peer.render_POST = lambda request: provider.inner.render(request)
    assert (await authenticate(client, url)).Success
    assert (await authenticate(client, url)).Success
    assert peer.calls == 4 and client.breakers.consecutive_failures(url) == 0


async def test_one_peer_open_does_not_stop_another(provider):
    client = PeerClient(breakers=CircuitBreakers(threshold=2, cool_down=30))
    dead = "http://127.0.0.1:%d/x.asmx" % closed_port()
    for _ in range(3):
        await failure_of(authenticate(client, dead))
    assert (await failure_of(authenticate(client, dead))).kind == FailureKind.CIRCUIT_OPEN
    assert (await authenticate(client, provider.url)).Success
    # A settings change (invalidate) forgets the failures.
    client.invalidate(dead)
    assert (await failure_of(authenticate(client, dead))).kind == FailureKind.UNREACHABLE


# ------------------------------------------------------------------ logs


async def test_calls_and_failures_are_logged(tmp_path, client, provider):
    logs = LogFiles(tmp_path)
    try:
        await authenticate(client, provider.url)
        dead = "http://127.0.0.1:%d/x.asmx" % closed_port()
        await failure_of(authenticate(client, dead, peer="Dead provider"))
    finally:
        logs.close()
    today = dt.datetime.now(dt.timezone.utc).date().isoformat()
    lines = (tmp_path / ("providers-%s.log" % today)).read_text().splitlines()
    assert "Authenticate on Acme login (%s): ok in " % provider.url in lines[0]
    assert "Authenticate on Dead provider (%s): failed in " % dead in lines[1]
    assert "[unreachable]: Cannot connect to Dead provider" in lines[1]
    errors = (tmp_path / ("error-%s.log" % today)).read_text()
    assert "Remote call Authenticate on Dead provider (%s) failed [unreachable]" % dead in errors
    assert "Acme login" not in errors


async def test_call_refuses_a_thread_inside_a_transaction(server, provider):
    remote = server.runtime.remote

    def inside():
        with server.runtime.db.transaction(writes=False):
            remote.call(provider.url, "Authenticate", inputs=inputs())
    with pytest.raises(RuntimeError, match="inside a database transaction"):
        await threads.deferToThread(inside)
    assert provider.calls == 0 and provider.wsdl_requests == 0
    # Outside one it goes ahead.
    result = await threads.deferToThread(remote.call, provider.url, "Authenticate",
                                         inputs=inputs(authPW="provider-secret", loginPassword="right"))
    assert result.Success is True


async def test_providers_log_is_listed_in_diagnostics(server, provider):
    await threads.deferToThread(server.runtime.remote.call, provider.url, "Authenticate", peer="Acme login",
                                inputs=inputs(authPW="provider-secret"))
    diag = await server.client("svcDiagnostics")
    files = (await diag.GetLogFiles(*server.admin)).Files.LogFileInfo
    today = dt.datetime.now(dt.timezone.utc).date().isoformat()
    (listed,) = [f for f in files if f.FileName == "providers-%s.log" % today]
    assert listed.Kind == "providers" and listed.SizeInBytes > 0


def test_breaker_lets_one_trial_through_and_our_bug_frees_it():
    now = [0.0]
    breakers = CircuitBreakers(threshold=1, cool_down=10, clock=lambda: now[0])
    assert breakers.failed("http://peer/x.asmx") is True
    with pytest.raises(RemoteFailure, match="failed 1 times in a row"):
        breakers.before_call("http://peer/x.asmx", "Peer")
    now[0] = 11
    breakers.before_call("http://peer/x.asmx", "Peer")  # the trial
    with pytest.raises(RemoteFailure):  # one at a time
        breakers.before_call("http://peer/x.asmx", "Peer")
    breakers.released("http://peer/x.asmx")  # the trial hit a bug of ours: no verdict
    breakers.before_call("http://peer/x.asmx", "Peer")
    breakers.succeeded("http://peer/x.asmx")
    assert breakers.consecutive_failures("http://peer/x.asmx") == 0


async def test_error_email_gets_one_entry_per_peer_and_kind(client):
    from stws.diagnostics.errormail import ErrorCollector
    collector = ErrorCollector()
    logging.getLogger("stws.error").addHandler(collector)
    try:
        first = "http://127.0.0.1:%d/a.asmx" % closed_port()
        second = "http://127.0.0.1:%d/b%%20c.asmx" % closed_port()
        for _ in range(2):
            await failure_of(authenticate(client, first, peer="First 100%"))
        await failure_of(authenticate(client, second, peer="Second"))
    finally:
        logging.getLogger("stws.error").removeHandler(collector)
    due = collector.take().due
    assert sorted((entry.summary.split("]: ")[0] + "]", entry.count) for entry in due) == [
        ("Remote call Authenticate on First 100%% (%s) failed [unreachable]" % first, 2),
        ("Remote call Authenticate on Second (%s) failed [unreachable]" % second, 1)]


async def test_a_wsdl_cannot_make_us_read_local_files(client, provider, peers):
    peer, url = await scripted(peers, provider, "fault")
    schema_start = peer.wsdl.index(b">", peer.wsdl.index(b":schema ")) + 1
    peer.wsdl = (peer.wsdl[:schema_start] + b'<xs:import xmlns:xs="http://www.w3.org/2001/XMLSchema" '
                 b'namespace="urn:secrets" schemaLocation="file:///etc/hostname"/>' + peer.wsdl[schema_start:])
    failure = await failure_of(authenticate(client, url))
    assert failure.kind == FailureKind.BAD_WSDL
    assert failure.message == ("The WSDL of Acme login (%s?WSDL) cannot be used: it refers to file:///etc/hostname, "
                               "which is not an http(s) address" % url)
    assert peer.calls == 0


# ------------------------------------------------------------------ the environment's proxy


class _ForwardProxy:
    """A real HTTP forward proxy on 127.0.0.1 (twisted.web.proxy) that
    remembers the URLs it forwarded."""

    def __init__(self):
        from twisted.web import http, proxy

        forwarded = self.forwarded = []

        class Request(proxy.ProxyRequest):
            def process(self):
                forwarded.append(self.uri.decode())
                super().process()

        class Channel(proxy.Proxy):
            requestFactory = Request

        factory = http.HTTPFactory()
        factory.protocol = Channel
        self.port = reactor.listenTCP(0, factory, interface="127.0.0.1")
        self.url = "http://127.0.0.1:%d" % self.port.getHost().port


@pytest.fixture
def forward_proxy():
    running = _ForwardProxy()
    yield running
    running.port.stopListening()


@pytest.mark.parametrize("bypassed", [False, True], ids=["through-the-proxy", "no_proxy"])
async def test_calls_follow_the_environments_proxy_settings(provider, forward_proxy, monkeypatch, bypassed):
    # Read once per address by each thread's session (PeerSession), not per
    # request; requests' own rules decide, NO_PROXY included.
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "all_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("http_proxy", forward_proxy.url)
    monkeypatch.setenv("no_proxy", "127.0.0.1" if bypassed else "")
    fresh = PeerClient(max_threads=1)
    fresh.start()
    try:
        for password in ("right", "wrong"):
            result = await authenticate(fresh, provider.url, password=password)
            assert result.Success is True
    finally:
        fresh.stop()
    assert provider.calls == 2
    if bypassed:
        assert forward_proxy.forwarded == []
    else:
        assert [url.partition("?")[0] for url in forward_proxy.forwarded] == [provider.url] * 3  # WSDL, 2 calls
