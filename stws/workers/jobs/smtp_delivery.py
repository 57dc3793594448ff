"""SMTP Delivery: delivers the outgoing spool (stws.mail.delivery)."""
from __future__ import annotations


def run(context) -> int:
    from stws.mail.delivery import deliver_due

    return deliver_due(context.runtime, context.now)
