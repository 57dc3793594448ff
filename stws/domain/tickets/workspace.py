"""What the agents' workspace shows of one ticket, read in one transaction,
and the check that keeps two agents from overwriting each other's changes.

The view (``ticket_view``) gathers the header, the conversation (messages
and notes in order, with their attachments), time logs, custom fields,
history, related items, the follow-up and the customer's other tickets:
everything a ticket's page needs, as plain values that outlive the
transaction. Message bodies are returned as stored; showing HTML safely is
the front door's job (stws.web.sanitize).

Concurrent edits: every change of a ticket touches ``date_modified_utc``
(core.touch), so that value is the ticket's version. A form carries the
version its page showed; ``require_version`` refuses a change against an
older one and names who changed the ticket meanwhile (its latest history
event). The row is read FOR UPDATE, so on PostgreSQL a concurrent change
waits for this transaction rather than slipping in between check and write
(SQLite runs writes one at a time anyway).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, or_, select

from stws.db.models import (
    CallLog, CommentType, Department, Group, Ticket, TicketComment, TicketEvent, TicketLink,
    TicketMessage, TicketPriority, TicketStatus, TimeLogCategory, User,
)
from stws.domain.errors import InvalidState
from stws.domain.tickets import attachments, core, fields, timelogs

OTHER_TICKETS_SHOWN = 20
# What a page shows besides the header and the follow-up: the tabs of the
# ticket's page each read only their own part (a 100-message conversation
# is most of the cost of reading the ticket).
CONVERSATION, COMMUNICATION, HISTORY = "conversation", "communication", "history"


class ChangedMeanwhile(InvalidState):
    """The ticket changed after the page the agent acted on was shown."""


# --------------------------------------------------------------- versions


def version_of(moment: dt.datetime | None) -> str:
    """A ticket's ``date_modified_utc`` as the version a form carries (UTC, microseconds)."""
    if moment is None:
        return ""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)
    return moment.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _latest_event(session, ticket_id: int) -> TicketEvent | None:
    return session.scalars(select(TicketEvent).where(TicketEvent.ticket_id == ticket_id)
                           .order_by(TicketEvent.date_utc.desc(), TicketEvent.id.desc()).limit(1)).first()


def require_version(call, ticket_number: str, version: str) -> Ticket:
    """The ticket, if it is still at ``version``; else ChangedMeanwhile.
    An empty ``version`` (a client that does not send one) is not checked."""
    ticket = core.get_ticket_by_number(call, ticket_number)
    current = call.session.scalar(select(Ticket.date_modified_utc).where(Ticket.id == ticket.id).with_for_update())
    if version and version_of(current) != version:
        event = _latest_event(call.session, ticket.id)
        who = (event.user_name or "the system") if event is not None else "someone"
        what = ": %s" % event.description if event is not None and event.description else ""
        raise ChangedMeanwhile(
            "Ticket %s was changed by %s meanwhile%s. Nothing of yours was changed: check the ticket as it is now "
            "and try again (what you entered is kept below)." % (ticket.ticket_number, who, what))
    return ticket


# --------------------------------------------------------------- the view


@dataclass(frozen=True)
class Header:
    id: int
    number: str
    subject: str
    status_id: int
    status: str
    is_open: bool
    is_locked: bool
    priority_id: int
    priority: str
    department_id: int
    department: str
    group_id: int
    group: str
    agent_id: int  # 0: in the queue
    agent: str
    is_pinned_to_agent: bool
    customer_id: int  # 0: no account
    customer: str  # the account's display name, else empty
    customer_email: str
    opened: dt.datetime
    last_reply: dt.datetime | None
    closed: dt.datetime | None
    modified: dt.datetime
    replies_in: int
    replies_out: int
    is_deleted: bool
    version: str


@dataclass(frozen=True)
class FollowUp:
    due: dt.datetime
    group: str  # empty: unchanged
    agent: str
    status: str
    pin: bool


@dataclass(frozen=True)
class Entry:
    """A message or a note of the conversation."""

    kind: str  # "in" (from the customer), "out" (to the customer), "note"
    id: int
    when: dt.datetime
    author: str
    from_address: str
    to_address: str
    cc_address: str
    subject: str
    text: str  # plain text (a message's body_text, a plain note's text)
    html: str  # stored HTML (unsanitised), or empty
    note_type: str  # a note's type name
    attachments: tuple  # of attachments.Listing
    is_draft: bool = False


@dataclass(frozen=True)
class CustomFieldValue:
    name: str
    data_type: str
    value: str
    options: tuple
    required: bool
    required_to_close: bool


@dataclass(frozen=True)
class Related:
    kind: str  # "ticket" or "call log"
    number: str
    subject: str
    status: str


@dataclass(frozen=True)
class OtherTicket:
    number: str
    subject: str
    status: str
    opened: dt.datetime


@dataclass(frozen=True)
class TimeLogEntry:
    subject: str
    agent: str
    category: str
    start: dt.datetime
    end: dt.datetime
    billable: bool
    description: str


@dataclass(frozen=True)
class TicketView:
    header: Header
    follow_up: FollowUp | None
    conversation: tuple  # Entry, oldest first
    ticket_attachments: tuple  # attachments.Listing not on a message
    time_logs: tuple
    custom_fields: tuple
    events: tuple  # rows of date_utc, user_name, event_type, description, details
    event_count: int
    related: tuple
    other_tickets: tuple
    # Choices of the page's forms.
    statuses: tuple  # (id, name)
    priorities: tuple
    comment_types: tuple  # names
    time_log_categories: tuple  # (id, name)
    max_attachment_size: int


def _names(session, model, ids, column) -> dict:
    ids = {i for i in ids if i}
    if not ids:
        return {}
    return dict(session.execute(select(model.id, column).where(model.id.in_(ids))).all())


def _user_names(session, ids) -> dict:
    ids = {i for i in ids if i}
    if not ids:
        return {}
    return {row.id: row.display_name or row.username
            for row in session.execute(select(User.id, User.username, User.display_name).where(User.id.in_(ids)))}


_MESSAGE_COLUMNS = (TicketMessage.id, TicketMessage.direction, TicketMessage.from_user_id, TicketMessage.from_address,
                    TicketMessage.to_address, TicketMessage.cc_address, TicketMessage.subject, TicketMessage.body_text,
                    TicketMessage.body_html, TicketMessage.date_received_utc, TicketMessage.is_draft)
_COMMENT_COLUMNS = (TicketComment.id, TicketComment.comment_type_id, TicketComment.user_id, TicketComment.text,
                    TicketComment.is_html, TicketComment.date_entered_utc)


def _conversation(call, ticket: Ticket, listings_by_message: dict) -> list[Entry]:
    # Plain rows, not entities: a hundred messages loaded as ORM objects
    # cost more than the rest of the page.
    connection = call.session.connection()
    messages = connection.execute(select(*_MESSAGE_COLUMNS).where(TicketMessage.ticket_id == ticket.id)).all()
    comments = connection.execute(select(*_COMMENT_COLUMNS).where(TicketComment.ticket_id == ticket.id)).all()
    names = _user_names(call.session, [m.from_user_id for m in messages] + [c.user_id for c in comments])
    types = dict(connection.execute(select(CommentType.id, CommentType.display_name)).all())
    entries = []
    for m in messages:
        entries.append(Entry(
            "out" if m.direction == core.OUTGOING else "in", m.id, m.date_received_utc,
            names.get(m.from_user_id, "") or m.from_address, m.from_address, m.to_address, m.cc_address, m.subject,
            m.body_text or "", m.body_html or "", "", tuple(listings_by_message.get(m.id, ())), m.is_draft))
    for c in comments:
        entries.append(Entry(
            "note", c.id, c.date_entered_utc, names.get(c.user_id, "") or "system", "", "", "", "",
            "" if c.is_html else c.text or "", c.text if c.is_html else "", types.get(c.comment_type_id, ""), ()))
    # Messages before notes of the same moment, as the SOAP part list orders them.
    entries.sort(key=lambda e: (e.when, e.kind == "note", e.id))
    return entries


def _listings(call, ticket: Ticket) -> list:
    """attachments.listing of each complete attachment, the uploaders read at once."""
    rows = attachments.ticket_attachments(call, ticket)
    ids = {row.user_id for row in rows if row.user_id}
    senders = {}
    if ids:
        senders = {user.id: user.email or user.username for user in call.session.connection().execute(
            select(User.id, User.email, User.username).where(User.id.in_(ids)))}
    root = call.runtime.data.root
    return [attachments.Listing(row, senders.get(row.user_id, ""), attachments.download_url(root, row.id))
            for row in rows]


def _events(call, ticket: Ticket) -> list:
    return call.session.connection().execute(
        select(TicketEvent.date_utc, TicketEvent.user_name, TicketEvent.event_type, TicketEvent.description,
               TicketEvent.details)
        .where(TicketEvent.ticket_id == ticket.id).order_by(TicketEvent.date_utc, TicketEvent.id)).all()


def _event_count(call, ticket: Ticket) -> int:
    return call.session.connection().execute(
        select(func.count(TicketEvent.id)).where(TicketEvent.ticket_id == ticket.id)).scalar_one()


def _related(call, ticket: Ticket) -> list[Related]:
    session = call.session
    links = list(session.scalars(select(TicketLink).where(or_(TicketLink.ticket_id == ticket.id,
                                                               TicketLink.linked_ticket_id == ticket.id))
                                 .order_by(TicketLink.id)))
    related = []
    for link in links:
        other_id = link.linked_ticket_id if link.ticket_id == ticket.id else link.ticket_id
        if other_id:
            other = session.get(Ticket, other_id)
            if other is None or other.is_deleted or not core.can_see(call, other):
                continue
            related.append(Related("ticket", other.ticket_number, other.subject,
                                   core.status_of(session, other).display_name))
        elif link.linked_call_log_id:
            log = session.get(CallLog, link.linked_call_log_id)
            if log is not None and not log.is_deleted:
                related.append(Related("call log", log.call_number, log.subject, ""))
    return related


def _other_tickets(call, ticket: Ticket) -> list[OtherTicket]:
    """The customer's other tickets the caller may see, newest first."""
    if ticket.customer_id:
        same_customer = Ticket.customer_id == ticket.customer_id
    elif ticket.customer_email:
        same_customer = func.lower(Ticket.customer_email) == ticket.customer_email.lower()
    else:
        return []
    query = (select(Ticket.ticket_number, Ticket.subject, TicketStatus.display_name, Ticket.date_opened_utc)
             .join(TicketStatus, TicketStatus.id == Ticket.status_id)
             .where(same_customer, Ticket.id != ticket.id, Ticket.is_deleted.is_(False))
             .order_by(Ticket.date_opened_utc.desc(), Ticket.id.desc()).limit(OTHER_TICKETS_SHOWN))
    visible = core.visibility_filter(call)
    if visible is not None:
        query = query.where(visible)
    return [OtherTicket(*row) for row in call.session.execute(query).all()]


def _custom_fields(call, ticket: Ticket) -> list[CustomFieldValue]:
    session = call.session
    department = session.get(Department, ticket.department_id)
    placed = fields.template_fields(call, department.ticket_custom_template_id)
    if not placed:
        return []
    items, _ = fields.get_ticket_field_values(call, ticket)
    values = dict(item.split("=", 1) for item in items)
    return [CustomFieldValue(definition.display_name, definition.data_type, values.get(definition.display_name, ""),
                             tuple(fields.list_options(definition)), placement.is_required_by_agents,
                             placement.is_required_by_agents_to_close)
            for placement, definition in placed if placement.is_visible_to_agents]


def ticket_view(call, ticket_number: str, part: str = CONVERSATION) -> TicketView:
    """What the ticket's page shows on the tab ``part`` (see the module
    docstring): the header and follow-up always; the conversation, time
    logs, custom fields, attachments, related items and the forms' choices
    on the conversation tab; the customer's other tickets on the
    communication tab; the events on the history tab."""
    ticket = core.get_ticket_by_number(call, ticket_number)
    session = call.session
    status = core.status_of(session, ticket)
    on_conversation = part == CONVERSATION

    listings = _listings(call, ticket) if on_conversation else []
    by_message: dict[int, list] = {}
    loose = []
    for item in listings:
        if item.attachment.message_id:
            by_message.setdefault(item.attachment.message_id, []).append(item)
        else:
            loose.append(item)

    users = _user_names(session, [ticket.agent_id, ticket.customer_id, ticket.follow_up_agent_id])
    groups = _names(session, Group, [ticket.group_id, ticket.follow_up_group_id], Group.name)
    statuses = [(s.id, s.display_name) for s in session.scalars(select(TicketStatus).order_by(TicketStatus.sort_order))]
    status_names = dict(statuses)
    header = Header(
        ticket.id, ticket.ticket_number, ticket.subject, status.id, status.display_name, status.is_open,
        status.is_locked, ticket.priority_id, session.get(TicketPriority, ticket.priority_id).name,
        ticket.department_id, session.get(Department, ticket.department_id).name, ticket.group_id,
        groups.get(ticket.group_id, ""), ticket.agent_id or 0, users.get(ticket.agent_id, ""),
        ticket.is_pinned_to_agent, ticket.customer_id or 0, users.get(ticket.customer_id, ""),
        ticket.customer_email, ticket.date_opened_utc, ticket.last_reply_utc, ticket.date_closed_utc,
        ticket.date_modified_utc, ticket.reply_count_in, ticket.reply_count_out, ticket.is_deleted,
        version_of(ticket.date_modified_utc))
    follow_up = None
    if ticket.requires_follow_up and ticket.date_follow_up_utc is not None:
        follow_up = FollowUp(ticket.date_follow_up_utc, groups.get(ticket.follow_up_group_id, ""),
                             users.get(ticket.follow_up_agent_id, ""),
                             status_names.get(ticket.follow_up_status_id, ""), ticket.follow_up_pin)
    logs = []
    if on_conversation:
        found = timelogs.time_logs(call, ticket)
        agents = _user_names(session, [log.user_id for log, _ in found])
        logs = [TimeLogEntry(log.subject, agents.get(log.user_id, ""), category_name, log.date_start_utc,
                             log.date_end_utc, log.is_billable, log.description) for log, category_name in found]
    events = _events(call, ticket) if part == HISTORY else ()
    return TicketView(
        header=header, follow_up=follow_up,
        conversation=tuple(_conversation(call, ticket, by_message)) if on_conversation else (),
        ticket_attachments=tuple(loose), time_logs=tuple(logs),
        custom_fields=tuple(_custom_fields(call, ticket)) if on_conversation else (),
        events=tuple(events), event_count=len(events) if part == HISTORY else _event_count(call, ticket),
        related=tuple(_related(call, ticket)) if on_conversation else (),
        other_tickets=tuple(_other_tickets(call, ticket)) if part == COMMUNICATION else (),
        statuses=tuple(statuses),
        priorities=tuple(session.execute(select(TicketPriority.id, TicketPriority.name)
                                         .order_by(TicketPriority.sort_order)).all()),
        comment_types=tuple(session.scalars(select(CommentType.display_name).order_by(CommentType.id))),
        time_log_categories=tuple(session.execute(select(TimeLogCategory.id, TimeLogCategory.name)
                                                  .order_by(TimeLogCategory.name)).all()),
        max_attachment_size=attachments.max_size(call))
