"""Indexing: keeps the full-text index of tickets, messages and notes up to date.

Each run (every 10 s by default) first takes the documents of tickets,
messages and notes deleted for good out of the index, then (re)indexes the
rows whose ``is_indexed`` flag is false: new tickets, messages and notes,
tickets changed since (``core.touch``), edited notes. It works
``BATCH`` (200) documents per transaction and pauses 5 ms between two (so
SQLite's writer lock is never held long, and writers waiting get it) and at most ``fulltext.MAX_DOCUMENTS_PER_RUN`` per run; a
backlog (after an upgrade, an import) is worked off over the following
runs while the search already finds the rows not indexed yet by substring.
What a document holds and how the search uses the index:
``stws.domain.tickets.fulltext``.

The job returns how many documents it indexed or removed.
"""
from __future__ import annotations

import logging
import time

from stws.domain.tickets import fulltext

log = logging.getLogger("stws.threads")


# The thread's transactions are shorter than fulltext.BATCH's, and it steps
# aside between two: on SQLite each one holds the only writer's lock, and
# 1,000 documents held it for 20-235 ms while new tickets queued behind it
# (CreateTicketFromCustomer's p99 under a mixed load, bench/tickets_1m.py).
# The pause lets a writer that waited meanwhile take the lock (it is not
# fair: released and asked for again at once, it stays with this thread).
BATCH = 200
PAUSE_SECONDS = 0.005


def run(context) -> int:
    db = context.runtime.db
    progress = fulltext.Progress()
    while progress.documents < fulltext.MAX_DOCUMENTS_PER_RUN:
        if progress.documents:
            time.sleep(PAUSE_SECONDS)
        step = fulltext.index_pending(db, max_documents=BATCH, batch=BATCH)
        progress.indexed += step.indexed
        progress.removed += step.removed
        progress.seconds += step.seconds
        if step.documents < BATCH:
            break
    if progress.documents:
        log.info("Indexing: %d documents indexed, %d removed in %.2f s", progress.indexed, progress.removed,
                 progress.seconds)
    return progress.documents
