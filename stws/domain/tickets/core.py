"""Tickets: lookup with access rules, statuses, numbers, history, assignment,
and creating a ticket with its first message.

Access: administrators and managers see every ticket; agents see tickets of
the groups they belong to and tickets assigned to them; other accounts see
only the tickets they are the customer of. A ticket the caller may not see
is reported as not found (its existence is not disclosed).
"""
from __future__ import annotations

import datetime as dt
import html
import re
from dataclasses import dataclass

from sqlalchemy import Integer, String, bindparam, func, or_, select, update
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.orm import Session, lazyload
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key

from stws.db.models import (
    Department, Group, GroupAgent, Ticket, TicketEvent, TicketMessage, TicketStatus, User, utcnow,
)
from stws.db.prepared import PreparedInsert, PreparedQuery, PreparedStatement, connection_of, next_key
from stws.domain import organization as org
from stws.domain import validation
from stws.domain.tickets import event_outbox
from stws.errors import InvalidArgument, InvalidState, NotFound
from stws.security import roles

ACTIVE, WAITING, CLOSED, CLOSED_AND_LOCKED = 1, 2, 3, 4
NORMAL_PRIORITY = 2
OUTGOING, INCOMING = 1, 2  # message direction: agent -> customer, customer -> agent
_EPOCH = dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc)
TICKET_NUMBER_RE = re.compile(r"^\d{3}-[0-9A-F]{8}-[0-9A-F]{4}$", re.IGNORECASE)

_STATUS_ALIASES = {
    "active": ACTIVE, "open": ACTIVE, "1": ACTIVE,
    "waiting": WAITING, "2": WAITING,
    "closed": CLOSED, "3": CLOSED,
    "closed and locked": CLOSED_AND_LOCKED, "closedandlocked": CLOSED_AND_LOCKED, "locked": CLOSED_AND_LOCKED,
    "closed-and-locked": CLOSED_AND_LOCKED, "4": CLOSED_AND_LOCKED,
}


# --------------------------------------------------------------- statuses


def status_by_name(session, text: str | None, default: int | None = None) -> TicketStatus:
    """A status from its English name, display name or id (any case)."""
    value = (text or "").strip()
    if not value:
        if default is None:
            raise InvalidArgument("No ticket status was given; use Active, Waiting, Closed or Closed and Locked.")
        return session.get(TicketStatus, default)
    status_id = _STATUS_ALIASES.get(value.lower())
    if status_id is not None:
        return session.get(TicketStatus, status_id)
    status = session.scalars(select(TicketStatus).where(or_(
        func.lower(TicketStatus.english_name) == value.lower(),
        func.lower(TicketStatus.display_name) == value.lower(),
    ))).first()
    if status is None:
        names = ", ".join(session.scalars(select(TicketStatus.english_name).order_by(TicketStatus.sort_order)))
        raise InvalidArgument("%r is not a ticket status; use one of: %s." % (text, names))
    return status


def status_of(session, ticket: Ticket) -> TicketStatus:
    return session.get(TicketStatus, ticket.status_id)


# --------------------------------------------------------------- access


def sees_all_tickets(call) -> bool:
    return call.principal.has_role(roles.MANAGER)


_AGENT_GROUP_IDS = select(GroupAgent.group_id).where(GroupAgent.user_id == bindparam("user_id"))


def agent_group_ids(call) -> set[int]:
    return set(call.connection.execute(_AGENT_GROUP_IDS, {"user_id": call.principal.user_id}).scalars())


def viewer_kind(call) -> str:
    """"all" (administrators, managers), "agent" or "customer": what decides which tickets the caller sees."""
    if sees_all_tickets(call):
        return "all"
    return "agent" if call.principal.has_role(roles.AGENT) else "customer"


def visible_to(kind: str, viewer):
    """The WHERE clause of the tickets a viewer of ``kind`` sees (None: all);
    ``viewer`` is the user's id or a bind parameter for it."""
    if kind == "all":
        return None
    if kind == "agent":
        member_of = select(GroupAgent.group_id).where(GroupAgent.user_id == viewer)
        return or_(Ticket.group_id.in_(member_of), Ticket.agent_id == viewer)
    return Ticket.customer_id == viewer


def visibility_filter(call):
    """A WHERE clause limiting a ticket query to what the caller may see."""
    return visible_to(viewer_kind(call), call.principal.user_id)


def can_see(call, ticket: Ticket) -> bool:
    """``visible_to``'s rule for a loaded ticket."""
    kind = viewer_kind(call)
    if kind == "all":
        return True
    user_id = call.principal.user_id
    if kind == "agent":
        return ticket.agent_id == user_id or ticket.group_id in agent_group_ids(call)
    return ticket.customer_id == user_id


def _not_found(ticket_id: int):
    return NotFound("There is no ticket with id %s that you can see." % ticket_id)


def _number_not_found(number: str):
    return NotFound("There is no ticket numbered %s that you can see." % number)


def _ticket_number(number: str | None) -> str:
    """A ticket number as given (``#`` and spaces allowed), upper-cased."""
    number = (number or "").strip().lstrip("#")
    if not number:
        raise InvalidArgument("No ticket number was given (it looks like 168-24F24A57-000E).")
    return number.upper()


def _visible(call, ticket, include_deleted: bool) -> bool:
    return ticket is not None and (include_deleted or not ticket.is_deleted) and can_see(call, ticket)


def get_ticket(call, ticket_id: int, include_deleted: bool = False) -> Ticket:
    ticket = call.session.get(Ticket, ticket_id) if ticket_id else None
    if not _visible(call, ticket, include_deleted):
        raise _not_found(ticket_id)
    return ticket


def get_ticket_by_number(call, number: str | None, include_deleted: bool = False) -> Ticket:
    key = _ticket_number(number)
    ticket = call.session.scalars(select(Ticket).where(Ticket.ticket_number == key)).first()
    if not _visible(call, ticket, include_deleted):
        raise _number_not_found(number)
    return ticket


# What TicketInfo shows of a ticket (GetTicketInfo*, GetTicketsBySearch), as
# plain columns: a Ticket and a TicketStatus entity per row cost more to
# load than the query.
INFO_COLUMNS = (
    Ticket.id, Ticket.ticket_number, Ticket.customer_email, Ticket.agent_id, Ticket.customer_id,
    Ticket.department_id, Ticket.group_id, Ticket.is_deleted, Ticket.is_pinned_to_agent, Ticket.is_spam,
    Ticket.last_reply_utc, Ticket.date_opened_utc, Ticket.priority_id, Ticket.reply_count_in,
    Ticket.reply_count_out, Ticket.requires_follow_up, Ticket.show_in_follow_up_view, Ticket.subject,
    TicketStatus.is_open, TicketStatus.is_active,
)


_INFO_SELECT = select(*INFO_COLUMNS).join(TicketStatus, TicketStatus.id == Ticket.status_id)


def info_select():
    """SELECT ``INFO_COLUMNS`` FROM tickets JOIN ticket_statuses (built once:
    20 columns and a join cost ~0.1 ms to compose; ``where`` copies it)."""
    return _INFO_SELECT


class VisibleTicketQuery:
    """A prebuilt SELECT about one ticket, or one row of a ticket (a message,
    a comment), that answers only if the caller may see the ticket: what
    the reads of one ticket (GetTicketInfo, GetTicketStatus,
    GetTicketPropertiesList, GetTicketMessageHtml, ...) need, in one
    statement run on the driver (stws.db.prepared).

    ``get_ticket`` loads the ticket as an ORM entity in a Session: on a read
    that only shows a few columns, the Session, the entity and the lookups
    of its status and names cost two to six times what the SOAP call around
    them does (bench/tickets_1m.py). ``statement`` selects FROM tickets, or
    joins them; the ticket is found by id (``by_id``), by number
    (``by_number``) or by the column ``key`` (``find``); "not deleted" and
    the caller's visibility (``visible_to``) are added here, one prepared
    variant per way of finding it and kind of viewer.
    """

    def __init__(self, statement, key=None):
        self.statement = statement
        self._keys = {"id": Ticket.id, "number": Ticket.ticket_number, "key": key}
        self._variants: dict[tuple, PreparedQuery] = {}  # two threads may build one twice: harmless

    def _variant(self, by: str, include_deleted: bool, kind: str) -> PreparedQuery:
        variant = (by, include_deleted, kind)
        prepared = self._variants.get(variant)
        if prepared is None:
            statement = self.statement.where(self._keys[by] == bindparam("key"))
            if not include_deleted:
                statement = statement.where(Ticket.is_deleted.is_(False))
            visible = visible_to(kind, bindparam("viewer"))
            prepared = self._variants[variant] = PreparedQuery(
                statement if visible is None else statement.where(visible))
        return prepared

    def _read(self, call, by: str, key, include_deleted: bool, rows: str = "first"):
        """``rows`` ("first" or "all") of the variant for ``call``'s viewer."""
        prepared = self._variant(by, include_deleted, viewer_kind(call))
        return getattr(prepared, rows)(call.connection, {"key": key, "viewer": call.principal.user_id})

    def all_by_id(self, call, ticket_id: int, include_deleted: bool = False) -> list:
        """Every row of a statement that joins the ticket to rows of its own
        (an outer join, so that a ticket without any still gives one row),
        or the ticket's NotFound."""
        rows = self._read(call, "id", ticket_id, include_deleted, "all") if ticket_id else []
        if not rows:
            raise _not_found(ticket_id)
        return rows

    def by_id(self, call, ticket_id: int, include_deleted: bool = False):
        """The row of the ticket ``get_ticket`` would return, or its NotFound."""
        row = self._read(call, "id", ticket_id, include_deleted) if ticket_id else None
        if row is None:
            raise _not_found(ticket_id)
        return row

    def by_number(self, call, number: str | None, include_deleted: bool = False):
        """The row of the ticket ``get_ticket_by_number`` would return, or its NotFound."""
        row = self._read(call, "number", _ticket_number(number), include_deleted)
        if row is None:
            raise _number_not_found(number)
        return row

    def find(self, call, value, include_deleted: bool = False):
        """The row whose ``key`` is ``value`` (not 0 or None), or None."""
        return self._read(call, "key", value, include_deleted) if value else None


# GetTicketInfo is the most frequent call of an integration.
_INFO = VisibleTicketQuery(info_select())
_KEYS = VisibleTicketQuery(select(Ticket.id, Ticket.ticket_number))


def visible_ticket(call, ticket_id: int, include_deleted: bool = False):
    """The (id, ticket_number) row of the ticket ``get_ticket`` would return,
    or its NotFound: for reads of a ticket's rows (history, time logs,
    attachments) that need no more of the ticket."""
    return _KEYS.by_id(call, ticket_id, include_deleted)


def ticket_info_row(call, ticket_id: int):
    """``get_ticket``'s ticket as an ``INFO_COLUMNS`` row: one query, no ORM session."""
    return _INFO.by_id(call, ticket_id)


def ticket_info_row_by_number(call, number: str | None):
    """``get_ticket_by_number``'s ticket as an ``INFO_COLUMNS`` row."""
    return _INFO.by_number(call, number)


def require_changeable(call, ticket: Ticket) -> None:
    """Closed-and-locked tickets cannot change (administrators excepted for status)."""
    if status_of(call.session, ticket).is_locked:
        raise InvalidState("Ticket %s is closed and locked and cannot be changed." % ticket.ticket_number)


# --------------------------------------------------------------- history


def event_row(call, ticket_id: int, event_type: str, description: str, details: str = "",
              when: dt.datetime | None = None) -> dict:
    """The column values of one history event by the caller of ``call``."""
    principal = getattr(call, "principal", None)
    return {"ticket_id": ticket_id, "event_type": event_type, "description": description, "details": details,
            "user_id": principal.user_id if principal else None,
            "user_name": principal.username if principal else "system", "date_utc": when or utcnow()}


def record_event(call, ticket: Ticket, event_type: str, description: str, details: str = "",
                 when: dt.datetime | None = None) -> TicketEvent:
    """One history event, also queued for the events provider when it is on
    (event_outbox)."""
    row = event_row(call, ticket.id, event_type, description, details, when)
    event = TicketEvent(**row)
    call.session.add(event)
    event_outbox.collect(call, [row], ticket.ticket_number)
    return event


def insert_events(call, rows: list[dict]) -> None:
    """History rows (``event_row``) written at once, without ORM objects:
    one executemany on the driver (stws.db.prepared); also queued for the
    events provider when it is on (event_outbox)."""
    _INSERT_EVENT.insert_many(call.connection, rows)
    event_outbox.collect(call, rows)


_INSERT_EVENT = PreparedInsert(TicketEvent.__table__)


def touch(ticket: Ticket, when: dt.datetime | None = None) -> None:
    ticket.date_modified_utc = when or utcnow()
    ticket.is_indexed = False


def set_status(call, ticket: Ticket, status: TicketStatus, reason: str = "") -> None:
    if status.id == ticket.status_id:
        return
    old = status_of(call.session, ticket)
    now = utcnow()
    ticket.status_id = status.id
    ticket.idle_start_utc = now
    if status.is_open:
        ticket.date_closed_utc = None
    elif old.is_open:
        ticket.date_closed_utc = now
    touch(ticket, now)
    record_event(call, ticket, "StatusChanged", "Status changed from %s to %s" % (old.display_name, status.display_name),
                 reason)


# --------------------------------------------------------------- numbers


def ticket_number_prefix(department_id: int, opened: dt.datetime) -> str:
    """What a ticket number ``DDD-SSSSSSSS-NNNN`` (department, hex seconds
    since 2000, hex of the id) has before the id's part."""
    seconds = int((opened - _EPOCH).total_seconds())
    return "%03d-%08X-" % (department_id % 1000, max(seconds, 0) & 0xFFFFFFFF)


def ticket_number(prefix: str, ticket_id: int) -> str:
    """The whole number, made once the row has its id; unique because the id is."""
    return "%s%04X" % (prefix, ticket_id & 0xFFFF)


class _id_part(FunctionElement):
    """``ticket_number``'s part after the prefix, in SQL (for the INSERT
    that writes the number with the id it makes)."""

    inherit_cache = True
    type = String()


@compiles(_id_part, "sqlite")
def _id_part_sqlite(element, compiler, **kw):
    return "printf('%%04X', (%s) & 65535)" % compiler.process(element.clauses, **kw)


@compiles(_id_part, "postgresql")
def _id_part_postgresql(element, compiler, **kw):
    return "upper(lpad(to_hex((%s) & 65535), 4, '0'))" % compiler.process(element.clauses, **kw)


# --------------------------------------------------------------- assignment


# The statements of assignment run on the driver (stws.db.prepared): every
# new ticket of an Active status picks an agent.
_OPEN_TICKET_COUNT = PreparedQuery(
    select(func.count(Ticket.id).label("count")).join(TicketStatus, Ticket.status_id == TicketStatus.id)
    .where(Ticket.agent_id == bindparam("agent_id"), TicketStatus.is_open.is_(True), Ticket.is_deleted.is_(False))
)


def open_ticket_count(connection, agent_id: int) -> int:
    return _OPEN_TICKET_COUNT.first(connection, {"agent_id": agent_id}).count


_ROUND_ROBIN_MEMBERS = PreparedQuery(
    select(GroupAgent.user_id, User.username, GroupAgent.distribution_mode, GroupAgent.last_assigned_utc,
           GroupAgent.max_tickets_enabled, GroupAgent.max_tickets)
    .join(User, User.id == GroupAgent.user_id)
    .where(GroupAgent.group_id == bindparam("group_id"), GroupAgent.is_receiving.is_(True),
           # Not IN (...): an IN list is an "expanding" parameter, spliced into
           # the SQL text again on every execution.
           or_(GroupAgent.distribution_mode == "primary", GroupAgent.distribution_mode == "secondary"),
           User.is_deleted.is_(False), User.is_locked_out.is_(False))
)

_TOUCH_MEMBER = PreparedStatement(
    update(GroupAgent.__table__)
    .where(GroupAgent.group_id == bindparam("group"), GroupAgent.user_id == bindparam("user"))
    .values(last_assigned_utc=bindparam("now"))
)


def pick_agent(db, group_id: int, exclude_agent_id: int | None = None,
               now: dt.datetime | None = None) -> tuple[int, str] | None:
    """The agent (id, user name) who gets a new ticket of ``group_id``, or
    None for the queue. ``db``: the transaction's Session or Core connection;
    ``now``: the time of the assignment (by default the current time).

    Round robin: receiving primary members first, then secondary ones, each
    in order of who was assigned least recently; agents at their ticket
    limit are skipped. Pull-from-queue members are never picked.
    """
    connection = connection_of(db)
    # Columns, not GroupAgent/User entities: loading those cost about a
    # third of a millisecond per new ticket (four members of 25 columns).
    members = _ROUND_ROBIN_MEMBERS.all(connection, {"group_id": group_id})
    ordered = sorted(
        members,
        key=lambda m: (m.distribution_mode != "primary",
                       m.last_assigned_utc or dt.datetime.min.replace(tzinfo=dt.timezone.utc), m.user_id),
    )
    for member in ordered:
        if member.user_id == exclude_agent_id:
            continue
        if member.max_tickets_enabled and open_ticket_count(connection, member.user_id) >= member.max_tickets:
            continue
        now = now or utcnow()
        _TOUCH_MEMBER.execute(connection, {"group": group_id, "user": member.user_id, "now": now})
        if isinstance(db, Session):
            # A membership loaded in this session sees the new time too
            # (connection_of flushed it, so no change of it is pending). Cheaper
            # than an ORM-enabled UPDATE, which cost ~0.3 ms.
            loaded = db.identity_map.get(identity_key(GroupAgent, (group_id, member.user_id)))
            if loaded is not None:
                set_committed_value(loaded, "last_assigned_utc", now)
        return member.user_id, member.username
    return None


def distribute(call, ticket: Ticket, exclude_agent_id: int | None = None) -> None:
    """Give ``ticket`` to an agent of its group per the group's distribution, or queue it."""
    picked = pick_agent(call.session, ticket.group_id, exclude_agent_id)
    agent_id = picked[0] if picked else None
    if agent_id != ticket.agent_id:
        ticket.agent_id = agent_id
        ticket.hold_start_assigned_utc = utcnow() if agent_id else None
        ticket.is_pinned_to_agent = False
        if agent_id:
            record_event(call, ticket, "Assigned", "Assigned to %s" % picked[1])
        else:
            record_event(call, ticket, "Queued", "Placed in the queue of its group")


# --------------------------------------------------------------- creation


def html_to_text(markup: str) -> str:
    text = re.sub(r"(?is)<(script|style).*?</\1>", "", markup or "")
    text = re.sub(r"(?i)<br\s*/?>|</p>|</div>|</li>|</tr>", "\n", text)
    text = re.sub(r"<[^>]+>", "", text)
    return html.unescape(text).strip()


def text_to_html(text: str) -> str:
    return "<p>%s</p>" % html.escape(text or "").replace("\n", "<br>")


def message_bodies(body: str, is_html: bool) -> tuple[str, str]:
    """(plain text, HTML) of a body given as one or the other."""
    if is_html:
        return html_to_text(body), body or ""
    return body or "", ""


def resolve_group(call, department: Department, group_id: int | None) -> Group:
    """The group of ``department`` a ticket goes to: ``group_id``, or the front line group."""
    target = _target_group_id(department, group_id)
    return _checked_group(department, call.session.get(Group, target), group_id, target)


_DEPARTMENT_AND_GROUP = PreparedQuery(
    select(Department.id, Department.name, Department.brand_id, Department.front_line_group_id,
           Department.is_deleted, Department.email_address, Department.auto_responder_enabled,
           Department.auto_responder_subject, Department.auto_responder_body,
           Group.id.label("group_id"), Group.name.label("group_name"),
           Group.department_id.label("group_department_id"), Group.is_deleted.label("group_is_deleted"))
    .outerjoin(Group, Group.id == func.coalesce(bindparam("group_id", type_=Integer),
                                                Department.front_line_group_id))
    .where(Department.id == bindparam("department_id"))
)


@dataclass(frozen=True)
class GroupRow:
    id: int
    name: str
    department_id: int
    is_deleted: bool


def department_and_group(connection, department_id: int, group_id: int | None):
    """The live department (a row of id, name, brand_id, front_line_group_id,
    email_address and the auto-responder's fields) and ``resolve_group``'s
    group, in one query."""
    department = _DEPARTMENT_AND_GROUP.first(connection, {"department_id": department_id or 0,
                                                       "group_id": group_id or None})
    if department is None or department.is_deleted:
        raise NotFound("There is no department with id %s." % department_id)
    group = None
    if department.group_id is not None:
        group = GroupRow(department.group_id, department.group_name, department.group_department_id,
                         department.group_is_deleted)
    return department, _checked_group(department, group, group_id, _target_group_id(department, group_id))


def _target_group_id(department, group_id: int | None) -> int:
    if not group_id and not department.front_line_group_id:
        raise InvalidState("Department %s has no front line group." % department.name)
    return group_id or department.front_line_group_id


def _checked_group(department, group, group_id: int | None, target: int):
    if group is None or group.is_deleted:
        raise NotFound("There is no group with id %s." % target)
    if group.department_id != department.id:
        raise InvalidArgument("Group %s does not belong to department %s." % (group_id, department.name))
    return group


def _has_address(address):
    """Live accounts with ``address`` (lower case) in any case: ix_users_email_lower serves it."""
    return func.lower(User.email) == address, User.is_deleted.is_(False)


def customers_with_address(address: str):
    """Live accounts with this email address in any case (ix_users_email_lower)."""
    return select(User).options(lazyload(User.roles)).where(*_has_address(address.lower()))


def find_customer(call, address: str) -> User | None:
    """The customer account with this email address, if there is exactly one."""
    users = call.session.scalars(customers_with_address(address).limit(2)).all()
    return users[0] if len(users) == 1 else None


_CUSTOMER_IDS = PreparedQuery(select(User.id).where(*_has_address(bindparam("address"))).limit(2))


def find_customer_id(connection, address: str) -> int | None:
    """``find_customer``'s id only: no User entity to load."""
    rows = _CUSTOMER_IDS.all(connection, {"address": address.lower()})
    return rows[0].id if len(rows) == 1 else None


@dataclass
class NewTicket:
    """What ``create_ticket`` wrote: the ticket's id, number and the fields a
    mail about it needs (so it can stand for the Ticket there). The ORM
    objects of the ticket and its first message are loaded only when asked
    for (an agent's email, the email import): a plain
    CreateTicketFromCustomer needs no ORM session at all."""

    call: object
    id: int
    ticket_number: str
    subject: str
    customer_email: str
    department_id: int
    message_id: int
    department: object  # the row of department_and_group

    @property
    def ticket(self) -> Ticket:
        return self.call.session.get(Ticket, self.id)

    @property
    def message(self) -> TicketMessage:
        return self.call.session.get(TicketMessage, self.message_id)


# Run on the driver (stws.db.prepared), as are the reads of create_ticket.
# The row is written with its id and its number at once: the id the
# database would give it (next_key), the number made from it in the same
# statement (``ticket_number`` in SQL). A placeholder number replaced by an
# UPDATE once the id was known cost a statement more per ticket (and on
# PostgreSQL a round trip): the row written twice, three indexes changed twice.
_INSERT_TICKET = PreparedInsert(
    Ticket.__table__, returning=Ticket.id, key=next_key(Ticket.__table__),
    derived={"ticket_number": lambda new_id: bindparam("number_prefix", type_=String) + _id_part(new_id)})
_INSERT_MESSAGE = PreparedInsert(TicketMessage.__table__, returning=TicketMessage.id)


def insert_message(connection, **values) -> int:
    """A ticket message written without an ORM object; returns its id."""
    return _INSERT_MESSAGE.insert(connection, values)


def create_ticket(call, *, department_id: int, group_id: int | None, agent_id: int | None,
                  customer_address: str, subject: str, body: str, is_html: bool, direction: int,
                  status_id: int, opened: dt.datetime | None = None, idle_start: dt.datetime | None = None,
                  first_message: dt.datetime | None = None, customer_id: int | None = None,
                  message_fields: dict | None = None) -> NewTicket:
    """Create a ticket and its first message, assigned or queued, with its history.

    ``message_fields``: more columns of the first message (the email
    import's headers, bodies and raw file), written with it.

    Written with prebuilt Core statements on the call's connection (ORM
    entities, flushes and the session itself were most of the cost of a new
    ticket); callers flush their own ORM changes first if these reads must
    see them. An Active ticket without an agent is assigned before the
    INSERT, so the row is written with its agent rather than updated after;
    the number, made from the id, is the one UPDATE.
    """
    connection = call.connection
    department, group = department_and_group(connection, department_id, group_id)
    address = validation.email(customer_address)
    subject = validation.name(subject, "subject", 1000, required=False) or "(no subject)"
    now = utcnow()
    for value, what in ((opened, "dateOpenedUTC"), (idle_start, "dateIdleStartTimeUTC"),
                        (first_message, "dateFirstMessageReceived")):
        if value is not None and value > now + dt.timedelta(minutes=5):
            raise InvalidArgument("%s lies in the future." % what)
    assignee = picked = None
    if agent_id:
        agent = org.get_user(call, agent_id)
        if not org.is_agent(agent):
            raise InvalidArgument("User %s is not an agent." % agent.username)
        assignee = agent.id, agent.username
    elif status_id == ACTIVE:
        # The member's last assignment and the ticket's hold_start_assigned_utc: the same instant.
        assignee = picked = pick_agent(connection, group.id, now=now)
    customer_id = customer_id or find_customer_id(connection, address)
    opened = opened or now
    first_message = first_message or opened
    number_prefix = ticket_number_prefix(department.id, opened)
    ticket_id = _INSERT_TICKET.insert(connection, dict(
        number_prefix=number_prefix, brand_id=department.brand_id, department_id=department.id, group_id=group.id,
        agent_id=assignee[0] if assignee else None, customer_id=customer_id,
        customer_email=address, subject=subject, status_id=status_id, priority_id=NORMAL_PRIORITY,
        date_opened_utc=opened, idle_start_utc=idle_start or opened, date_modified_utc=now,
        date_first_message_utc=first_message, last_reply_utc=first_message,
        reply_count_in=1 if direction == INCOMING else 0, reply_count_out=1 if direction == OUTGOING else 0,
        hold_start_assigned_utc=now if picked else None,
    ))
    number = ticket_number(number_prefix, ticket_id)  # as the INSERT wrote it
    text, markup = message_bodies(body, is_html)
    message = dict(
        ticket_id=ticket_id, direction=direction, subject=subject, body_text=text, body_html=markup,
        from_user_id=call.principal.user_id if direction == OUTGOING else customer_id,
        from_address=address if direction == INCOMING else "",
        to_address=address if direction == OUTGOING else "",
        date_received_utc=first_message, is_first_message=True,
    )
    message_id = insert_message(connection, **{**message, **(message_fields or {})})
    events = [event_row(call, ticket_id, "Created", "Ticket created in %s / %s" % (department.name, group.name),
                        "from %s" % address if direction == INCOMING else "to %s" % address, now)]
    if assignee:
        events.append(event_row(call, ticket_id, "Assigned", "Assigned to %s" % assignee[1], "", now))
    insert_events(call, events)
    return NewTicket(call, ticket_id, number, subject, address, department.id, message_id, department)
