"""An overall time budget for a sequence of calls (a transfer makes several)."""
from __future__ import annotations

import time

from stws.remote.errors import FailureKind, RemoteFailure


class TimeBudget:
    """``seconds`` for everything, starting now. ``exhausted_message`` is
    what the caller is told when it runs out (it knows what was abandoned)."""

    def __init__(self, seconds: float, exhausted_message: str, clock=time.monotonic):
        self.seconds = seconds
        self.exhausted_message = exhausted_message
        self._clock = clock
        self.deadline = clock() + seconds

    def remaining(self) -> float:
        return self.deadline - self._clock()

    def expired(self) -> bool:
        return self.remaining() <= 0

    def failure(self) -> RemoteFailure:
        return RemoteFailure(self.exhausted_message, FailureKind.BUDGET)

    def timeout_for(self, call_seconds: float) -> float:
        """The timeout of the next call: its own, cut to what is left
        (RemoteFailure when nothing is)."""
        left = self.remaining()
        if left <= 0:
            raise self.failure()
        return min(call_seconds, left)
