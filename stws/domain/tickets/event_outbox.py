"""The events provider's outbox: history events on their way to the
provider's RecordEvent.

While the Events provider is enabled as an external web service, every
history event (``core.record_event`` / ``core.insert_events``) is also
written here, in the transaction of the action it records: the action and
its notification commit or roll back together, and nothing waits for the
provider. stws.providers.event_delivery sends the rows (at least once, in
order per ticket) and removes each one the provider acknowledged.

Rows are removed by id, never behind a cursor: on PostgreSQL transactions
commit out of id order, so a row with a smaller id can appear after larger
ones were delivered; it is simply the next one of its ticket.
"""
from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from sqlalchemy import bindparam, delete, func, select, update

from stws.db.models import EventOutbox, Ticket
from stws.db.prepared import PreparedInsert

PROVIDER = "Events"

_INSERT = PreparedInsert(EventOutbox.__table__)
_NUMBERS = select(Ticket.id, Ticket.ticket_number).where(Ticket.id.in_(bindparam("ids", expanding=True)))


# ---------------------------------------------------------------- writing (the actions' transactions)


def collecting(call) -> bool:
    """Whether events must be queued for the provider: it is enabled as an
    external web service. A snapshot of the settings (stws.providers.gateway),
    so on the hot path of every action this is a clock read; a context
    without a runtime (some tests, tools) queues nothing."""
    gateway = getattr(getattr(call, "runtime", None), "providers", None)
    if gateway is None:
        return False
    return gateway.external(PROVIDER, lambda: call.session) is not None


def collect(call, rows: list[dict], ticket_number: str | None = None) -> None:
    """Queue the history ``rows`` (``core.event_row``) for the provider if it
    is enabled, in the caller's transaction; ``ticket_number`` when every
    row is of that ticket (else the numbers are read). Once committed, the
    delivery is woken."""
    if not rows or not collecting(call):
        return
    connection = call.connection
    if ticket_number is not None:
        numbers = {row["ticket_id"]: ticket_number for row in rows}
    else:
        numbers = dict(connection.execute(_NUMBERS, {"ids": sorted({row["ticket_id"] for row in rows})}).all())
    _INSERT.insert_many(connection, [{
        "event_id": str(uuid.uuid4()), "ticket_id": row["ticket_id"],
        "ticket_number": numbers.get(row["ticket_id"]) or "", "event_type": row["event_type"],
        "occurred_utc": row["date_utc"], "user_name": row["user_name"] or "",
        "description": row["description"] or "", "details": row["details"] or "",
        "attempts": 0, "last_attempt_utc": None, "last_error": "", "next_attempt_utc": None,
    } for row in rows])
    wake = getattr(getattr(call.runtime, "events", None), "wake", None)
    after_commit = getattr(call, "after_commit", None)
    if wake is not None and after_commit is not None and wake not in after_commit:
        after_commit.append(wake)


# ---------------------------------------------------------------- delivering (the delivery's transactions)


@dataclass(frozen=True)
class QueuedEvent:
    id: int
    event_id: str
    ticket_id: int
    ticket_number: str
    event_type: str
    occurred_utc: dt.datetime
    user_name: str
    description: str
    details: str
    attempts: int


_COLUMNS = (EventOutbox.id, EventOutbox.event_id, EventOutbox.ticket_id, EventOutbox.ticket_number,
            EventOutbox.event_type, EventOutbox.occurred_utc, EventOutbox.user_name, EventOutbox.description,
            EventOutbox.details, EventOutbox.attempts)


def due_chains(session, now: dt.datetime, limit: int) -> list[list[QueuedEvent]]:
    """Up to ``limit`` queued events, oldest first, as one chain per ticket
    (in the order they must be delivered), leaving out every ticket whose
    next event waits for a retry: its later events wait behind it."""
    waiting = select(EventOutbox.ticket_id).where(EventOutbox.next_attempt_utc > now)
    rows = session.execute(select(*_COLUMNS).where(EventOutbox.ticket_id.not_in(waiting))
                           .order_by(EventOutbox.id).limit(limit)).all()
    chains: dict[int, list[QueuedEvent]] = {}
    for row in rows:
        chains.setdefault(row.ticket_id, []).append(QueuedEvent(*row))
    return list(chains.values())


def acknowledge(session, ids: list[int]) -> None:
    """Remove the events the provider acknowledged."""
    for start in range(0, len(ids), 500):
        session.execute(delete(EventOutbox).where(EventOutbox.id.in_(ids[start:start + 500])))


def record_failure(session, outbox_id: int, now: dt.datetime, error: str, retry_at: dt.datetime | None) -> None:
    """One failed delivery of an event: counted, its error kept; ``retry_at``
    (when the provider refused this event) holds its ticket's events back
    until then."""
    session.execute(update(EventOutbox).where(EventOutbox.id == outbox_id).values(
        attempts=EventOutbox.attempts + 1, last_attempt_utc=now, last_error=error[:4000],
        next_attempt_utc=retry_at))


def next_retry(session, now: dt.datetime) -> dt.datetime | None:
    """The earliest time an event held back by a refusal may be retried."""
    return session.scalar(select(func.min(EventOutbox.next_attempt_utc)).where(EventOutbox.next_attempt_utc > now))


@dataclass(frozen=True)
class OutboxCounts:
    pending: int  # events not delivered yet
    failing: int  # of those, the ones whose delivery failed at least once
    oldest_utc: dt.datetime | None  # when the oldest pending event happened
    last_error: str  # the latest failed delivery's error
    last_error_utc: dt.datetime | None


def counts(session) -> OutboxCounts:
    pending, failing, oldest = session.execute(select(
        func.count(), func.count(EventOutbox.last_attempt_utc), func.min(EventOutbox.occurred_utc))).one()
    last = session.execute(select(EventOutbox.last_error, EventOutbox.last_attempt_utc)
                           .where(EventOutbox.last_attempt_utc.is_not(None))
                           .order_by(EventOutbox.last_attempt_utc.desc()).limit(1)).first()
    return OutboxCounts(pending, failing, _utc(oldest), last[0] if last else "", _utc(last[1]) if last else None)


def _utc(value):
    """An aggregate's datetime (min() loses the column's type: naive UTC)."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=dt.timezone.utc)
