"""svcDiagnostics.asmx with real .NET clients (Mono): the ``wsdl`` proxy
(SOAP 1.1 and 1.2) has plain wrapped signatures, and a C# program drives
options, background threads, log files and the self-diagnostic through it
(csharp/DiagnosticsAsmx.cs). Proxies are generated and compiled once per
module and pointed at each test's own server.
"""
from __future__ import annotations

import socket

import pytest
from twisted.internet.threads import deferToThread

import dotnet
from stws.db.models import ThreadState
from stws.services.diagnostics import DiagnosticsService
from stws.workers import registry

pytestmark = dotnet.requires_mono()

NAMESPACE = "http://www.smartertools.com/SmarterTrack/Services2/svcDiagnostics.asmx"
SCENARIO = "DiagnosticsAsmx.cs"
OPERATIONS = sorted(DiagnosticsService.public_methods)

SIGNATURES = [
    "SettingsRequestResult GetDiagnosticOptions(string authUserName, string authPassword)",
    "GenericResult SetDiagnosticOptions(string authUserName, string authPassword, string[] optionValues)",
    "SelfDiagnosticResult RunSelfDiagnostic(string authUserName, string authPassword)",
    "ThreadStatusInfoArrayResult GetThreadStatuses(string authUserName, string authPassword)",
    "GenericResult StartThread(string authUserName, string authPassword, string threadName)",
    "GenericResult StopThread(string authUserName, string authPassword, string threadName)",
    "LogFileInfoArrayResult GetLogFiles(string authUserName, string authPassword)",
    "LogFileContentResult ReadLogFile(string authUserName, string authPassword, string fileName, long offset, "
    "int maxBytes)",
    "GenericResult DeleteLogFiles(string authUserName, string authPassword, string[] fileNames)",
]

DECLARATIONS = [
    "public bool Result {", "public int ResultCode {", "public string Message {",
    "public string[] RequestResults {", "public SelfDiagnosticCheck[] Checks {",
    "public ThreadStatusInfo[] Threads {", "public LogFileInfo[] Files {",
    "public string Content {", "public long NextOffset {", "public long TotalSize {",
    "public int IntervalSeconds {", "public bool IsAvailable {", "public bool IsEnabled {",
    "public bool IsRunningNow {", "public int LastDurationMs {", "public System.DateTime LastEndUtc {",
    "public System.DateTime LastErrorUtc {", "public System.DateTime LastStartUtc {", "public int TotalRuns {",
    "public System.DateTime Date {", "public long SizeInBytes {",
]

LOG_NAME = "smtp-2026-01-02.log"
LOG_TEXT = "".join("line %04d\n" % n for n in range(1000))


@pytest.fixture(scope="module")
def builds(tmp_path_factory):
    return dotnet.Builds(tmp_path_factory.mktemp("dotnet-diagnostics"))


@pytest.fixture
def probe():
    """A TCP listener for the self-diagnostic's connectivity check."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    yield "127.0.0.1:%d" % listener.getsockname()[1]
    listener.close()


@pytest.mark.parametrize("soap12", [False, True], ids=["soap11", "soap12"])
async def test_wsdl_proxy_has_plain_wrapped_signatures(server, builds, soap12):
    client = await builds.asmx_client(server.url("svcDiagnostics"), SCENARIO, soap12=soap12)
    proxy = client.proxy

    dotnet.assert_asmx_proxy_class(proxy, "svcDiagnostics", NAMESPACE, soap12)
    dotnet.assert_wrapped_signatures(proxy, NAMESPACE, SIGNATURES, OPERATIONS)
    dotnet.assert_wrapped_in_own_namespace(proxy)
    dotnet.assert_no_nullable_value_types(proxy)
    dotnet.assert_declares(proxy, DECLARATIONS)


@pytest.mark.parametrize("soap12", [False, True], ids=["soap11", "soap12"])
async def test_diagnostics_through_the_wsdl_proxy(server, builds, probe, soap12):
    client = await builds.asmx_client(server.url("svcDiagnostics"), SCENARIO, soap12=soap12)
    (server.runtime.data.logs / LOG_NAME).write_text(LOG_TEXT)

    run = await builds.run(client, server.url("svcDiagnostics"), *server.admin, LOG_NAME, str(len(LOG_TEXT)),
                           probe)
    run.assert_succeeded()
    ok = run.ok
    assert ok["Proxy"]["soapVersion"] == ("Soap12" if soap12 else "Default")
    assert ok["GetDiagnosticOptions"]["HeartbeatIntervalSeconds"] == "10"
    assert ok["SetDiagnosticOptions"] == {"HeartbeatIntervalSeconds": "25", "refusedCode": "4"}
    assert ok["GetThreadStatuses"]["count"] == "14" == str(len(registry.definitions()))
    assert ok["StopThread"] == {"IsEnabled": "False", "status": "stopped"}
    assert ok["StartThread"] == {"IsEnabled": "True"}
    assert ok["UnknownThread"] == {"code": "5"}
    assert ok["GetLogFiles"]["kind"] == "smtp"
    assert ok["GetLogFiles"]["date"] == "2026-01-02"
    assert ok["GetLogFiles"]["size"] == str(len(LOG_TEXT))
    assert ok["ReadLogFile"] == {"pages": "3", "chars": str(len(LOG_TEXT))}
    assert int(ok["RunSelfDiagnostic"]["checks"]) >= 5
    assert ok["WrongPassword"] == {"code": "1"}
    checks = [line for line in run.stdout.splitlines() if line.startswith("CHECK ")]
    assert "CHECK pass Database: " in "\n".join(checks)

    # Server side: the option applied at once, and the switch is stored on.
    assert (await deferToThread(server.runtime.options.get)).HeartbeatIntervalSeconds == 25

    def thread_state():
        with server.runtime.db.transaction(writes=False) as session:
            return session.get(ThreadState, "Ticket Watcher").enabled

    assert await deferToThread(thread_state) is True
