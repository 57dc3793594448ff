"""Turning downloaded email into tickets (the Email Import (POP) thread's job).

Each ``pending`` row of ``spool_incoming`` names a ``.eml`` file in the email
folder (written by ``stws.mail.pop``). One run imports a batch of them, each
in its own transaction, exactly once: the row is switched from ``pending``
to ``imported`` (a conditional UPDATE, first thing in the transaction, which
also locks the row) in the same transaction that creates the ticket or adds
the message. If anything fails the whole transaction rolls back and the row
is still pending or is marked failed; nothing is imported twice. A run first
reads, parses and consults the providers about all its rows, outside any
transaction; the transactions are then savepoints of a few commit groups
(``_import_in_groups``, SQLite and PostgreSQL): one commit and fsync for
many messages, and a crash before a group's commit leaves all its rows
pending. What every message looks up is read once per group or by one
prebuilt query (``stws.mail.import_lookups``), and a new ticket is written
on the driver without ORM objects (replies and attachments still go
through the ORM domain functions).

What a message becomes
    * A **reply** when its subject carries a ticket number (``[#DDD-...]``,
      as ``stws.domain.outgoing_mail`` tags it) or its In-Reply-To/References name
      the Message-ID of a ticket message or of a spool_outgoing row: a
      customer message on that ticket (``conversation.add_message``, which
      also reopens a closed ticket). A closed-and-locked or deleted ticket
      is not replied to: the message opens a new ticket instead.
    * Otherwise a **new ticket** in the account's department, from the
      sender (``core.create_ticket``), if the account's
      ``new_ticket_restriction`` allows: ``anyone``; ``registered`` (the
      address belongs to an existing user); ``nobody`` (replies only). A
      refused message is marked ``failed`` with the reason.
    * Bodies: the text/plain and text/html alternatives, charsets decoded by
      the email package (policy ``default``); attachments saved as ticket
      attachments of the message (``attachments.add_attachment``), bytes
      intact. Once imported, the raw file moves to the raw-content folder
      (``runtime.data.raw_content``, where the Cleaner keeps it 30 days); its
      name is in ``ticket_messages.raw_content_path`` (relative to that
      folder), and the Message-ID in
      ``message_id_header``, so agent replies thread to it (In-Reply-To).
    * The department's **auto-responder** (``stws.domain.tickets.auto_responder``)
      for a new ticket, except to automated mail (see ``automated_reason``:
      Auto-Submitted other than "no", Precedence bulk/junk/list, List-Id,
      mailer-daemon/postmaster/noreply senders, an empty Return-Path, our
      own messages: an X-Stws-Ticket header or one of our Message-IDs) and
      at most ``mail.auto_response_cap`` (default 5) per sender per hour
      (table ``auto_responses``).

Providers
    Before a new ticket's transaction, the custom field and ticket providers
    are asked about it when enabled (``stws.providers.ticket_start``;
    replies are not asked about). If one declines (TicketCreation=FALSE,
    CanStartTickets=false, a broken custom field rule), the row is marked
    ``refused`` with the reason, its file stays in the email folder (a
    retry from the spool imports it again), and the sender gets the
    provider's Message by email when the auto-responder would answer
    (department's auto-responder on, not automated mail, under the hourly
    cap). If one cannot be asked (unreachable, a fault, a timeout...), the
    row stays ``pending`` with the reason in ``last_error`` and is tried
    again after a backoff (``next_attempt_utc``); the other messages of the
    run that need the provider wait too without calling it; after
    PROVIDER_ATTEMPTS tries the row is marked failed (kept, retryable).

Who acts
    Domain functions take a ``call`` (session, principal, runtime). The
    import acts through a ``Context`` whose principal is the primary
    administrator's account (``users.is_primary_admin``; the lowest id of an
    administrator when none is flagged) with the name ``Email Import``,
    which is what the ticket history shows; attachments are attributed to
    the sending customer when known.

Unimportable files
    A file that cannot be read or parsed, or has no sender address, is moved
    to the Failed Emails folder (``runtime.data.failed_emails``), its row
    marked ``failed`` with the reason, and the error logged. Retrying it
    (``stws.mail.spool``, RetryIncomingMessages of svcSpool) moves it back
    and makes it pending again. Nothing is lost.
"""
from __future__ import annotations

import datetime as dt
import email.parser
import email.policy
import email.utils
import functools
import logging
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import bindparam, or_, select, update

from stws.db.models import (AutoResponse, Department, IncomingMessage, OutgoingMessage, Ticket, TicketMessage,
                            TicketStatus, utcnow)
from stws.db.prepared import PreparedInsert, PreparedQuery, PreparedStatement
from stws.domain import organization
from stws.domain.context import Context
from stws.errors import InvalidArgument, OperationError, ResultCode
from stws.mail.import_lookups import Lookups
from stws.domain.tickets.auto_responder import send_auto_responder
from stws.domain.outgoing_mail import compose, delivery_delay, new_message_id, sender_address
from stws.providers import ticket_start
from stws.remote.backoff import Backoff
from stws.security.passwords import unusable_password
from stws.security.principals import system_principal

pop_log = logging.getLogger("stws.pop")
error_log = logging.getLogger("stws.error")

SYSTEM_NAME = "Email Import"
BATCH_SIZE = 200
# A message whose new ticket the ticket or custom field provider could not
# be asked about waits 1, 2, 4 ... minutes (at most an hour) between tries,
# and is marked failed (kept, retryable from the spool) after this many.
PROVIDER_ATTEMPTS = 20
PROVIDER_BACKOFF = Backoff(first=60, cap=3600)
_TICKET_NUMBER = re.compile(r"\[#?(\d{3}-[0-9A-F]{8}-[0-9A-F]{4})\]", re.IGNORECASE)
_MESSAGE_ID = re.compile(r"<[^<>\s]+>")
_AUTOMATED_LOCAL_PARTS = re.compile(r"^(mailer-daemon|postmaster|no-?reply|do-?not-?reply|bounces?)([+.-].*)?$",
                                    re.IGNORECASE)


class ImportFailure(Exception):
    """A message that cannot be imported (the reason is the message)."""


class Unreadable(ImportFailure):
    """A file that cannot be read or parsed: it goes to the Failed Emails folder."""


# ---------------------------------------------------------------- the system caller


# ---------------------------------------------------------------- reading a message


@dataclass
class Parsed:
    sender: str
    sender_name: str
    to: str
    cc: str
    subject: str
    message_id: str
    references: list
    text: str
    html: str
    attachments: list  # [(file name, bytes)]
    date: dt.datetime | None
    mail: object


def _header(mail, name: str) -> str:
    try:
        value = mail.get(name)
        return str(value).strip() if value is not None else ""
    except Exception:  # noqa: BLE001 - a malformed header reads as its raw text
        raw = mail.get_all(name, failobj=[None])[0] if hasattr(mail, "get_all") else None
        return str(raw or "").strip()


def part_text(part) -> str:
    """A text part's content as str, its charset decoded (unknown charsets: UTF-8,
    then Latin-1), with "\n" line ends."""
    return _decoded(part).replace("\r\n", "\n")


def _decoded(part) -> str:
    try:
        return part.get_content()
    except (LookupError, UnicodeError, AssertionError, ValueError):
        data = part.get_payload(decode=True) or b""
        for charset in (part.get_content_charset() or "", "utf-8"):
            try:
                return data.decode(charset) if charset else data.decode("utf-8")
            except (LookupError, UnicodeError):
                continue
        return data.decode("latin-1")


@functools.lru_cache(maxsize=4096)
def _parsed_header(factory, name: str, value: str):
    return factory(name, value)


class _HeaderCachingPolicy(email.policy.EmailPolicy):
    """``email.policy.default`` whose parsed headers are kept (they are
    immutable str subclasses). The default parses a header again on every
    read, and reading a message's parts reads each part's Content-Type some
    30 times: 5.3 -> 0.6-1.5 ms of CPU to parse a message of the benchmark's
    mix (bench/email_import.py)."""

    def header_fetch_parse(self, name, value):
        if hasattr(value, "name"):
            return value
        value = "".join(email.policy.linesep_splitter.split(value))
        if name.lower() in _READ_AS_TEXT and value.isascii() and "=?" not in value:
            return value.strip()
        return _parsed_header(self.header_factory, name, value)


# Headers this module only reads as text (``_header``): plain ASCII without
# encoded words is that text as it stands (the address parsing is
# email.utils.parseaddr's, the date's parsedate_to_datetime), where the
# header registry's parser cost ~0.1 ms each for the Subject, Message-ID
# and Date that differ in every message: a fifth of parsing one
# (bench/email_import.py). Anything else still goes through the registry.
_READ_AS_TEXT = frozenset(("from", "to", "cc", "subject", "date", "message-id", "in-reply-to", "references",
                           "auto-submitted", "precedence", "list-id", "list-unsubscribe", "x-autoreply",
                           "x-autorespond", "x-auto-response-suppress", "return-path", "x-stws-ticket"))


_POLICY = _HeaderCachingPolicy()


def parse(raw: bytes) -> Parsed:
    from stws.domain.tickets.core import html_to_text

    try:
        mail = email.parser.BytesParser(policy=_POLICY).parsebytes(raw)
    except Exception as error:  # noqa: BLE001
        raise Unreadable("the message cannot be parsed: %s" % error) from None
    if not raw.strip() or not mail.keys():
        raise Unreadable("the file holds no message headers")
    from_text = _header(mail, "From")
    name, address = email.utils.parseaddr(from_text)
    address = (address or "").strip()
    if not address or "@" not in address or " " in address:
        raise Unreadable("the message has no valid sender (From: %r)" % from_text[:200])
    references = _MESSAGE_ID.findall(_header(mail, "In-Reply-To")) + _MESSAGE_ID.findall(_header(mail, "References"))
    text = html = ""
    attachments = []
    try:
        body = mail.get_body(preferencelist=("plain",))
        if body is not None:
            text = part_text(body)
        body = mail.get_body(preferencelist=("html",))
        if body is not None:
            html = part_text(body)
        for part in mail.iter_attachments():
            if part.is_multipart():
                continue
            file_name = part.get_filename() or ""
            if not file_name and part.get_content_type() in ("text/plain", "text/html"):
                continue  # an unnamed inline text part: already in the body, or a trailer
            data = part.get_payload(decode=True) or b""
            if not file_name:
                file_name = "attachment-%d%s" % (len(attachments) + 1,
                                                  ".eml" if part.get_content_type() == "message/rfc822" else ".bin")
            attachments.append((file_name, data))
    except Unreadable:
        raise
    except Exception as error:  # noqa: BLE001
        raise Unreadable("the message body cannot be read: %s" % error) from None
    if not text and html:
        text = html_to_text(html)
    date = None
    try:
        date = email.utils.parsedate_to_datetime(_header(mail, "Date")) if _header(mail, "Date") else None
        if date is not None and date.tzinfo is None:
            date = date.replace(tzinfo=dt.timezone.utc)
    except (TypeError, ValueError, IndexError):
        date = None
    return Parsed(sender=address, sender_name=name, to=_header(mail, "To"), cc=_header(mail, "Cc"),
                  subject=" ".join(_header(mail, "Subject").split())[:1000],
                  message_id=_header(mail, "Message-ID")[:998], references=references, text=text, html=html,
                  attachments=attachments, date=date, mail=mail)


# ---------------------------------------------------------------- loop protection


def automated_reason(connection, parsed: Parsed, lookups: Lookups) -> str:
    """Why no automatic reply may go to this message ("" when one may)."""
    mail = parsed.mail
    auto = _header(mail, "Auto-Submitted").lower()
    if auto and auto != "no":
        return "Auto-Submitted: %s" % auto
    precedence = _header(mail, "Precedence").lower()
    if precedence in ("bulk", "junk", "list", "auto_reply"):
        return "Precedence: %s" % precedence
    if _header(mail, "List-Id") or _header(mail, "List-Unsubscribe"):
        return "a mailing list message"
    if _header(mail, "X-Autoreply") or _header(mail, "X-Autorespond") or _header(mail, "X-Auto-Response-Suppress"):
        return "an automatic reply"
    if _header(mail, "Return-Path") == "<>":
        return "a bounce (empty Return-Path)"
    local = parsed.sender.rpartition("@")[0]
    if _AUTOMATED_LOCAL_PARTS.match(local):
        return "sent by %s" % parsed.sender
    if _header(mail, "X-Stws-Ticket"):
        return "one of our own messages (X-Stws-Ticket)"
    if parsed.message_id and (parsed.message_id.startswith("<stws.")
                              or lookups.is_our_message_id(connection, parsed.message_id)):
        return "one of our own messages (Message-ID)"
    if parsed.sender.lower() in lookups.department_addresses:
        return "sent from a department's own address"
    return ""


def no_auto_response(connection, parsed: Parsed, lookups: Lookups) -> str:
    """Why no automatic reply (auto-responder, a provider's refusal) may go
    to the sender: automated mail, or the sender's hourly cap reached; ""
    when one may."""
    reason = automated_reason(connection, parsed, lookups)
    if not reason and not lookups.under_cap(connection, parsed.sender):
        reason = "the hourly cap of auto-responses to %s was reached" % parsed.sender
    return reason


# ---------------------------------------------------------------- finding the ticket replied to


# Run on the driver (stws.db.prepared): one of them for most replies.
_TICKET_BY_NUMBER = PreparedQuery(
    select(Ticket.id, Ticket.is_deleted, TicketStatus.is_locked)
    .join(TicketStatus, TicketStatus.id == Ticket.status_id).where(Ticket.ticket_number == bindparam("number")))
_TICKET_BY_ID = PreparedQuery(
    select(Ticket.id, Ticket.is_deleted, TicketStatus.is_locked)
    .join(TicketStatus, TicketStatus.id == Ticket.status_id).where(Ticket.id == bindparam("ticket")))


def reply_target(connection, parsed: Parsed) -> int | None:
    """The id of the ticket the message replies to: the first live ticket
    whose number is in the subject, else the ticket of a message named by
    In-Reply-To/References; None for a new ticket (also when that ticket is
    closed and locked: it takes no replies)."""
    candidates = [_TICKET_BY_NUMBER.first(connection, {"number": number.upper()})
                  for number in _TICKET_NUMBER.findall(parsed.subject or "")]
    candidates = [ticket for ticket in candidates if ticket is not None]
    ids = [m for m in reversed(parsed.references) if len(m) <= 998][:50]
    if not candidates and ids:
        ticket_id = connection.scalar(select(TicketMessage.ticket_id).where(TicketMessage.message_id_header.in_(ids))
                                      .order_by(TicketMessage.id.desc()).limit(1))
        if ticket_id is None:
            ticket_id = connection.scalar(select(OutgoingMessage.ticket_id).where(
                OutgoingMessage.message_id_header.in_(ids), OutgoingMessage.ticket_id.is_not(None))
                .order_by(OutgoingMessage.id.desc()).limit(1))
        if ticket_id is not None:
            candidates.append(_TICKET_BY_ID.first(connection, {"ticket": ticket_id}))
    for ticket in candidates:
        if ticket is not None and not ticket.is_deleted:
            return None if ticket.is_locked else ticket.id
    return None


# ---------------------------------------------------------------- importing one row


def _new_ticket_account(connection, lookups: Lookups, account_id: int | None, parsed: Parsed):
    """(the POP account's row, the id of the sender's customer account or
    None) of a new ticket, or ImportFailure when the account's restriction
    refuses it."""
    account = lookups.accounts.get(account_id) if account_id else None
    if account is None:
        raise ImportFailure("the POP account it came from no longer exists; no department to open a ticket in")
    restriction = account.new_ticket_restriction
    if restriction == "nobody":
        raise ImportFailure("not a reply to a ticket, and %s accepts replies only" % account.email_address)
    customer_id = lookups.customer_id(connection, parsed.sender)
    if customer_id is None and restriction == "registered":
        raise ImportFailure("%s is not a registered user, and only registered users may open tickets by email "
                            "at %s" % (parsed.sender, account.email_address))
    return account, customer_id


class _ProvidersDown:
    """Within one import run: the provider failure that made a message wait,
    so that the next messages needing the providers wait without calling."""

    def __init__(self):
        self.failure: OperationError | None = None


def _is_provider_failure(error: OperationError) -> bool:
    return error.code == ResultCode.REMOTE_FAILURE


def _consult(runtime, prepared: "_Prepared", now, down: _ProvidersDown):
    """(consulted, TicketStart or None): what the providers decide about the
    new ticket this message would open, asked outside any transaction; not
    consulted for a reply or when no provider is enabled."""
    if not any(ticket_start.enabled(runtime)):
        return False, None
    parsed = prepared.parsed
    with runtime.db.unit_of_work(writes=False) as unit:
        if reply_target(unit.connection, parsed) is not None:
            return False, None
        lookups = Lookups.load(unit.connection, now)
        account, customer_id = _new_ticket_account(unit.connection, lookups, prepared.account_id, parsed)
        request = ticket_start.NewTicketRequest(department_id=account.department_id, subject=parsed.subject,
                                                user_id=customer_id, address=parsed.sender)
    if down.failure is not None:
        raise down.failure
    return True, ticket_start.consult(runtime, request)


class _ConsultFirst(Exception):
    """The message turned out to open a new ticket after all (its ticket was
    locked meanwhile), and the providers were not asked: try again."""


def _attach(call, ticket_id: int, message_id: int, parsed: Parsed, customer_id):
    from stws.domain.tickets import attachments as ticket_attachments
    from stws.domain.tickets import core

    ticket = call.session.get(Ticket, ticket_id)
    for file_name, data in parsed.attachments:
        try:
            attachment = ticket_attachments.add_attachment(call, ticket, message_id, file_name, data, len(data), None)
        except ticket_attachments.TooLarge as error:
            core.record_event(call, ticket, "AttachmentSkipped",
                              "Attachment %s of the email not attached: %s (it is kept in the raw message)"
                              % (file_name, error.message if hasattr(error, "message") else error))
            continue
        attachment.user_id = customer_id
    call.session.flush()  # before the statements that follow on the driver


def _message_details(parsed: Parsed, file_name: str) -> dict:
    """The ticket_messages columns an email sets beyond what a message has:
    both bodies, its Message-ID, raw file, To and Cc."""
    details = dict(body_text=parsed.text or "", body_html=parsed.html or "",
                   message_id_header=parsed.message_id or None, raw_content_path=file_name,
                   cc_address=parsed.cc[:10000])
    if parsed.to:
        details["to_address"] = parsed.to[:10000]
    return details


def create_customer(connection, lookups: Lookups, address: str, display_name: str) -> int:
    """A customer account for a sender who has none (its id): user name = the
    address (or the address plus a number when taken), email not verified,
    no usable password (the customer sets one through password recovery)."""
    base = address.strip().lower()
    username = base
    for suffix in range(2, 100):
        if not organization.username_taken(connection, username):
            break
        username = "%s.%d" % (base, suffix)
    try:
        values = organization.new_user_values(username, unusable_password(), address, False, display_name or address)
    except InvalidArgument as error:  # an address that is not a valid user name
        raise ImportFailure("no customer account could be made for %s: %s" % (address, error.message)) from None
    return organization.insert_customer(connection, values, lookups.role_ids)


@dataclass
class _Prepared:
    """A pending row read and parsed, and its providers asked, outside any
    transaction: what its import transaction needs."""
    row_id: int
    account_id: int | None
    file_name: str
    path: Path
    parsed: Parsed
    consulted: bool = False
    start: object = None  # ticket_start.TicketStart or None
    status: str = ""  # once imported in a commit group: the row's new status, if the group commits


def _prepare(runtime, row_id: int, account_id: int | None, file_name: str, now,
             down: _ProvidersDown) -> "_Prepared | str":
    """Read, parse and consult the providers about one row, outside any
    transaction: the _Prepared message, or the row's new status when it
    ends here (failed, refused, waiting for the providers)."""
    path = runtime.data.email / file_name
    try:
        raw = path.read_bytes()
        prepared = _Prepared(row_id, account_id, file_name, path, parse(raw))
    except (OSError, Unreadable) as error:
        reason = str(error) if isinstance(error, Unreadable) else "the file cannot be read: %s" % error
        _fail(runtime, row_id, reason, move=path)
        return "failed"

    try:
        prepared.consulted, prepared.start = _consult(runtime, prepared, now, down)
    except ImportFailure as failure:
        _fail(runtime, row_id, str(failure))
        return "failed"
    except ticket_start.ProviderDeclined as declined:
        return _refuse(runtime, prepared, declined, now)
    except OperationError as failure:
        if not _is_provider_failure(failure):
            _fail(runtime, row_id, failure.message)
            return "failed"
        fresh = down.failure is None
        down.failure = failure
        return _wait_for_providers(runtime, row_id, failure, now, counts=fresh)
    return prepared


# Run on the driver (stws.db.prepared), as are the writes of a new ticket.
_CLAIM = PreparedStatement(
    update(IncomingMessage.__table__)
    .where(IncomingMessage.id == bindparam("row"), IncomingMessage.status == "pending")
    .values(status="imported", date_imported_utc=bindparam("now"), attempts=IncomingMessage.attempts + 1,
            last_error=""))
_SET_TICKET = PreparedStatement(
    update(IncomingMessage.__table__).where(IncomingMessage.id == bindparam("row"))
    .values(ticket_id=bindparam("ticket")))
_INSERT_AUTO_RESPONSE = PreparedInsert(AutoResponse.__table__)


def _import_prepared(runtime, prepared: _Prepared, now, principal, keep_raw: bool = True,
                     lookups: Lookups | None = None) -> str:
    """The import transaction of one prepared row (in a commit group: its
    savepoint), acting as ``principal``; the row's new status. The outcome
    is logged and (``keep_raw``) the file moved to the raw-content folder
    only once that is committed. ``lookups``: the commit group's (else read
    for this row alone).

    A new ticket is written on the driver (no ORM session); a reply and
    attachments go through the ORM domain functions."""
    from stws.domain.tickets import conversation, core

    row_id, parsed, file_name = prepared.row_id, prepared.parsed, prepared.file_name
    try:
        with runtime.db.unit_of_work() as unit:
            connection = unit.connection
            if _CLAIM.execute(connection, {"row": row_id, "now": now}) != 1:
                return ""
            known = lookups or Lookups.load(connection, now)
            call = Context(principal, runtime, unit=unit)
            ticket_id = reply_target(connection, parsed)
            body = parsed.text if parsed.text.strip() else (parsed.html if parsed.html.strip() else "(no text)")
            is_html = not parsed.text.strip() and bool(parsed.html.strip())
            if ticket_id is not None:
                ticket = call.session.get(Ticket, ticket_id)
                message = conversation.add_message(
                    call, ticket, from_address=parsed.sender, to_address=None, cc_address=None,
                    subject=parsed.subject or None, body=body, is_html=is_html, to_customer=False,
                    send_email=False, message_fields=_message_details(parsed, file_name))
                call.session.flush()  # before the statements that follow on the driver
                number, message_id, customer_id = ticket.ticket_number, message.id, message.from_user_id
                kind = "reply"
            else:
                account, customer_id = _new_ticket_account(connection, known, prepared.account_id, parsed)
                if not prepared.consulted and any(ticket_start.enabled(runtime)):
                    raise _ConsultFirst()
                if customer_id is None:
                    customer_id = create_customer(connection, known, parsed.sender, parsed.sender_name)
                start = prepared.start
                created = core.create_ticket(
                    call, department_id=start.department_id if start else account.department_id, group_id=None,
                    agent_id=None, customer_address=parsed.sender, subject=parsed.subject, body=body,
                    is_html=is_html, direction=core.INCOMING, status_id=core.ACTIVE, customer_id=customer_id,
                    message_fields=_message_details(parsed, file_name))
                ticket_start.record(call, created.id, start)
                ticket_id, number, message_id = created.id, created.ticket_number, created.message_id
                kind = "new ticket"
            if parsed.attachments:
                _attach(call, ticket_id, message_id, parsed, customer_id)
            responded = ""
            if kind == "new ticket":
                responded = _auto_respond(call, created, parsed, now, known)
            _SET_TICKET.execute(connection, {"row": row_id, "ticket": ticket_id})
    except _ConsultFirst:
        return ""
    except ImportFailure as failure:
        _fail(runtime, row_id, str(failure))
        return "failed"
    except OperationError as failure:
        _fail(runtime, row_id, failure.message if hasattr(failure, "message") else str(failure))
        return "failed"

    def committed():
        if keep_raw:
            _keep_raw(runtime, [prepared.path])
        pop_log.info("incoming message %d (%s from %s): %s %s%s", row_id, parsed.message_id or "no Message-ID",
                     parsed.sender, kind, number, responded)

    runtime.db.after_commit(committed)
    return "imported"


def _keep_raw(runtime, paths: list) -> None:
    """Imported messages' files move to the raw-content folder (kept there
    for the Cleaner's retention), the folder fsynced once for them all; a
    crash before the move leaves a file in the email folder, where the
    readers look too."""
    from stws.mail.pop import fsync_directory

    target = runtime.data.raw_content
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        error_log.warning("Email import: no raw content folder %s: %s", target, error)
        return
    for path in paths:
        try:
            os.replace(path, target / path.name)
        except OSError as error:
            error_log.warning("Email import: could not move %s to raw content: %s", path.name, error)
    try:
        fsync_directory(target)
    except OSError as error:
        error_log.warning("Email import: could not fsync %s: %s", target, error)


def _auto_respond(call, created, parsed: Parsed, now, lookups: Lookups) -> str:
    """The department's auto-responder for the new ticket ``created``
    (``core.NewTicket``) unless automated mail or the cap forbid it; what
    happened, for the log."""
    from stws.domain.tickets import core

    department = created.department
    if not department.auto_responder_enabled:
        return ""
    reason = no_auto_response(call.connection, parsed, lookups)
    if reason:
        core.insert_events(call, [core.event_row(call, created.id, "AutoResponderSkipped",
                                                 "No auto-responder: %s" % reason)])
        return "; no auto-responder (%s)" % reason
    send_auto_responder(call, created, department)
    _INSERT_AUTO_RESPONSE.insert(call.connection, {"recipient": parsed.sender.lower(), "date_sent_utc": now})
    return "; auto-responder queued"


def _refuse(runtime, prepared: _Prepared, declined, now) -> str:
    """A provider declined the new ticket: the row is marked refused with
    the reason (its file stays in the email folder), and the sender is told
    when the auto-responder rules allow."""
    row_id, parsed = prepared.row_id, prepared.parsed
    reason = "refused by the %s: %s" % ("ticket provider" if declined.provider == ticket_start.TICKET
                                        else "custom field provider", declined.message)
    with runtime.db.transaction() as session:
        refused = session.execute(
            update(IncomingMessage).where(IncomingMessage.id == row_id, IncomingMessage.status == "pending")
            .values(status="refused", last_error=reason[:4000], attempts=IncomingMessage.attempts + 1,
                    next_attempt_utc=None)
            .execution_options(synchronize_session=False))
        if refused.rowcount != 1:
            return ""
        told = _tell_sender(session, prepared, declined.message, now)
    pop_log.warning("incoming message %d (%s from %s) not imported: %s%s", row_id,
                    parsed.message_id or "no Message-ID", parsed.sender, reason, told)
    return "refused"


def _tell_sender(session, prepared: _Prepared, text: str, now) -> str:
    """Queue ``text`` to the sender of a refused message, by the
    auto-responder's rules (its department's auto-responder on, not to
    automated mail, under the hourly cap); what happened, for the log."""
    parsed = prepared.parsed
    connection = session.connection()
    lookups = Lookups.load(connection, now)
    account = lookups.accounts.get(prepared.account_id) if prepared.account_id else None
    department = session.get(Department, account.department_id) if account else None
    if department is None or not department.auto_responder_enabled:
        return "; the sender was not told (no auto-responder)"
    reason = no_auto_response(connection, parsed, lookups)
    if reason:
        return "; the sender was not told (%s)" % reason
    sender = sender_address(session, department)
    subject = parsed.subject if parsed.subject.lower().startswith("re:") else "Re: %s" % parsed.subject
    message_id = new_message_id(sender)
    headers = [("From", sender), ("To", parsed.sender), ("Subject", subject),
               ("Date", email.utils.format_datetime(now)), ("Message-ID", message_id),
               ("Auto-Submitted", "auto-replied")]
    if parsed.message_id:
        headers += [("In-Reply-To", parsed.message_id), ("References", parsed.message_id)]
    session.add(OutgoingMessage(
        from_address=sender, recipients=parsed.sender, subject=subject, message_id_header=message_id,
        raw_content=compose(headers, text or "Your message could not be accepted."),
        next_attempt_utc=now + delivery_delay(session)))
    session.add(AutoResponse(recipient=parsed.sender.lower(), date_sent_utc=now))
    return "; the sender was told"


def provider_backoff(attempts: int) -> dt.timedelta:
    """How long a message waits after its ``attempts``-th try failed for a provider."""
    return dt.timedelta(seconds=PROVIDER_BACKOFF.after(attempts))


def _wait_for_providers(runtime, row_id: int, failure: OperationError, now, counts: bool = True) -> str:
    """A provider could not be asked: the row stays pending and is tried
    again after a backoff, or, after PROVIDER_ATTEMPTS tries, is marked
    failed (kept, retryable). ``counts``: this try called the provider (the
    later messages of a run that saw it fail wait without calling it)."""
    with runtime.db.transaction() as session:
        row = session.get(IncomingMessage, row_id)
        if row is None or row.status != "pending":
            return ""
        attempts = row.attempts + (1 if counts else 0)
        row.attempts = attempts
        if attempts >= PROVIDER_ATTEMPTS:
            row.status, row.next_attempt_utc = "failed", None
            row.last_error = ("the providers could not be asked %d times, the last time: %s; retry it from the "
                              "spool once they work" % (attempts, failure.message))[:4000]
        else:
            row.next_attempt_utc = now + provider_backoff(max(attempts, 1))
            tried = ("try %d of %d" % (attempts, PROVIDER_ATTEMPTS) if counts
                     else "not asked: they failed for an earlier message of this run")
            row.last_error = ("waiting for the providers (%s; next try at %s): %s" % (
                tried, row.next_attempt_utc.strftime("%Y-%m-%d %H:%M:%SZ"), failure.message))[:4000]
        status, reason = row.status, row.last_error
    (error_log.warning if status == "failed" else pop_log.warning)(
        "incoming message %d not imported: %s", row_id, reason)
    return status


def _fail(runtime, row_id: int, reason: str, move: Path | None = None) -> None:
    """Mark the row failed (and move its file to Failed Emails when it is unreadable)."""
    moved = ""
    if move is not None and move.exists():
        target = runtime.data.failed_emails
        target.mkdir(parents=True, exist_ok=True)
        os.replace(move, target / move.name)
        from stws.mail.pop import fsync_directory

        fsync_directory(target)
        moved = " (file moved to Failed Emails)"
    with runtime.db.transaction() as session:
        session.execute(update(IncomingMessage).where(IncomingMessage.id == row_id)
                        .values(status="failed", last_error=reason[:4000], attempts=IncomingMessage.attempts + 1)
                        .execution_options(synchronize_session=False))
    pop_log.warning("incoming message %d not imported: %s%s", row_id, reason, moved)
    error_log.warning("Email import: incoming message %d not imported: %s%s", row_id, reason, moved)


def import_pending(runtime, now: dt.datetime | None = None, batch_size: int = BATCH_SIZE) -> int:
    """One Email Import run: imports up to ``batch_size`` pending rows (not
    those waiting for a provider until their next attempt); returns how
    many were handled.

    First every row is read, parsed and its providers asked, outside any
    transaction; then the rows are imported, several per commit
    (``_import_in_groups``)."""
    now = now or utcnow()
    with runtime.db.transaction(writes=False) as session:
        rows = session.execute(select(IncomingMessage.id, IncomingMessage.account_id, IncomingMessage.file_name)
                               .where(IncomingMessage.status == "pending",
                                      or_(IncomingMessage.next_attempt_utc.is_(None),
                                          IncomingMessage.next_attempt_utc <= now))
                               .order_by(IncomingMessage.id).limit(batch_size)).all()
        principal = system_principal(session, SYSTEM_NAME) if rows else None
    handled, down, ready = 0, _ProvidersDown(), []
    for row_id, account_id, file_name in rows:
        prepared = _guarded(runtime, row_id, _prepare, runtime, row_id, account_id, file_name, now, down)
        if isinstance(prepared, _Prepared):
            ready.append(prepared)
        elif prepared not in ("", "pending"):
            handled += 1
    return handled + _import_in_groups(runtime, ready, now, principal)


# Imports that share one commit (and its fsync): at most this many, or this
# much work, so that the write lock (SQLite's; on PostgreSQL the locks of
# the rows a batch writes) is never held long from the SOAP writes waiting
# for it. A new ticket's transaction is about a millisecond of CPU, its
# commit alone about as much again plus the fsync.
GROUP_MESSAGES = 50
GROUP_SECONDS = 0.25


def _import_in_groups(runtime, ready: list, now, principal) -> int:
    """Import the prepared rows in commit groups (stws.db.engine
    ``group_commit``): each row's transaction is a savepoint, so one that
    fails is undone alone (and marked failed); the group commits once. What
    is the same for all rows is read once per group (``Lookups``). Its files move
    (one directory fsync) and its outcomes are logged after that commit. If
    the group itself fails, nothing of it was committed, and its rows are
    imported again one by one: none is lost or imported twice.
    ``principal``: who acts (the run's system principal)."""
    handled, queue = 0, list(reversed(ready))
    while queue:
        members = []
        try:
            with runtime.db.group_commit() as group:
                began = time.monotonic()
                lookups = Lookups.load(group.connection, now)
                while queue and len(members) < GROUP_MESSAGES and time.monotonic() - began < GROUP_SECONDS:
                    prepared = queue.pop()
                    members.append(prepared)
                    prepared.status = _guarded(runtime, prepared.row_id, _import_prepared, runtime, prepared, now,
                                               principal, False, lookups)
        except Exception:  # noqa: BLE001 - the group's rows are still pending: each on its own
            error_log.exception("Email import: a commit group of %d messages failed; importing them one by one",
                                len(members))
            for prepared in members:
                handled += _counts(_guarded(runtime, prepared.row_id, _import_prepared, runtime, prepared, now,
                                            principal))
            continue
        _keep_raw(runtime, [prepared.path for prepared in members if prepared.status == "imported"])
        handled += sum(_counts(prepared.status) for prepared in members)
    return handled


def _counts(status: str) -> int:
    """Whether a row's new status counts as handled (not untouched, not waiting)."""
    return 0 if status in ("", "pending") else 1


def _guarded(runtime, row_id: int, step, *args):
    """``step(*args)``; an unexpected error marks the row failed (it is
    kept, retryable) instead of stopping the run: one message never stops
    the others."""
    try:
        return step(*args)
    except Exception as error:  # noqa: BLE001
        error_log.exception("Email import: incoming message %d failed unexpectedly", row_id)
        try:
            _fail(runtime, row_id, "internal error: %s: %s" % (type(error).__name__, error))
        except Exception:  # noqa: BLE001
            error_log.exception("Email import: could not mark incoming message %d failed", row_id)
        return "failed"
