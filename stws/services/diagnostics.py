"""svcDiagnostics.asmx: options, self-diagnostic, background threads and log
files, for administrators (stws.operations.diagnostics). Not a SmarterTrack
service; it follows the same conventions (auth first, Result/ResultCode/
Message, Key=Value arrays)."""
from __future__ import annotations

import datetime as dt

from spyne import ServiceBase

from stws.diagnostics import options as diagnostic_options
from stws.operations import diagnostics
from stws.soap.operation import binds
from stws.soap.types import ArrayOfString, Bool, Int, Long, String, TypeFactory, When, service_namespace

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


def _thread_status_info(status: diagnostics.ThreadStatus) -> ThreadStatusInfo:
    return ThreadStatusInfo(
        Description=status.description, IntervalSeconds=status.interval_seconds,
        IsAvailable=status.is_available, IsEnabled=status.is_enabled, IsRunningNow=status.is_running_now,
        LastDurationMs=status.last_duration_ms, LastEndUtc=status.last_end_utc or NEVER,
        LastError=status.last_error, LastErrorUtc=status.last_error_utc or NEVER, LastItems=status.last_items,
        LastStartUtc=status.last_start_utc or NEVER, Name=status.name, Node=status.node, Status=status.status,
        TotalRuns=status.total_runs,
    )


class DiagnosticsService(ServiceBase):
    __service_name__ = SERVICE_NAME

    @binds(diagnostics.diagnostic_options, returns=T.SettingsRequestResult)
    def GetDiagnosticOptions(options):
        """Every option as Key=Value."""
        items, _ = diagnostic_options.OPTION_BAG.get(None, options, [])
        return {"RequestResults": items}

    @binds(diagnostics.set_diagnostic_options, ("optionValues", ArrayOfString), returns=T.GenericResult)
    def SetDiagnosticOptions(changed):
        """Set options (Key=Value, all or nothing); they apply at once, without restart."""
        return {"Message": "Changed: %s." % ", ".join(changed)}

    @binds(diagnostics.self_diagnostic, returns=SelfDiagnosticResult)
    def RunSelfDiagnostic(checks):
        """Checks with Status pass, warning or failure and a Message each."""
        failures = sum(1 for c in checks if c.status != "pass")
        return {"Checks": [SelfDiagnosticCheck(Message=c.message, Name=c.name, Status=c.status) for c in checks],
                "Message": "%d checks, %d not passed." % (len(checks), failures)}

    @binds(diagnostics.thread_statuses, returns=ThreadStatusInfoArrayResult)
    def GetThreadStatuses(statuses):
        """The 14 background threads: switched on or off, last run, errors."""
        return {"Threads": [_thread_status_info(s) for s in statuses]}

    @binds(diagnostics.start_thread, ("threadName", String), returns=T.GenericResult)
    def StartThread(message):
        """Switch a thread on, on every node; it stays on across restarts."""
        return {"Message": message}

    @binds(diagnostics.stop_thread, ("threadName", String), returns=T.GenericResult)
    def StopThread(message):
        """Switch a thread off, on every node; it stays off across restarts."""
        return {"Message": message}

    @binds(diagnostics.log_files, returns=LogFileInfoArrayResult)
    def GetLogFiles(files):
        return {"Files": [
            LogFileInfo(Date=dt.datetime.combine(f.date, dt.time(), tzinfo=dt.timezone.utc), FileName=f.name,
                        Kind=f.kind, SizeInBytes=f.size)
            for f in files
        ]}

    @binds(diagnostics.read_log_file, ("fileName", String), ("offset", Long), ("maxBytes", Int),
           returns=LogFileContentResult)
    def ReadLogFile(page):
        """Up to maxBytes (at most 1 MiB) from offset, ending at a line break;
        read on from NextOffset until it equals TotalSize."""
        return {"Content": page.content, "NextOffset": page.next_offset, "TotalSize": page.total_size}

    @binds(diagnostics.delete_log_files, ("fileNames", ArrayOfString), returns=T.GenericResult)
    def DeleteLogFiles(deleted):
        """Delete several log files; every name is checked before any is deleted."""
        return {"Message": "Deleted %d log files." % len(deleted)}
