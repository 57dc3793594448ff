"""Circuit breakers, one per peer URL.

A peer that failed ``threshold`` times in a row is not called for
``cool_down`` seconds: callers fail fast instead of each tying up a thread
for a whole timeout. After the cool-down one trial call goes through
(half-open); its success closes the circuit, its failure opens it again.
"""
from __future__ import annotations

import datetime as dt
import threading
import time
from dataclasses import dataclass

from stws.remote.errors import FailureKind, RemoteFailure

FAILURE_THRESHOLD = 5
COOL_DOWN_SECONDS = 30.0


@dataclass
class _Circuit:
    failures: int = 0            # consecutive
    open_until: float = 0.0      # monotonic; 0 = closed
    open_until_utc: dt.datetime | None = None
    trial_running: bool = False


class CircuitBreakers:
    def __init__(self, threshold: int = FAILURE_THRESHOLD, cool_down: float = COOL_DOWN_SECONDS,
                 clock=time.monotonic):
        self.threshold = threshold
        self.cool_down = cool_down
        self._clock = clock
        self._circuits: dict[str, _Circuit] = {}
        self._lock = threading.Lock()

    def before_call(self, url: str, peer: str) -> None:
        """Raise RemoteFailure(CIRCUIT_OPEN) if ``url`` may not be called now;
        else the call may go ahead (as the one trial, when half-open)."""
        with self._lock:
            circuit = self._circuits.get(url)
            if circuit is None or not circuit.open_until:
                return
            if self._clock() >= circuit.open_until and not circuit.trial_running:
                circuit.trial_running = True
                return
            raise RemoteFailure("%s failed %d times in a row; not called again before %s UTC." % (
                peer, circuit.failures, circuit.open_until_utc.strftime("%H:%M:%S")), FailureKind.CIRCUIT_OPEN)

    def consecutive_failures(self, url: str) -> int:
        with self._lock:
            circuit = self._circuits.get(url)
            return circuit.failures if circuit else 0

    def closed_in(self, url: str) -> float:
        """Seconds until ``url`` may be called again (0: now)."""
        with self._lock:
            circuit = self._circuits.get(url)
            if circuit is None or not circuit.open_until:
                return 0.0
            return max(0.0, circuit.open_until - self._clock())

    def succeeded(self, url: str) -> None:
        with self._lock:
            self._circuits.pop(url, None)

    def failed(self, url: str) -> bool:
        """Count a failure; True when it opened (or re-opened) the circuit."""
        with self._lock:
            circuit = self._circuits.setdefault(url, _Circuit())
            circuit.failures += 1
            trial_failed = circuit.trial_running
            circuit.trial_running = False
            if circuit.failures < self.threshold and not trial_failed:
                return False
            circuit.open_until = self._clock() + self.cool_down
            circuit.open_until_utc = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=self.cool_down))
            return True

    def released(self, url: str) -> None:
        """The call ended without a verdict on the peer (our own bug): a
        trial slot it held is free again."""
        with self._lock:
            circuit = self._circuits.get(url)
            if circuit is not None:
                circuit.trial_running = False

    def reset(self, url: str) -> None:
        """Forget the failures of ``url`` (its settings changed)."""
        self.succeeded(url)
