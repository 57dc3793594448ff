"""The thread framework, driven by a Clock: ticks, overlap, failures,
start/stop, leases and the maintenance flag."""
from __future__ import annotations

import datetime as dt

import pytest
from twisted.internet import defer, task

from stws.config import Config
from stws.db.models import Setting, ThreadState
from stws.runtime import start_runtime
from stws import background_threads as threads
from stws.workers import registry
from stws.workers.framework import (
    MAINTENANCE_SETTING, STAGGER_SECONDS, RunOutcome, ThreadDefinition, ThreadRunner, WorkerService, set_enabled,
)

EPOCH = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)


@pytest.fixture
def runtime(tmp_path, database_url, monkeypatch):
    monkeypatch.setenv("STWS_ADMIN_PASSWORD", "x-passw0rd")
    runtime = start_runtime(Config(data_dir=tmp_path / "data", database=database_url))
    yield runtime
    runtime.close()


class Harness:
    """A runner on a Clock with a synchronous executor."""

    def __init__(self, runtime, definition, node="node-a"):
        self.clock = task.Clock()
        self.runner = ThreadRunner(definition, runtime, node, clock=self.clock,
                                   executor=lambda fn: defer.maybeDeferred(fn),
                                   now=lambda: EPOCH + dt.timedelta(seconds=self.clock.seconds()))

    def advance(self, seconds):
        self.clock.advance(seconds)
        return self.runner.last_outcome


def queueing_executor(pending: list):
    """An executor whose runs wait in ``pending`` as (Deferred, fn) until the
    test finishes them; the lease renewals that ticks during a run ask for
    are quick and done at once."""
    def executor(fn):
        if getattr(fn, "__name__", "") == "renew_lease":
            return defer.maybeDeferred(fn)
        d = defer.Deferred()
        pending.append((d, fn))
        return d
    return executor


def state(runtime, name) -> ThreadState:
    with runtime.db.transaction(writes=False) as session:
        return session.get(ThreadState, name)


def with_rows(runtime, *definitions):
    from stws.workers.framework import ensure_rows
    ensure_rows(runtime.db, definitions)


def test_runs_every_interval_and_records_its_runs(runtime):
    calls = []
    definition = ThreadDefinition("Test Thread", 10, "test", job=lambda ctx: calls.append(ctx.now) or 3)
    with_rows(runtime, definition)
    harness = Harness(runtime, definition)
    harness.runner.start()
    assert harness.advance(5) == "" and calls == []
    assert harness.advance(5) == RunOutcome.RAN
    assert harness.advance(10) == RunOutcome.RAN
    assert calls == [EPOCH + dt.timedelta(seconds=10), EPOCH + dt.timedelta(seconds=20)]
    row = state(runtime, "Test Thread")
    assert (row.total_runs, row.last_items, row.last_node) == (2, 3, "node-a")
    assert row.last_start_utc == EPOCH + dt.timedelta(seconds=20)
    harness.runner.stop()
    harness.advance(100)
    assert len(calls) == 2


def test_a_failing_run_is_recorded_and_the_thread_goes_on(runtime, caplog):
    outcomes = iter([RuntimeError("disk on fire"), 1])

    def job(ctx):
        outcome = next(outcomes)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    definition = ThreadDefinition("Flaky", 1, "test", job=job)
    with_rows(runtime, definition)
    harness = Harness(runtime, definition)
    harness.runner.start()
    assert harness.advance(1) == RunOutcome.FAILED
    row = state(runtime, "Flaky")
    assert "disk on fire" in row.last_error and row.last_error_utc is not None
    assert "thread Flaky failed" in caplog.text
    assert harness.advance(1) == RunOutcome.RAN
    assert state(runtime, "Flaky").total_runs == 2


def test_a_run_still_going_is_not_started_again(runtime):
    pending = []
    definition = ThreadDefinition("Slow", 1, "test", job=lambda ctx: 1)
    with_rows(runtime, definition)
    clock = task.Clock()

    runner = ThreadRunner(definition, runtime, "n", clock=clock, executor=queueing_executor(pending))
    runner.start()
    clock.advance(1)
    clock.advance(1)
    clock.advance(1)
    assert len(pending) == 1  # ticks 2 and 3 found the first run still going
    d, fn = pending[0]
    d.callback(fn())
    clock.advance(1)
    assert len(pending) == 2


def test_wakes_run_the_job_soon_coalesce_and_never_cost_a_tick(runtime):
    """A wake is a run marked woken, before the interval; wakes pending
    together make one run; a tick or wake during a woken run is run after
    it (a tick is never lost to a wake); the job can ask to be woken."""
    pending, seen = [], []
    definition = ThreadDefinition("Wakeful", 60, "test", job=lambda ctx: seen.append(ctx.woken) or 1)
    with_rows(runtime, definition)
    clock = task.Clock()

    def finish():
        d, fn = pending.pop(0)
        d.callback(fn())

    runner = ThreadRunner(definition, runtime, "n", clock=clock, executor=queueing_executor(pending))
    runner.wake()  # not started: nothing
    clock.advance(0)
    assert pending == []
    runner.start()
    runner.wake(5)
    runner.wake(2)  # the earliest wins
    runner.wake(3)
    clock.advance(2)
    assert len(pending) == 1
    runner.wake()  # during the woken run: one more after it
    runner.wake()
    clock.advance(0)
    finish()
    assert len(pending) == 1 and seen == [True]
    clock.advance(58)  # the tick comes during the second woken run
    finish()
    assert len(pending) == 1 and seen == [True, True]
    finish()
    assert seen == [True, True, False] and pending == []
    clock.advance(10)
    assert pending == []  # the 5 s wake was replaced by the 2 s one
    definition_with_wish = ThreadDefinition("Wakeful", 60, "test", job=lambda ctx: ctx.wake(7) or 1)
    runner.definition = definition_with_wish
    runner.wake()
    clock.advance(0)
    finish()
    clock.advance(6.9)
    assert pending == []
    clock.advance(0.1)
    assert len(pending) == 1
    finish()
    runner.stop()
    clock.advance(10)
    assert pending == []  # stopping cancels the job's wake


def test_stopped_threads_stay_stopped_across_restarts(runtime):
    calls = []
    definition = ThreadDefinition("Switchable", 1, "test", job=lambda ctx: calls.append(1))
    with_rows(runtime, definition)
    set_enabled(runtime.db, "Switchable", False)
    service = WorkerService(runtime, [definition], clock=task.Clock(), executor=lambda fn: defer.maybeDeferred(fn))
    service.startService()
    runner = service.runners["Switchable"]
    runner.loop.clock.advance(1)
    assert runner.last_outcome == RunOutcome.DISABLED and calls == []
    service.stopService()
    # A new process (a restart) reads the same switch.
    service = WorkerService(runtime, [definition], clock=task.Clock(), executor=lambda fn: defer.maybeDeferred(fn))
    service.startService()
    runner = service.runners["Switchable"]
    runner.loop.clock.advance(1)
    assert runner.last_outcome == RunOutcome.DISABLED
    set_enabled(runtime.db, "Switchable", True)
    runner.loop.clock.advance(1)
    assert runner.last_outcome == RunOutcome.RAN and calls == [1]
    service.stopService()


def test_a_services_threads_tick_apart(runtime):
    """Threads of one node whose intervals meet do not tick at once: the
    n-th thread's ticks come ``STAGGER_SECONDS`` x n after its interval's,
    every interval, and a thread stopped during its phase never ticks."""
    clock = task.Clock()
    ran = []
    definitions = [ThreadDefinition(name, interval, "test", job=lambda ctx, name=name: ran.append(name))
                   for name, interval in (("Five", 5), ("Ten", 10), ("Also Ten", 10), ("Stopped", 10))]
    with_rows(runtime, *definitions)
    service = WorkerService(runtime, definitions, clock=clock, executor=lambda fn: defer.maybeDeferred(fn))
    service.startService()
    service.runners["Stopped"].stop()
    step = STAGGER_SECONDS
    for _ in range(3):  # a Clock runs what falls due at the end of an advance: through the phases one by one
        clock.advance(step)

    def ran_by(seconds):
        clock.advance(seconds - clock.seconds())
        names = ran[:]
        ran.clear()
        return names

    for interval_end in (10, 20):
        assert ran_by(interval_end - 0.01) == ["Five"]  # at interval_end - 5
        assert ran_by(interval_end) == ["Five"]
        assert ran_by(interval_end + step) == ["Ten"]
        assert ran_by(interval_end + 2 * step) == ["Also Ten"]
        assert ran_by(interval_end + 4 * step) == []
    service.stopService()


def test_one_node_at_a_time_and_takeover_after_the_lease_lapses(runtime):
    calls = []
    definition = ThreadDefinition("Leased", 10, "test", job=lambda ctx: calls.append(ctx.now))
    with_rows(runtime, definition)
    a = Harness(runtime, definition, node="node-a")
    b = Harness(runtime, definition, node="node-b")
    b.clock = a.clock  # one clock for both nodes
    b.runner.clock = a.clock
    b.runner.now = a.runner.now
    a.runner.start()
    b.runner.start()
    a.clock.advance(10)
    assert {a.runner.last_outcome, b.runner.last_outcome} == {RunOutcome.RAN, RunOutcome.NOT_LEADER}
    leader, follower = (a, b) if a.runner.last_outcome == RunOutcome.RAN else (b, a)
    leader.runner.stop()  # the leader dies without giving its lease back
    follower.clock.advance(10)
    assert follower.runner.last_outcome == RunOutcome.NOT_LEADER  # one interval later: lease still valid
    follower.clock.advance(10)
    assert follower.runner.last_outcome == RunOutcome.RAN  # taken over within two intervals
    assert state(runtime, "Leased").lease_node == follower.runner.node


def test_a_run_longer_than_the_lease_keeps_it(runtime):
    """A node whose run lasts longer than the lease (1.5 intervals) still
    holds it: its ticks during the run renew it, so another node does not
    take the thread over and run the same job alongside (a Ticket Watcher
    closing the same tickets twice, say). Only a dead node's lease lapses."""
    clock = task.Clock()
    now = lambda: EPOCH + dt.timedelta(seconds=clock.seconds())  # noqa: E731
    ran = []
    follower = ThreadRunner(ThreadDefinition("Long", 10, "test", job=lambda ctx: ran.append(("b", ctx.now))),
                            runtime, "node-b", clock=clock, executor=lambda fn: defer.maybeDeferred(fn), now=now)
    seen_by_follower = []

    def long_job(ctx):
        ran.append(("a", ctx.now))
        follower.start()  # the other node comes up while this run goes on
        for _second in range(45):  # 4.5 intervals, three times the lease
            clock.advance(1)
            if follower.last_outcome:
                seen_by_follower.append(follower.last_outcome)
        return 1

    definition = ThreadDefinition("Long", 10, "test", job=long_job)
    with_rows(runtime, definition)
    # The leader's runs go to "another thread": a call of their own on the
    # clock, so its LoopingCall keeps ticking while the job runs.
    leader = ThreadRunner(definition, runtime, "node-a", clock=clock,
                          executor=lambda fn: task.deferLater(clock, 0, fn), now=now)
    leader.start()
    clock.advance(10)
    assert leader.last_outcome == RunOutcome.RAN
    assert [node for node, _ in ran] == ["a"], "node-b ran the thread while node-a's run went on: %r" % ran
    assert seen_by_follower and set(seen_by_follower) == {RunOutcome.NOT_LEADER}
    assert state(runtime, "Long").lease_node == "node-a"
    leader.stop()
    follower.stop()


def test_maintenance_flag_pauses_the_threads_that_wait_for_it(runtime):
    definition = ThreadDefinition("Careful", 1, "test", job=lambda ctx: 1, waits_for_maintenance=True)
    other = ThreadDefinition("Carefree", 1, "test", job=lambda ctx: 1)
    with_rows(runtime, definition, other)
    with runtime.db.transaction() as session:
        session.add(Setting(name=MAINTENANCE_SETTING, value="true"))
    careful, carefree = Harness(runtime, definition), Harness(runtime, other)
    careful.runner.start()
    carefree.runner.start()
    careful.advance(1)
    carefree.advance(1)
    assert careful.runner.last_outcome == RunOutcome.MAINTENANCE
    assert carefree.runner.last_outcome == RunOutcome.RAN
    with runtime.db.transaction() as session:
        session.get(Setting, MAINTENANCE_SETTING).value = "false"
    assert careful.advance(1) == RunOutcome.RAN


def test_the_fourteen_threads_are_registered_and_honest(runtime):
    definitions = registry.definitions({"Cleaner": 7})
    assert [d.name for d in definitions] == [
        "Auto-Inactive", "Auto-Purge Deleted Items", "Call Log Watcher", "Chat Manager", "Cleaner",
        "Email Import (POP)", "Email Report", "Event Processing", "Indexing", "POP Download", "SMTP Delivery",
        "Task Watcher", "Ticket Watcher", "Task Scheduler"]
    assert {d.name for d in definitions if d.waits_for_maintenance} == {"Call Log Watcher", "Event Processing"}
    assert next(d for d in definitions if d.name == "Cleaner").interval == 7
    unavailable = [d for d in definitions if not d.available]
    # What Diagnostics reports as available is exactly what has a job.
    assert [d.name for d in unavailable] == [t.name for t in threads.THREADS if not t.available]
    with_rows(runtime, *definitions)
    harness = Harness(runtime, unavailable[0])
    harness.runner.start()
    assert harness.advance(unavailable[0].interval) == RunOutcome.UNAVAILABLE
    assert state(runtime, unavailable[0].name).total_runs == 0
