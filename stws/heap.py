"""The heaps of a long-running server process: glibc malloc's, and the
objects Python's cyclic garbage collector walks.

Python objects are not what makes a busy stws process grow: under a mixed
load its live objects stay flat (bench/soak.py counts them by type), while
its resident memory kept rising, and ``malloc_trim`` gave most of the rise
back. The memory was free, held by glibc: each thread that allocates while
another holds the main heap's lock gets an arena of its own (up to 8 per
CPU), every request and background job runs on whichever pool thread is
free, so each arena fills up to the largest thing a thread once built (a
list page of 200 tickets, a search answer, a batch of mails) and, its free
space scattered between live blocks, is never given back: glibc only
returns the free top of a heap on its own.

So the server (``make_application_service``) asks for at most ``ARENAS``
arenas, before its thread pools start, and returns the free pages of every
arena every ``TRIM_SECONDS`` (``malloc_trim(0)``, a few milliseconds,
outside the GIL). On another C library (musl, macOS) both do nothing.

The collector's full passes walk every container object alive, and hold
the GIL meanwhile: every thread stops. A started server holds some 200,000
objects it keeps for its life (the schema, the SOAP types, the prepared
statements), and a full pass over them took 100-140 ms under load, a few
times a minute (bench/tickets_1m.py's mixed load at 1,000,000 tickets, the
passes timed with ``gc.callbacks``), in the p99 of every call. Once the
server has started, ``freeze_startup_objects`` moves them out of the
collector's sight (``gc.freeze``): the passes after it took 6-11 ms.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import gc
import logging

from twisted.application.service import Service
from twisted.internet import threads
from twisted.internet.task import LoopingCall

log = logging.getLogger(__name__)
system_log = logging.getLogger("stws.system")

ARENAS = 2
TRIM_SECONDS = 60.0
_M_ARENA_MAX = -8  # mallopt parameter (glibc's malloc.h)


def _glibc():
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return libc if hasattr(libc, "malloc_trim") and hasattr(libc, "mallopt") else None
    except OSError:
        return None


_LIBC = _glibc()


def limit_arenas(count: int = ARENAS) -> bool:
    """At most ``count`` malloc arenas from now on; True when glibc took it.
    Arenas already made stay, hence: before threads start."""
    return _LIBC is not None and _LIBC.mallopt(_M_ARENA_MAX, count) == 1


def trim() -> bool:
    """Give the free pages of every arena back to the system; True when
    something was returned (False on another C library)."""
    return _LIBC is not None and _LIBC.malloc_trim(0) == 1


class HeapTrimService(Service):
    """``trim`` every ``seconds`` (the first one interval after the start),
    in a thread of the reactor's pool: it walks every arena under its lock,
    never on the reactor thread."""

    name = "heap-trim"

    def __init__(self, reactor, seconds: float = TRIM_SECONDS):
        self.reactor, self.seconds = reactor, seconds
        self.runs = 0
        self._loop = None

    def startService(self) -> None:
        super().startService()
        self._loop = LoopingCall(self._trim_in_thread)
        self._loop.clock = self.reactor
        self._loop.start(self.seconds, now=False).addErrback(
            lambda failure: log.error("heap trimming stopped: %s", failure.getErrorMessage()))

    def stopService(self):
        super().stopService()
        if self._loop is not None and self._loop.running:
            self._loop.stop()

    def _trim_in_thread(self):
        return threads.deferToThreadPool(self.reactor, self.reactor.getThreadPool(), trim).addCallbacks(
            self._trimmed, lambda failure: log.error("malloc_trim failed: %s", failure.getErrorMessage()))

    def _trimmed(self, _returned) -> None:
        self.runs += 1


def freeze_startup_objects() -> int:
    """Collect the garbage, then keep every object alive now out of the
    collector's passes (they live as long as the process); how many. Once
    per process: what it freezes is never collected, even if it becomes
    garbage later."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()


class StartupFreezeService(Service):
    """``freeze_startup_objects`` once the services started before it have
    (the reactor's first turn after the start)."""

    name = "startup-freeze"

    def __init__(self, reactor):
        self.reactor = reactor
        self.frozen = 0

    def startService(self) -> None:
        super().startService()
        self.reactor.callLater(0, self._freeze)

    def _freeze(self) -> None:
        if self.running:
            self.frozen = freeze_startup_objects()
            system_log.info("%d objects of the start kept out of the garbage collector's passes", self.frozen)
