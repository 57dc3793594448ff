"""The self-diagnostic: checks that report pass, warning or failure.

Each check is a function returning ``Check`` rows; a check that raises is
itself reported as a failure (the self-diagnostic never fails as a whole).
Further checks (SMTP and POP accounts, external providers) are handed in
by the operation that runs it (stws.operations.diagnostics), which may
look at every layer.
"""
from __future__ import annotations

import datetime as dt
import os
import shutil
import socket
import uuid
from dataclasses import dataclass

from sqlalchemy import select, text

from stws.db import schema
from stws.db.models import ThreadState, utcnow
from stws import background_threads as threads

PASS, WARNING, FAILURE = "pass", "warning", "failure"
LOW_DISK_WARNING = 1024 ** 3  # 1 GiB
LOW_DISK_FAILURE = 100 * 1024 ** 2
PROBE_TIMEOUT_SECONDS = 5


@dataclass(frozen=True)
class Check:
    name: str
    status: str
    message: str


def check_folders(runtime) -> list[Check]:
    results = []
    for attribute, path in runtime.data.folders().items():
        name = "Folder %s" % path.name
        if not path.is_dir():
            results.append(Check(name, FAILURE, "%s does not exist." % path))
            continue
        probe = path / (".stws-probe-%s" % uuid.uuid4().hex)
        try:
            with open(probe, "wb") as stream:
                stream.write(b"probe")
                os.fsync(stream.fileno())
            probe.unlink()
        except OSError as error:
            results.append(Check(name, FAILURE, "%s is not writable: %s." % (path, error.strerror)))
            continue
        results.append(Check(name, PASS, "%s exists and is writable." % path))
    return results


def check_database(runtime) -> list[Check]:
    try:
        with runtime.db.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as error:  # noqa: BLE001 - reported, not raised
        return [Check("Database", FAILURE, "The database cannot be reached: %s" % error)]
    current, head = schema.current_revision(runtime.db.engine), schema.head_revision()
    if current != head:
        return [Check("Database", FAILURE, "The database is at migration %s; the latest is %s." % (current, head))]
    return [Check("Database", PASS, "%s is reachable and at the latest migration (%s)."
                  % (runtime.db.engine.dialect.name, head))]


def check_disk_space(runtime) -> list[Check]:
    usage = shutil.disk_usage(runtime.data.root)
    free_mib = usage.free // (1024 * 1024)
    message = "%d MiB free of %d MiB on the data directory's disk." % (free_mib, usage.total // (1024 * 1024))
    if usage.free < LOW_DISK_FAILURE:
        return [Check("Disk space", FAILURE, message)]
    if usage.free < LOW_DISK_WARNING:
        return [Check("Disk space", WARNING, message)]
    return [Check("Disk space", PASS, message)]


def check_connectivity(runtime) -> list[Check]:
    address = runtime.options.get().ConnectivityProbeAddress
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=PROBE_TIMEOUT_SECONDS):
            pass
    except OSError as error:
        return [Check("Internet connectivity", FAILURE, "Cannot connect to %s: %s." % (address, error))]
    return [Check("Internet connectivity", PASS, "Connected to %s." % address)]


def check_threads(runtime, now: dt.datetime | None = None) -> list[Check]:
    now = now or utcnow()
    with runtime.db.transaction(writes=False) as session:
        states = {s.name: s for s in session.scalars(select(ThreadState))}
    stalled = []
    for thread in threads.THREADS:
        name = thread.name
        state = states.get(name)
        if state is None or not state.enabled or not thread.available:
            continue
        # A running thread ends a run every interval; three missed intervals is a stall.
        last = state.last_end_utc or state.last_start_utc
        allowed = dt.timedelta(seconds=3 * threads.interval_of(name, runtime.config.thread_intervals) + 60)
        if last is not None and now - last > allowed:
            stalled.append("%s (last run %s)" % (name, last.strftime("%Y-%m-%d %H:%M:%SZ")))
        elif state.last_start_utc and (not state.last_end_utc or state.last_end_utc < state.last_start_utc) \
                and now - state.last_start_utc > allowed:
            stalled.append("%s (running since %s)" % (name, state.last_start_utc.strftime("%Y-%m-%d %H:%M:%SZ")))
    if stalled:
        return [Check("Background threads", FAILURE, "Stalled: %s." % "; ".join(stalled))]
    return [Check("Background threads", PASS, "No background thread is stalled.")]


CHECKS = [check_folders, check_database, check_disk_space, check_connectivity, check_threads]


def run_self_diagnostic(runtime, more_checks=()) -> list[Check]:
    """CHECKS, then ``more_checks`` (functions(runtime) -> [Check]: the mail
    accounts', the external providers', which the operation adds)."""
    results = []
    for check in [*CHECKS, *more_checks]:
        try:
            results.extend(check(runtime))
        except Exception as error:  # noqa: BLE001 - a broken check is a finding
            results.append(Check(check.__name__, FAILURE, "The check itself failed: %s" % error))
    return results
