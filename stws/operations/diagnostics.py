"""Diagnostics for administrators: options, the self-diagnostic, the
background threads and the log files (svcDiagnostics, Settings > Tools >
Diagnostics)."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select

from stws.db.models import ThreadState
from stws import background_threads as threads
from stws.diagnostics import logfiles, options as option_store
from stws.diagnostics.selfcheck import Check, run_self_diagnostic
from stws.errors import NotFound
from stws.mail.accounts import check_smtp_accounts
from stws.mail.pop_accounts import check_pop_accounts
from stws.operations.runner import operation
from stws.providers.testing import check_external_providers
from stws.security import roles


@dataclass(frozen=True)
class ThreadStatus:
    name: str
    description: str
    interval_seconds: int
    is_available: bool
    is_enabled: bool
    is_running_now: bool
    status: str  # running, running now, stopped, not available yet
    last_start_utc: dt.datetime | None
    last_end_utc: dt.datetime | None
    last_duration_ms: int
    last_items: int
    last_error: str
    last_error_utc: dt.datetime | None
    node: str
    total_runs: int


@dataclass(frozen=True)
class LogFilePage:
    content: str
    next_offset: int
    total_size: int


@operation(role=roles.ADMINISTRATOR, writes=False)
def diagnostic_options(context) -> option_store.DiagnosticOptions:
    return option_store.load(context.session)


@operation(role=roles.ADMINISTRATOR)
def set_diagnostic_options(context, items) -> list[str]:
    """Set options from ``Key=Value`` items, all or nothing; they apply at
    once on this node and within seconds on the others. Returns the keys set."""
    options = option_store.load(context.session)
    changed = option_store.OPTION_BAG.set(context.session, options, items)
    cache = context.runtime.options
    context.after_commit.append(lambda: cache.replace(options))
    return changed


# No transaction: checks call other servers (SMTP, POP, external providers)
# and open short transactions of their own.
@operation(role=roles.ADMINISTRATOR, writes=False, slow=True, transaction=False)
def self_diagnostic(context) -> list[Check]:
    """Checks with status pass, warning or failure and a message each."""
    return run_self_diagnostic(context.runtime, (check_smtp_accounts, check_pop_accounts, check_external_providers))


@operation(role=roles.ADMINISTRATOR, writes=False)
def thread_statuses(context) -> list[ThreadStatus]:
    """The 14 background threads: switched on or off, last run, errors."""
    states = {s.name: s for s in context.session.scalars(select(ThreadState))}
    intervals = context.runtime.config.thread_intervals
    workers = context.runtime.workers
    return [_status(t, threads.interval_of(t.name, intervals), states.get(t.name), workers) for t in threads.THREADS]


@operation(role=roles.ADMINISTRATOR)
def start_thread(context, name: str) -> str:
    """Switch a thread on, on every node; it stays on across restarts."""
    return _switch(context, name, True)


@operation(role=roles.ADMINISTRATOR)
def stop_thread(context, name: str) -> str:
    """Switch a thread off, on every node; it stays off across restarts."""
    return _switch(context, name, False)


@operation(role=roles.ADMINISTRATOR, writes=False)
def log_files(context) -> list[logfiles.LogFile]:
    return logfiles.list_log_files(context.runtime.data.logs)


@operation(role=roles.ADMINISTRATOR, writes=False)
def read_log_file(context, name: str, offset: int, max_bytes: int) -> LogFilePage:
    """Up to ``max_bytes`` (at most 1 MiB) from ``offset``, ending at a line
    break; read on from ``next_offset`` until it equals ``total_size``."""
    return LogFilePage(*logfiles.read_log_file(context.runtime.data.logs, name, offset, max_bytes))


@operation(role=roles.ADMINISTRATOR)
def delete_log_files(context, names) -> list[str]:
    """Delete several log files; every name is checked before any is deleted."""
    return logfiles.delete_log_files(context.runtime.data.logs, names)


def _thread(name: str) -> threads.ThreadInfo:
    thread = threads.find(name)
    if thread is None:
        names = ", ".join(t.name for t in threads.THREADS)
        raise NotFound("There is no background thread named %r; the threads are: %s." % (name, names))
    return thread


def _status(thread: threads.ThreadInfo, interval: float, state, workers) -> ThreadStatus:
    runner = workers.runners.get(thread.name) if workers is not None else None
    running_now = bool(runner and runner.running)
    enabled = state.enabled if state is not None else True
    if not thread.available:
        status = "not available yet"
    elif not enabled:
        status = "stopped"
    else:
        status = "running now" if running_now else "running"
    return ThreadStatus(
        name=thread.name, description=thread.description, interval_seconds=int(interval),
        is_available=thread.available, is_enabled=enabled, is_running_now=running_now, status=status,
        last_start_utc=state.last_start_utc if state else None, last_end_utc=state.last_end_utc if state else None,
        last_duration_ms=state.last_duration_ms if state else 0, last_items=state.last_items if state else 0,
        last_error=(state.last_error if state else "") or "",
        last_error_utc=state.last_error_utc if state else None,
        node=(state.last_node if state else "") or "", total_runs=state.total_runs if state else 0,
    )


def _switch(context, name: str, enabled: bool) -> str:
    thread = _thread(name)
    state = context.session.get(ThreadState, thread.name)
    if state is None:
        context.session.add(ThreadState(name=thread.name, enabled=enabled))
    else:
        state.enabled = enabled
        if not enabled:
            state.lease_node = None
            state.lease_expires_utc = None
    note = "" if thread.available else " (it is not available yet, so it does not run either way)"
    return "%s is %s%s." % (thread.name, "started" if enabled else "stopped", note)
