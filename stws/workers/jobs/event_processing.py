"""Event Processing: keeps ticket counts current and runs the system events.

Each run, in this order:

1. recomputes the ticket counts (``stws.domain.tickets.counts.refresh``:
   the GROUP BY over the tickets in a read transaction, then the whole
   ``ticket_counts`` table replaced, DELETE + INSERT, in one short write
   transaction), which GetTicketCounts_Agent and GetTicketCounts_Global
   read while they are fresh;
2. queues the error emails: errors written to the error log of any node
   (each node hands its own in to ``error_reports``; this one's too, now,
   see ``stws.diagnostics.errormail``) go to the Diagnostics option
   EmailAddressToReceiveErrors through the outgoing spool, at most one
   email per minute per distinct error for the whole cluster, with a count
   of its repeats.

3. delivers the events provider's outbox (``runtime.events``,
   stws.providers.event_delivery): every run, and in runs of its own.

The outbox's events must reach the provider in seconds, not at the next of
this thread's minutes, yet the counts' GROUP BY over all tickets must not
run after every action. So delivery wakes the thread (framework
``wake``) right after a commit that queued events, and asks for a run of
its own when it next has work (a retry due, the POLL_SECONDS look for
events queued on other nodes); those woken runs only deliver. The thread
stays one of the spec's 14, started and stopped like the others (stopped,
nothing is delivered; the events wait in the outbox).

The thread waits while database maintenance is in progress (the framework
skips its runs). Version and licence events of SmarterTrack have no
counterpart here. The job returns the number of count rows written plus
the number of emails queued plus the number of events delivered.
"""
from __future__ import annotations

import socket

from stws.diagnostics import errormail
from stws.domain.tickets import counts

# Events a previous process queued go out when the thread starts, not a minute later.
WAKE_AT_START = True


def run(context) -> int:
    runtime = context.runtime
    delivered = deliver_events(context)
    if context.woken:
        return delivered
    rows = counts.refresh(runtime.db, context.now) + delivered
    mailed = 0
    if runtime.error_mail is not None:
        node = getattr(runtime.workers, "node", None) or socket.gethostname()
        mailed = errormail.flush(runtime, runtime.error_mail, context.now, node)
    return rows + mailed


def deliver_events(context) -> int:
    """One delivery of the outbox; asks to be woken when it has more to do."""
    events = getattr(context.runtime, "events", None)
    if events is None:
        return 0
    delivered, again_in = events.run()
    if again_in is not None:
        context.wake(again_in)
    return delivered
