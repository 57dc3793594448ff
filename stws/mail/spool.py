"""The mail spools as an administrator sees and repairs them: the outgoing
spool (``spool_outgoing``, sent by the SMTP Delivery thread,
``stws.mail.delivery``) and the incoming one (``spool_incoming``, filled by
the POP Download thread, ``stws.mail.pop``, emptied by the Email Import
thread, ``stws.mail.importer``).

Each spool is listed a sorted page at a time with its total, read raw,
retried and deleted (by ids, all or nothing, or every message at once),
and counted per status. Functions take the call's ``Context`` and return
plain values; a failure is an ``OperationError`` that says what to do.

Outgoing
    Rows being sent right now (``sending`` under a live claim) are neither
    retried nor deleted: the SMTP Delivery thread owns them until it records
    their outcome or its claim lapses. Sent rows are not retried (they
    would go out twice). A retried row is queued again, due now; its
    attempts are history and are kept (past ``mail.max_attempts`` each
    manual retry is one more attempt), and the SMTP log records who retried
    it after how many attempts.

Incoming
    A row's ``.eml`` file is in the email folder while pending, in raw
    content once imported, in Failed Emails when it could not be read; a
    row a provider refused keeps it in the email folder.
    Retrying makes a failed or refused row pending and moves its file back; imported
    rows are not retried (they would be imported twice). Deleting removes
    the row and, unless it was imported (its ticket message names the file
    in ``raw_content_path``), the file.
"""
from __future__ import annotations

import datetime as dt
import logging
import os
from dataclasses import dataclass

import sqlalchemy
from sqlalchemy import and_, delete, or_, select, update

from stws.db.models import IncomingMessage, OutgoingMessage, utcnow
from stws.errors import InvalidArgument, InvalidState, NotFound
from stws.mail.pop import fsync_directory

smtp_log = logging.getLogger("stws.smtp")

OUTGOING_STATUSES = ("queued", "sending", "sent", "failed")
INCOMING_STATUSES = ("pending", "imported", "duplicate", "refused", "failed")
DEFAULT_PAGE = 100
MAX_PAGE = 1000

# What a list may be sorted by (then by id, for a stable order).
OUTGOING_SORTS = {
    "id": OutgoingMessage.id,
    "date": OutgoingMessage.date_created_utc,
    "from": OutgoingMessage.from_address,
    "to": OutgoingMessage.recipients,
    "subject": OutgoingMessage.subject,
    "status": OutgoingMessage.status,
    "attempts": OutgoingMessage.attempts,
}
INCOMING_SORTS = {
    "id": IncomingMessage.id,
    "date": IncomingMessage.date_received_utc,
    "from": IncomingMessage.from_address,
    "subject": IncomingMessage.subject,
    "status": IncomingMessage.status,
    "size": IncomingMessage.size,
    "attempts": IncomingMessage.attempts,
}


@dataclass(frozen=True)
class Page:
    """One page of a spool: its ``items`` in order, and how many messages
    the whole spool holds (``total``)."""

    items: list
    total: int


@dataclass(frozen=True)
class OutgoingSummary:
    """An outgoing message as listed: everything but its raw text (only its ``size``)."""

    id: int
    status: str  # one of OUTGOING_STATUSES
    is_being_sent: bool  # "sending" under a live claim: neither retried nor deleted now
    from_address: str
    recipients: str  # comma-separated
    subject: str
    message_id_header: str
    size: int
    attempts: int
    last_error: str
    date_created_utc: dt.datetime
    next_attempt_utc: dt.datetime | None
    last_attempt_utc: dt.datetime | None
    date_sent_utc: dt.datetime | None
    ticket_id: int | None
    smtp_account_id: int | None  # None: its department's, brand's or the default account


@dataclass(frozen=True)
class IncomingSummary:
    """An incoming message as listed."""

    id: int
    status: str  # one of INCOMING_STATUSES
    from_address: str
    subject: str
    message_id: str  # its Message-ID header; "" when it had none
    file_name: str
    size: int
    attempts: int
    last_error: str
    date_received_utc: dt.datetime
    date_imported_utc: dt.datetime | None
    account_id: int | None  # None: its POP account was deleted
    ticket_id: int | None


# ---------------------------------------------------------------- shared


def _page(session, model, sorts: dict, sort, descending, offset, count, statement) -> tuple[int, object]:
    """(how many rows ``model`` has, ``statement`` sorted by ``sorts[sort]``
    then id and cut to the page). ``sort`` empty = id; ``offset`` >= 0;
    ``count`` 1..MAX_PAGE, 0 or None = DEFAULT_PAGE."""
    key = (sort or "id").strip().lower()
    if key not in sorts:
        raise InvalidArgument("Sort by one of %s, not %r." % (", ".join(sorts), sort))
    offset = offset or 0
    count = count or DEFAULT_PAGE
    if offset < 0:
        raise InvalidArgument("The offset must not be negative.")
    if not 1 <= count <= MAX_PAGE:
        raise InvalidArgument("A page holds 1 to %d messages, not %d." % (MAX_PAGE, count))
    column = sorts[key]
    order = [column.desc(), model.id.desc()] if descending else [column, model.id]
    total = session.scalar(select(sqlalchemy.func.count()).select_from(model))
    # The page's ids first, read from the sort column's index alone (at offset
    # 50,000 of 100,000 messages: milliseconds, where reading the rows to
    # skip them took a hundred), then only their rows.
    page_ids = select(model.id).order_by(*order).offset(offset).limit(count).subquery()
    return total, statement.where(model.id.in_(select(page_ids.c.id))).order_by(*order)


def message_ids(items) -> list[int]:
    """The ids in ``items`` (ints, or their text as SOAP and web forms send
    them), sorted, each once; blanks skipped."""
    ids = []
    for item in items or []:
        if isinstance(item, int):
            ids.append(item)
            continue
        text = (item or "").strip()
        if not text:
            continue
        try:
            ids.append(int(text))
        except ValueError:
            raise InvalidArgument("%r is not a message id." % item) from None
    if not ids:
        raise InvalidArgument("No message ids were given; select at least one message.")
    return sorted(set(ids))


def _locked_rows(session, model, ids, spool: str, verb: str) -> list:
    """The rows of ``ids``, locked for update; NotFound names any missing one
    (``verb``: what would have been done to them)."""
    wanted = message_ids(ids)
    rows = list(session.scalars(select(model).where(model.id.in_(wanted)).with_for_update()))
    missing = sorted(set(wanted) - {r.id for r in rows})
    if missing:
        raise NotFound("There is no %s message with id %s (deleted meanwhile?); nothing was %s."
                       % (spool, ", ".join(map(str, missing)), verb))
    return rows


def _status_filter(model, status, statuses) -> list:
    """The WHERE conditions for "every message of ``status``" (empty: of every status)."""
    wanted = (status or "").strip().lower()
    if not wanted:
        return []
    if wanted not in statuses:
        raise InvalidArgument("status must be one of %s, or empty for all; not %r." % (", ".join(statuses), status))
    return [model.status == wanted]


def _status_counts(session, model, statuses) -> dict[str, int]:
    """{status: number of rows}, 0 for a status without rows."""
    counts = dict.fromkeys(statuses, 0)
    for status, number in session.execute(select(model.status, sqlalchemy.func.count()).group_by(model.status)):
        counts[status] = number
    return counts


# ---------------------------------------------------------------- outgoing


def _being_sent(now):
    """Rows a delivery run holds right now."""
    return and_(OutgoingMessage.status == "sending", OutgoingMessage.claim_until_utc >= now)


def _is_being_sent(row, now) -> bool:
    return row.status == "sending" and row.claim_until_utc is not None and row.claim_until_utc >= now


def list_outgoing(call, sort="id", descending=False, offset=0, count=DEFAULT_PAGE) -> Page:
    """A page of OutgoingSummary; ``sort`` is a key of OUTGOING_SORTS."""
    # Every column but the raw content, of which only the size.
    columns = [c for c in OutgoingMessage.__table__.columns if c.name != "raw_content"]
    statement = select(*columns, sqlalchemy.func.length(OutgoingMessage.raw_content).label("size"))
    total, statement = _page(call.session, OutgoingMessage, OUTGOING_SORTS, sort, descending, offset, count,
                             statement)
    now = utcnow()
    items = [OutgoingSummary(
        id=row.id, status=row.status, is_being_sent=_is_being_sent(row, now), from_address=row.from_address,
        recipients=row.recipients, subject=row.subject, message_id_header=row.message_id_header,
        size=row.size or 0, attempts=row.attempts, last_error=row.last_error or "",
        date_created_utc=row.date_created_utc, next_attempt_utc=row.next_attempt_utc,
        last_attempt_utc=row.last_attempt_utc, date_sent_utc=row.date_sent_utc, ticket_id=row.ticket_id,
        smtp_account_id=row.smtp_account_id,
    ) for row in call.session.execute(statement)]
    return Page(items, total)


def outgoing_raw_content(call, message_id: int) -> bytes:
    """The complete message as it is (or was) sent (RFC 5322)."""
    raw = call.session.scalar(select(OutgoingMessage.raw_content).where(OutgoingMessage.id == message_id))
    if raw is None:
        raise NotFound("There is no outgoing message with id %s." % message_id)
    return bytes(raw)


def _idle_outgoing_rows(session, ids, now, verb: str) -> list:
    """The rows of ``ids``, all of them existing and not being sent (or nothing changes)."""
    rows = _locked_rows(session, OutgoingMessage, ids, "outgoing", verb)
    busy = [r.id for r in rows if _is_being_sent(r, now)]
    if busy:
        raise InvalidState("Message %s is being sent right now; nothing was %s. Try again in a moment."
                           % (", ".join(map(str, busy)), verb))
    return rows


_RETRY_HISTORY = (OutgoingMessage.id, OutgoingMessage.message_id_header, OutgoingMessage.attempts,
                  OutgoingMessage.last_error)


def _requeue(call, history) -> int:
    """The messages of ``history`` (rows of _RETRY_HISTORY, locked) queued
    again, due now, their attempts kept; once committed, each retry is in
    the SMTP log with who asked for it and what the message had been
    through. How many."""
    ids = [message_id for message_id, *_ in history]
    for start in range(0, len(ids), 500):
        call.session.execute(
            update(OutgoingMessage).where(OutgoingMessage.id.in_(ids[start:start + 500]))
            .values(status="queued", next_attempt_utc=utcnow(), last_error="", claimed_by=None,
                    claim_until_utc=None)
            .execution_options(synchronize_session=False))
    who = "%s (user %s)" % (call.principal.username, call.principal.user_id)

    def log_retries():
        for message_id, header, attempts, last_error in history:
            smtp_log.info("message %d %s retried by %s after %d attempts%s; due now", message_id, header, who,
                          attempts, " (last error: %s)" % last_error.replace("\n", " ")[:500] if last_error else "")

    call.after_commit.append(log_retries)
    return len(ids)


def retry_outgoing(call, ids) -> int:
    """Queued or failed messages are sent at the next delivery run; sent ones
    are refused. How many were retried."""
    rows = _idle_outgoing_rows(call.session, ids, utcnow(), "retried")
    sent = [r.id for r in rows if r.status == "sent"]
    if sent:
        raise InvalidState("Message %s was already sent; nothing was retried. Deselect it and try again."
                           % ", ".join(map(str, sent)))
    return _requeue(call, [(r.id, r.message_id_header, r.attempts, r.last_error) for r in rows])


def _requeue_where(call, *conditions) -> int:
    # Only the columns the log needs: a spool of failed messages can be large.
    return _requeue(call, call.session.execute(select(*_RETRY_HISTORY).where(*conditions)
                                               .order_by(OutgoingMessage.id).with_for_update()).all())


def retry_all_failed_outgoing(call) -> int:
    """Every failed message queued again; how many."""
    return _requeue_where(call, OutgoingMessage.status == "failed")


def retry_all_outgoing(call) -> int:
    """Every message a retry by ids would take (failed, queued, or sending
    under a lapsed claim) queued again, due now: "select all, retry" in the
    management interface. Sent ones and those being sent are left alone.
    How many."""
    now = utcnow()
    lapsed = and_(OutgoingMessage.status == "sending",
                  or_(OutgoingMessage.claim_until_utc.is_(None), OutgoingMessage.claim_until_utc < now))
    return _requeue_where(call, or_(OutgoingMessage.status.in_(("queued", "failed")), lapsed))


def delete_outgoing(call, ids) -> int:
    """Delete messages (none being sent right now); how many."""
    rows = _idle_outgoing_rows(call.session, ids, utcnow(), "deleted")
    for row in rows:
        call.session.delete(row)
    return len(rows)


def delete_all_outgoing(call, status="") -> int:
    """Delete every message of ``status`` (empty: of every status) but those
    being sent right now; how many."""
    conditions = _status_filter(OutgoingMessage, status, OUTGOING_STATUSES)
    result = call.session.execute(delete(OutgoingMessage).where(~_being_sent(utcnow()), *conditions)
                                  .execution_options(synchronize_session=False))
    return result.rowcount


def outgoing_counts(call) -> dict[str, int]:
    """OutgoingQueued, OutgoingSending, OutgoingSent, OutgoingFailed, OutgoingDue
    (queued and due, or sending under a lapsed claim), OutgoingTotal."""
    session, now = call.session, utcnow()
    counts = _status_counts(session, OutgoingMessage, OUTGOING_STATUSES)
    due = session.scalar(select(sqlalchemy.func.count()).select_from(OutgoingMessage).where(
        or_(and_(OutgoingMessage.status == "queued", OutgoingMessage.next_attempt_utc <= now),
            and_(OutgoingMessage.status == "sending", OutgoingMessage.claim_until_utc < now))))
    named = {"Outgoing%s" % status.title(): counts[status] for status in OUTGOING_STATUSES}
    return {**named, "OutgoingDue": due, "OutgoingTotal": sum(counts.values())}


# ---------------------------------------------------------------- incoming


def _summary(row) -> IncomingSummary:
    key = row.dedupe_key or ""
    return IncomingSummary(
        id=row.id, status=row.status, from_address=row.from_address, subject=row.subject,
        # A message without a Message-ID is deduplicated by its content's hash.
        message_id="" if key.startswith("sha256:") else key,
        file_name=row.file_name, size=row.size or 0, attempts=row.attempts, last_error=row.last_error or "",
        date_received_utc=row.date_received_utc, date_imported_utc=row.date_imported_utc,
        account_id=row.account_id, ticket_id=row.ticket_id)


def list_incoming(call, sort="id", descending=False, offset=0, count=DEFAULT_PAGE) -> Page:
    """A page of IncomingSummary; ``sort`` is a key of INCOMING_SORTS."""
    total, statement = _page(call.session, IncomingMessage, INCOMING_SORTS, sort, descending, offset, count,
                             select(IncomingMessage))
    return Page([_summary(row) for row in call.session.scalars(statement)], total)


def _file_of(runtime, row):
    """Where the row's file is now: the email folder, raw content (imported) or
    Failed Emails; None when it is gone (an imported one past its retention)."""
    for folder in (runtime.data.email, runtime.data.raw_content, runtime.data.failed_emails):
        path = folder / row.file_name
        if path.exists():
            return path
    return None


def incoming_raw_content(call, message_id: int) -> bytes:
    """The message as it was downloaded (RFC 5322)."""
    row = call.session.get(IncomingMessage, message_id) if message_id else None
    if row is None:
        raise NotFound("There is no incoming message with id %s." % message_id)
    path = _file_of(call.runtime, row)
    if path is None:
        raise NotFound("The file of incoming message %s (%s) is gone: imported messages are kept only for "
                       "the raw content retention." % (message_id, row.file_name))
    return path.read_bytes()


def _make_pending(call, rows) -> None:
    """Failed (or pending) rows pending again, their files back in the email folder.

    The files move before the commit: a pending row must find its file. If
    the transaction rolls back, the import finds the row failed and the file
    where a retry looks for it either way.
    """
    email_folder, failed_folder = call.runtime.data.email, call.runtime.data.failed_emails
    email_folder.mkdir(parents=True, exist_ok=True)
    moved = False
    for row in rows:
        source = failed_folder / row.file_name
        if source.exists():
            os.replace(source, email_folder / row.file_name)
            moved = True
        row.status = "pending"
        row.last_error = ""
        row.attempts = 0
        row.next_attempt_utc = None
    if moved:
        fsync_directory(email_folder)


def retry_incoming(call, ids) -> int:
    """Failed, refused (by a provider) or pending messages are imported
    again at the next run (a pending one at once, even if it waits for a
    provider); imported ones are refused. How many were retried."""
    rows = _locked_rows(call.session, IncomingMessage, ids, "incoming", "retried")
    done = [r.id for r in rows if r.status not in ("failed", "refused", "pending")]
    if done:
        raise InvalidState("Message %s was already imported; nothing was retried. Deselect it and try again."
                           % ", ".join(map(str, done)))
    _make_pending(call, rows)
    return len(rows)


def retry_all_failed_incoming(call) -> int:
    """Every failed message pending again; how many."""
    rows = list(call.session.scalars(select(IncomingMessage).where(IncomingMessage.status == "failed")
                                     .with_for_update()))
    _make_pending(call, rows)
    return len(rows)


def _delete_incoming_rows(call, rows) -> int:
    """Delete ``rows`` and, once committed, the files of those not imported."""
    files = []
    for row in rows:
        if row.status != "imported":
            path = _file_of(call.runtime, row)
            if path is not None:
                files.append(path)
        call.session.delete(row)

    def remove_files():
        for path in files:
            path.unlink(missing_ok=True)

    call.after_commit.append(remove_files)
    return len(rows)


def delete_incoming(call, ids) -> int:
    """Delete messages and their files (see the module docstring); how many."""
    return _delete_incoming_rows(call, _locked_rows(call.session, IncomingMessage, ids, "incoming", "deleted"))


def delete_all_incoming(call, status="") -> int:
    """Delete every message of ``status`` (empty: of every status) and their
    files; how many."""
    conditions = _status_filter(IncomingMessage, status, INCOMING_STATUSES)
    rows = call.session.scalars(select(IncomingMessage).where(*conditions).with_for_update())
    return _delete_incoming_rows(call, list(rows))


def incoming_counts(call) -> dict[str, int]:
    """IncomingPending, IncomingImported, IncomingDuplicate, IncomingFailed, IncomingTotal."""
    counts = _status_counts(call.session, IncomingMessage, INCOMING_STATUSES)
    named = {"Incoming%s" % status.title(): counts[status] for status in INCOMING_STATUSES}
    return {**named, "IncomingTotal": sum(counts.values())}


def spool_counts(call) -> dict[str, int]:
    """``outgoing_counts`` and ``incoming_counts`` together."""
    return {**outgoing_counts(call), **incoming_counts(call)}
