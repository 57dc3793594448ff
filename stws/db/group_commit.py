"""Quick SOAP writes on SQLite, committed in groups.

SQLite takes one writer at a time, and a commit costs about as much CPU as
the work of a typical write call (stws.db.engine.Database.group_commit). So
quick writes run one after the other on one thread, and the calls that
queue up while one runs join its transaction, each in a savepoint of its
own (a call that fails is undone alone), up to ``MAX_CALLS`` calls or
``MAX_SECONDS`` of work. The group commits once, with one fsync, and only
then are the calls answered: nothing is acknowledged before it is durable.
If the commit fails, every call of the group gets the internal error and
nothing of the group is written.

Under no load a group is one call, committed at once as before; under load
the group grows with the queue. Plays Twisted's ThreadPool for
``deferToThreadPool`` (``callInThreadWithCallback``, ``start``, ``stop``).

Writes first: the quick reads and the management pages run on pools that
``YieldsToCommitGroups`` wraps, so that a call of theirs waits before it
starts while a group runs, ``YIELD_SECONDS`` at most. Why: the group's
thread gives the GIL away at every SQLite statement and must win it back
from the threads running Python meanwhile, so under a read load a group
spent most of its time waiting (bench/tickets_1m.py's mixed load at
1,000,000 tickets: 31-46 ms of wall time per group for 9-11 ms of its
CPU), holding SQLite's write lock all along and queueing every other write
behind it. With the reads yielding: 12 ms per group, twice the creations
and a third of their p50; the reads of that saturated mix lose what the
writes win (bench/README.md, tickets_1m). An idle server pays nothing: no
group runs, nothing waits.
"""
from __future__ import annotations

import logging
import queue
import threading
import time

from twisted.python.failure import Failure

system_log = logging.getLogger("stws.system")

MAX_CALLS = 64
MAX_SECONDS = 0.05
# The longest a call of a yielding pool waits for a running group: a bound,
# so that groups back to back never starve the reads.
YIELD_SECONDS = 0.01

_STOP = object()


class LeavesCommitGroup(BaseException):
    """Raised on the commit-group thread by work that must wait (a password
    to verify, an external provider to call): the thread commits every
    quick write's group and must never wait. The SOAP hosting then runs the
    request again on a thread that may wait, where only its transaction
    joins a group. A BaseException, so that no ``except Exception`` on its
    way out (spyne, the request reader) turns it into a fault."""


class GroupCommitPool:
    max = 1  # threads, as ThreadPool.max says

    def __init__(self, database, name: str = "commit-groups"):
        self.database = database
        self.name = name
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        # Calls and groups so far (written by the pool's thread only).
        self.calls = 0
        self.groups = 0
        self._between_groups = threading.Event()  # cleared while a group runs
        self._between_groups.set()

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Run what is queued, then end the thread."""
        if self._thread is not None:
            self._queue.put(_STOP)
            self._thread.join()
            self._thread = None
            if self.groups:
                system_log.info("quick writes: %d calls in %d commit groups (%.1f per group)",
                                self.calls, self.groups, self.calls / self.groups)

    def callInThreadWithCallback(self, on_result, function, *args, **kwargs) -> None:
        """Run ``function(*args, **kwargs)`` in a group; ``on_result(success,
        result or Failure)`` is called on the pool's thread once the group
        has committed (or failed)."""
        self._queue.put((on_result, function, args, kwargs))

    def run(self, function, *args):
        """Run ``function(*args)`` in a group and return its result once the
        group has committed (or raise what it raised, or why the group
        failed). For the threads that hand their transactions to this one
        (stws.operations.runner)."""
        done = threading.Event()
        outcome = []

        def on_result(success, result):
            outcome.append((success, result))
            done.set()

        if self._thread is None:
            raise RuntimeError("the commit-group thread is not running")
        self.callInThreadWithCallback(on_result, function, *args)
        done.wait()
        success, result = outcome[0]
        if not success:
            result.raiseException()
        return result

    def on_its_thread(self) -> bool:
        return threading.current_thread() is self._thread

    def wait_between_groups(self, seconds: float) -> bool:
        """Wait while a group runs, ``seconds`` at most; False when it still runs."""
        return self._between_groups.wait(seconds)

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            if self._run_group(item):
                return

    def _run_group(self, first) -> bool:
        """Run ``first`` and what queues behind it in one commit group;
        True when a stop request was met."""
        self._between_groups.clear()
        try:
            return self._run_members(first)
        finally:
            self._between_groups.set()

    def _run_members(self, first) -> bool:
        taken = [first[0]]  # every call taken from the queue gets an answer
        finished = []  # (on_result, success, result), answered after the commit
        stopping = False
        try:
            with self.database.group_commit() as group:
                began = time.monotonic()
                item = first
                while True:
                    on_result, function, args, kwargs = item
                    try:
                        finished.append((on_result, True, function(*args, **kwargs)))
                    except BaseException:
                        finished.append((on_result, False, Failure()))
                    group.check()
                    if len(finished) >= MAX_CALLS or time.monotonic() - began >= MAX_SECONDS:
                        break
                    try:
                        item = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if item is _STOP:
                        stopping = True
                        break
                    taken.append(item[0])
        except BaseException:
            failure = Failure()
            finished = [(on_result, False, failure) for on_result in taken]
        self.calls += len(finished)
        self.groups += 1
        for on_result, success, result in finished:
            on_result(success, result)
        return stopping


class YieldsToCommitGroups:
    """A Twisted ThreadPool, as ``deferToThreadPool`` and the server use it,
    whose calls each wait before they start while a commit group of
    ``groups`` runs, ``seconds`` at most (writes first: the module says why)."""

    def __init__(self, pool, groups: GroupCommitPool, seconds: float = YIELD_SECONDS):
        self.pool = pool
        self.groups = groups
        self.seconds = seconds

    @property
    def max(self) -> int:
        return self.pool.max

    def start(self) -> None:
        self.pool.start()

    def stop(self) -> None:
        self.pool.stop()

    def callInThreadWithCallback(self, on_result, function, *args, **kwargs) -> None:
        self.pool.callInThreadWithCallback(on_result, self._after_the_group, function, args, kwargs)

    def _after_the_group(self, function, args, kwargs):
        self.groups.wait_between_groups(self.seconds)
        return function(*args, **kwargs)
