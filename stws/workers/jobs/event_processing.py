"""Event Processing: keeps ticket counts current and runs the system events.

Each run, in this order:

1. recomputes the ticket counts (``stws.domain.tickets.counts.refresh``:
   the GROUP BY over the tickets in a read transaction, then the whole
   ``ticket_counts`` table replaced, DELETE + INSERT, in one short write
   transaction), which GetTicketCounts_Agent and GetTicketCounts_Global
   read while they are fresh;
2. queues the error emails: errors written to the error log since the last
   run (held in memory by ``runtime.error_mail``, see
   ``stws.diagnostics.errormail``) go to the Diagnostics option
   EmailAddressToReceiveErrors through the outgoing spool, at most one
   email per minute per distinct error, with a count of its repeats.

The thread waits while database maintenance is in progress (the framework
skips its runs). Version and licence events of SmarterTrack have no
counterpart here. The job returns the number of count rows written plus
the number of emails queued.
"""
from __future__ import annotations

import socket

from stws.diagnostics import errormail
from stws.domain.tickets import counts


def run(context) -> int:
    runtime = context.runtime
    rows = counts.refresh(runtime.db, context.now)
    mailed = 0
    if runtime.error_mail is not None:
        node = getattr(runtime.workers, "node", None) or socket.gethostname()
        mailed = errormail.flush(runtime, runtime.error_mail, context.now, node)
    return rows + mailed
