"""POP Download: downloads mail from the POP accounts (stws.mail.pop)."""
from __future__ import annotations


def run(context) -> int:
    from stws.mail.pop import download_due

    # An account whose session stopped at its cap (MAX_MESSAGES_PER_SESSION)
    # stays due: the rest of its mailbox comes in the next run, at once.
    return download_due(context.runtime, context.now, on_cut_short=lambda: context.wake(0))
