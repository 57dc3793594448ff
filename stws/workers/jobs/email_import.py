"""Email Import (POP): turns downloaded .eml files into tickets (stws.mail.importer)."""
from __future__ import annotations


def run(context) -> int:
    from stws.mail import importer

    imported = importer.import_pending(context.runtime, context.now, importer.BATCH_SIZE)
    if imported >= importer.BATCH_SIZE:
        # A run takes one batch; a backlog goes on at once, not a 10 s interval later.
        context.wake(0)
    return imported
