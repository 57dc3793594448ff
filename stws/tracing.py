"""Query logging, lock tracing and cache tracing, switched at run time.

The switches are plain attributes read on the hot paths (one attribute
test when off). Lines go to the daily ``query``, ``lock`` and ``cache``
logs through the ``stws.query``, ``stws.lock`` and ``stws.cache`` loggers.
"""
from __future__ import annotations

import logging
import threading
import time
import traceback

from sqlalchemy import event

query_log = logging.getLogger("stws.query")
lock_log = logging.getLogger("stws.lock")
cache_log = logging.getLogger("stws.cache")


class Tracing:
    def __init__(self):
        self.short_queries = False
        self.full_queries = False
        self.locks = False
        self.cache = False

    def apply(self, options) -> None:
        self.short_queries = options.EnableShortQueryLogging
        self.full_queries = options.EnableFullQueryLogging
        self.locks = options.EnableLockTracing
        self.cache = options.EnableCacheTracing

    # ---- queries --------------------------------------------------------

    def watch_engine(self, engine) -> None:
        # SQLAlchemy's cursor events: statements run on the driver through
        # stws.db.prepared (the per-call lookups, a new ticket's reads and
        # writes) do not pass here and are not logged.
        @event.listens_for(engine, "before_cursor_execute")
        def _before(conn, cursor, statement, parameters, context, executemany):
            if self.full_queries:
                conn.info.setdefault("stws_query_started", []).append(time.perf_counter())

        @event.listens_for(engine, "after_cursor_execute")
        def _after(conn, cursor, statement, parameters, context, executemany):
            if self.full_queries:
                started = conn.info["stws_query_started"].pop()
                query_log.info("%.3f ms | %s | params=%r | caller=%s", (time.perf_counter() - started) * 1000,
                               _one_line(statement), _shorten(parameters), _caller())
            elif self.short_queries:
                query_log.info("%s", _one_line(statement))

    # ---- locks ----------------------------------------------------------

    def lock(self, name: str) -> "TracedLock":
        return TracedLock(name, self)

    # ---- caches ---------------------------------------------------------

    def cache_event(self, cache: str, what: str, detail: str = "") -> None:
        if self.cache:
            cache_log.info("%s %s %s", cache, what, detail)


class TracedLock:
    """A lock that, with lock tracing on, logs acquire, wait, release and holder."""

    def __init__(self, name: str, tracing: Tracing):
        self.name = name
        self.tracing = tracing
        self._lock = threading.Lock()
        self._holder = None

    def __enter__(self):
        if not self.tracing.locks:
            self._lock.acquire()
            self._holder = threading.current_thread().name
            return self
        me = threading.current_thread().name
        if not self._lock.acquire(blocking=False):
            holder = self._holder
            started = time.perf_counter()
            lock_log.info("%s: %s waits (held by %s)", self.name, me, holder)
            self._lock.acquire()
            lock_log.info("%s: %s acquired after %.3f ms", self.name, me, (time.perf_counter() - started) * 1000)
        else:
            lock_log.info("%s: %s acquired", self.name, me)
        self._holder = me
        return self

    def __exit__(self, *exc):
        holder = self._holder
        self._holder = None
        self._lock.release()
        if self.tracing.locks:
            lock_log.info("%s: %s released", self.name, holder)
        return False


def _one_line(statement: str) -> str:
    return " ".join(statement.split())


def _shorten(parameters, limit: int = 500) -> str:
    text = repr(parameters)
    return text if len(text) <= limit else text[:limit] + "..."


def _caller() -> str:
    """The innermost stws frame outside the database layer: who ran the query."""
    for frame in reversed(traceback.extract_stack()[:-3]):
        name = frame.filename.replace("\\", "/")
        if "/stws/" in name and "/stws/db/" not in name and "/stws/diagnostics/" not in name:
            return "%s:%d %s" % (name.rsplit("/stws/", 1)[1], frame.lineno, frame.name)
    return "?"
