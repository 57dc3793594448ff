"""Database upkeep off the request path: one thread, started and stopped with
the server (stws.server), that

- on SQLite, checkpoints the WAL (``PRAGMA main.wal_checkpoint(PASSIVE)``) every
  ``CHECKPOINT_SECONDS``. SQLite's own automatic checkpoint runs inside the
  COMMIT that crosses 1,000 WAL pages, and that commit holds this process's
  writer lock (stws.db.engine) while it copies pages into the database
  file: every writer queued behind it waited (CreateTicketFromCustomer p99
  196 ms under a mixed load at 1,000,000 tickets). While the thread runs,
  connections are opened with ``wal_autocheckpoint=0``; a PASSIVE
  checkpoint takes no writer lock and leaves what readers still use.
  ``journal_size_limit`` truncates the WAL file back when it is reset, so it
  stays bounded on disk. The full-text index's file (stws.db.fulltext_store)
  is attached read-only, cannot be checkpointed from here, and needs not:
  its writer's own commits checkpoint it, holding only its lock;
- folds the ticket tallies (stws.db.tallies) every ``FOLD_SECONDS``, so
  that counting reads a few hundred rows.

Not one of the spec's background threads (stws.workers): nothing a user
starts or stops, and every node does it for itself (a fold on two nodes at
once is safe, see stws.db.tallies).
"""
from __future__ import annotations

import logging
import threading
import time

from stws.db import tallies

log = logging.getLogger("stws.system")
error_log = logging.getLogger("stws.error")

CHECKPOINT_SECONDS = 1.0
FOLD_SECONDS = 2.0


class DatabaseUpkeep:
    def __init__(self, db, checkpoint_seconds: float = CHECKPOINT_SECONDS, fold_seconds: float = FOLD_SECONDS):
        self.db = db
        self.checkpoint_seconds = checkpoint_seconds
        self.fold_seconds = fold_seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # What it did so far (read by tests and the bench).
        self.checkpoints = 0
        self.folds = 0

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        if self.db.is_sqlite:
            self.db.checkpoint_in_background(True)
        self._thread = threading.Thread(target=self._run, name="db-upkeep", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._thread is None:
            return
        self._stop.set()
        self._thread.join()
        self._thread = None
        if self.db.is_sqlite:
            self.db.checkpoint_in_background(False)
            self.checkpoint()  # what the last commits wrote, before the process ends

    def checkpoint(self) -> tuple | None:
        """One PASSIVE checkpoint: (busy, WAL frames, frames checkpointed)."""
        raw = self.db.engine.raw_connection()
        try:
            row = raw.driver_connection.execute("PRAGMA main.wal_checkpoint(PASSIVE)").fetchone()
        finally:
            raw.close()
        self.checkpoints += 1
        return tuple(row) if row is not None else None

    def _run(self) -> None:
        step = self.checkpoint_seconds if self.db.is_sqlite else self.fold_seconds
        next_fold = time.monotonic() + self.fold_seconds
        while not self._stop.wait(step):
            try:
                if self.db.is_sqlite:
                    self.checkpoint()
                if time.monotonic() >= next_fold:
                    tallies.fold(self.db)
                    self.folds += 1
                    next_fold = time.monotonic() + self.fold_seconds
            except Exception:  # keep going: the next round may succeed (a locked database, a restart)
                error_log.exception("database upkeep failed")
