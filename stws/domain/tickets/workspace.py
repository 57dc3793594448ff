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

import functools

from sqlalchemy import bindparam, func, or_, select
from sqlalchemy.orm import aliased

from stws.db.models import (
    CallLog, CommentType, Department, Group, Ticket, TicketComment, TicketCustomValue, TicketEvent, TicketLink,
    TicketMessage, TicketPriority, TicketStatus, TimeLogCategory, User,
)
from stws.db.prepared import PreparedQuery
from stws.errors import InvalidArgument, InvalidState, NotFound
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


def moment_of(version: str) -> dt.datetime | None:
    """The inverse of ``version_of`` (None: not a version)."""
    try:
        return dt.datetime.strptime(version, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=dt.timezone.utc)
    except (TypeError, ValueError):
        return None


def version_select(kind: str):
    """The ``date_modified_utc`` of the ticket numbered by the bind
    ``number`` if the viewer (the bind ``viewer``) of ``kind`` sees it
    (GetTicketInfo's rule): one lookup on the unique ticket number, for the
    heartbeat of an open ticket page (stws.domain.tickets.navigation.pulse)."""
    statement = select(Ticket.date_modified_utc).where(Ticket.ticket_number == bindparam("number"),
                                                       Ticket.is_deleted.is_(False))
    visible = core.visible_to(kind, bindparam("viewer"))
    return statement if visible is None else statement.where(visible)


def ticket_number_key(ticket_number: str) -> str:
    """A ticket number as stored (numbers are upper case)."""
    return ticket_number.strip().upper()


@dataclass(frozen=True)
class Change:
    """A history event after the version a page showed: who changed what."""

    who: str
    what: str


CHANGES_SHOWN = 5


def changes_since(call, ticket_id: int, version: str) -> tuple[Change, ...]:
    """The latest events (at most CHANGES_SHOWN, oldest first) recorded
    after ``version``: what a page that refreshed itself tells the agent."""
    since = moment_of(version)
    if since is None:
        return ()
    rows = call.connection.execute(
        select(TicketEvent.user_name, TicketEvent.description, TicketEvent.event_type)
        .where(TicketEvent.ticket_id == ticket_id, TicketEvent.date_utc > since)
        .order_by(TicketEvent.date_utc.desc(), TicketEvent.id.desc()).limit(CHANGES_SHOWN)).all()
    return tuple(Change(row.user_name or "the system", row.description or row.event_type) for row in reversed(rows))


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
    # The directory's listings for the transfer and assign forms (the operation adds them).
    departments: tuple = ()
    groups: tuple = ()
    group_agents: tuple = ()
    # What changed after the version a page that refreshes itself showed (the operation adds it).
    changes: tuple = ()


def _user_names(call, ids) -> dict:
    ids = {i for i in ids if i}
    if not ids:
        return {}
    return {row.id: row.display_name or row.username for row in call.connection.execute(
        select(User.id, User.username, User.display_name).where(User.id.in_(ids)))}


_MESSAGE_COLUMNS = (TicketMessage.id, TicketMessage.direction, TicketMessage.from_user_id, TicketMessage.from_address,
                    TicketMessage.to_address, TicketMessage.cc_address, TicketMessage.subject, TicketMessage.body_text,
                    TicketMessage.body_html, TicketMessage.date_received_utc, TicketMessage.is_draft)
_COMMENT_COLUMNS = (TicketComment.id, TicketComment.comment_type_id, TicketComment.user_id, TicketComment.text,
                    TicketComment.is_html, TicketComment.date_entered_utc)


def _conversation(call, ticket, listings_by_message: dict, types: dict) -> list[Entry]:
    # Plain rows, not entities: a hundred messages loaded as ORM objects
    # cost more than the rest of the page.
    connection = call.connection
    messages = connection.execute(select(*_MESSAGE_COLUMNS).where(TicketMessage.ticket_id == ticket.id)).all()
    comments = connection.execute(select(*_COMMENT_COLUMNS).where(TicketComment.ticket_id == ticket.id)).all()
    names = _user_names(call, [m.from_user_id for m in messages] + [c.user_id for c in comments])
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
        senders = {user.id: user.email or user.username for user in call.connection.execute(
            select(User.id, User.email, User.username).where(User.id.in_(ids)))}
    root = call.runtime.data.root
    return [attachments.Listing(row, senders.get(row.user_id, ""), attachments.download_url(root, row.id))
            for row in rows]


def _events(call, ticket: Ticket) -> list:
    return call.connection.execute(
        select(TicketEvent.date_utc, TicketEvent.user_name, TicketEvent.event_type, TicketEvent.description,
               TicketEvent.details)
        .where(TicketEvent.ticket_id == ticket.id).order_by(TicketEvent.date_utc, TicketEvent.id)).all()


def _event_count(call, ticket: Ticket) -> int:
    return call.connection.execute(
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


def _custom_fields(call, ticket) -> list[CustomFieldValue]:
    """The fields of the department's template agents see, with the ticket's
    values (a field never set has its default, as GetTicketCustomFieldValues says)."""
    placed = fields.template_fields(call, ticket.ticket_custom_template_id)
    if not placed:
        return []
    stored = dict(call.connection.execute(select(TicketCustomValue.field_id, TicketCustomValue.value)
                                          .where(TicketCustomValue.ticket_id == ticket.id)).all())
    return [CustomFieldValue(definition.display_name, definition.data_type,
                             stored.get(definition.id, definition.default_value),
                             tuple(fields.list_options(definition)), placement.is_required_by_agents,
                             placement.is_required_by_agents_to_close)
            for placement, definition in placed if placement.is_visible_to_agents]


@functools.lru_cache(maxsize=None)
def _ticket_row(kind: str) -> PreparedQuery:
    """Prebuilt: the ticket numbered ``number`` with the names its header
    shows, if a viewer of ``kind`` (``viewer``: the id) sees it: the rule of
    GetTicketInfo (core.visible_to), in one query instead of one per name."""
    agent, customer, follow_up_agent, follow_up_group = aliased(User), aliased(User), aliased(User), aliased(Group)
    statement = (
        select(Ticket.id, Ticket.ticket_number, Ticket.subject, Ticket.status_id,
               TicketStatus.display_name.label("status"), TicketStatus.is_open, TicketStatus.is_locked,
               Ticket.priority_id, TicketPriority.name.label("priority"), Ticket.department_id,
               Department.name.label("department"), Department.ticket_custom_template_id, Ticket.group_id,
               Group.name.label("group_name"), Ticket.agent_id, agent.username.label("agent_username"),
               agent.display_name.label("agent_display_name"), Ticket.is_pinned_to_agent, Ticket.customer_id,
               customer.username.label("customer_username"), customer.display_name.label("customer_display_name"),
               Ticket.customer_email, Ticket.date_opened_utc, Ticket.last_reply_utc, Ticket.date_closed_utc,
               Ticket.date_modified_utc, Ticket.reply_count_in, Ticket.reply_count_out, Ticket.is_deleted,
               Ticket.requires_follow_up, Ticket.date_follow_up_utc, Ticket.follow_up_status_id,
               Ticket.follow_up_pin, follow_up_group.name.label("follow_up_group"),
               follow_up_agent.username.label("follow_up_username"),
               follow_up_agent.display_name.label("follow_up_display_name"))
        .join(TicketStatus, TicketStatus.id == Ticket.status_id)
        .join(TicketPriority, TicketPriority.id == Ticket.priority_id)
        .join(Department, Department.id == Ticket.department_id)
        .join(Group, Group.id == Ticket.group_id)
        .outerjoin(agent, agent.id == Ticket.agent_id)
        .outerjoin(customer, customer.id == Ticket.customer_id)
        .outerjoin(follow_up_agent, follow_up_agent.id == Ticket.follow_up_agent_id)
        .outerjoin(follow_up_group, follow_up_group.id == Ticket.follow_up_group_id)
        .where(Ticket.ticket_number == bindparam("number"), Ticket.is_deleted.is_(False))
    )
    visible = core.visible_to(kind, bindparam("viewer"))
    return PreparedQuery(statement if visible is None else statement.where(visible))


def _name(display_name: str | None, username: str | None) -> str:
    return display_name or username or ""


def ticket_view(call, ticket_number: str, part: str = CONVERSATION) -> TicketView:
    """What the ticket's page shows on the tab ``part`` (see the module
    docstring): the header and follow-up always; the conversation, time
    logs, custom fields, attachments, related items and the forms' choices
    on the conversation tab; the customer's other tickets on the
    communication tab; the events on the history tab.

    ``ticket`` below is the row of ``_ticket_row``: it has the id,
    department and customer columns the readers of a Ticket use."""
    number = (ticket_number or "").strip().lstrip("#").upper()
    if not number:
        raise InvalidArgument("No ticket number was given (it looks like 168-24F24A57-000E).")
    connection = call.connection
    ticket = _ticket_row(core.viewer_kind(call)).first(connection, {"number": number,
                                                                      "viewer": call.principal.user_id})
    if ticket is None:
        raise NotFound("There is no ticket numbered %s that you can see." % ticket_number)
    on_conversation = part == CONVERSATION

    listings = _listings(call, ticket) if on_conversation else []
    by_message: dict[int, list] = {}
    loose = []
    for item in listings:
        if item.attachment.message_id:
            by_message.setdefault(item.attachment.message_id, []).append(item)
        else:
            loose.append(item)

    statuses = connection.execute(_STATUSES).all()
    header = Header(
        ticket.id, ticket.ticket_number, ticket.subject, ticket.status_id, ticket.status, ticket.is_open,
        ticket.is_locked, ticket.priority_id, ticket.priority, ticket.department_id, ticket.department,
        ticket.group_id, ticket.group_name, ticket.agent_id or 0,
        _name(ticket.agent_display_name, ticket.agent_username), ticket.is_pinned_to_agent, ticket.customer_id or 0,
        _name(ticket.customer_display_name, ticket.customer_username), ticket.customer_email,
        ticket.date_opened_utc, ticket.last_reply_utc, ticket.date_closed_utc, ticket.date_modified_utc,
        ticket.reply_count_in, ticket.reply_count_out, ticket.is_deleted, version_of(ticket.date_modified_utc))
    follow_up = None
    if ticket.requires_follow_up and ticket.date_follow_up_utc is not None:
        follow_up = FollowUp(ticket.date_follow_up_utc, ticket.follow_up_group or "",
                             _name(ticket.follow_up_display_name, ticket.follow_up_username),
                             dict(statuses).get(ticket.follow_up_status_id, ""), ticket.follow_up_pin)
    logs, comment_types, priorities, categories = [], (), (), ()
    if on_conversation:
        found = timelogs.time_logs(call, ticket)
        agents = _user_names(call, [log.user_id for log, _ in found])
        logs = [TimeLogEntry(log.subject, agents.get(log.user_id, ""), category_name, log.date_start_utc,
                             log.date_end_utc, log.is_billable, log.description) for log, category_name in found]
        comment_types = connection.execute(_COMMENT_TYPES).all()
        priorities = connection.execute(_PRIORITIES).all()
        categories = connection.execute(_CATEGORIES).all()
    events = _events(call, ticket) if part == HISTORY else ()
    return TicketView(
        header=header, follow_up=follow_up,
        conversation=tuple(_conversation(call, ticket, by_message, dict(comment_types))) if on_conversation else (),
        ticket_attachments=tuple(loose), time_logs=tuple(logs),
        custom_fields=tuple(_custom_fields(call, ticket)) if on_conversation else (),
        events=tuple(events), event_count=len(events) if part == HISTORY else _event_count(call, ticket),
        related=tuple(_related(call, ticket)) if on_conversation else (),
        other_tickets=tuple(_other_tickets(call, ticket)) if part == COMMUNICATION else (),
        statuses=tuple(statuses), priorities=tuple(priorities),
        comment_types=tuple(name for _, name in comment_types), time_log_categories=tuple(categories),
        max_attachment_size=attachments.max_size(call))


# The forms' choices: built once (composing a SELECT costs more than running it).
_STATUSES = select(TicketStatus.id, TicketStatus.display_name).order_by(TicketStatus.sort_order)
_PRIORITIES = select(TicketPriority.id, TicketPriority.name).order_by(TicketPriority.sort_order)
_COMMENT_TYPES = select(CommentType.id, CommentType.display_name).order_by(CommentType.id)
_CATEGORIES = select(TimeLogCategory.id, TimeLogCategory.name).order_by(TimeLogCategory.name)
