"""POP Download: downloads mail from the POP accounts (stws.mail.pop)."""
from __future__ import annotations


def run(context) -> int:
    from stws.mail.pop import download_due

    return download_due(context.runtime, context.now)
