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
SortBy             what to sort by (``SORT_FIELDS``; also sent as SortField):
                   LastReplyDateUtc (default), DateOpened, ID, TicketNumber,
                   Subject (case-insensitive), Priority (by rank), Customer
                   (the address, case-insensitive), Status (by id)
SortOrder          Descending (default) or Ascending (also Desc, Asc)
=================  ===========================================================

Results are sorted by last reply, newest first, unless SortBy/SortOrder say
otherwise (SmarterTrack integrations send them with their criteria); ties
are broken by id in the same direction, which makes paging with Offset
stable. Tickets without a reply come last in either direction. Only
tickets the caller can see are searched (``core.visibility_filter``).

Design for speed (100,000+ tickets): every condition is a plain comparison
of a ticket column with literal values, so the planner can use the
composite indexes of ``models.Ticket``: IsOpen/IsActive/Status become one
``status_id IN (...)`` list of ids (looked up in the small status table)
instead of a join, so ``EmailAddress`` + ``IsOpen`` uses
ix_tickets_customer_email_lower_status (an index on lower(address), status),
``GroupId`` + ``IsOpen`` ix_tickets_group_status_reply, and so on. A
group's or a department's tickets of one status sorted by subject,
customer or number are read in the order of their own indexes (migration
0016), a page at a time, instead of sorting every ticket of the group.

Composing and compiling that SELECT through SQLAlchemy cost more CPU than
SQLite takes to run it, so the statement is built once per *shape* of
criteria (which keys, which viewer kind; values are bind parameters) and
run on the driver (``stws.db.prepared``), without an ORM session. Text
too: its shape is how many substring parts the fallback looks for and
whether notes count (``fulltext.text_form``), its words are parameters
(a rare word's search went from ~4 ms of CPU, most of it building the
statement, to ~0.3 ms). A Text found in many documents has a statement of
its own in which the list drives (``fulltext.plan_text`` decides per search;
``_prepared_search``; on SQLite ``_walk`` tests the list's tickets a chunk
at a time), with a bounded walk (``run_search``).
"""
from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass, field

from sqlalchemy import Integer, String, and_, bindparam, cast, false, func, literal_column, select, union_all

from stws.db.models import DELETED, FOLLOW_UP_SCHEDULED, Ticket, TicketPriority, TicketStatus
from stws.db.prepared import PreparedQuery
from stws.domain import validation
from stws.errors import InvalidArgument, PermissionDenied
from stws.domain.properties import parse_bool, parse_datetime, parse_int
from stws.domain.tickets import core, fulltext
from stws.security import roles
from stws.shared_values import SharedValues

DEFAULT_MAX_RESULTS = 1000
MAX_RESULTS_CAP = 10000

CRITERIA = (
    "EmailAddress", "IsOpen", "IsActive", "Status", "Priority", "UserId", "AgentId", "GroupId",
    "DepartmentId", "BrandId", "TicketNumber", "Subject", "Text", "DateOpenedFrom", "DateOpenedTo",
    "LastReplyFrom", "LastReplyTo", "IsDeleted", "MaxResults", "Offset", "SortBy", "SortOrder",
)
_KEYS = {key.lower(): key for key in CRITERIA}
_KEYS["sortfield"] = "SortBy"  # what some clients call it

DEFAULT_SORT = "LastReplyDateUtc"
# SortBy's values, by the names clients use (TicketInfo's field names and
# the plain ones), compared without case, spaces or punctuation.
SORT_FIELDS = ("LastReplyDateUtc", "DateOpened", "ID", "TicketNumber", "Subject", "Priority", "Customer", "Status")
_SORT_NAMES = {
    "lastreplydateutc": "LastReplyDateUtc", "lastreplydate": "LastReplyDateUtc", "lastreply": "LastReplyDateUtc",
    "lastreplyutc": "LastReplyDateUtc", "dateopened": "DateOpened", "dateopenedutc": "DateOpened",
    "opened": "DateOpened", "id": "ID", "ticketid": "ID", "ticketnumber": "TicketNumber",
    "number": "TicketNumber", "subject": "Subject", "priority": "Priority",
    "customer": "Customer", "customeremail": "Customer", "emailaddress": "Customer", "status": "Status",
}
_SORT_ORDERS = {"descending": True, "desc": True, "ascending": False, "asc": False}


@dataclass
class Search:
    """Parsed criteria, ready to become a query."""

    # Criterion key -> parsed value, the parameter of its ``_CONDITIONS`` entry:
    # a plain value, None (the column IS NULL) or a tuple of ids (any of them).
    values: dict = field(default_factory=dict)
    # Allowed status ids (intersection of IsOpen, IsActive, Status); None = any.
    status_ids: set | None = None
    text: str | None = None
    is_deleted: bool = False
    max_results: int = DEFAULT_MAX_RESULTS
    offset: int = 0
    sort_by: str = DEFAULT_SORT
    descending: bool = True


@dataclass
class Found:
    tickets: list  # rows of core.INFO_COLUMNS
    # The Offset of the next page when more tickets match, else None.
    next_offset: int | None


# --------------------------------------------------------------- parsing


_STATUS_FLAGS = PreparedQuery(select(TicketStatus.id, TicketStatus.is_open, TicketStatus.is_active))
_PRIORITIES = PreparedQuery(select(TicketPriority.id, TicketPriority.name, TicketPriority.sort_order)
                            .order_by(TicketPriority.id))


def parse_criteria(call, items) -> Search:
    """``["Key=Value", ...]`` -> Search; all problems reported at once.
    Lookups run on ``call.connection``; only Status names need ``call.session``."""
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
        if key in ("IsOpen", "IsActive") and statuses is None:
            statuses = _STATUS_FLAGS.all(call.connection, {})
        try:
            _apply(call, search, key, value, statuses)
        except (ValueError, InvalidArgument) as error:
            problems.append("%s: %s" % (key, getattr(error, "message", None) or error))
    values = search.values
    for low, high in (("DateOpenedFrom", "DateOpenedTo"), ("LastReplyFrom", "LastReplyTo")):
        if low in values and high in values and values[low] > values[high]:
            problems.append("%s lies after %s" % (low, high))
    if problems:
        raise InvalidArgument("Invalid search criteria: %s. Search keys: %s."
                              % ("; ".join(problems), ", ".join(CRITERIA)))
    return search


def _restrict_status(search: Search, ids) -> None:
    ids = set(ids)
    search.status_ids = ids if search.status_ids is None else search.status_ids & ids


def _id(value: str, zero_means_none: bool = False) -> int | None:
    number = parse_int(value)
    if number < 0 or (number == 0 and not zero_means_none):
        raise ValueError("%r is not a %s id" % (value, "positive" if not zero_means_none else "valid"))
    return number or None


# The ids of the few tickets of a partial index (its condition written as
# the index's), for a list to be drawn from: written as a plain condition,
# SQLite's planner, unsure how few they are (ANALYZE records nothing of an
# empty index, and a database nobody ran ANALYZE on has no statistics at
# all), walked every ticket newest first looking for them: 8.4 s at
# 1,000,000 tickets for the follow-up list with none scheduled, 1.5 s for
# the deleted tickets.
# (Not correlated: the subquery reads tickets of its own.)
_FOLLOW_UPS = select(Ticket.id).where(FOLLOW_UP_SCHEDULED).correlate(None)  # ix_tickets_follow_up
_DELETED = select(Ticket.id).where(DELETED).correlate(None)  # ix_tickets_deleted

# Each criterion's WHERE condition, of what stands for its value in the
# statement prepared once per criteria shape (``_prepared_search``): a bind
# parameter, None or a tuple of bind parameters (see ``Search.values``).
_CONDITIONS = {
    # Served by ix_tickets_customer_email_lower_status (with IsOpen/Status).
    # lower() is typed for its parameter to be (a literal would give it its own).
    "EmailAddress": lambda address: func.lower(Ticket.customer_email, type_=String) == address,
    "Priority": lambda ids: Ticket.priority_id.in_(ids),
    "UserId": lambda user_id: Ticket.customer_id == user_id,  # None: IS NULL (no customer account)
    "AgentId": lambda user_id: Ticket.agent_id == user_id,  # None: IS NULL (unassigned)
    "GroupId": lambda group_id: Ticket.group_id == group_id,
    "DepartmentId": lambda department_id: Ticket.department_id == department_id,
    "BrandId": lambda brand_id: Ticket.brand_id == brand_id,
    "TicketNumber": lambda number: Ticket.ticket_number == number,
    "Subject": lambda pattern: Ticket.subject.ilike(pattern, escape="\\"),
    "DateOpenedFrom": lambda when: Ticket.date_opened_utc >= when,
    "DateOpenedTo": lambda when: Ticket.date_opened_utc <= when,
    "LastReplyFrom": lambda when: Ticket.last_reply_utc >= when,
    "LastReplyTo": lambda when: Ticket.last_reply_utc <= when,
    # IsOpen, IsActive and Status together: ids, not a join (module docstring).
    "StatusIds": lambda ids: Ticket.status_id.in_(ids) if ids else false(),
    # Not a search key of GetTicketsBySearch: the management interface's
    # follow-up list sets it to true (``with_follow_up``).
    "RequiresFollowUp": lambda _true: Ticket.id.in_(_FOLLOW_UPS),
}


def with_follow_up(search: Search) -> Search:
    """``search`` narrowed to tickets with a follow-up scheduled."""
    search.values["RequiresFollowUp"] = True
    return search


def _apply(call, search: Search, key: str, value: str, statuses) -> None:
    values = search.values
    if key == "EmailAddress":
        values[key] = validation.email(value).lower()
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
        _restrict_status(search, (core.status_by_name(call.session, name).id for name in names))
    elif key == "Priority":
        priorities = _PRIORITIES.all(call.connection, {})
        values[key] = tuple(_priority(priorities, part) for part in value.split(","))
    elif key in ("UserId", "AgentId"):
        values[key] = _id(value, zero_means_none=True)
    elif key in ("GroupId", "DepartmentId", "BrandId"):
        values[key] = _id(value)
    elif key == "TicketNumber":
        values[key] = value.lstrip("#").strip().upper()
    elif key == "Subject":
        values[key] = contains_pattern(value)
    elif key == "Text":
        search.text = value
    elif key in ("DateOpenedFrom", "DateOpenedTo", "LastReplyFrom", "LastReplyTo"):
        values[key] = parse_datetime(value)
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
    elif key == "SortBy":
        search.sort_by = _SORT_NAMES.get(re.sub(r"[^0-9a-z]", "", value.lower()))
        if search.sort_by is None:
            raise ValueError("%r is not a sort field; use one of: %s" % (value, ", ".join(SORT_FIELDS)))
    elif key == "SortOrder":
        search.descending = _SORT_ORDERS.get(value.lower())
        if search.descending is None:
            raise ValueError("%r is not a sort order; use Ascending or Descending" % value)
    else:  # pragma: no cover - CRITERIA and this function must agree
        raise AssertionError(key)


def _priority(priorities, text: str) -> int:
    """The id of the priority (a row of ``_PRIORITIES``) named or numbered ``text``."""
    value = text.strip()
    if not value:
        raise ValueError("an empty priority was given")
    for priority in priorities:
        if value.lower() in (priority.name.lower(), str(priority.id)):
            return priority.id
    names = ", ".join(p.name for p in sorted(priorities, key=lambda p: p.sort_order))
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


def find_tickets(call, items) -> Found:
    """Tickets matching the Key=Value ``items``, one page of them."""
    return run_search(call, parse_criteria(call, items))


# Searches are polled (an integration asks for the same address's open
# tickets again and again) and find the same rows: each driver row's
# converted row is kept (``PreparedQuery.all_shared``), so equal rows are
# converted once and are one object (which also makes the front door's
# lookup of what it made of a row cheap). At most 4,096 rows (~1 KB each).
_SHARED_ROWS = SharedValues(most=4096)


def run_search(call, search: Search) -> Found:
    """One page of the tickets ``search`` (from ``parse_criteria``) finds."""
    plan = _plan(call, search)
    if plan.tested is not None:
        rows = _walk(call, plan)
    else:
        rows = plan.query.all_shared(call.connection, plan.params, _SHARED_ROWS)
        if plan.fallback is not None and len(rows) < plan.params["limit"] and _walked_too_far(call, plan):
            # The list's first candidates held too few matches: the index drives after all.
            rows = plan.fallback.all(call.connection, plan.params)
    tickets = rows[:search.max_results]
    more = len(rows) > search.max_results
    return Found(tickets, search.offset + len(tickets) if more else None)


def _walk(call, plan: "_Plan") -> list:
    """SQLite, when the list drives a Text search: the list's tickets (its
    statement without the Text, at most ``candidates``) read in chunks of
    growing size and each chunk tested at once (``fulltext.CandidateTest``),
    until the page is full; the rows of the page (and one more). A walk
    that reaches its bound short of a page lets the index drive after all,
    as ``run_search`` does for the statement that walks by itself."""
    params = plan.params
    offset, wanted = params["offset"], params["offset"] + params["limit"]
    test = fulltext.CandidateTest(call.connection, params, *plan.tested)
    found, walked = [], 0
    for chunk in plan.query.chunks(call.connection, params, _chunk_sizes(wanted, found)):
        walked += len(chunk)
        ids = [row.id for row in chunk]
        matching = test.matching(ids)
        found.extend(ticket_id for ticket_id in ids if ticket_id in matching)
        if len(found) >= wanted:
            break
    else:
        if walked >= params["candidates"]:
            return plan.fallback.all(call.connection, params)
    page = found[offset:wanted]
    rows = {row.id: row for row in _PAGE_ROWS.all(call.connection, {"ids": json.dumps(page)})}
    return [rows[ticket_id] for ticket_id in page]


def _chunk_sizes(wanted: int, found: list):
    """The sizes of a walk's chunks: twice the rows wanted, then what the
    matches met so far (``found``, filled as the walk goes) say the rest
    of the page needs, a quarter more (at least 32, at most 1,024; 1,024
    after a chunk without a match). Each chunk costs a few ranges of the
    index whatever its size, so a walk takes two or three."""
    size, walked = max(32, 2 * wanted), 0
    while True:
        yield size
        walked += size
        if not found:
            size = 1_024
        else:
            size = min(1_024, max(32, int((wanted - len(found)) * walked / len(found) * 1.25)))


def _walked_too_far(call, plan: "_Plan") -> bool:
    """Whether the list has ``candidates`` tickets or more (so a short page
    may just have stopped there), rather than fewer (all of them were tested)."""
    return plan.candidates.first(call.connection, plan.params)[0] >= plan.params["candidates"]


def search_statement(call, search: Search):
    """The SELECT of ``core.INFO_COLUMNS`` rows for ``search``, one page + 1
    row, with its parameters' values (for EXPLAIN, ``literal_binds``); with
    Text, the shape ``fulltext.plan_text`` chose first."""
    plan = _plan(call, search)
    return plan.query.statement.params(plan.params)


# A Text search walking the list tests at most this many candidates per row
# of the page (and at least MIN_CANDIDATES) before it lets the index drive
# (``run_search``): a text common in the index but rare in this list (a
# group, an address) costs a bounded walk, then what it costs today.
CANDIDATES_PER_ROW = 40
MIN_CANDIDATES = 2_000


@dataclass
class _Plan:
    """A search's statement prepared for its shape and its parameters' values.
    When the list drives a Text search, ``candidates`` counts the list's
    tickets up to the walk's bound and ``fallback`` is the index-driven
    statement (both with the same ``params``)."""

    query: PreparedQuery
    params: dict
    candidates: PreparedQuery | None = None
    fallback: PreparedQuery | None = None
    # SQLite, the list driving: ``query`` is the list without the Text, and
    # ``_walk`` tests its tickets a chunk at a time ((form, include notes)).
    tested: tuple | None = None


def _plan(call, search: Search) -> _Plan:
    """``search`` as statements prepared for its shape and the parameters' values.
    The values of the criteria become bind parameters named after their keys
    (``Priority_0``, ``Priority_1``... for a tuple); a Text's words and
    substring parts are ``fulltext.text_parameters``, and who drives is
    ``fulltext.plan_text``'s choice."""
    if search.is_deleted and not call.principal.has_role(roles.MANAGER):
        raise PermissionDenied("Searching deleted tickets (IsDeleted=true) needs the Manager role.")
    values = dict(search.values)
    if search.status_ids is not None:
        values["StatusIds"] = tuple(sorted(search.status_ids))
    shape = tuple(sorted((key, _form(value)) for key, value in values.items()))
    dialect_name = call.connection.dialect.name
    params = {"viewer": call.principal.user_id, "limit": search.max_results + 1, "offset": search.offset}
    for key, value in values.items():
        if isinstance(value, tuple):
            params.update(("%s_%d" % (key, i), item) for i, item in enumerate(value))
        elif value is not None:
            params[key] = value
    prepared = functools.partial(_prepared_search, dialect_name, core.viewer_kind(call), search.is_deleted, shape,
                                 search.sort_by, search.descending)
    if search.text is None:
        if search.sort_by == "Priority" and _listed_by_owner(search):
            by_priority = _by_priority(call, search, shape, params)
            if by_priority is not None:
                return _Plan(by_priority, params)
        return _Plan(prepared(), params)
    # Customers (not agents) match neither notes nor drafts (``text_condition``).
    form, include_notes = fulltext.text_form(search.text), call.principal.has_role(roles.AGENT)
    if form is None:  # no word: nothing matches
        return _Plan(prepared((None, include_notes, False)), params)
    text = fulltext.plan_text(call.connection, search.text)
    params.update(text.params)
    if not text.list_drives:
        return _Plan(prepared((form, include_notes, False)), params)
    params["candidates"] = max(MIN_CANDIDATES, CANDIDATES_PER_ROW * (search.offset + params["limit"]))
    if dialect_name == "sqlite":
        walk = _prepared_walk(dialect_name, core.viewer_kind(call), search.is_deleted, shape, search.sort_by,
                              search.descending)
        return _Plan(walk, params, fallback=prepared((form, include_notes, False)), tested=(form, include_notes))
    return _Plan(prepared((form, include_notes, True)), params,
                 candidates=_prepared_count(core.viewer_kind(call), search.is_deleted, shape),
                 fallback=prepared((form, include_notes, False)))


def _form(value):
    """What of a criterion's value shapes the SQL: None (IS NULL), a tuple's length, else "value"."""
    if value is None:
        return None
    return len(value) if isinstance(value, tuple) else "value"


# Building the statement costs more than SQLite takes to run it (~1 ms):
# one per criteria shape (few in practice; bounded against odd clients).
@functools.lru_cache(maxsize=256)
def _prepared_search(dialect_name: str, viewer_kind: str, is_deleted: bool, shape: tuple,
                     sort_by: str = DEFAULT_SORT, descending: bool = True, text: tuple | None = None) -> PreparedQuery:
    """The search for one shape of criteria: ``shape`` is ((key, form), ...)
    (``_form``), in the order ``sort_by``/``descending`` (``ordering``).
    The caller's visibility rule is part of it (the viewer's id is the
    parameter ``viewer``), and the page is ``limit``/``offset``. ``text``:
    (``fulltext.text_form``, include notes, the list drives) of a Text
    criterion, or None.

    When the list drives (PostgreSQL; SQLite walks in ``_walk``), the list
    without the text is walked in its own order, at most ``candidates``
    tickets of it (a subquery with that LIMIT), and each is tested
    (``fulltext.ticket_matches``) until the page is full: the outer WHERE is
    evaluated row by row as the subquery yields, in its order (a subquery
    scan under the Limit), so the walk stops with the page."""
    conditions = _list_conditions(viewer_kind, is_deleted, shape)
    order = ordering(dialect_name, sort_by, descending)
    limit, offset = bindparam("limit", type_=Integer), bindparam("offset", type_=Integer)
    if text is not None:
        parts, include_notes, list_drives = text
        if list_drives:
            walked = _walked(core.info_select(), conditions, order).subquery("candidates")
            return PreparedQuery(
                select(*walked.c)
                .where(fulltext.ticket_matches(parts, include_notes, walked.c.id))
                .limit(limit).offset(offset))
        conditions.append(false() if parts is None
                          else Ticket.id.in_(fulltext.matching_ids(dialect_name, parts, include_notes)))
    return PreparedQuery(core.info_select().where(and_(*conditions)).order_by(*order).limit(limit).offset(offset))


def _walked(selected, conditions: list, order: tuple):
    """The list a Text search walks when the list drives: its tickets
    without the Text, in its order, at most ``candidates`` of them."""
    return selected.where(and_(*conditions)).order_by(*order).limit(bindparam("candidates", type_=Integer))


@functools.lru_cache(maxsize=256)
def _prepared_walk(dialect_name: str, viewer_kind: str, is_deleted: bool, shape: tuple, sort_by: str,
                   descending: bool) -> PreparedQuery:
    """SQLite: ``_walked`` as a statement of its own, the ids only (the
    page's rows are read at the end: ``_PAGE_ROWS``), read in chunks by ``_walk``."""
    return PreparedQuery(_walked(select(Ticket.id), _list_conditions(viewer_kind, is_deleted, shape),
                                 ordering(dialect_name, sort_by, descending)))


# SQLite: the rows of a walk's page, by their ids (a JSON array), in no order.
_PAGE_ROWS = PreparedQuery(core.info_select().where(
    Ticket.id.in_(select(literal_column("value")).select_from(func.json_each(bindparam("ids", type_=String))))))


@functools.lru_cache(maxsize=256)
def _prepared_count(viewer_kind: str, is_deleted: bool, shape: tuple) -> PreparedQuery:
    """How many tickets the list of this shape has, counted up to ``candidates``."""
    conditions = _list_conditions(viewer_kind, is_deleted, shape)
    return PreparedQuery(select(func.count().label("tickets")).select_from(
        select(Ticket.id).where(and_(*conditions)).limit(bindparam("candidates", type_=Integer)).subquery()))


def _list_conditions(viewer_kind: str, is_deleted: bool, shape: tuple) -> list:
    """The WHERE conditions of a search of ``shape`` but its Text."""
    # Live tickets: "IS NOT true" rather than "= false" (when ix_tickets_deleted
    # still held every ticket, SQLite without statistics took it for that
    # condition and sorted the whole table: 300 ms instead of 3 ms at 100,000
    # tickets). Deleted ones: drawn from ix_tickets_deleted.
    deleted = Ticket.id.in_(_DELETED) if is_deleted else Ticket.is_deleted.is_not(True)
    conditions = [deleted]
    for key, form in shape:
        conditions.append(_CONDITIONS[key](_placeholder(key, form)))
    visible = core.visible_to(viewer_kind, bindparam("viewer"))
    if visible is not None:
        conditions.append(visible)
    return conditions


# --------------------------------------------------------------- by priority

_PRIORITY_RANKS = PreparedQuery(select(TicketPriority.id, TicketPriority.sort_order)
                                .order_by(TicketPriority.sort_order, TicketPriority.id))


def _listed_by_owner(search: Search) -> bool:
    """Whether ``search`` is a group's or a department's tickets of one
    status (the workspace's lists): each priority's matches are then a range
    of 0018's indexes, in id order. Other searches keep the single sort: a
    branch without such a range would read all its matches (an address's
    tickets, four times) or walk the table in id order hoping for ``depth``
    matches (every ticket, when there are fewer)."""
    owned = "GroupId" in search.values or "DepartmentId" in search.values
    return owned and search.status_ids is not None and len(search.status_ids) == 1


def _by_priority(call, search: Search, shape: tuple, params: dict) -> PreparedQuery | None:
    """The page of a search sorted by priority as the priorities' own pages
    (``_prepared_by_priority``), ``params`` completed for it; None if there
    is no priority to read (the ordinary statement then finds nothing)."""
    wanted = search.values.get("Priority")
    ranks = [row for row in _PRIORITY_RANKS.all(call.connection, {}) if wanted is None or row.id in wanted]
    if not ranks:
        return None
    # Each priority's first offset + limit tickets hold every ticket of the page.
    params["depth"] = search.offset + search.max_results + 1
    for i, row in enumerate(ranks):
        params["by_priority_%d" % i], params["by_rank_%d" % i] = row.id, row.sort_order
    return _prepared_by_priority(call.connection.dialect.name, core.viewer_kind(call), search.is_deleted, shape,
                                 search.descending, len(ranks))


@functools.lru_cache(maxsize=64)
def _prepared_by_priority(dialect_name: str, viewer_kind: str, is_deleted: bool, shape: tuple, descending: bool,
                          priorities: int) -> PreparedQuery:
    """A page sorted by priority (rank, then id) read without sorting every match.

    The rank is ``ticket_priorities.sort_order``, a column of another table,
    so no index of tickets is in rank order and ORDER BY rank sorted every
    matching ticket (a group's 20,000 active ones at 1,000,000 tickets:
    71-94 ms CPU on SQLite). Priorities are few: the page is taken from the
    UNION ALL of one branch per priority (``by_priority_<i>``, its rank
    ``by_rank_<i>``), each the first ``depth`` (offset + page) matches of
    that priority in id order, which (group | department, status, priority,
    id) (migration 0018) gives as an index range. Priorities of equal rank
    are merged by id in the outer ORDER BY, as the single sort would.
    A page deep in a list reads ``depth`` rows per priority; the single
    sort read them all anyway. The branches share the WHERE of
    ``_prepared_search`` for the same shape (``_list_conditions``), so both
    cannot disagree on what matches. Not for Text (``fulltext`` plans it)."""
    where = and_(*_list_conditions(viewer_kind, is_deleted, shape))
    by_id = Ticket.id.desc() if descending else Ticket.id.asc()
    branches = []
    for i in range(priorities):
        rank = cast(bindparam("by_rank_%d" % i, type_=Integer), Integer).label("rank")
        branch = (select(rank, Ticket.id.label("id"))
                  .where(where, Ticket.priority_id == bindparam("by_priority_%d" % i, type_=Integer))
                  .order_by(by_id).limit(bindparam("depth", type_=Integer)).subquery())
        # SQLite takes no LIMIT on a member of a compound SELECT itself.
        branches.append(select(branch.c.rank, branch.c.id))
    merged = union_all(*branches).subquery("by_priority")
    # Paged before the join: only the page's tickets are read for their columns.
    page = (select(merged.c.rank, merged.c.id).order_by(*_in_direction((merged.c.rank, merged.c.id), descending))
            .limit(bindparam("limit", type_=Integer)).offset(bindparam("offset", type_=Integer))
            .subquery("page"))
    return PreparedQuery(core.info_select().join(page, page.c.id == Ticket.id)
                         .order_by(*_in_direction((page.c.rank, page.c.id), descending)))


def _in_direction(keys, descending: bool) -> list:
    return [key.desc() if descending else key.asc() for key in keys]


def _placeholder(key: str, form):
    """What stands for a value of ``form`` in the statement (``_prepared_query`` binds it)."""
    if form is None:
        return None
    if form == "value":
        return bindparam(key)
    # Typed: a parameter in an IN list does not take the column's type.
    return tuple(bindparam("%s_%d" % (key, i), type_=Integer) for i in range(form))


def ordering(dialect_name: str, sort_by: str, descending: bool) -> tuple:
    """ORDER BY of a search: ``sort_by`` (one of SORT_FIELDS), then the id,
    both in one direction."""
    if sort_by == "LastReplyDateUtc":
        if descending:
            return newest_first(dialect_name), Ticket.id.desc()
        # Tickets without a reply last here too (SQLite and PostgreSQL
        # differ on where NULLs go unless told).
        return Ticket.last_reply_utc.asc().nulls_last(), Ticket.id.asc()
    column = {
        "DateOpened": Ticket.date_opened_utc,
        "ID": Ticket.id,
        "TicketNumber": Ticket.ticket_number,
        "Subject": func.lower(Ticket.subject),
        # By rank, not by id: the table's sort_order (Low 1 ... Urgent 4).
        "Priority": select(TicketPriority.sort_order).where(TicketPriority.id == Ticket.priority_id)
        .scalar_subquery(),
        "Customer": func.lower(Ticket.customer_email),
        "Status": Ticket.status_id,
    }[sort_by]
    keys = (column,) if sort_by == "ID" else (column, Ticket.id)
    return tuple(key.desc() if descending else key.asc() for key in keys)


def newest_first(dialect_name: str):
    """Last reply descending, tickets without one last, on every backend.

    SQLite already sorts NULLs last in descending order and can then walk
    ix_tickets_last_reply backwards (an unfiltered page costs a few rows
    instead of a sort); an explicit NULLS LAST would stop it from doing so.
    PostgreSQL sorts NULLs first unless told.
    """
    if dialect_name == "sqlite":
        return Ticket.last_reply_utc.desc()
    return Ticket.last_reply_utc.desc().nulls_last()
