"""The conversation of a ticket: messages to and from the customer, internal
comments (notes), the ordered list of both, and the ticket's event history.

Messages
    An agent's reply (outgoing, ``to_customer``) counts in ReplyCountOut and
    puts the ticket in Waiting; with ``send_email`` it goes to the spool as a
    complete email answering the customer's last message. A customer's
    message (incoming) counts in ReplyCountIn, puts the ticket back to
    Active (reopening a closed one) and, if nobody owns the ticket, hands
    it to the group's distribution. A back-dated message that is older than
    the ticket's latest one is filed in place and changes no status.

Comments
    Internal notes of a type (General, Resolution, Transfer, Follow-Up,
    Sticky); never emailed and never shown to customers. Editing is
    allowed to the author and to managers; the history keeps who edited,
    when, and the previous text.

Every change records an event and touches the ticket (re-indexing).
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from sqlalchemy import bindparam, func, select

from stws.db.models import (
    CommentType, Department, Ticket, TicketComment, TicketEvent, TicketMessage, TicketStatus, User, utcnow,
)
from stws.db.prepared import PreparedQuery
from stws.domain import organization as org
from stws.domain import validation
from stws.errors import InvalidArgument, NotFound, PermissionDenied
from stws.domain.tickets import core
from stws.domain.outgoing_mail import queue_ticket_email, sender_address
from stws.security import roles

# TicketPartInfo.Type
PART_MESSAGE = 1
PART_COMMENT = 10
PART_TRANSFER_COMMENT = 11
PART_RESOLUTION_COMMENT = 12
# Comment type (English name) -> part type. Follow-Up and Sticky comments
# have no code of their own in the contract; they are listed as general
# comments (10) with their type name in the Description, so clients that
# look for 10/11/12 still find every comment.
_COMMENT_PART_TYPES = {"transfer": PART_TRANSFER_COMMENT, "resolution": PART_RESOLUTION_COMMENT}
GENERAL_COMMENT = 1

# How far in the future a given date may lie (clock skew between servers).
FUTURE_TOLERANCE = dt.timedelta(minutes=5)
SUMMARY_LENGTH = 100
PREVIOUS_TEXT_IN_HISTORY = 4000


# --------------------------------------------------------------- small helpers


def _key(text: str) -> str:
    """``Follow-Up``, ``followup``, ``follow up`` -> ``followup``."""
    return re.sub(r"[^0-9a-z]", "", (text or "").lower())


def summary(text: str, length: int = SUMMARY_LENGTH) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= length else text[: length - 3].rstrip() + "..."


def check_date(ticket: Ticket, when: dt.datetime | None, what: str) -> None:
    """A given date must not lie in the future nor before the ticket opened."""
    if when is None:
        return
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    if when > utcnow() + FUTURE_TOLERANCE:
        raise InvalidArgument("%s (%s) lies in the future." % (what, when.isoformat()))
    if when < ticket.date_opened_utc:
        raise InvalidArgument("%s (%s) is before ticket %s was opened (%s)."
                              % (what, when.isoformat(), ticket.ticket_number, ticket.date_opened_utc.isoformat()))


def one_line(value: str | None, what: str, max_length: int = 1000) -> str:
    """A header-safe single line (line breaks become spaces)."""
    value = re.sub(r"[\r\n]+", " ", value or "")
    return validation.name(value, what, max_length, required=False)


def _split_list(text: str) -> list[str]:
    """Items of an address list separated by , or ; outside quotes and <>."""
    items, current, quoted, angle = [], [], False, False
    for char in text:
        if char == '"' and not angle:
            quoted = not quoted
        elif char == "<" and not quoted:
            angle = True
        elif char == ">" and not quoted:
            angle = False
        elif char in ",;" and not quoted and not angle:
            items.append("".join(current))
            current = []
            continue
        current.append(char)
    items.append("".join(current))
    return [item.strip() for item in items if item.strip()]


_NAMED = re.compile(r'^(?P<name>"[^"]*"|[^<>"]*?)\s*<(?P<address>[^<>]*)>$')


def address_list(text: str | None, what: str) -> list[str]:
    """The addresses of a To/Cc/From field (``a@b.c; "Name" <d@e.f>``), each
    checked; display names are dropped. Empty text gives []."""
    result = []
    for item in _split_list(text or ""):
        named = _NAMED.match(item)
        address = named.group("address").strip() if named else item
        if not validation.EMAIL_RE.match(address) or len(address) > 320:
            raise InvalidArgument("%s: %r is not a valid email address." % (what, item))
        if address.lower() not in (known.lower() for known in result):
            result.append(address)
    return result


def single_address(text: str | None, what: str) -> str:
    addresses = address_list(text, what)
    if len(addresses) > 1:
        raise InvalidArgument("%s must be one address, not %d." % (what, len(addresses)))
    return addresses[0] if addresses else ""


# --------------------------------------------------------------- comment types


def comment_types(session) -> list[CommentType]:
    return list(session.scalars(select(CommentType).order_by(CommentType.id)))


def comment_type_by_name(session, text: str | None, default: int | None = GENERAL_COMMENT) -> CommentType:
    """A comment type from its English or display name (any case, with or
    without the hyphen: ``general``, ``Follow-Up``, ``followup``) or its id.
    Empty text gives ``default``."""
    key = _key(text)
    if not key:
        if default is None:
            raise InvalidArgument("No comment type was given; use one of: %s."
                                  % ", ".join(t.english_name for t in comment_types(session)))
        return session.get(CommentType, default)
    known = comment_types(session)
    for kind in known:
        if key in (_key(kind.english_name), _key(kind.display_name), str(kind.id)):
            return kind
    raise InvalidArgument("%r is not a comment type; use one of: %s."
                          % (text, ", ".join(kind.english_name for kind in known)))


# --------------------------------------------------------------- comments


def get_comment(call, comment_id: int) -> tuple[TicketComment, Ticket]:
    """A comment of a ticket the caller may see (NotFound otherwise)."""
    comment = call.session.get(TicketComment, comment_id) if comment_id else None
    ticket = call.session.get(Ticket, comment.ticket_id) if comment is not None else None
    if ticket is None or ticket.is_deleted or not core.can_see(call, ticket) or not is_employee(call):
        raise NotFound("There is no comment with id %s that you can see." % comment_id)
    return comment, ticket


@dataclass(frozen=True)
class Note:
    """A comment as its own entry (GetTicketNote): with its type's name."""

    comment: object  # a row of _NOTE: the columns of TicketComment that GetTicketNote shows
    type_name: str  # the English name of its type


# GetTicketNote's comment with its type's name, if the caller sees its ticket.
_NOTE = core.VisibleTicketQuery(
    select(TicketComment.id, TicketComment.text, TicketComment.ticket_id, TicketComment.user_id,
           TicketComment.date_entered_utc, CommentType.english_name.label("type_name"))
    .join(Ticket, Ticket.id == TicketComment.ticket_id)
    .join(CommentType, CommentType.id == TicketComment.comment_type_id),
    key=TicketComment.id)


def get_note(call, comment_id: int) -> Note:
    """``get_comment``'s comment (same rules), read in one query."""
    row = _NOTE.find(call, comment_id) if is_employee(call) else None
    if row is None:
        raise NotFound("There is no comment with id %s that you can see." % comment_id)
    return Note(row, row.type_name)


def is_employee(call) -> bool:
    return call.principal.has_role(roles.AGENT)


def add_comment(call, ticket: Ticket, type_text: str | None, text: str | None, is_html: bool,
                entered: dt.datetime | None = None) -> TicketComment:
    core.require_changeable(call, ticket)
    kind = comment_type_by_name(call.session, type_text)
    if not (text or "").strip():
        raise InvalidArgument("The note text is empty.")
    check_date(ticket, entered, "dateEnteredUTC")
    now = utcnow()
    comment = TicketComment(ticket_id=ticket.id, comment_type_id=kind.id, user_id=call.principal.user_id,
                            text=text, is_html=bool(is_html), date_entered_utc=entered or now)
    call.session.add(comment)
    call.session.flush()
    core.record_event(call, ticket, "CommentAdded", "%s comment added" % kind.display_name,
                      "Comment %d%s: %s" % (comment.id,
                                            " dated %s" % entered.isoformat() if entered else "",
                                            summary(comment_text(comment))))
    core.touch(ticket, now)
    return comment


def edit_comment(call, comment_id: int, ticket_number: str | None, type_text: str | None,
                 text: str | None) -> TicketComment:
    """Change a comment's text and, if ``type_text`` is given, its type.

    The author may edit their comment; managers and administrators any
    comment of the tickets they see."""
    comment, ticket = get_comment(call, comment_id)
    numbered = core.get_ticket_by_number(call, ticket_number)
    if numbered.id != ticket.id:
        raise NotFound("Comment %s is not on ticket %s." % (comment_id, numbered.ticket_number))
    core.require_changeable(call, ticket)
    if comment.user_id != call.principal.user_id and not call.principal.has_role(roles.MANAGER):
        raise PermissionDenied("Only the author of comment %s or a manager may edit it." % comment_id)
    kind = comment_type_by_name(call.session, type_text, default=comment.comment_type_id)
    if not (text or "").strip():
        raise InvalidArgument("The note text is empty.")
    old_kind = call.session.get(CommentType, comment.comment_type_id)
    old_text = comment_text(comment)
    now = utcnow()
    comment.text = text
    comment.comment_type_id = kind.id
    comment.date_modified_utc = now
    comment.is_indexed = False
    changes = ["type %s -> %s" % (old_kind.display_name, kind.display_name)] if old_kind.id != kind.id else []
    previous = old_text if len(old_text) <= PREVIOUS_TEXT_IN_HISTORY else old_text[:PREVIOUS_TEXT_IN_HISTORY] + "..."
    core.record_event(call, ticket, "CommentEdited", "Comment %d edited" % comment.id,
                      "; ".join(changes + ["previous text: %s" % previous]))
    core.touch(ticket, now)
    return comment


def comment_text(comment: TicketComment) -> str:
    return core.html_to_text(comment.text) if comment.is_html else comment.text or ""


# --------------------------------------------------------------- messages


_MESSAGE_BODIES = core.VisibleTicketQuery(
    select(TicketMessage.body_text, TicketMessage.body_html, TicketMessage.is_draft)
    .join(Ticket, Ticket.id == TicketMessage.ticket_id), key=TicketMessage.id)


def get_message(call, message_id: int):
    """The bodies (``body_text``, ``body_html``) of a message of a ticket the
    caller may see, read in one query; customers never see drafts."""
    message = _MESSAGE_BODIES.find(call, message_id)
    if message is None or (message.is_draft and not is_employee(call)):
        raise NotFound("There is no ticket message with id %s that you can see." % message_id)
    return message


def message_html(message) -> str:
    return message.body_html or core.text_to_html(message.body_text)


def message_text(message) -> str:
    return message.body_text or core.html_to_text(message.body_html)


def latest_message_date(session, ticket: Ticket) -> dt.datetime | None:
    return session.scalar(select(func.max(TicketMessage.date_received_utc))
                          .where(TicketMessage.ticket_id == ticket.id, TicketMessage.is_draft.is_(False)))


def _customer_last_message_id(session, ticket: Ticket) -> str | None:
    return session.scalars(
        select(TicketMessage.message_id_header)
        .where(TicketMessage.ticket_id == ticket.id, TicketMessage.direction == core.INCOMING,
               TicketMessage.message_id_header.is_not(None))
        .order_by(TicketMessage.date_received_utc.desc(), TicketMessage.id.desc())
    ).first()


def _author(call, ticket: Ticket, user_id: int | None, to_customer: bool, from_address: str) -> User | None:
    """Who the message is from: for a reply the given agent (default the
    caller); for a customer message the given user, else the ticket's
    customer or the account with the sender's address."""
    if to_customer:
        author = org.get_user(call, user_id) if user_id else call.session.get(User, call.principal.user_id)
        if not org.is_agent(author):
            raise InvalidArgument("User %s is not an agent; a reply can only come from an agent." % author.username)
        return author
    if user_id:
        return org.get_user(call, user_id)
    if ticket.customer_id and from_address.lower() == (ticket.customer_email or "").lower():
        return call.session.get(User, ticket.customer_id)
    return core.find_customer(call, from_address)


def add_message(call, ticket: Ticket, *, from_address: str | None, to_address: str | None,
                cc_address: str | None, subject: str | None, body: str | None, is_html: bool,
                to_customer: bool, send_email: bool, received: dt.datetime | None = None,
                user_id: int | None = None, message_fields: dict | None = None) -> TicketMessage:
    """Add a reply to the customer (``to_customer``) or a message from the
    customer to ``ticket``; see the module docstring. ``message_fields``:
    more columns of the message (the email import's headers, bodies and raw
    file), written with it."""
    core.require_changeable(call, ticket)
    check_date(ticket, received, "dateMessageReceived")
    if not (body or "").strip():
        raise InvalidArgument("The message body is empty.")
    subject = one_line(subject, "subject") or ticket.subject
    department = call.session.get(Department, ticket.department_id)
    sender = single_address(from_address, "fromAddress")
    recipients = address_list(to_address, "toAddress")
    copies = address_list(cc_address, "ccAddress")
    if to_customer:
        sender = sender or sender_address(call.session, department)
        recipients = recipients or address_list(ticket.customer_email, "the ticket's customer address")
        if send_email and not recipients:
            raise InvalidArgument("Ticket %s has no customer address; give toAddress." % ticket.ticket_number)
    else:
        sender = sender or ticket.customer_email
        if not sender:
            raise InvalidArgument("Ticket %s has no customer address; give fromAddress." % ticket.ticket_number)
        recipients = recipients or ([department.email_address] if department.email_address else [])
    author = _author(call, ticket, user_id, to_customer, sender)

    now = utcnow()
    when = received or now
    latest = latest_message_date(call.session, ticket)
    is_latest = latest is None or when >= latest
    text, markup = core.message_bodies(body, is_html)
    columns = dict(
        ticket_id=ticket.id, direction=core.OUTGOING if to_customer else core.INCOMING,
        from_user_id=author.id if author else None, from_address=sender, to_address=", ".join(recipients),
        cc_address=", ".join(copies), subject=subject, body_text=text, body_html=markup, date_received_utc=when,
    )
    message = TicketMessage(**{**columns, **(message_fields or {})})
    call.session.add(message)
    call.session.flush()

    # Who the caller acted for, when the message is attributed to someone else by id.
    acting = " on behalf of %s" % author.username if user_id and author.id != call.principal.user_id else ""
    dated = " dated %s" % when.isoformat() if received else ""
    if to_customer:
        ticket.reply_count_out += 1
        queued = ""
        if send_email:
            queue_ticket_email(call.session, ticket, message, recipients, copies, from_address=sender,
                               in_reply_to=_customer_last_message_id(call.session, ticket))
            queued = "; emailed to %s" % ", ".join(recipients + copies)
        core.record_event(call, ticket, "MessageSent",
                          "Reply %s%s" % ("sent to %s" % ", ".join(recipients + copies) if send_email
                                          else "added (not emailed)", acting),
                          "Message %d%s: %s%s" % (message.id, dated, subject, queued))
    else:
        ticket.reply_count_in += 1
        core.record_event(call, ticket, "MessageReceived", "Message from %s added%s" % (sender, acting),
                          "Message %d%s: %s" % (message.id, dated, subject))
    if is_latest:
        ticket.last_reply_utc = when
        _after_reply_status(call, ticket, to_customer)
        ticket.idle_start_utc = now
    core.touch(ticket, now)
    return message


def _after_reply_status(call, ticket: Ticket, to_customer: bool) -> None:
    status = core.status_of(call.session, ticket)
    if to_customer:
        if status.id != core.WAITING:
            core.set_status(call, ticket, call.session.get(TicketStatus, core.WAITING), "An agent replied.")
        return
    if not status.is_open:
        core.set_status(call, ticket, call.session.get(TicketStatus, core.ACTIVE),
                        "The customer wrote to the closed ticket.")
        core.record_event(call, ticket, "Reopened", "Reopened by a message from the customer")
    elif status.id != core.ACTIVE:
        core.set_status(call, ticket, call.session.get(TicketStatus, core.ACTIVE), "The customer replied.")
    if ticket.agent_id is None:
        core.distribute(call, ticket)


# --------------------------------------------------------------- parts and history


@dataclass(frozen=True)
class Part:
    """One entry of the conversation, as TicketPartInfo shows it."""

    part_type: int
    part_id: int
    created: dt.datetime
    description: str
    direction: int
    sender: str
    recipient: str
    is_draft: bool


def message_part(message: TicketMessage) -> Part:
    """A message as a Part, its addresses as stored (a new message's, say)."""
    return Part(PART_MESSAGE, message.id, message.date_received_utc, message.subject, message.direction,
                message.from_address, message.to_address, bool(message.is_draft))


# What GetTicketConversationPartList reads, on the driver (stws.db.prepared):
# a session and ORM entities cost several times the queries themselves. Two
# statements, because on PostgreSQL each is a round trip costing this
# process ~0.2 ms of CPU: the ticket with its messages (an outer join: one
# row with no message when it has none), and for employees the comments with
# their types' names.
def _ticket_with_messages(drafts: bool) -> core.VisibleTicketQuery:
    joined = TicketMessage.ticket_id == Ticket.id
    if not drafts:
        joined &= TicketMessage.is_draft.is_(False)  # in the join: the ticket's row stays
    return core.VisibleTicketQuery(
        select(Ticket.customer_email, Department.email_address, TicketMessage.id, TicketMessage.date_received_utc,
               TicketMessage.subject, TicketMessage.direction, TicketMessage.from_address,
               TicketMessage.to_address, TicketMessage.is_draft, TicketMessage.body_text, TicketMessage.body_html)
        .join(Department, Department.id == Ticket.department_id)
        .outerjoin(TicketMessage, joined))


_TICKET_WITH_MESSAGES_FOR = {True: _ticket_with_messages(drafts=True),  # employees
                             False: _ticket_with_messages(drafts=False)}
_COMMENT_PARTS = PreparedQuery(
    select(TicketComment.id, TicketComment.text, TicketComment.is_html, TicketComment.date_entered_utc,
           TicketComment.comment_type_id, CommentType.english_name, CommentType.display_name,
           User.username.label("author"))
    .join(CommentType, CommentType.id == TicketComment.comment_type_id)
    .outerjoin(User, User.id == TicketComment.user_id)
    .where(TicketComment.ticket_id == bindparam("ticket_id")))


def conversation_parts(call, ticket_id: int) -> list[Part]:
    """Messages and (for employees) comments of a ticket the caller may see,
    oldest first; customers see neither comments nor drafts."""
    employee = is_employee(call)
    rows = _TICKET_WITH_MESSAGES_FOR[employee].all_by_id(call, ticket_id)
    ticket = rows[0]  # its customer_email and email_address (the department's) are on every row
    department_address = []  # the department's sender address, looked up when a message needs it

    def department():
        if not department_address:
            department_address.append(sender_address(call.connection, ticket))
        return department_address[0]

    parts = []
    for message in rows:
        if message.id is None:  # the ticket has no message (that the caller may see)
            break
        outgoing = message.direction == core.OUTGOING
        sender = message.from_address or (department() if outgoing else ticket.customer_email)
        recipient = message.to_address or (ticket.customer_email if outgoing else department())
        parts.append(Part(PART_MESSAGE, message.id, message.date_received_utc,
                          message.subject or summary(message_text(message)), message.direction,
                          sender or "", recipient or "", bool(message.is_draft)))
    if employee:
        for comment in _COMMENT_PARTS.all(call.connection, {"ticket_id": ticket_id}):
            part_type = _COMMENT_PART_TYPES.get(_key(comment.english_name), PART_COMMENT)
            description = summary(comment_text(comment))
            if part_type == PART_COMMENT and comment.comment_type_id != GENERAL_COMMENT:
                description = summary("%s: %s" % (comment.display_name, comment_text(comment)))
            parts.append(Part(part_type, comment.id, comment.date_entered_utc, description, 0,
                              comment.author or "", "", False))
    parts.sort(key=lambda part: (part.created, part.part_type != PART_MESSAGE, part.part_id))
    return parts


# GetTicketEventHistory: on the driver, as the conversation parts.
_EVENTS = PreparedQuery(
    select(TicketEvent.description, TicketEvent.details, TicketEvent.date_utc, TicketEvent.user_name)
    .where(TicketEvent.ticket_id == bindparam("ticket_id")).order_by(TicketEvent.date_utc, TicketEvent.id))


def event_history(call, ticket_id: int, include_deleted: bool) -> list:
    """Rows (description, details, date_utc, user_name) of the ticket's
    history, oldest first."""
    ticket = core.visible_ticket(call, ticket_id, include_deleted=include_deleted)
    return _EVENTS.all(call.connection, {"ticket_id": ticket.id})
