"""Running one registered background thread for real (real reactor, real
thread pool, a short interval) and waiting for its effect without blocking
the reactor."""
from __future__ import annotations

import time

from twisted.internet import reactor, task, threads

from stws.workers import registry
from stws.workers.framework import WorkerService


async def started_workers(runtime, intervals: dict) -> WorkerService:
    """A WorkerService running only the threads named in ``intervals``."""
    definitions = [d for d in registry.definitions(intervals) if d.name in intervals]
    assert len(definitions) == len(intervals), "unknown thread name in %r" % intervals
    assert all(d.available for d in definitions), "a thread has no job yet"
    service = WorkerService(runtime, definitions, reactor)
    service.startService()
    return service


async def eventually(check, timeout: float = 20.0, poll: float = 0.1):
    """Await until ``check()`` (run in a thread: it may use the database)
    returns something true; returns it. Fails after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = await threads.deferToThread(check)
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("not true within %s s: %r" % (timeout, check))
        await task.deferLater(reactor, poll, lambda: None)
