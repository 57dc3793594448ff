"""svcSpool operations: the outgoing spool.

List (sorted, paged, with TotalCount), read a message's raw text, retry
(back to queued, due now, attempts reset), delete, and the spool counts.
Rows being sent right now (``sending`` under a live claim) are neither
retried nor deleted: the SMTP Delivery thread owns them until it records
their outcome or its claim lapses.

``GetSpoolCounts`` reports ``Key=Value`` items from every function in
``SPOOL_COUNTERS`` (``counter(session, now) -> [(key, value), ...]``): the
incoming spool adds its own counter there.
"""
from __future__ import annotations

import sqlalchemy
from sqlalchemy import and_, delete, or_, select, update

from stws.db.models import OutgoingMessage, utcnow
from stws.domain.errors import InvalidArgument, InvalidState, NotFound
from stws.security import roles
from stws.services.spool.listing import NEVER, locked_rows, page, status_counts
from stws.services.spool.types import T
from stws.soap.operation import operation
from stws.soap.types import ArrayOfString, Bool, Int, Long, String, When

OUTGOING_STATUSES = ("queued", "sending", "sent", "failed")

OutgoingMessageInfo = T.complex("OutgoingMessageInfo", [
    ("Attempts", Int), ("DateCreatedUtc", When), ("DateLastAttemptUtc", When), ("DateNextAttemptUtc", When),
    ("DateSentUtc", When), ("From", String), ("ID", Int), ("IsBeingSent", Bool), ("LastError", String),
    ("MessageId", String), ("Size", Long), ("SmtpAccountId", Int), ("Status", String), ("Subject", String),
    ("TicketId", Int), ("To", String),
])
OutgoingMessageInfoArrayResult = T.result("OutgoingMessageInfoArrayResult",
                                          Messages=T.array_of(OutgoingMessageInfo), TotalCount=Int)

SORT_FIELDS = {
    "id": OutgoingMessage.id,
    "date": OutgoingMessage.date_created_utc,
    "from": OutgoingMessage.from_address,
    "to": OutgoingMessage.recipients,
    "subject": OutgoingMessage.subject,
    "status": OutgoingMessage.status,
    "attempts": OutgoingMessage.attempts,
}


def _being_sent(now):
    """Rows a delivery run holds right now."""
    return and_(OutgoingMessage.status == "sending", OutgoingMessage.claim_until_utc >= now)


def _info(row, size: int, now) -> OutgoingMessageInfo:
    return OutgoingMessageInfo(
        Attempts=row.attempts, DateCreatedUtc=row.date_created_utc or NEVER,
        DateLastAttemptUtc=row.last_attempt_utc or NEVER, DateNextAttemptUtc=row.next_attempt_utc or NEVER,
        DateSentUtc=row.date_sent_utc or NEVER, From=row.from_address, ID=row.id,
        IsBeingSent=row.status == "sending" and row.claim_until_utc is not None and row.claim_until_utc >= now,
        LastError=row.last_error or "", MessageId=row.message_id_header, Size=size,
        SmtpAccountId=row.smtp_account_id or 0, Status=row.status, Subject=row.subject, TicketId=row.ticket_id or 0,
        To=row.recipients,
    )


def _rows_for(session, message_ids, now, verb: str):
    """The rows of ``message_ids``, all of them existing and not being sent (or nothing changes)."""
    rows = locked_rows(session, OutgoingMessage, message_ids, "outgoing", verb)
    busy = [r.id for r in rows if r.status == "sending" and r.claim_until_utc and r.claim_until_utc >= now]
    if busy:
        raise InvalidState("Message %s is being sent right now; nothing was %s. Try again in a moment."
                           % (", ".join(map(str, busy)), verb))
    return rows


def _requeue(rows, now) -> None:
    for row in rows:
        row.status = "queued"
        row.next_attempt_utc = now
        row.attempts = 0
        row.last_error = ""
        row.claimed_by = None
        row.claim_until_utc = None


@operation(("sortField", String), ("sortDescending", Bool), ("offset", Int), ("count", Int),
           returns=OutgoingMessageInfoArrayResult, role=roles.ADMINISTRATOR, writes=False)
def GetOutgoingMessages(call, sortField, sortDescending, offset, count):
    """A page of the outgoing spool. sortField: id, date, from, to, subject,
    status or attempts (empty = id); count 1..1000 (0 = 100)."""
    # Everything but the raw content (only its size).
    columns = [c for c in OutgoingMessage.__table__.columns if c.name != "raw_content"]
    now = utcnow()
    total, statement = page(call.session, OutgoingMessage, SORT_FIELDS, sortField, sortDescending, offset, count,
                            select(*columns, sqlalchemy.func.length(OutgoingMessage.raw_content).label("size")))
    rows = call.session.execute(statement).all()
    return {"Messages": [_info(row, row.size or 0, now) for row in rows], "TotalCount": total}


@operation(("messageId", Int), returns=T.StringRequestResult, role=roles.ADMINISTRATOR, writes=False)
def GetOutgoingMessageRawContent(call, messageId):
    """The complete message as it is (or was) sent (RFC 5322 text)."""
    raw = call.session.scalar(select(OutgoingMessage.raw_content).where(OutgoingMessage.id == messageId))
    if raw is None:
        raise NotFound("There is no outgoing message with id %s." % messageId)
    return {"RequestResult": bytes(raw).decode("utf-8", "replace")}


@operation(("messageIds", ArrayOfString), returns=T.GenericResult, role=roles.ADMINISTRATOR)
def RetryOutgoingMessages(call, messageIds):
    """Queued or failed messages are sent at the next run (attempts start over);
    sent ones are refused (they would go out twice)."""
    now = utcnow()
    rows = _rows_for(call.session, messageIds, now, "retried")
    sent = [r.id for r in rows if r.status == "sent"]
    if sent:
        raise InvalidState("Message %s was already sent; nothing was retried." % ", ".join(map(str, sent)))
    _requeue(rows, now)
    return {"Message": "%d messages will be sent at the next run." % len(rows)}


@operation(returns=T.GenericResult, role=roles.ADMINISTRATOR)
def RetryAllFailedOutgoingMessages(call):
    """Every failed message back to the queue, due now, attempts reset."""
    result = call.session.execute(
        update(OutgoingMessage).where(OutgoingMessage.status == "failed")
        .values(status="queued", next_attempt_utc=utcnow(), attempts=0, last_error="", claimed_by=None,
                claim_until_utc=None)
        .execution_options(synchronize_session=False)
    )
    return {"Message": "%d failed messages will be sent at the next run." % result.rowcount}


@operation(("messageIds", ArrayOfString), returns=T.GenericResult, role=roles.ADMINISTRATOR)
def DeleteOutgoingMessages(call, messageIds):
    """Delete messages (all or nothing; not those being sent right now)."""
    rows = _rows_for(call.session, messageIds, utcnow(), "deleted")
    for row in rows:
        call.session.delete(row)
    return {"Message": "Deleted %d messages." % len(rows)}


@operation(("status", String), returns=T.GenericResult, role=roles.ADMINISTRATOR)
def DeleteAllOutgoingMessages(call, status):
    """Delete every message of ``status`` (queued, sending, sent, failed), or
    of every status when empty; never those being sent right now."""
    wanted = (status or "").strip().lower()
    if wanted and wanted not in OUTGOING_STATUSES:
        raise InvalidArgument("status must be one of %s, or empty for all; not %r."
                              % (", ".join(OUTGOING_STATUSES), status))
    condition = ~_being_sent(utcnow())
    if wanted:
        condition = and_(condition, OutgoingMessage.status == wanted)
    result = call.session.execute(delete(OutgoingMessage).where(condition)
                                  .execution_options(synchronize_session=False))
    return {"Message": "Deleted %d messages." % result.rowcount}


def outgoing_counts(session, now):
    counts = status_counts(session, OutgoingMessage, OUTGOING_STATUSES)
    due = session.scalar(select(sqlalchemy.func.count()).select_from(OutgoingMessage).where(
        or_(and_(OutgoingMessage.status == "queued", OutgoingMessage.next_attempt_utc <= now),
            and_(OutgoingMessage.status == "sending", OutgoingMessage.claim_until_utc < now))))
    items = [("Outgoing%s" % status.title(), counts[status]) for status in OUTGOING_STATUSES]
    items.append(("OutgoingDue", due))
    items.append(("OutgoingTotal", sum(counts.values())))
    return items


# counter(session, now) -> [(key, value)]; the incoming spool appends its own.
SPOOL_COUNTERS = [outgoing_counts]


@operation(returns=T.SettingsRequestResult, role=roles.ADMINISTRATOR, writes=False)
def GetSpoolCounts(call):
    """Messages per spool and status, as Key=Value (OutgoingQueued, OutgoingSending,
    OutgoingSent, OutgoingFailed, OutgoingDue, OutgoingTotal, ...)."""
    now = utcnow()
    items = []
    for counter in SPOOL_COUNTERS:
        items.extend("%s=%s" % (key, value) for key, value in counter(call.session, now))
    return {"RequestResults": items}
