"""Delivering the events outbox (stws.domain.tickets.event_outbox) to the
events provider's ``RecordEvent``: one ``EventDelivery`` per process
(``runtime.events``), run by the Event Processing thread.

Guarantees:

* **At least once.** A row is removed only after the provider answered
  Success=true for it (``Recorded=NEW`` or ``DUPLICATE``); a crash between
  the answer and the removal sends it again, with the same ``eventId``,
  which the provider drops.
* **In order per ticket.** A ticket's events go one after the other, each
  only once the one before it was acknowledged; different tickets go side
  by side (CONCURRENCY threads, each waiting on its own call).
* **Nothing lost.** Rows stay until acknowledged, across outages and
  restarts, also while the provider is disabled (they are delivered when
  it is enabled again).

Failures, two kinds:

* the provider cannot be reached (refused connection, timeout, an HTML
  page, its circuit open, ...): nothing can be delivered, so delivery stops
  for everyone and retries after PROVIDER_BACKOFF (1 s, doubling to 30 s,
  and not before the peer's circuit breaker lets a call through: after an
  outage of minutes, one probe every 30 s); while retrying, one ticket's
  next event probes the provider before the others follow. This state is
  in memory: a restarted node tries at once.
* the provider refused one event (Success=false, a SOAP fault for it):
  only that ticket waits, EVENT_BACKOFF (5 s doubling to an hour), stored
  in the row (``next_attempt_utc``); other tickets go on. It is retried
  until accepted, and shown as failing in Diagnostics meanwhile.
"""
from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable

from stws.db.models import utcnow
from stws.domain.tickets import event_outbox
from stws.providers.gateway import ProviderRefused, keys
from stws.remote.backoff import Backoff
from stws.remote.errors import FailureKind, RemoteFailure

providers_log = logging.getLogger("stws.providers")
error_log = logging.getLogger("stws.error")

METHOD = "RecordEvent"
# Events read per round; a round's chains are sent side by side, then the
# acknowledged rows removed in one transaction.
ROUND_EVENTS = 400
# Tickets delivered at once: the provider's calls wait on the network, not
# on us; a few in flight hide the round trip without flooding the provider.
CONCURRENCY = 4
# A run stops after this long and asks to run again at once: the thread's
# lease is renewed and its progress recorded between runs.
RUN_SECONDS = 20.0
# While the provider is enabled the delivery looks at the outbox at least
# this often, for events queued where no wake reaches this node: on another
# node sharing the database, or by a transaction without an after-commit
# step (background jobs, the email importer).
POLL_SECONDS = 5.0
# These failures are about the provider, not the event: delivery waits for everyone.
_PROVIDER_DOWN = frozenset(FailureKind) - {FailureKind.FAULT, FailureKind.REFUSED}


PROVIDER_BACKOFF = Backoff(first=1.0, cap=30.0)
EVENT_BACKOFF = Backoff(first=5.0, cap=3600.0)


def record_event_inputs(event: event_outbox.QueuedEvent) -> list[tuple[str, str]]:
    """RecordEvent's InputVariables (after authPW) for ``event``."""
    inputs = [("eventId", event.event_id), ("eventType", "Ticket" + event.event_type),
              ("ticketNumber", event.ticket_number),
              ("occurredUtc", event.occurred_utc.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")),
              ("userName", event.user_name), ("description", event.description)]
    if event.details:
        inputs.append(("details", event.details))
    return inputs


@dataclass
class _ChainOutcome:
    delivered: list[int] = field(default_factory=list)  # outbox ids acknowledged
    failed: event_outbox.QueuedEvent | None = None
    error: str = ""
    provider_down: bool = False


@dataclass(frozen=True)
class OutboxStatus:
    """What Diagnostics shows of the outbox (GetEventsOutboxStatus)."""

    provider_enabled: bool
    pending: int
    failing: int
    oldest_utc: dt.datetime | None
    oldest_age_seconds: int
    last_error: str
    last_error_utc: dt.datetime | None
    delivered_since_start: int  # by this node
    provider_retry_utc: dt.datetime | None  # while this node finds the provider unreachable


class EventDelivery:
    def __init__(self, db, providers, wake: Callable[[], None] = lambda: None, now=utcnow):
        """``providers`` is the gateway; ``wake()`` asks the Event Processing
        thread for a run soon (the runtime wires it to its WorkerService)."""
        self._db = db
        self._providers = providers
        self._wake = wake
        self._now = now
        self._lock = threading.Lock()
        self._wake_requested = False
        self.delivered = 0
        # The provider cannot be reached: failures in a row and when to try again.
        self.provider_failures = 0
        self.provider_retry_utc: dt.datetime | None = None

    # ---- waking (after the commit of an action that queued events)

    def wake(self) -> None:
        """Ask for a delivery run soon. Cheap and coalesced: many commits
        between two runs make one request."""
        if self._wake_requested:
            return
        self._wake_requested = True
        self._wake()

    # ---- state a 10-minute outage leaves (bench/provider_events.py), and status

    def provider_unreachable(self, failures: int, retry_at: dt.datetime) -> None:
        with self._lock:
            self.provider_failures, self.provider_retry_utc = failures, retry_at

    def status(self, session) -> OutboxStatus:
        now = self._now()
        counts = event_outbox.counts(session)
        enabled = self._providers.external(event_outbox.PROVIDER, session) is not None
        age = int((now - counts.oldest_utc).total_seconds()) if counts.oldest_utc else 0
        return OutboxStatus(enabled, counts.pending, counts.failing, counts.oldest_utc, max(age, 0),
                            counts.last_error, counts.last_error_utc, self.delivered, self.provider_retry_utc)

    # ---- delivering (on the Event Processing thread)

    def run(self) -> tuple[int, float | None]:
        """Deliver what is due; (events delivered, seconds until the next run
        is wanted, None: no need before the thread's next tick)."""
        self._wake_requested = False  # a wake from now on asks for another run
        settings = self._providers.external(event_outbox.PROVIDER)
        if settings is None:
            return 0, None  # kept for when it is enabled again
        delivered, started = 0, time.monotonic()
        with ThreadPoolExecutor(CONCURRENCY, thread_name_prefix="event-delivery") as pool:
            while True:
                now = self._now()
                if self.provider_retry_utc is not None and now < self.provider_retry_utc:
                    return delivered, (self.provider_retry_utc - now).total_seconds()
                if time.monotonic() - started > RUN_SECONDS:
                    return delivered, 0.0
                with self._db.transaction(writes=False) as session:
                    chains = event_outbox.due_chains(session, now, ROUND_EVENTS)
                if not chains:
                    break
                if self.provider_failures:
                    chains = chains[:1]  # a probe: is it back?
                stop = threading.Event()
                outcomes = list(pool.map(lambda chain: self._send_chain(settings, chain, stop), chains))
                delivered += self._record(outcomes, settings.WebServiceUrl)
        with self._db.transaction(writes=False) as session:
            retry = event_outbox.next_retry(session, self._now())
        wait = POLL_SECONDS if retry is None else min(POLL_SECONDS, (retry - self._now()).total_seconds())
        return delivered, max(wait, 0.0)

    def _send_chain(self, settings, chain, stop: threading.Event) -> _ChainOutcome:
        """A ticket's events, in order, until one fails or the provider is
        found unreachable (``stop``, for every chain)."""
        outcome = _ChainOutcome()
        for event in chain:
            if stop.is_set():
                break
            try:
                self._providers.call(event_outbox.PROVIDER, METHOD, record_event_inputs(event),
                                     accepts=keys("Recorded"), settings=settings)
            except RemoteFailure as failure:
                outcome.failed, outcome.error = event, failure.message
                outcome.provider_down = failure.kind in _PROVIDER_DOWN
                if outcome.provider_down:
                    stop.set()
                break
            except ProviderRefused as refusal:
                outcome.failed, outcome.error = event, refusal.message
                break
            except Exception as exc:  # a bug of ours about this event: it must not stop the others
                error_log.exception("RecordEvent of event %s failed inside stws", event.event_id)
                outcome.failed, outcome.error = event, "internal error: %s" % type(exc).__name__
                break
            outcome.delivered.append(event.id)
        return outcome

    def _record(self, outcomes: list[_ChainOutcome], url: str) -> int:
        """Remove the acknowledged events, note the failures; the number delivered."""
        now = self._now()
        delivered = [outbox_id for outcome in outcomes for outbox_id in outcome.delivered]
        down = any(outcome.provider_down for outcome in outcomes)
        with self._db.transaction() as session:
            event_outbox.acknowledge(session, delivered)
            for outcome in outcomes:
                if outcome.failed is None:
                    continue
                retry_at = None if outcome.provider_down else \
                    now + dt.timedelta(seconds=EVENT_BACKOFF.after(outcome.failed.attempts + 1))
                event_outbox.record_failure(session, outcome.failed.id, now, outcome.error, retry_at)
        with self._lock:
            self.delivered += len(delivered)
            if down:
                self.provider_failures += 1
                # Not before its circuit breaker lets a call through (a try
                # before that would fail without asking it, and count).
                wait = max(PROVIDER_BACKOFF.after(self.provider_failures),
                           self._providers.remote.breakers.closed_in(url))
                self.provider_retry_utc = now + dt.timedelta(seconds=wait)
                providers_log.warning("event provider unreachable (%d in a row), next try in %g s: %s",
                                      self.provider_failures, wait,
                                      next(o.error for o in outcomes if o.provider_down))
            elif delivered or any(o.failed for o in outcomes):  # it answered
                self.provider_failures, self.provider_retry_utc = 0, None
        return len(delivered)
