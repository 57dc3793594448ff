"""Values made once per key and shared by every thread that asks for the
same key (answers built from rows read: the key is the rows, so a shared
value is never staler than the read that asked for it).

Bounded: when ``most`` values are kept, all are dropped and the next ones
made anew (cheap, and no bookkeeping per hit). Threads need no lock: two
that miss the same key at once both make an equal value and one is kept.
"""
from __future__ import annotations


class SharedValues:
    def __init__(self, most: int):
        self.most = most
        self._values: dict = {}

    def get(self, key, make):
        """The value kept for ``key``, else ``make(key)``, kept."""
        value = self._values.get(key)
        if value is None:
            if len(self._values) >= self.most:
                self._values.clear()
            value = self._values.setdefault(key, make(key))
        return value
