"""Calls for the same thing that arrive together share one outbound call.

When a cached answer expires (a login provider's verdict on a credential,
the user information about a customer), every request that needs it at that
moment would otherwise ask the peer itself: a burst of identical calls to a
service that is often the slowest part of the request. Here the first
caller runs the call and the others wait for its outcome, result or
exception, as ``concurrent.futures`` hands one outcome to every waiter.
Nothing is kept afterwards: caching stays the caller's business, and the
next call after the outcome runs again.

Waiting has no timeout of its own: the shared call runs under the peer's
deadline (stws.remote.client), so it ends, and the waiters with it.
"""
from __future__ import annotations

import threading
from typing import Callable, Hashable, TypeVar

T = TypeVar("T")


class _Flight:
    __slots__ = ("done", "result", "error", "waiters")

    def __init__(self):
        self.done = threading.Event()
        self.result = None
        self.error: BaseException | None = None
        self.waiters = 0


class SingleFlight:
    def __init__(self):
        self._lock = threading.Lock()
        self._flights: dict[Hashable, _Flight] = {}

    def run(self, key: Hashable, call: Callable[[], T]) -> T:
        """``call()``'s outcome, shared with every ``run`` of the same key
        that started while it was running."""
        with self._lock:
            flight = self._flights.get(key)
            leading = flight is None
            if leading:
                flight = self._flights[key] = _Flight()
            else:
                flight.waiters += 1
        if not leading:
            flight.done.wait()
            if flight.error is not None:
                raise flight.error
            return flight.result
        try:
            flight.result = call()
        except BaseException as error:
            flight.error = error
            raise
        finally:
            with self._lock:
                del self._flights[key]
            flight.done.set()
        return flight.result

    def waiting(self, key: Hashable) -> int:
        """How many callers wait on the running call of ``key`` (0: none runs)."""
        with self._lock:
            flight = self._flights.get(key)
            return flight.waiters if flight is not None else 0
