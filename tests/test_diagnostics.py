"""svcDiagnostics.asmx through zeep: options (applied at once), tracing
logs, self-diagnostic, thread status and switches, log files."""
from __future__ import annotations

import datetime as dt
import logging
import socket

import pytest
import pytest_twisted

from conftest import strings
from stws.db.models import ThreadState
from stws.errors import ResultCode
from stws.logs import DailyFileHandler


@pytest_twisted.async_fixture
async def diag(server):
    return await server.client("svcDiagnostics")


def as_dict(result) -> dict:
    return dict(item.split("=", 1) for item in result.RequestResults.string)


def log_text(server, kind: str) -> str:
    return "".join(p.read_text() for p in server.runtime.data.logs.glob("%s-*.log" % kind))


async def test_default_options(server, diag):
    result = await diag.GetDiagnosticOptions(*server.admin)
    assert result.Result
    options = as_dict(result)
    assert options["HeartbeatIntervalSeconds"] == "10"
    assert options["WhosOnIntervalSeconds"] == "8"
    assert options["DeleteLogFilesAfterDays"] == "14"
    assert options["EmailAddressToReceiveErrors"] == ""
    for switch in ("EnableShortQueryLogging", "EnableFullQueryLogging", "EnableLockTracing", "EnableCacheTracing"):
        assert options[switch] == "false"


async def test_set_options_all_or_nothing(server, diag):
    bad = await diag.SetDiagnosticOptions(*server.admin, strings("HeartbeatIntervalSeconds=20",
                                                                  "DeleteLogFilesAfterDays=0", "Colour=blue"))
    assert bad.Result is False and bad.ResultCode == int(ResultCode.INVALID_ARGUMENT)
    assert "DeleteLogFilesAfterDays" in bad.Message and "Colour" in bad.Message
    assert as_dict(await diag.GetDiagnosticOptions(*server.admin))["HeartbeatIntervalSeconds"] == "10"
    good = await diag.SetDiagnosticOptions(*server.admin, strings(
        "HeartbeatIntervalSeconds=20", "EmailAddressToReceiveErrors=ops@example.com"))
    assert good.Result, good.Message
    options = as_dict(await diag.GetDiagnosticOptions(*server.admin))
    assert options["HeartbeatIntervalSeconds"] == "20"
    assert options["EmailAddressToReceiveErrors"] == "ops@example.com"


async def test_options_need_an_administrator(server, diag):
    org = await server.client("svcOrganization")
    created = await org.CreateUser(*server.admin, "agent1", "agent-passw0rd", "a@example.com", True, "")
    await org.SetUsersProperties(*server.admin, created.RequestResult, strings("Roles=Agent,Manager"))
    for call in (diag.GetDiagnosticOptions("agent1", "agent-passw0rd"),
                 diag.GetThreadStatuses("agent1", "agent-passw0rd"),
                 diag.GetLogFiles("agent1", "agent-passw0rd")):
        result = await call
        assert result.Result is False and result.ResultCode == int(ResultCode.PERMISSION_DENIED)


async def test_query_logging_switches_on_at_once(server, diag):
    assert (await diag.SetDiagnosticOptions(*server.admin, strings("EnableShortQueryLogging=true"))).Result
    await diag.GetThreadStatuses(*server.admin)
    short = log_text(server, "query")
    assert "SELECT" in short and "thread_states" in short
    assert "params=" not in short
    assert (await diag.SetDiagnosticOptions(*server.admin, strings("EnableShortQueryLogging=false",
                                                                    "EnableFullQueryLogging=true"))).Result
    await diag.GetThreadStatuses(*server.admin)
    full = log_text(server, "query")[len(short):]
    assert "thread_states" in full and " ms | " in full and "params=" in full
    assert "caller=operations/diagnostics.py" in full
    assert (await diag.SetDiagnosticOptions(*server.admin, strings("EnableFullQueryLogging=false"))).Result
    size = len(log_text(server, "query"))
    await diag.GetThreadStatuses(*server.admin)
    assert len(log_text(server, "query")) == size  # off again: nothing more


async def test_lock_and_cache_tracing(server, diag):
    assert (await diag.SetDiagnosticOptions(*server.admin, strings("EnableLockTracing=true",
                                                                    "EnableCacheTracing=true"))).Result
    await diag.GetThreadStatuses(*server.admin)
    await diag.GetThreadStatuses(*server.admin)
    locks, cache = log_text(server, "lock"), log_text(server, "cache")
    assert "credential-cache:" in locks and "acquired" in locks and "released" in locks
    assert "credentials hit user" in cache
    await diag.GetThreadStatuses("admin", "wrong")
    assert "credentials miss" in log_text(server, "cache")


async def test_self_diagnostic(server, diag):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    try:
        port = listener.getsockname()[1]
        assert (await diag.SetDiagnosticOptions(
            *server.admin, strings("ConnectivityProbeAddress=127.0.0.1:%d" % port))).Result
        result = await diag.RunSelfDiagnostic(*server.admin)
    finally:
        listener.close()
    checks = {c.Name: c for c in result.Checks.SelfDiagnosticCheck}
    assert checks["Database"].Status == "pass" and "latest migration" in checks["Database"].Message
    assert checks["Internet connectivity"].Status == "pass"
    assert checks["Folder logs"].Status == "pass" and checks["Folder email"].Status == "pass"
    assert checks["Disk space"].Status in ("pass", "warning")
    assert checks["Background threads"].Status == "pass"
    # Now break things: the probe port is closed and a folder is gone.
    (server.runtime.data.zip_files).rmdir()
    result = await diag.RunSelfDiagnostic(*server.admin)
    checks = {c.Name: c for c in result.Checks.SelfDiagnosticCheck}
    assert checks["Internet connectivity"].Status == "failure"
    assert checks["Folder zip-files"].Status == "failure" and "does not exist" in checks["Folder zip-files"].Message


async def test_thread_statuses_and_switches(server, diag):
    result = await diag.GetThreadStatuses(*server.admin)
    threads = {t.Name: t for t in result.Threads.ThreadStatusInfo}
    assert len(threads) == 14
    assert threads["Ticket Watcher"].IntervalSeconds > 0
    stop = await diag.StopThread(*server.admin, "ticket watcher")
    assert stop.Result, stop.Message
    with server.runtime.db.transaction(writes=False) as session:
        assert session.get(ThreadState, "Ticket Watcher").enabled is False
    threads = {t.Name: t for t in (await diag.GetThreadStatuses(*server.admin)).Threads.ThreadStatusInfo}
    assert threads["Ticket Watcher"].IsEnabled is False
    assert (await diag.StartThread(*server.admin, "Ticket Watcher")).Result
    with server.runtime.db.transaction(writes=False) as session:
        assert session.get(ThreadState, "Ticket Watcher").enabled is True
    missing = await diag.StopThread(*server.admin, "Coffee Maker")
    assert missing.Result is False and missing.ResultCode == int(ResultCode.NOT_FOUND)
    assert "Ticket Watcher" in missing.Message


async def test_log_files_list_read_delete(server, diag):
    logs = server.runtime.data.logs
    (logs / "smtp-2026-01-02.log").write_text("".join("line %04d\n" % n for n in range(1000)))
    (logs / "pop-2026-01-03.log").write_text("pop\n")
    files = {f.FileName: f for f in (await diag.GetLogFiles(*server.admin)).Files.LogFileInfo}
    assert files["smtp-2026-01-02.log"].SizeInBytes == 10000
    assert files["smtp-2026-01-02.log"].Kind == "smtp"
    assert files["smtp-2026-01-02.log"].Date == dt.datetime(2026, 1, 2, tzinfo=dt.timezone.utc)
    assert any(name.startswith("system-") for name in files)

    pages, offset = [], 0
    while True:
        page = await diag.ReadLogFile(*server.admin, "smtp-2026-01-02.log", offset, 4096)
        assert page.Result and page.TotalSize == 10000
        pages.append(page.Content)
        assert page.Content.endswith("\n")  # pages end at a line break
        if page.NextOffset >= page.TotalSize:
            break
        offset = page.NextOffset
    assert len(pages) == 3 and "".join(pages) == "".join("line %04d\n" % n for n in range(1000))

    for bad in ("../stws.sqlite3", "/etc/passwd", "smtp-2026-01-02.log/.."):
        result = await diag.ReadLogFile(*server.admin, bad, 0, 100)
        assert result.Result is False and result.ResultCode == int(ResultCode.INVALID_ARGUMENT)
    result = await diag.DeleteLogFiles(*server.admin, strings("pop-2026-01-03.log", "../stws.sqlite3"))
    assert result.Result is False
    assert (logs / "pop-2026-01-03.log").exists()  # nothing deleted
    result = await diag.DeleteLogFiles(*server.admin, strings("pop-2026-01-03.log", "smtp-2026-01-02.log"))
    assert result.Result, result.Message
    assert not (logs / "pop-2026-01-03.log").exists() and not (logs / "smtp-2026-01-02.log").exists()
    missing = await diag.ReadLogFile(*server.admin, "pop-2026-01-03.log", 0, 100)
    assert missing.ResultCode == int(ResultCode.NOT_FOUND)


async def test_lines_written_after_todays_log_file_was_deleted_are_kept_by_every_node(server, diag):
    """Nodes share the data directory: today's error log deleted through one
    node, the next lines of this node and of another one that had the file
    open too are in the new file, not in the deleted one."""
    logs = server.runtime.data.logs
    other_node = DailyFileHandler(logs, "error")  # another process's handler of the same folder
    log = logging.getLogger("stws.error")

    def on_other_node(text):
        other_node.handle(log.makeRecord("stws.error", logging.ERROR, __file__, 1, text, (), None))

    try:
        log.error("written before the delete")
        on_other_node("the other node, before the delete")
        name = "error-%s.log" % dt.datetime.now(dt.timezone.utc).date().isoformat()
        result = await diag.DeleteLogFiles(*server.admin, strings(name))
        assert result.Result, result.Message
        log.error("written after the delete")
        on_other_node("the other node, after the delete")
        text = (logs / name).read_text()
        assert "written after the delete" in text and "the other node, after the delete" in text
        assert "before the delete" not in text
    finally:
        other_node.close()
