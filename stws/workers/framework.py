"""The background-thread framework: the spec's 14 "threads" as Twisted
LoopingCalls, one job each.

Each tick of a thread's LoopingCall hands one run to a thread pool (the
reactor never blocks on database or file work) unless the previous run is
still going. A run, in the pool:

1. in one short transaction, reads the thread's row (``thread_states``):
   switched off -> nothing to do; otherwise takes or renews the lease
   (``UPDATE ... WHERE lease_node = me OR lease expired``), so on several
   nodes sharing a database one node runs the thread at a time and another
   takes over 1.5 to 2.5 intervals after that node's last renewal when it
   dies (measured in tests/workers/test_multinode.py); the ticks that come
   while a run goes on renew it too, so a run longer than the lease does
   not let another node start the same job alongside;
2. skips the run while the maintenance flag is set, for threads that must
   wait for database upgrades;
3. runs the job, which returns how many items it processed;
4. records start, end, duration, items and the error (if any) in the row.

The threads of a node do not tick together: each one's ticks come a
little after the previous one's (``STAGGER_SECONDS``).

A failing run is written to the error log and the threads log; the thread
keeps running. Start/stop is the ``enabled`` column: it holds across
restarts and for every node.

Besides its interval's ticks, a thread can be woken (``ThreadRunner.wake``,
``WorkerService.wake``, or the job's own ``JobContext.wake``): a run soon,
marked ``JobContext.woken``, for work that must not wait a whole interval
(the events provider's outbox). Wakes coalesce, and a wake or tick that
arrives during a woken run starts one more run after it, so neither
committed work nor the thread's regular run is ever skipped.

Besides the threads, every node's WorkerService hands the errors recorded
on that node in for the error emails (``errormail.hand_in``, every
``errormail.HAND_IN_SECONDS`` and once more at stop), whatever leases it
holds: the Event Processing thread that mails them runs on one node only.
"""
from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import time
import uuid
from dataclasses import dataclass, field
from typing import Callable

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError
from twisted.application import service
from twisted.internet import defer, task, threads

from stws.db.models import Setting, ThreadState, utcnow
from stws.diagnostics import errormail

threads_log = logging.getLogger("stws.threads")
error_log = logging.getLogger("stws.error")

MAINTENANCE_SETTING = "maintenance.in_progress"
# The threads' ticks are this far apart (the n-th thread's come n steps
# after its interval's): their intervals are multiples of each other, and
# threads started together all ticked at once, each run taking SQLite's one
# writer lock to record itself, so the commit groups of new tickets waited
# behind several runs queued at the same tick (bench/README.md, tickets_1m:
# the longest wait of a group under the mixed load 18-21 -> 13-14 ms).
STAGGER_SECONDS = 0.15


def node_name() -> str:
    """This process, as named in leases: host, pid and a random part."""
    return "%s:%d:%s" % (socket.gethostname(), os.getpid(), uuid.uuid4().hex[:6])


@dataclass(frozen=True)
class ThreadDefinition:
    name: str  # as the spec names it, e.g. "Ticket Watcher"
    interval: float  # seconds between runs
    description: str
    # job(context) -> items processed; None while the thread's issue is open.
    job: Callable[["JobContext"], int] | None = None
    waits_for_maintenance: bool = False
    # A woken run as soon as the thread starts, for work a previous process
    # left (the events outbox), rather than at the first tick an interval later.
    wake_at_start: bool = False

    @property
    def available(self) -> bool:
        return self.job is not None


@dataclass
class JobContext:
    runtime: object
    definition: ThreadDefinition
    now: dt.datetime
    log: logging.Logger = field(default_factory=lambda: threads_log)
    # A run asked for by a wake rather than the interval: a job may do only
    # the urgent part of its work then.
    woken: bool = False
    # wake(seconds): run this thread again, woken, in ``seconds`` (callable
    # from the job's thread).
    wake: Callable[[float], None] = lambda seconds: None


class RunOutcome:
    DISABLED = "disabled"
    NOT_LEADER = "lease held by another node"
    MAINTENANCE = "waiting for maintenance to finish"
    UNAVAILABLE = "not available yet"
    RAN = "ran"
    FAILED = "failed"


def maintenance_in_progress(session) -> bool:
    setting = session.get(Setting, MAINTENANCE_SETTING)
    return bool(setting and setting.value.strip().lower() in ("1", "true", "yes"))


def ensure_rows(db, definitions) -> None:
    """Create the row of every thread (enabled) that has none yet."""
    with db.transaction() as session:
        existing = set(session.scalars(select(ThreadState.name)))
        for definition in definitions:
            if definition.name not in existing:
                session.add(ThreadState(name=definition.name, enabled=True))
    # Another node may have inserted the same rows meanwhile: that is fine.


def set_enabled(db, name: str, enabled: bool) -> None:
    with db.transaction() as session:
        state = session.get(ThreadState, name)
        if state is None:
            raise KeyError(name)
        state.enabled = enabled
        if not enabled:
            state.lease_node = None
            state.lease_expires_utc = None


class ThreadRunner:
    """One background thread on this node."""

    def __init__(self, definition: ThreadDefinition, runtime, node: str, clock=None, executor=None, now=utcnow,
                 phase: float = 0.0):
        self.definition = definition
        self.runtime = runtime
        self.node = node
        self.clock = clock
        # Seconds the ticks come after the interval's (WorkerService staggers its threads).
        self.phase = phase
        self.first_tick = None  # the call that starts the ticks, while the phase runs
        self.now = now  # wall-clock UTC; tests pass one driven by their Clock
        # executor(fn) -> Deferred firing with fn()'s result; a thread pool by default.
        self.executor = executor or threads.deferToThread
        self.running = False
        self.current: defer.Deferred | None = None
        self.loop: task.LoopingCall | None = None
        self.last_outcome = ""
        self.current_is_woken = False
        # What arrived during a woken run: "tick" or "woken" (a tick wins).
        self.again: str | None = None
        self.wake_call = None
        # A lease renewal handed to the executor and not done yet.
        self.renewing = False

    def start(self) -> None:
        self.loop = task.LoopingCall(self.tick)
        if self.clock is not None:
            self.loop.clock = self.clock
        if self.phase > 0:
            self.first_tick = self._clock().callLater(self.phase, self._start_ticks)
        else:
            self._start_ticks()
        if self.definition.wake_at_start and self.definition.available:
            self.wake(0.0)

    def _start_ticks(self) -> None:
        self.first_tick = None
        self.loop.start(self.definition.interval, now=False)

    def stop(self) -> None:
        if self.first_tick is not None and self.first_tick.active():
            self.first_tick.cancel()
        self.first_tick = None
        if self.loop is not None and self.loop.running:
            self.loop.stop()
        if self.wake_call is not None and self.wake_call.active():
            self.wake_call.cancel()
        self.wake_call = self.again = None

    @property
    def started(self) -> bool:
        return self.first_tick is not None or (self.loop is not None and self.loop.running)

    def tick(self):
        """One LoopingCall tick: start a run unless one is still going (after
        a woken one, the tick's run follows it)."""
        if self.running:
            if self.current_is_woken:
                self.again = "tick"
            self._renew_during_run()
            return None
        self._start(woken=False)
        return None  # never make the LoopingCall wait: ticks must not pile up

    def wake(self, seconds: float = 0.0) -> None:
        """A woken run in ``seconds`` (on the reactor thread). Of several
        wakes pending, the earliest is kept; one during a run starts another
        run after it."""
        if not self.started:
            return
        clock = self._clock()
        seconds = max(0.0, seconds)
        if self.wake_call is not None and self.wake_call.active():
            if self.wake_call.getTime() <= clock.seconds() + seconds:
                return
            self.wake_call.cancel()
        self.wake_call = clock.callLater(seconds, self._woken)

    def _woken(self):
        self.wake_call = None
        if not self.started:
            return
        if self.running:
            self.again = self.again or "woken"
            return
        self._start(woken=True)

    def _clock(self):
        if self.clock is not None:
            return self.clock
        from twisted.internet import reactor
        return reactor

    def _wake_from_job(self, seconds: float) -> None:
        """JobContext.wake: from the job's thread to the reactor's."""
        if self.clock is not None:  # tests drive a Clock: everything on one thread
            self.wake(seconds)
        else:
            self._clock().callFromThread(self.wake, seconds)

    def _start(self, woken: bool) -> None:
        self.running = True
        self.current_is_woken = woken
        d = self.current = self.executor(lambda: self.run_once(woken))
        d.addErrback(self._unexpected)
        d.addBoth(self._finished)

    def idle(self) -> defer.Deferred:
        """Fires when no run of this thread is in progress."""
        if not self.running or self.current is None:
            return defer.succeed(None)
        done = defer.Deferred()
        self.current.addBoth(lambda outcome: (done.callback(None), outcome)[1])
        return done

    def _finished(self, outcome):
        self.running = False
        self.last_outcome = outcome
        again, self.again = self.again, None
        if again is not None and self.started:
            self._start(woken=again == "woken")
        return outcome

    def _renew_during_run(self) -> None:
        """Keep the lease of a run that outlasts an interval: without it the
        lease lapses 1.5 intervals after the run began and another node runs
        the same job at the same time."""
        if self.renewing:
            return
        self.renewing = True

        def renewed(outcome):
            self.renewing = False
            return outcome

        d = self.executor(self.renew_lease)
        d.addErrback(lambda failure: threads_log.warning("%s: lease not renewed during a long run: %s",
                                                         self.definition.name, failure.getErrorMessage()))
        d.addBoth(renewed)

    def _unexpected(self, failure):
        error_log.error("thread %s: run could not be recorded: %s", self.definition.name, failure.getTraceback())
        return RunOutcome.FAILED

    # ---- in the worker thread -----------------------------------------

    def run_once(self, woken: bool = False) -> str:
        definition = self.definition
        db = self.runtime.db
        now = self.now()
        with db.transaction() as session:
            if not self._claim(session, now):
                state = session.get(ThreadState, definition.name)
                return RunOutcome.DISABLED if state is None or not state.enabled else RunOutcome.NOT_LEADER
            if not definition.available:
                return RunOutcome.UNAVAILABLE
            if definition.waits_for_maintenance and maintenance_in_progress(session):
                threads_log.info("%s: skipped, maintenance in progress", definition.name)
                return RunOutcome.MAINTENANCE
            state = session.get(ThreadState, definition.name)
            state.last_start_utc = now
            state.last_node = self.node
        started = time.monotonic()
        error = ""
        items = 0
        try:
            items = int(definition.job(JobContext(self.runtime, definition, now, woken=woken,
                                                  wake=self._wake_from_job)) or 0)
        except Exception as exc:  # a failing run must not stop the thread
            error = "%s: %s" % (type(exc).__name__, exc)
            error_log.exception("thread %s failed", definition.name)
        duration_ms = int((time.monotonic() - started) * 1000)
        with db.transaction() as session:
            state = session.get(ThreadState, definition.name)
            state.last_end_utc = self.now()
            if state.lease_node == self.node:  # a long run keeps its lease
                state.lease_expires_utc = self._lease_expiry(state.last_end_utc)
            state.last_duration_ms = duration_ms
            state.last_items = items
            state.total_runs += 1
            if error:
                state.last_error = error
                state.last_error_utc = state.last_end_utc
        threads_log.info("%s: %s, %d items in %d ms", definition.name, "failed" if error else "ran", items,
                         duration_ms)
        return RunOutcome.FAILED if error else RunOutcome.RAN

    def renew_lease(self) -> bool:
        """Extend the lease if this node still holds it (in the pool)."""
        now = self.now()
        with self.runtime.db.transaction() as session:
            result = session.execute(update(ThreadState).where(ThreadState.name == self.definition.name,
                                                               ThreadState.lease_node == self.node)
                                     .values(lease_expires_utc=self._lease_expiry(now)))
            return result.rowcount == 1

    def _lease_expiry(self, now):
        # 1.5 intervals: the holder renews it every interval (with half an
        # interval to spare). A dead holder's lease lapses 1.5 intervals after
        # its last renewal, and another node, ticking once per interval at
        # its own phase, takes it at its first tick after that: 1.5 to 2.5
        # intervals after the last renewal, 2 on average.
        return now + dt.timedelta(seconds=max(1.5 * self.definition.interval, 1))

    def _claim(self, session, now) -> bool:
        """Take or renew the lease if the thread is enabled and free (or ours)."""
        expires = self._lease_expiry(now)
        result = session.execute(
            update(ThreadState)
            .where(ThreadState.name == self.definition.name, ThreadState.enabled.is_(True),
                   or_(ThreadState.lease_node == self.node, ThreadState.lease_node.is_(None),
                       ThreadState.lease_expires_utc < now))
            .values(lease_node=self.node, lease_expires_utc=expires)
        )
        return result.rowcount == 1


class WorkerService(service.Service):
    """Starts and stops every thread's runner with the application."""

    name = "workers"

    def __init__(self, runtime, definitions, reactor=None, clock=None, executor=None, pool_size=4, now=utcnow):
        self.runtime = runtime
        self.definitions = list(definitions)
        self.node = node_name()
        self.pool = None
        if executor is None:
            from twisted.internet import reactor as default_reactor
            from twisted.python.threadpool import ThreadPool

            reactor = reactor or default_reactor
            self.pool = ThreadPool(minthreads=1, maxthreads=pool_size, name="workers")
            executor = lambda fn: threads.deferToThreadPool(reactor, self.pool, fn)  # noqa: E731
        self.runners = {d.name: ThreadRunner(d, runtime, self.node, clock, executor, now,
                                             phase=(i * STAGGER_SECONDS) % d.interval)
                        for i, d in enumerate(self.definitions)}
        self._reactor = reactor
        self._executor = executor
        self._clock = clock
        self.hand_in_loop: task.LoopingCall | None = None

    def wake(self, name: str, seconds: float = 0.0) -> None:
        """Wake thread ``name`` (``ThreadRunner.wake``); callable from any
        thread. Nothing happens for a thread this service does not run."""
        runner = self.runners.get(name)
        if runner is None or not self.running:
            return
        if runner.clock is not None:
            runner.wake(seconds)
            return
        reactor = self._reactor
        if reactor is None:
            from twisted.internet import reactor
        reactor.callFromThread(runner.wake, seconds)

    def startService(self):
        super().startService()
        if self.pool is not None:
            self.pool.start()
        try:
            ensure_rows(self.runtime.db, self.definitions)
        except IntegrityError:
            pass  # another node created them at the same moment
        for runner in self.runners.values():
            runner.start()
        if getattr(self.runtime, "error_mail", None) is not None:
            self.hand_in_loop = task.LoopingCall(self._hand_in_errors)
            if self._clock is not None:
                self.hand_in_loop.clock = self._clock
            self.hand_in_loop.start(errormail.HAND_IN_SECONDS, now=False)

    def _hand_in_errors(self) -> defer.Deferred:
        """This node's recorded errors into the shared table, in the pool (the
        LoopingCall waits for it: hand-ins never overlap). A failure is
        logged to the threads log only: writing it to the error log would be
        recorded, handed in and fail again."""
        d = self._executor(lambda: errormail.hand_in(self.runtime, self.runtime.error_mail, self.node))
        d.addErrback(lambda failure: threads_log.warning("error emails: errors not handed in yet: %s",
                                                         failure.getErrorMessage()))
        return d

    @defer.inlineCallbacks
    def stopService(self):
        super().stopService()
        for runner in self.runners.values():
            runner.stop()
        if self.hand_in_loop is not None and self.hand_in_loop.running:
            self.hand_in_loop.stop()
        # Runs in progress finish (their transactions commit) before we go.
        yield defer.DeferredList([runner.idle() for runner in self.runners.values()])
        if self.hand_in_loop is not None:
            yield self._hand_in_errors()  # the last errors of this node are not lost with it
        # Give our leases back so another node need not wait for them to lapse.
        with self.runtime.db.transaction() as session:
            session.execute(update(ThreadState).where(ThreadState.lease_node == self.node)
                            .values(lease_node=None, lease_expires_utc=None))
        if self.pool is not None:
            yield threads.deferToThread(self.pool.stop)
