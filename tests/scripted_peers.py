"""Peers for tests of outbound SOAP calls (stws.remote, the providers),
served in the test reactor on 127.0.0.1: any spyne service, and
``ScriptedPeer``, which serves a real WSDL but misbehaves on every call as
its ``mode`` says (HTML, malformed XML, a SOAP fault, an HTTP error, slow,
trickling, oversized, or a canned answer). ``peers`` (a fixture: import it
into the test module) serves them and stops them at teardown."""
from __future__ import annotations

import socket

import pytest
from spyne import Application, ServiceBase, Unicode, rpc
from spyne.protocol.soap import Soap11
from spyne.server.wsgi import WsgiApplication
from twisted.internet import reactor, task
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Site
from twisted.web.wsgi import WSGIResource


class PingOnly(ServiceBase):
    @rpc(Unicode, _returns=Unicode)
    def Ping(ctx, text):
        return text


def wsgi_resource(service, namespace):
    application = Application([service], tns=namespace, in_protocol=Soap11(validator="lxml"),
                              out_protocol=Soap11())
    return WSGIResource(reactor, reactor.getThreadPool(), WsgiApplication(application))


class ScriptedPeer(Resource):
    """Serves a given WSDL; answers every POST as ``mode`` says."""

    isLeaf = True

    def __init__(self, wsdl: bytes, mode: str = "html", answer: bytes = b""):
        super().__init__()
        self.wsdl = wsdl
        self.mode = mode
        self.answer = answer  # the body of mode "canned"
        self.calls = 0

    def render_GET(self, request):
        request.setHeader(b"content-type", b"text/xml; charset=utf-8")
        return self.wsdl

    def render_POST(self, request):
        self.calls += 1
        mode = self.mode
        if mode == "html":
            request.setResponseCode(500)
            request.setHeader(b"content-type", b"text/html; charset=utf-8")
            return (b"<html><head><title>Runtime Error</title></head><body><h2>Server Error in '/' "
                    b"Application.</h2></body></html>")
        if mode == "malformed":
            request.setHeader(b"content-type", b"text/xml; charset=utf-8")
            return b"<soap:Envelope xmlns:soap='http://schemas.xmlsoap.org/soap/envelope/'><soap:Body><Authen"
        if mode == "fault":
            request.setResponseCode(500)
            request.setHeader(b"content-type", b"text/xml; charset=utf-8")
            return (b"<?xml version='1.0'?><soap:Envelope xmlns:soap='http://schemas.xmlsoap.org/soap/envelope/'>"
                    b"<soap:Body><soap:Fault><faultcode>soap:Server</faultcode><faultstring>Server was unable to "
                    b"process request. ---&gt; Object reference not set to an instance of an object."
                    b"</faultstring><detail /></soap:Fault></soap:Body></soap:Envelope>")
        if mode == "status":
            request.setResponseCode(503)
            request.setHeader(b"content-type", b"text/plain")
            return b"down for maintenance"
        if mode == "canned":
            request.setHeader(b"content-type", b"text/xml; charset=utf-8")
            return self.answer
        if mode == "oversized":
            request.setHeader(b"content-type", b"text/xml; charset=utf-8")
            return b"<a>" + b"x" * (2 * 1024 * 1024) + b"</a>"
        if mode.startswith("trickle"):
            # Headers at once, then a byte every 0.1 s: no single read waits long.
            request.setHeader(b"content-type", b"text/xml; charset=utf-8")
            if mode == "trickle-sized":  # else chunked
                request.setHeader(b"content-length", b"100000")
            request.write(b"<")
            drip = task.LoopingCall(lambda: request.write(b" "))
            drip.start(0.1, now=False)
            request.notifyFinish().addBoth(lambda _: drip.stop() if drip.running else None)
            reactor.callLater(5, lambda: None if request.finished or request._disconnected else request.finish())
            return NOT_DONE_YET
        if mode == "slow":
            call = reactor.callLater(5, lambda: request.finish())
            request.notifyFinish().addErrback(lambda _: call.cancel() if call.active() else None)
            return NOT_DONE_YET
        raise AssertionError(mode)


class Peers:
    def __init__(self):
        self.ports = []

    def serve(self, resource, name="svc.asmx") -> str:
        root = Resource()
        root.putChild(name.encode(), resource)
        port = reactor.listenTCP(0, Site(root), interface="127.0.0.1")
        self.ports.append(port)
        return "http://127.0.0.1:%d/%s" % (port.getHost().port, name)


@pytest.fixture
def peers():
    started = Peers()
    yield started
    for port in started.ports:
        port.stopListening()


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
