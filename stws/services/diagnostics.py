"""svcDiagnostics.asmx: options, self-diagnostic, background threads and log
files, for administrators. Not a SmarterTrack service; it follows the same
conventions (auth first, Result/ResultCode/Message, Key=Value arrays)."""
from __future__ import annotations

import datetime as dt

from spyne import ServiceBase
from sqlalchemy import select

from stws.db.models import ThreadState
from stws.diagnostics import logfiles, options as diagnostic_options
from stws.diagnostics.selfcheck import run_self_diagnostic
from stws.domain.errors import NotFound
from stws.security import roles
from stws.soap.operation import operation
from stws.soap.types import ArrayOfString, Bool, Int, Long, String, TypeFactory, When, service_namespace
from stws.workers import registry

SERVICE_NAME = "svcDiagnostics"
T = TypeFactory(service_namespace(SERVICE_NAME))

SelfDiagnosticCheck = T.complex("SelfDiagnosticCheck", [("Message", String), ("Name", String), ("Status", String)])
ThreadStatusInfo = T.complex("ThreadStatusInfo", [
    ("Description", String), ("IntervalSeconds", Int), ("IsAvailable", Bool), ("IsEnabled", Bool),
    ("IsRunningNow", Bool), ("LastDurationMs", Int), ("LastEndUtc", When), ("LastError", String),
    ("LastErrorUtc", When), ("LastItems", Int), ("LastStartUtc", When), ("Name", String), ("Node", String),
    ("Status", String), ("TotalRuns", Int),
])
LogFileInfo = T.complex("LogFileInfo", [("Date", When), ("FileName", String), ("Kind", String),
                                        ("SizeInBytes", Long)])

SelfDiagnosticResult = T.result("SelfDiagnosticResult", Checks=T.array_of(SelfDiagnosticCheck))
ThreadStatusInfoArrayResult = T.result("ThreadStatusInfoArrayResult", Threads=T.array_of(ThreadStatusInfo))
LogFileInfoArrayResult = T.result("LogFileInfoArrayResult", Files=T.array_of(LogFileInfo))
LogFileContentResult = T.result("LogFileContentResult", Content=String, NextOffset=Long, TotalSize=Long)

# What a never-happened datetime is written as (.NET's DateTime.MinValue).
NEVER = dt.datetime(1, 1, 1, tzinfo=dt.timezone.utc)


def _definition(call, name: str):
    for definition in registry.definitions(call.runtime.config.thread_intervals):
        if definition.name.lower() == (name or "").strip().lower():
            return definition
    names = ", ".join(d.name for d in registry.definitions())
    raise NotFound("There is no background thread named %r; the threads are: %s." % (name, names))


def _thread_status(definition, state, workers) -> ThreadStatusInfo:
    runner = workers.runners.get(definition.name) if workers is not None else None
    enabled = state.enabled if state is not None else True
    if not definition.available:
        status = "not available yet"
    elif not enabled:
        status = "stopped"
    elif runner is not None and runner.running:
        status = "running now"
    else:
        status = "running"
    return ThreadStatusInfo(
        Description=definition.description, IntervalSeconds=int(definition.interval),
        IsAvailable=definition.available, IsEnabled=enabled,
        IsRunningNow=bool(runner and runner.running),
        LastDurationMs=state.last_duration_ms if state else 0,
        LastEndUtc=(state.last_end_utc if state else None) or NEVER,
        LastError=state.last_error if state else "",
        LastErrorUtc=(state.last_error_utc if state else None) or NEVER,
        LastItems=state.last_items if state else 0,
        LastStartUtc=(state.last_start_utc if state else None) or NEVER,
        Name=definition.name, Node=(state.last_node if state else "") or "",
        Status=status, TotalRuns=state.total_runs if state else 0,
    )


class DiagnosticsService(ServiceBase):
    __service_name__ = SERVICE_NAME

    @operation(returns=T.SettingsRequestResult, role=roles.ADMINISTRATOR, writes=False)
    def GetDiagnosticOptions(call):
        """Every option as Key=Value."""
        options = diagnostic_options.load(call.session)
        items, _ = diagnostic_options.OPTION_BAG.get(call.session, options, [])
        return {"RequestResults": items}

    @operation(("optionValues", ArrayOfString), returns=T.GenericResult, role=roles.ADMINISTRATOR)
    def SetDiagnosticOptions(call, optionValues):
        """Set options (Key=Value, all or nothing); they apply at once, without restart."""
        options = diagnostic_options.load(call.session)
        changed = diagnostic_options.OPTION_BAG.set(call.session, options, optionValues)
        cache = call.runtime.options
        call.after_commit.append(lambda: cache.replace(options))
        return {"Message": "Changed: %s." % ", ".join(changed)}

    @operation(returns=SelfDiagnosticResult, role=roles.ADMINISTRATOR, writes=False, slow=True)
    def RunSelfDiagnostic(call):
        """Checks with Status pass, warning or failure and a Message each."""
        checks = run_self_diagnostic(call.runtime)
        failures = sum(1 for c in checks if c.status != "pass")
        return {"Checks": [SelfDiagnosticCheck(Message=c.message, Name=c.name, Status=c.status) for c in checks],
                "Message": "%d checks, %d not passed." % (len(checks), failures)}

    @operation(returns=ThreadStatusInfoArrayResult, role=roles.ADMINISTRATOR, writes=False)
    def GetThreadStatuses(call):
        """The 14 background threads: switched on or off, last run, errors."""
        states = {s.name: s for s in call.session.scalars(select(ThreadState))}
        workers = call.runtime.workers
        return {"Threads": [_thread_status(d, states.get(d.name), workers)
                            for d in registry.definitions(call.runtime.config.thread_intervals)]}

    @operation(("threadName", String), returns=T.GenericResult, role=roles.ADMINISTRATOR)
    def StartThread(call, threadName):
        """Switch a thread on, on every node; it stays on across restarts."""
        return _switch(call, threadName, True)

    @operation(("threadName", String), returns=T.GenericResult, role=roles.ADMINISTRATOR)
    def StopThread(call, threadName):
        """Switch a thread off, on every node; it stays off across restarts."""
        return _switch(call, threadName, False)

    @operation(returns=LogFileInfoArrayResult, role=roles.ADMINISTRATOR, writes=False)
    def GetLogFiles(call):
        return {"Files": [
            LogFileInfo(Date=dt.datetime.combine(f.date, dt.time(), tzinfo=dt.timezone.utc), FileName=f.name,
                        Kind=f.kind, SizeInBytes=f.size)
            for f in logfiles.list_log_files(call.runtime.data.logs)
        ]}

    @operation(("fileName", String), ("offset", Long), ("maxBytes", Int), returns=LogFileContentResult,
               role=roles.ADMINISTRATOR, writes=False)
    def ReadLogFile(call, fileName, offset, maxBytes):
        """Up to maxBytes (at most 1 MiB) from offset, ending at a line break;
        read on from NextOffset until it equals TotalSize."""
        content, next_offset, total = logfiles.read_log_file(call.runtime.data.logs, fileName, offset, maxBytes)
        return {"Content": content, "NextOffset": next_offset, "TotalSize": total}

    @operation(("fileNames", ArrayOfString), returns=T.GenericResult, role=roles.ADMINISTRATOR)
    def DeleteLogFiles(call, fileNames):
        """Delete several log files; every name is checked before any is deleted."""
        deleted = logfiles.delete_log_files(call.runtime.data.logs, fileNames)
        return {"Message": "Deleted %d log files." % len(deleted)}


def _switch(call, name: str, enabled: bool):
    definition = _definition(call, name)
    state = call.session.get(ThreadState, definition.name)
    if state is None:
        call.session.add(ThreadState(name=definition.name, enabled=enabled))
    else:
        state.enabled = enabled
        if not enabled:
            state.lease_node = None
            state.lease_expires_utc = None
    note = "" if definition.available else " (it is not available yet, so it does not run either way)"
    return {"Message": "%s is %s%s." % (definition.name, "started" if enabled else "stopped", note)}
