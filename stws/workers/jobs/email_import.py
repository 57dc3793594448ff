"""Email Import (POP): turns downloaded .eml files into tickets (stws.mail.importer)."""
from __future__ import annotations


def run(context) -> int:
    from stws.mail.importer import import_pending

    return import_pending(context.runtime, context.now)
