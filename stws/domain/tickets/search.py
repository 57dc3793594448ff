"""Finding tickets: GetTicketsBySearch's Key=Value criteria as one SQL query.

Criteria are AND-ed; keys match case-insensitively (clients send both
``UserId`` and ``UserID``). Every item is checked before the query runs:
unknown keys, repeated keys, empty or malformed values are all reported by
name in one INVALID_ARGUMENT message, never ignored.

Keys (``CRITERIA`` below is the list the error messages quote):

=================  ===========================================================
EmailAddress       the ticket's customer address (case-insensitive)
IsOpen             true/false: status is open (Active, Waiting) or not
IsActive           true/false: status is Active (not Waiting) or not
Status             status names or ids, comma-separated (any of them)
Priority           priority names or ids, comma-separated (any of them)
UserId             the customer's user id; 0 = no customer account
AgentId            the assigned agent's user id; 0 = unassigned (queue)
GroupId            group id
DepartmentId       department id
BrandId            brand id
TicketNumber       exact ticket number (``#`` and case ignored)
Subject            the subject contains this text (case-insensitive)
Text               the words are in the subject, a message or a note (notes
                   only for agents; full-text index, see ``text_condition``)
DateOpenedFrom/To  opened at or after / at or before (ISO 8601, UTC default)
LastReplyFrom/To   last reply at or after / at or before (ISO 8601)
IsDeleted          true/false (default false); true needs the Manager role
MaxResults         1..10000, default 1000
Offset             rows to skip, default 0 (paging)
=================  ===========================================================

Results are sorted by last reply, newest first, then by id (newest first),
which makes paging with Offset stable. Only tickets the caller can see are
searched (``core.visibility_filter``).

Design for speed (100,000+ tickets): every condition is a plain comparison
of a ticket column with literal values, so the planner can use the
composite indexes of ``models.Ticket``: IsOpen/IsActive/Status become one
``status_id IN (...)`` list of ids (looked up in the small status table)
instead of a join, so ``EmailAddress`` + ``IsOpen`` uses
ix_tickets_customer_email_lower_status (an index on lower(address), status),
``GroupId`` + ``IsOpen`` ix_tickets_group_status, and so on.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import and_, false, func, select

from stws.db.models import Ticket, TicketPriority, TicketStatus
from stws.domain import validation
from stws.domain.errors import InvalidArgument, PermissionDenied
from stws.domain.properties import parse_bool, parse_datetime, parse_int
from stws.domain.tickets import core, fulltext
from stws.security import roles

DEFAULT_MAX_RESULTS = 1000
MAX_RESULTS_CAP = 10000

CRITERIA = (
    "EmailAddress", "IsOpen", "IsActive", "Status", "Priority", "UserId", "AgentId", "GroupId",
    "DepartmentId", "BrandId", "TicketNumber", "Subject", "Text", "DateOpenedFrom", "DateOpenedTo",
    "LastReplyFrom", "LastReplyTo", "IsDeleted", "MaxResults", "Offset",
)
_KEYS = {key.lower(): key for key in CRITERIA}


@dataclass
class Search:
    """Parsed criteria, ready to become a query."""

    conditions: list = field(default_factory=list)
    # Allowed status ids (intersection of IsOpen, IsActive, Status); None = any.
    status_ids: set | None = None
    text: str | None = None
    is_deleted: bool = False
    max_results: int = DEFAULT_MAX_RESULTS
    offset: int = 0
    # Parsed DateOpenedFrom/To, LastReplyFrom/To (to check the ranges).
    bounds: dict = field(default_factory=dict)


@dataclass
class Found:
    tickets: list  # rows of core.INFO_COLUMNS
    # The Offset of the next page when more tickets match, else None.
    next_offset: int | None


# --------------------------------------------------------------- parsing


_STATUS_FLAGS = select(TicketStatus.id, TicketStatus.is_open, TicketStatus.is_active)


def parse_criteria(session, items) -> Search:
    """``["Key=Value", ...]`` -> Search; all problems reported at once."""
    search = Search()
    problems: list[str] = []
    seen: dict[str, str] = {}
    statuses = None
    for item in items or []:
        if item is None or not item.strip():
            continue
        raw_key, sep, value = item.partition("=")
        value = value.strip()
        key = _KEYS.get(raw_key.strip().lower())
        if not sep:
            problems.append("%r is not of the form Key=Value" % item)
            continue
        if key is None:
            problems.append("%r is not a search key" % raw_key.strip())
            continue
        if key in seen:
            problems.append("%s is given twice" % key)
            continue
        seen[key] = value
        if not value:
            problems.append("%s has no value" % key)
            continue
        if key in ("IsOpen", "IsActive", "Status") and statuses is None:
            statuses = session.execute(_STATUS_FLAGS).all()
        try:
            _apply(session, search, key, value, statuses)
        except (ValueError, InvalidArgument) as error:
            problems.append("%s: %s" % (key, getattr(error, "message", None) or error))
    for low, high in (("DateOpenedFrom", "DateOpenedTo"), ("LastReplyFrom", "LastReplyTo")):
        if low in search.bounds and high in search.bounds and search.bounds[low] > search.bounds[high]:
            problems.append("%s lies after %s" % (low, high))
    if problems:
        raise InvalidArgument("Invalid search criteria: %s. Search keys: %s."
                              % ("; ".join(problems), ", ".join(CRITERIA)))
    return search


def _restrict_status(search: Search, ids) -> None:
    ids = set(ids)
    search.status_ids = ids if search.status_ids is None else search.status_ids & ids


def _id(value: str, zero_means_none: bool = False) -> int:
    number = parse_int(value)
    if number < 0 or (number == 0 and not zero_means_none):
        raise ValueError("%r is not a %s id" % (value, "positive" if not zero_means_none else "valid"))
    return number


def _optional_id_condition(column, value: str):
    number = _id(value, zero_means_none=True)
    return column.is_(None) if number == 0 else column == number


_DATE_BOUNDS = {
    "DateOpenedFrom": (Ticket.date_opened_utc, True),
    "DateOpenedTo": (Ticket.date_opened_utc, False),
    "LastReplyFrom": (Ticket.last_reply_utc, True),
    "LastReplyTo": (Ticket.last_reply_utc, False),
}


def _apply(session, search: Search, key: str, value: str, statuses) -> None:
    conditions = search.conditions
    if key == "EmailAddress":
        address = validation.email(value)
        # Served by ix_tickets_customer_email_lower_status (with IsOpen/Status).
        conditions.append(func.lower(Ticket.customer_email) == address.lower())
    elif key == "IsOpen":
        wanted = parse_bool(value)
        _restrict_status(search, (s.id for s in statuses if s.is_open == wanted))
    elif key == "IsActive":
        wanted = parse_bool(value)
        _restrict_status(search, (s.id for s in statuses if (s.is_open and s.is_active) == wanted))
    elif key == "Status":
        names = [part.strip() for part in value.split(",") if part.strip()]
        if not names:
            raise ValueError("no status name was given")
        _restrict_status(search, (core.status_by_name(session, name).id for name in names))
    elif key == "Priority":
        conditions.append(Ticket.priority_id.in_([_priority(session, part) for part in value.split(",")]))
    elif key == "UserId":
        conditions.append(_optional_id_condition(Ticket.customer_id, value))
    elif key == "AgentId":
        conditions.append(_optional_id_condition(Ticket.agent_id, value))
    elif key == "GroupId":
        conditions.append(Ticket.group_id == _id(value))
    elif key == "DepartmentId":
        conditions.append(Ticket.department_id == _id(value))
    elif key == "BrandId":
        conditions.append(Ticket.brand_id == _id(value))
    elif key == "TicketNumber":
        conditions.append(Ticket.ticket_number == value.lstrip("#").strip().upper())
    elif key == "Subject":
        conditions.append(Ticket.subject.ilike(contains_pattern(value), escape="\\"))
    elif key == "Text":
        search.text = value
    elif key in _DATE_BOUNDS:
        column, at_least = _DATE_BOUNDS[key]
        when = search.bounds[key] = parse_datetime(value)
        conditions.append(column >= when if at_least else column <= when)
    elif key == "IsDeleted":
        search.is_deleted = parse_bool(value)
    elif key == "MaxResults":
        number = parse_int(value)
        if not 1 <= number <= MAX_RESULTS_CAP:
            raise ValueError("%s is outside 1..%d" % (number, MAX_RESULTS_CAP))
        search.max_results = number
    elif key == "Offset":
        number = parse_int(value)
        if number < 0:
            raise ValueError("%s is negative" % number)
        search.offset = number
    else:  # pragma: no cover - CRITERIA and this function must agree
        raise AssertionError(key)


def _priority(session, text: str) -> int:
    value = text.strip()
    if not value:
        raise ValueError("an empty priority was given")
    for priority in session.scalars(select(TicketPriority)):
        if value.lower() in (priority.name.lower(), str(priority.id)):
            return priority.id
    names = ", ".join(session.scalars(select(TicketPriority.name).order_by(TicketPriority.sort_order)))
    raise ValueError("%r is not a priority; use one of: %s" % (text, names))


def contains_pattern(text: str) -> str:
    """A LIKE pattern matching ``text`` anywhere, its wildcards taken literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return "%" + escaped + "%"


# --------------------------------------------------------------- text


def text_condition(session, text: str, include_notes: bool):
    """Tickets whose subject, messages or (for agents) notes hold the words of ``text``.

    The one place that decides how free text matches: the full-text index
    kept by the Indexing thread (``stws.domain.tickets.fulltext``): every
    word of ``text``, as a word or the start of one, case and accents
    ignored, in one subject, message or note; rows not indexed yet match by
    substring, so new text is found at once. The user's words are always
    quoted, never read as query syntax; a text without letters or digits
    matches nothing. Callers only rely on it returning a WHERE clause over
    ``Ticket``. Customers (include_notes=False) match neither internal
    notes nor draft messages.
    """
    return fulltext.text_condition(session, text, include_notes)


# --------------------------------------------------------------- query


def search_statement(call, search: Search):
    """The SELECT of ``core.INFO_COLUMNS`` rows for ``search``, one page + 1 row."""
    if search.is_deleted and not call.principal.has_role(roles.MANAGER):
        raise PermissionDenied("Searching deleted tickets (IsDeleted=true) needs the Manager role.")
    # "IS NOT true" rather than "= false": SQLite, without statistics, would
    # otherwise take ix_tickets_deleted for a condition nearly every row meets
    # and sort the whole table (300 ms instead of 3 ms for 100,000 tickets).
    deleted = Ticket.is_deleted.is_(True) if search.is_deleted else Ticket.is_deleted.is_not(True)
    conditions = [deleted, *search.conditions]
    if search.status_ids is not None:
        conditions.append(Ticket.status_id.in_(sorted(search.status_ids)) if search.status_ids else false())
    if search.text is not None:
        conditions.append(text_condition(call.session, search.text,
                                         include_notes=call.principal.has_role(roles.AGENT)))
    visible = core.visibility_filter(call)
    if visible is not None:
        conditions.append(visible)
    return (
        core.info_select()
        .where(and_(*conditions))
        .order_by(newest_first(call.session), Ticket.id.desc())
        .limit(search.max_results + 1)
        .offset(search.offset)
    )


def newest_first(session):
    """Last reply descending, tickets without one last, on every backend.

    SQLite already sorts NULLs last in descending order and can then walk
    ix_tickets_last_reply backwards (an unfiltered page costs a few rows
    instead of a sort); an explicit NULLS LAST would stop it from doing so.
    PostgreSQL sorts NULLs first unless told.
    """
    if session.get_bind().dialect.name == "sqlite":
        return Ticket.last_reply_utc.desc()
    return Ticket.last_reply_utc.desc().nulls_last()


def find_tickets(call, items) -> Found:
    """Tickets matching the Key=Value ``items``, one page of them."""
    search = parse_criteria(call.session, items)
    rows = call.connection.execute(search_statement(call, search)).all()
    tickets = rows[:search.max_results]
    more = len(rows) > search.max_results
    return Found(tickets, search.offset + len(tickets) if more else None)
