"""Emailing errors to the Diagnostics option "EmailAddressToReceiveErrors".

The spec mails "each time an error is written to the Error log": every
entry of that log is mailed, the warnings written there too (a POP account
that cannot log in, a refused incoming mail, an unreadable file), each
marked as an error or a warning.

Two halves, so that no database work ever happens inside a logging call:

* ``ErrorCollector`` is a ``logging.Handler`` on the ``stws.error`` logger
  (attached by ``stws.runtime``). ``emit`` only records, in memory, under
  a lock: errors are grouped by what makes them the same error (the
  logger, the message template, the exception type and where it was
  raised; not the arguments, so "operation X failed (reference 1a2b...)"
  with a fresh reference each time is still one error), with the first
  occurrence's text and traceback, the last occurrence's message and a
  count. At most ``MAX_DISTINCT`` errors are held; beyond that new ones
  are only counted.
* ``hand_in`` moves what a node recorded into ``error_reports``, one row
  per distinct error for all nodes sharing the database (counts added, the
  first occurrence kept). Every node does it on its own timer
  (``HAND_IN_SECONDS``, stws.workers.framework.WorkerService), whether or
  not it runs the Event Processing thread: that thread runs on one node
  only, and errors of the others would never be mailed otherwise.
* ``mail_due`` (run by the Event Processing thread, on the node holding
  its lease) writes one email per due row into the outgoing spool
  (``spool_outgoing``, RFC 5322 text built with the email package and the
  helpers of ``stws.domain.outgoing_mail``) and marks the row sent in the
  same transaction: each occurrence is mailed once, and at most one email
  per ``MIN_GAP`` (a minute) per distinct error goes out from the whole
  cluster; repeats in between are counted and reported in the next email
  ("occurred 12 times since ..."). With no address configured the recorded
  errors are dropped.
"""
from __future__ import annotations

import datetime as dt
import email.policy
import email.utils
import hashlib
import logging
import threading
import traceback
from dataclasses import dataclass, field
from email.message import EmailMessage

from sqlalchemy import delete, func, or_, select, update

from stws.db.insert_once import insert_once
from stws.db.models import ErrorReport, OutgoingMessage, utcnow
from stws.domain import outgoing_mail as outgoing

MIN_GAP = dt.timedelta(minutes=1)
MAX_DISTINCT = 200
MAX_TEXT = 20_000  # characters of message + traceback kept per error
FORGET_AFTER = dt.timedelta(hours=1)  # a quiet error's row (its last send time) is deleted then
# How often every node hands its recorded errors in (seconds): an error
# reaches the table this long after it was logged, at most.
HAND_IN_SECONDS = 5.0
_formatter = logging.Formatter()
_POLICY = email.policy.SMTP.clone(max_line_length=998)
_NODES_LENGTH = 200  # ErrorReport.nodes


@dataclass
class ErrorRecord:
    key: tuple
    level: int  # logging level of the first occurrence since the last hand-in
    summary: str  # the first line of the first occurrence's message
    first_text: str  # message and traceback of the first occurrence since the last hand-in
    first_seen: dt.datetime
    last_seen: dt.datetime
    last_message: str = ""
    pending: int = 0  # occurrences not handed in yet


@dataclass
class DueError:
    key: tuple | str  # error_key, or its hash once it went through the table
    level: int
    summary: str
    text: str
    first_seen: dt.datetime
    last_seen: dt.datetime
    last_message: str
    count: int


@dataclass
class Flushed:
    due: list[DueError] = field(default_factory=list)
    dropped: int = 0  # distinct errors not kept because the collector was full


def error_key(record: logging.LogRecord) -> tuple:
    where = (record.pathname, record.lineno)
    kind = ""
    if record.exc_info and record.exc_info[1] is not None:
        exc = record.exc_info[1]
        kind = "%s.%s" % (type(exc).__module__, type(exc).__qualname__)
        frames = traceback.extract_tb(record.exc_info[2]) if record.exc_info[2] else []
        if frames:
            where = (frames[-1].filename, frames[-1].lineno)  # where it was raised
    return record.name, str(record.msg), kind, where


def key_hash(key: tuple) -> str:
    """The row key of an error, the same on every node: of the file where it
    happened only the last two parts count (``tickets/transfer.py``), as
    nodes may have stws installed under different paths."""
    name, template, kind, (filename, line) = key
    portable = "/".join(str(filename).replace("\\", "/").split("/")[-2:])
    return hashlib.sha256(repr((name, template, kind, portable, line)).encode("utf-8")).hexdigest()


class ErrorCollector(logging.Handler):
    """Records errors in memory until ``hand_in``; thread-safe and bounded."""

    # NOTSET: whatever the error log gets is mailed, warnings included.
    def __init__(self, level=logging.NOTSET, clock=utcnow):
        super().__init__(level)
        self.clock = clock
        self._records: dict[tuple, ErrorRecord] = {}
        self._dropped = 0
        self._guard = threading.Lock()  # not Handler.lock: taking must not wait for formatting

    def emit(self, record: logging.LogRecord) -> None:
        try:
            key = error_key(record)
            message = record.getMessage()
            now = self.clock()
            with self._guard:
                entry = self._records.get(key)
                if entry is None:
                    if len(self._records) >= MAX_DISTINCT:
                        self._dropped += 1
                        return
                    entry = self._records[key] = ErrorRecord(key, record.levelno,
                                                             (message.splitlines() or [""])[0][:200],
                                                             _full_text(message, record), now, now)
                entry.pending += 1
                entry.last_seen = now
                entry.last_message = message[:MAX_TEXT]
        except Exception:
            self.handleError(record)

    def take(self) -> Flushed:
        """Everything recorded since the last ``take``; the collector is empty after."""
        with self._guard:
            result = Flushed(dropped=self._dropped)
            result.due = [DueError(e.key, e.level, e.summary, e.first_text, e.first_seen, e.last_seen,
                                   e.last_message, e.pending) for e in self._records.values()]
            self._records.clear()
            self._dropped = 0
            return result

    def give_back(self, flushed: Flushed) -> None:
        """Undo ``take`` after the errors could not be handed in; what was
        recorded meanwhile is later, so the given-back first occurrence wins."""
        with self._guard:
            self._dropped += flushed.dropped
            for due in flushed.due:
                entry = self._records.get(due.key)
                if entry is None:
                    self._records[due.key] = ErrorRecord(due.key, due.level, due.summary, due.text, due.first_seen,
                                                         due.last_seen, due.last_message, due.count)
                    continue
                entry.level, entry.summary, entry.first_text = due.level, due.summary, due.text
                entry.first_seen = due.first_seen
                entry.pending += due.count

    def pending(self) -> int:
        with self._guard:
            return sum(e.pending for e in self._records.values()) + self._dropped


def _full_text(message: str, record: logging.LogRecord) -> str:
    text = message
    if record.exc_info:
        text += "\n\n" + _formatter.formatException(record.exc_info)
    elif record.exc_text:
        text += "\n\n" + record.exc_text
    if record.stack_info:
        text += "\n\n" + record.stack_info
    return text[:MAX_TEXT]


# --------------------------------------------------------------- the shared table


def hand_in(runtime, collector: ErrorCollector, node: str) -> int:
    """Move what ``collector`` recorded into ``error_reports`` (one
    transaction); returns how many distinct errors. With no address
    configured the recorded errors are dropped."""
    if not collector.pending():
        return 0  # the usual case: no database work at all
    flushed = collector.take()
    if not runtime.options.get().EmailAddressToReceiveErrors.strip():
        return 0
    try:
        with runtime.db.transaction() as session:
            # Rows in one order on every node: two nodes handing in the same
            # errors lock them in the same order and never deadlock.
            due = sorted(flushed.due, key=lambda error: key_hash(error.key))
            # The count of errors not kept is told in the email of the earliest kept one.
            earliest = min(due, key=lambda error: (error.first_seen, error.summary)) if due else None
            for error in due:
                _add(session, error, node, flushed.dropped if error is earliest else 0)
    except Exception:
        collector.give_back(flushed)
        raise
    return len(flushed.due)


def _add(session, error: DueError, node: str, dropped: int) -> None:
    """Add one node's occurrences to the error's row (created if new)."""
    row_key = key_hash(error.key)
    fresh = dict(level=error.level, summary=error.summary, first_text=error.text,
                 first_seen_utc=error.first_seen, nodes=node[:_NODES_LENGTH])
    if insert_once(session, ErrorReport, dict(
            key_hash=row_key, last_seen_utc=error.last_seen, last_message=error.last_message,
            pending=error.count, dropped_others=dropped, last_sent_utc=None, **fresh)):
        return
    # FOR UPDATE: another node's hand-in or the mailer may change the row meanwhile.
    row = session.execute(select(ErrorReport.pending, ErrorReport.nodes, ErrorReport.last_seen_utc)
                          .where(ErrorReport.key_hash == row_key).with_for_update()).one()
    values = dict(pending=row.pending + error.count, dropped_others=ErrorReport.dropped_others + dropped)
    if row.pending == 0:  # the first occurrence since the last email
        values.update(fresh)
    elif node not in row.nodes.split(", "):
        values["nodes"] = ("%s, %s" % (row.nodes, node))[:_NODES_LENGTH]
    if error.last_seen >= row.last_seen_utc:
        values.update(last_seen_utc=error.last_seen, last_message=error.last_message)
    session.execute(update(ErrorReport).where(ErrorReport.key_hash == row_key).values(**values))


def mail_due(runtime, now: dt.datetime) -> int:
    """Queue the due error emails and mark their rows sent (one transaction);
    returns how many. Run by one node at a time (the Event Processing
    thread's lease); rows another node is handing in right now are left
    for the next run."""
    address = runtime.options.get().EmailAddressToReceiveErrors.strip()
    with runtime.db.transaction() as session:
        if not address:  # nobody to tell: what was handed in before is dropped
            session.execute(update(ErrorReport).where(ErrorReport.pending > 0)
                            .values(pending=0, dropped_others=0))
            return 0
        rows = session.scalars(
            select(ErrorReport).where(ErrorReport.pending > 0,
                                      or_(ErrorReport.last_sent_utc.is_(None),
                                          ErrorReport.last_sent_utc <= now - MIN_GAP))
            .order_by(ErrorReport.first_seen_utc, ErrorReport.summary)
            .with_for_update(skip_locked=True)).all()
        for row in rows:
            error = DueError(row.key_hash, row.level, row.summary, row.first_text, row.first_seen_utc,
                             row.last_seen_utc, row.last_message, row.pending)
            compose(session, address, error, row.nodes or "this server", row.dropped_others)
            row.pending, row.dropped_others, row.last_sent_utc = 0, 0, now
        # A quiet error's row goes after a while (its rate limit has long passed).
        session.execute(delete(ErrorReport).where(
            ErrorReport.pending == 0,
            func.coalesce(ErrorReport.last_sent_utc, ErrorReport.last_seen_utc) < now - FORGET_AFTER))
        return len(rows)


def unsent(runtime) -> int:
    """Occurrences recorded on this node or handed in, not mailed yet."""
    with runtime.db.transaction(writes=False) as session:
        handed_in = session.scalar(select(func.coalesce(func.sum(ErrorReport.pending), 0)))
    return runtime.error_mail.pending() + int(handed_in)


# --------------------------------------------------------------- the emails


def compose(session, to: str, error: DueError, node: str, dropped: int = 0) -> OutgoingMessage:
    """The spool row of one error email (added to ``session``)."""
    # It goes out through the default SMTP account: from an address that account may send as.
    sender_name, sender = outgoing.default_sender(session)
    # Lines up to RFC 5322's 998 characters: the default 78 makes the email
    # package fold a long subject before its first word.
    mail = EmailMessage(policy=_POLICY)
    mail["From"] = email.utils.formataddr((sender_name, sender))
    mail["To"] = to
    kind = "error" if error.level >= logging.ERROR else "warning"
    repeats = " (%d times)" % error.count if error.count > 1 else ""
    mail["Subject"] = ("stws %s%s: %s" % (kind, repeats, error.summary))[:250]
    mail["Date"] = email.utils.format_datetime(utcnow())
    message_id = outgoing.new_message_id(sender)
    mail["Message-ID"] = message_id
    mail["Auto-Submitted"] = "auto-generated"
    lines = ["%s was written to the error log of %s." % ("An error" if kind == "error" else "A warning", node), ""]
    if error.count > 1:
        lines += ["It occurred %d times between %s and %s (UTC); the first occurrence:"
                  % (error.count, _when(error.first_seen), _when(error.last_seen)), ""]
    else:
        lines += ["At %s (UTC):" % _when(error.first_seen), ""]
    lines.append(error.text)
    if error.count > 1 and error.last_message and not error.text.startswith(error.last_message):
        lines += ["", "The last occurrence's message:", error.last_message]
    if dropped:
        lines += ["", "%d further errors of other kinds were not kept (too many different errors at once); "
                      "see the error log." % dropped]
    lines += ["", "Errors are mailed to this address at most once a minute each; the Diagnostics option "
                  "EmailAddressToReceiveErrors sets it."]
    mail.set_content("\n".join(lines))
    row = OutgoingMessage(
        from_address=sender, recipients=to, subject=str(mail["Subject"]), message_id_header=message_id,
        raw_content=mail.as_bytes(), next_attempt_utc=utcnow() + outgoing.delivery_delay(session),
    )
    session.add(row)
    return row


def _when(moment: dt.datetime) -> str:
    return moment.astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def flush(runtime, collector: ErrorCollector, now: dt.datetime, node: str = "") -> int:
    """This node's errors handed in, then the due emails queued (the Event
    Processing thread's step); returns how many emails."""
    hand_in(runtime, collector, node or "this server")
    return mail_due(runtime, now)
