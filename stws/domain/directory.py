"""A per-node cache of directory listings (agents, departments, groups),
checked against the database's ``directory_version`` on every read.

The listings are read far more often than the directory changes, and
building one (a query and 50 AgentInfo) costs more than the rest of the
call. Triggers bump the version on every change by any writer (migration
0008), so one single-row query tells whether a cached listing is still
what the database holds, on every node sharing it.

The version is read in the caller's transaction, before the listing is
built in the same transaction: the listing then holds that version's data
or newer, never older (a SQLite transaction reads one snapshot; on
PostgreSQL, READ COMMITTED, each later statement sees at least as much).
A listing is so never stored under a version newer than its data.
"""
from __future__ import annotations

from collections import OrderedDict

from sqlalchemy import select

from stws.db.models import DirectoryVersion
from stws.db.prepared import PreparedQuery
from stws.tracing import Tracing

# Run on every listing call: compiled once, executed on the driver
# (stws.db.prepared; 20 us through SQLAlchemy's Core, 2 us this way).
_VERSION = PreparedQuery(select(DirectoryVersion.version).where(DirectoryVersion.id == 1))


class Listing(tuple):
    """A cached listing's items (immutable values), shared by every call
    until the directory changes.

    ``derived(make)`` is ``make(listing)``, made once per listing: what a
    front door turns the items into (SOAP: result objects whose XML is
    written once, stws.soap.writer.RenderedOnce) is shared as long as the
    listing is, so a cache hit costs no conversion either.
    """

    def __new__(cls, items=()):
        value = super().__new__(cls, items)
        value._derived = {}
        return value

    def derived(self, make):
        try:
            return self._derived[make]
        except KeyError:
            # Two threads may race here: both make equal values, one is kept.
            return self._derived.setdefault(make, make(self))


class DirectoryCache:
    """key -> (version, value), least recently used first, at most
    ``max_entries`` keys. Values are shared between calls and threads:
    store immutable ones (tuples of result objects nobody changes)."""

    def __init__(self, max_entries: int = 1024, tracing: Tracing | None = None, enabled: bool = True):
        self.max_entries = max_entries
        self.enabled = enabled
        self.tracing = tracing or Tracing()
        self._entries: OrderedDict = OrderedDict()
        self._lock = self.tracing.lock("directory-cache")
        self.hits = self.misses = self.evictions = 0

    def get(self, connection, key, build):
        """The value of ``key`` for the directory as ``connection``'s
        transaction sees it: cached, or ``build()`` (in that transaction).

        Only in transactions that have not changed the directory: a value
        built from changes that are then rolled back would be stored under
        a version the next committed change reuses.
        """
        if not self.enabled:
            return build()
        version = _VERSION.first(connection, {}).version
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry[0] == version:
                self._entries.move_to_end(key)
                self.hits += 1
                if self.tracing.cache:
                    self.tracing.cache_event("directory", "hit", "%s v%d" % (key, version))
                return entry[1]
            self.misses += 1
            if self.tracing.cache:
                self.tracing.cache_event("directory", "miss", "%s v%d" % (key, version))
        value = build()
        with self._lock:
            entry = self._entries.get(key)
            # A slow build may finish after a newer one: keep the newer.
            if entry is None or entry[0] <= version:
                self._entries[key] = (version, value)
                self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                evicted, _ = self._entries.popitem(last=False)
                self.evictions += 1
                self.tracing.cache_event("directory", "evict", "%s (full)" % (evicted,))
        return value

    def __len__(self) -> int:
        return len(self._entries)
