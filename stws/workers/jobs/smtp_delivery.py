"""SMTP Delivery: delivers the outgoing spool (stws.mail.delivery)."""
from __future__ import annotations


def run(context) -> int:
    from stws.mail.delivery import deliver_due

    attempted = deliver_due(context.runtime, context.now)
    if attempted:
        # A run claims one batch (mail.batch_size); more may be due behind it.
        # Run again at once rather than a whole interval later: 200 messages
        # per 5 s tick would cap delivery at 40 a second. The run that finds
        # nothing ends the chain.
        context.wake(0)
    return attempted
