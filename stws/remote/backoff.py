"""Exponential backoff for calls to another server that keep failing."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Backoff:
    first: float  # seconds after the first failure
    cap: float  # never longer than this

    def after(self, failures: int) -> float:
        """Seconds to wait after ``failures`` failures in a row (>= 1): ``first``, doubling, at most ``cap``."""
        return min(self.cap, self.first * 2 ** min(max(failures, 1) - 1, 30))
