"""Call Log Watcher: the 7-day default, the departments' own settings, soft
deletion, batches, the maintenance pause, and the thread on a real reactor."""
from __future__ import annotations

import datetime as dt
import itertools
import time

import pytest_twisted
from sqlalchemy import select
from twisted.internet import reactor, task, threads

from stws.db.models import CallLog, Department, Group, Setting, utcnow
from stws.workers import registry
from stws.workers.framework import MAINTENANCE_SETTING, JobContext, RunOutcome, WorkerService
from stws.workers.jobs import call_log_watcher
from workers.test_framework import EPOCH, Harness, runtime, state, with_rows  # noqa: F401

NOW = EPOCH + dt.timedelta(days=100)
DAY = dt.timedelta(days=1)
HOUR = dt.timedelta(hours=1)
_numbers = itertools.count(1)


def department(runtime, name, **settings) -> int:
    with runtime.db.transaction() as session:
        brand_id = session.scalar(select(Department.brand_id).order_by(Department.id))
        row = Department(brand_id=brand_id, name=name, **settings)
        session.add(row)
        session.flush()
        group = Group(department_id=row.id, name="Level 1")
        session.add(group)
        session.flush()
        row.front_line_group_id = group.id
        return row.id


def call_log(runtime, department_id, created, **columns) -> int:
    with runtime.db.transaction() as session:
        group_id = session.get(Department, department_id).front_line_group_id
        number = next(_numbers)
        row = CallLog(call_number="CL-%06d" % number, department_id=department_id, group_id=group_id, agent_id=1,
                      subject="Call %d" % number, date_created_utc=created, date_modified_utc=created, **columns)
        session.add(row)
        session.flush()
        return row.id


def get(runtime, log_id) -> CallLog:
    with runtime.db.transaction(writes=False) as session:
        return session.get(CallLog, log_id)


def watch(runtime, now=NOW) -> int:
    (definition,) = [d for d in registry.definitions() if d.name == "Call Log Watcher"]
    return call_log_watcher.run(JobContext(runtime, definition, now))


def test_call_logs_older_than_seven_days_are_deleted_unless_their_department_says_otherwise(runtime):
    default = department(runtime, "Default rule")
    switched_off = department(runtime, "Off", auto_delete_call_log_enabled=False, auto_delete_call_log_days=1)
    month = department(runtime, "Month", auto_delete_call_log_enabled=True, auto_delete_call_log_days=30)
    two = department(runtime, "Two days", auto_delete_call_log_enabled=True, auto_delete_call_log_days=2)
    old = call_log(runtime, default, NOW - 7 * DAY - HOUR)
    young = call_log(runtime, default, NOW - 7 * DAY + HOUR)
    off_old = call_log(runtime, switched_off, NOW - 8 * DAY)
    off_young = call_log(runtime, switched_off, NOW - 2 * DAY)  # its 1 day applies only when enabled
    month_kept = call_log(runtime, month, NOW - 20 * DAY)
    month_old = call_log(runtime, month, NOW - 31 * DAY)
    two_old = call_log(runtime, two, NOW - 3 * DAY)
    two_young = call_log(runtime, two, NOW - DAY)
    seeded = call_log(runtime, 1, NOW - 10 * DAY)  # the seeded "Support" department: the default too

    assert watch(runtime) == 5
    for log_id in (old, off_old, month_old, two_old, seeded):
        row = get(runtime, log_id)
        assert (row.is_deleted, row.date_deleted_utc) == (True, NOW)
    assert not any(get(runtime, log_id).is_deleted for log_id in (young, off_young, month_kept, two_young))

    assert watch(runtime, NOW + HOUR) == 0  # deleted once, the date stays
    assert get(runtime, old).date_deleted_utc == NOW
    assert watch(runtime, NOW + 2 * HOUR) == 1 and get(runtime, young).is_deleted


def test_a_large_backlog_goes_in_batches_bounded_per_run(runtime, monkeypatch):
    monkeypatch.setattr(call_log_watcher, "BATCH", 4)
    monkeypatch.setattr(call_log_watcher, "RUN_LIMIT", 10)
    logs = [call_log(runtime, 1, NOW - (30 - n) * DAY) for n in range(13)]
    assert watch(runtime) == 10
    assert [get(runtime, log_id).is_deleted for log_id in logs] == [True] * 10 + [False] * 3  # oldest first
    assert watch(runtime) == 3


def test_the_thread_waits_for_maintenance_and_runs_on_its_interval(runtime):
    log_id = call_log(runtime, 1, EPOCH - 8 * DAY)
    (definition,) = [d for d in registry.definitions() if d.name == "Call Log Watcher"]
    assert definition.available and definition.waits_for_maintenance and definition.interval == 3600
    with_rows(runtime, definition)
    with runtime.db.transaction() as session:
        session.add(Setting(name=MAINTENANCE_SETTING, value="true"))
    harness = Harness(runtime, definition)
    harness.runner.start()
    assert harness.advance(3600) == RunOutcome.MAINTENANCE and not get(runtime, log_id).is_deleted
    with runtime.db.transaction() as session:
        session.get(Setting, MAINTENANCE_SETTING).value = "false"
    assert harness.advance(3600) == RunOutcome.RAN
    assert get(runtime, log_id).date_deleted_utc == EPOCH + 2 * HOUR
    assert state(runtime, "Call Log Watcher").last_items == 1
    harness.runner.stop()


@pytest_twisted.inlineCallbacks
def test_the_watcher_deletes_an_old_call_log_on_a_real_reactor(runtime):
    old = call_log(runtime, 1, utcnow() - 8 * DAY)
    young = call_log(runtime, 1, utcnow() - DAY)
    definitions = [d for d in registry.definitions({"Call Log Watcher": 0.2}) if d.name == "Call Log Watcher"]
    workers = WorkerService(runtime, definitions, reactor)
    workers.startService()
    try:
        deadline = time.monotonic() + 15
        while not (yield threads.deferToThread(get, runtime, old)).is_deleted:
            assert time.monotonic() < deadline, "the Call Log Watcher did not delete the call log"
            yield task.deferLater(reactor, 0.05, lambda: None)
    finally:
        yield workers.stopService()
    assert not (yield threads.deferToThread(get, runtime, young)).is_deleted
    assert state(runtime, "Call Log Watcher").last_error == ""
