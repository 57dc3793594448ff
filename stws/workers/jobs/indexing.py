"""Indexing: keeps the full-text index of tickets, messages and notes up to date.

Each run (every 10 s by default) first takes the documents of tickets,
messages and notes deleted for good out of the index, then (re)indexes the
rows whose ``is_indexed`` flag is false: new tickets, messages and notes,
tickets changed since (``core.touch``), edited notes. It works
``fulltext.BATCH`` documents per transaction (so SQLite's writer lock is
never held long) and at most ``fulltext.MAX_DOCUMENTS_PER_RUN`` per run; a
backlog (after an upgrade, an import) is worked off over the following
runs while the search already finds the rows not indexed yet by substring.
What a document holds and how the search uses the index:
``stws.domain.tickets.fulltext``.

The job returns how many documents it indexed or removed.
"""
from __future__ import annotations

import logging

from stws.domain.tickets import fulltext

log = logging.getLogger("stws.threads")


def run(context) -> int:
    progress = fulltext.index_pending(context.runtime.db)
    if progress.documents:
        log.info("Indexing: %d documents indexed, %d removed in %.2f s", progress.indexed, progress.removed,
                 progress.seconds)
    return progress.documents
