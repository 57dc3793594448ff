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
* ``flush`` (run by the Event Processing thread) takes what is due and
  writes one email per distinct error into the outgoing spool
  (``spool_outgoing``, RFC 5322 text built with the email package and the
  helpers of ``stws.domain.outgoing_mail``), at most one per ``MIN_GAP`` (a
  minute) per distinct error: repeats in between are counted and reported
  in the next email ("occurred 12 times since ..."). With no address
  configured the recorded errors are dropped.

Each node collects its own errors; they are mailed when the Event
Processing thread runs on that node (the thread runs on the node that
holds its lease).
"""
from __future__ import annotations

import datetime as dt
import email.policy
import email.utils
import logging
import threading
import traceback
from dataclasses import dataclass, field
from email.message import EmailMessage

from stws.db.models import OutgoingMessage, utcnow
from stws.domain import outgoing_mail as outgoing

MIN_GAP = dt.timedelta(minutes=1)
MAX_DISTINCT = 200
MAX_TEXT = 20_000  # characters of message + traceback kept per error
FORGET_AFTER = dt.timedelta(hours=1)  # a quiet error's memory (its last send time) is dropped then
_formatter = logging.Formatter()
_POLICY = email.policy.SMTP.clone(max_line_length=998)


@dataclass
class ErrorRecord:
    key: tuple
    level: int  # logging level of the first occurrence since the last email
    summary: str  # the first line of the first occurrence's message
    first_text: str  # message and traceback of the first occurrence since the last email
    first_seen: dt.datetime
    last_seen: dt.datetime
    last_message: str = ""
    pending: int = 0  # occurrences not mailed yet
    last_sent: dt.datetime | None = None


@dataclass
class DueError:
    key: tuple
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


class ErrorCollector(logging.Handler):
    """Records errors in memory for ``flush``; thread-safe and bounded."""

    # NOTSET: whatever the error log gets is mailed, warnings included.
    def __init__(self, level=logging.NOTSET, clock=utcnow):
        super().__init__(level)
        self.clock = clock
        self._records: dict[tuple, ErrorRecord] = {}
        self._dropped = 0
        self._guard = threading.Lock()  # not Handler.lock: flush must not wait for formatting

    def emit(self, record: logging.LogRecord) -> None:
        try:
            key = error_key(record)
            message = record.getMessage()
            now = self.clock()
            with self._guard:
                entry = self._records.get(key)
                if entry is None:
                    if len(self._records) >= MAX_DISTINCT:
                        self._forget_quiet(now)
                    if len(self._records) >= MAX_DISTINCT:
                        self._dropped += 1
                        return
                    entry = self._records[key] = ErrorRecord(key, record.levelno, "", "", now, now)
                if entry.pending == 0:  # the first occurrence since the last email
                    entry.level = record.levelno
                    entry.summary = (message.splitlines() or [""])[0][:200]
                    entry.first_text = _full_text(message, record)
                    entry.first_seen = now
                entry.pending += 1
                entry.last_seen = now
                entry.last_message = message[:MAX_TEXT]
        except Exception:
            self.handleError(record)

    def _forget_quiet(self, now: dt.datetime) -> None:
        for key in [k for k, e in self._records.items()
                    if e.pending == 0 and (e.last_sent is None or now - e.last_sent > FORGET_AFTER)]:
            del self._records[key]

    def take_due(self, now: dt.datetime) -> Flushed:
        """The errors to mail now, marked as sent."""
        with self._guard:
            result = Flushed(dropped=self._dropped)
            self._dropped = 0
            for entry in self._records.values():
                if entry.pending and (entry.last_sent is None or now - entry.last_sent >= MIN_GAP):
                    result.due.append(DueError(entry.key, entry.level, entry.summary, entry.first_text,
                                               entry.first_seen, entry.last_seen, entry.last_message, entry.pending))
                    entry.pending = 0
                    entry.last_sent = now
            self._forget_quiet(now)
            return result

    def give_back(self, flushed: Flushed) -> None:
        """Undo ``take_due`` after the emails could not be queued."""
        with self._guard:
            self._dropped += flushed.dropped
            for due in flushed.due:
                entry = self._records.get(due.key)
                if entry is not None:
                    entry.pending += due.count
                    entry.last_sent = None

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
    """Queue the due error emails (one transaction); returns how many."""
    address = runtime.options.get().EmailAddressToReceiveErrors.strip()
    flushed = collector.take_due(now)
    if not flushed.due or not address:
        return 0  # nothing due, or nobody to tell: recorded errors are dropped
    try:
        with runtime.db.transaction() as session:
            for index, error in enumerate(flushed.due):
                compose(session, address, error, node or "this server", flushed.dropped if index == 0 else 0)
    except Exception:
        collector.give_back(flushed)
        raise
    return len(flushed.due)
