"""Values made once per key and shared by every thread that asks for the
same key (answers built from rows read: the key is the rows, so a shared
value is never staler than the read that asked for it).

Bounded: when ``most`` values are kept, the older half (in the order they
were made) is dropped, so the values polled most recently stay shared
while a burst of new keys passes through. No bookkeeping per hit, and no
lock: two threads that miss the same key at once both make an equal value
and one is kept; two that trim at once drop the same keys.
"""
from __future__ import annotations


class SharedValues:
    def __init__(self, most: int):
        self.most = max(2, most)
        self._values: dict = {}

    def __len__(self) -> int:
        return len(self._values)

    def get(self, key, make):
        """The value kept for ``key``, else ``make(key)``, kept."""
        value = self._values.get(key)
        if value is None:
            if len(self._values) >= self.most:
                self._drop_older_half()
            value = self._values.setdefault(key, make(key))
        return value

    def _drop_older_half(self) -> None:
        # list() copies the keys in one step under the GIL: another thread
        # adding meanwhile cannot break the iteration (a dict view would).
        for key in list(self._values)[:len(self._values) // 2]:
            self._values.pop(key, None)
