"""A ticket's lifecycle: counts of tickets by state, closing, deleting,
status, its address in the management interface and related items.

Counting buckets (GetTicketCounts_*, GetGroupTicketInfo), over tickets that
are not deleted:

* active    - status is open and active (Active)
* waiting   - status is open and not active (Waiting)
* follow-up - a follow-up is scheduled (``requires_follow_up``), whatever
  the status; such a ticket is also counted in its status bucket
* queued    - active and assigned to no agent

Counts are read from the tallies the database keeps exact in every
writing transaction (stws.domain.tickets.tallies); only a customer's own
counts are GROUP BY queries over their tickets, filtered with ``status_id
IN (...)`` lists (read from the small status table) so the indexes serve
them.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import quote

from sqlalchemy import and_, bindparam, case, func, or_, select

from stws.db.models import (
    CallLog, Department, Group, GroupAgent, Ticket, TicketComment, TicketLink, TicketStatus, utcnow,
)
from stws.db.prepared import PreparedQuery
from stws.domain import validation
from stws.domain.directory import Listing
from stws.errors import AlreadyExists, InvalidArgument, InvalidState, NotFound
from stws.shared_values import SharedValues
from stws.domain.tickets import core, fields, tallies

GENERAL_COMMENT, RESOLUTION_COMMENT = 1, 2  # comment_types: General, Resolution
MAX_COMMENT_LENGTH = 100_000
TICKET_PAGE = "/Main/frmTicket.aspx"


# --------------------------------------------------------------- statuses


@dataclass(frozen=True)
class StatusSets:
    open: tuple
    active: tuple
    waiting: tuple


def status_sets(session) -> StatusSets:
    """Ids of the open, active and waiting statuses (statuses are data)."""
    rows = session.execute(select(TicketStatus.id, TicketStatus.is_open, TicketStatus.is_active)).all()
    return StatusSets(
        open=tuple(sorted(i for i, is_open, _ in rows if is_open)),
        active=tuple(sorted(i for i, is_open, is_active in rows if is_open and is_active)),
        waiting=tuple(sorted(i for i, is_open, is_active in rows if is_open and not is_active)),
    )


# --------------------------------------------------------------- counts


@dataclass(frozen=True)  # shared between calls (``shared_counts``)
class Counts:
    brand_id: int
    department_id: int
    group_id: int
    user_id: int  # agent, 0 = unassigned
    active: int = 0
    waiting: int = 0
    follow_up: int = 0


def _count_columns(statuses: StatusSets):
    def tally(condition):
        return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)

    return (
        tally(Ticket.status_id.in_(statuses.active)),
        tally(Ticket.status_id.in_(statuses.waiting)),
        tally(Ticket.requires_follow_up.is_(True)),
    )


def _counted(statuses: StatusSets):
    """Tickets that count at all: not deleted, and open or awaiting a follow-up."""
    return and_(Ticket.is_deleted.is_not(True),
                or_(Ticket.status_id.in_(statuses.open), Ticket.requires_follow_up.is_(True)))


def agent_counts(call) -> list[Counts]:
    """The caller's own tickets per (brand, department, group); every group
    the caller belongs to has a row, with zeros if need be."""
    user_id = call.principal.user_id
    found = {(b, d, g): Counts(b, d, g, user_id, a, w, f)
             for b, d, g, a, w, f in tallies.of_agent(call.connection, user_id)}
    return with_member_groups(call, found)


# The count operations run on the driver (stws.db.prepared), as the
# tallies they read do: a Session would cost more than the sums.
_MEMBER_GROUPS = PreparedQuery(
    select(Department.brand_id, Group.department_id, Group.id)
    .join(GroupAgent, GroupAgent.group_id == Group.id)
    .join(Department, Department.id == Group.department_id)
    .where(GroupAgent.user_id == bindparam("user_id"), Group.is_deleted.is_(False)))
_GROUPS_OF_MEMBER = PreparedQuery(
    select(Group.id, Group.name, Group.department_id)
    .join(GroupAgent, GroupAgent.group_id == Group.id)
    .where(GroupAgent.user_id == bindparam("user_id"), Group.is_deleted.is_(False))
    .order_by(Group.id))


def with_member_groups(call, found: dict) -> list[Counts]:
    """``found`` ({(brand, department, group): Counts} of the caller's own
    tickets) with a zero entry for each other group the caller belongs to,
    sorted; shared with the counts table (stws.domain.tickets.counts)."""
    user_id = call.principal.user_id
    for b, d, g in _MEMBER_GROUPS.all(call.connection, {"user_id": user_id}):
        found.setdefault((b, d, g), Counts(b, d, g, user_id))
    return [found[k] for k in sorted(found)]


# GetTicketCounts_Global answers the same rows call after call (about 70
# at a million tickets; the counts table changes once per Event Processing
# run, the tallies with each ticket change), and turning them into objects
# and XML cost more than summing them. So the Counts of the rows read are
# made once and shared, as a Listing (stws.domain.directory) whose SOAP
# objects and XML the front door makes once too. The key is the rows the
# call read in its own transaction: an answer is always what that read
# says, whatever changed, on this node or another. Few distinct answers
# are asked for (one for managers, one per agent's set of groups); at most
# 64 are kept.
_SHARED_COUNTS = SharedValues(most=64)


def _listing_of(rows: tuple) -> Listing:
    return Listing(Counts(*(int(v) for v in row)) for row in rows)


def shared_counts(rows) -> Listing:
    """The Counts of ``rows`` ((brand, department, group, agent, active,
    waiting, follow_up) each, as read), the same Listing for equal rows."""
    return _SHARED_COUNTS.get(tuple(rows), _listing_of)


def global_counts(call) -> Sequence[Counts]:
    """Per (brand, department, group, agent) over every ticket the caller
    can see; only combinations with at least one counted ticket (for staff
    a Listing shared by calls that read the same counts: ``shared_counts``)."""
    kind = core.viewer_kind(call)
    if kind != "customer":
        return shared_counts(tallies.combination_rows(call.connection, kind, call.principal.user_id))
    statuses = status_sets(call.session)
    agent = func.coalesce(Ticket.agent_id, 0)
    key = (Ticket.brand_id, Ticket.department_id, Ticket.group_id, agent)
    query = select(*key, *_count_columns(statuses)).where(_counted(statuses))
    visible = core.visibility_filter(call)
    if visible is not None:
        query = query.where(visible)
    rows = call.session.execute(query.group_by(*key).order_by(*key)).all()
    return [Counts(b, d, g, u, int(a), int(w), int(f)) for b, d, g, u, a, w, f in rows]


def open_ticket_count(call) -> int:
    """Open (Active or Waiting) tickets the caller can see: from the tallies
    (exact, a few hundred rows summed), or for a customer, their own
    tickets counted."""
    kind = core.viewer_kind(call)
    if kind != "customer":
        return tallies.open_count(call.connection, kind, call.principal.user_id)
    statuses = status_sets(call.session)
    query = select(func.count(Ticket.id)).where(
        Ticket.status_id.in_(statuses.open), Ticket.is_deleted.is_not(True))
    visible = core.visibility_filter(call)
    if visible is not None:
        query = query.where(visible)
    return int(call.session.scalar(query))


def group_ticket_info(call) -> list[str]:
    """``Group.<id>.<Key>=<value>`` for each group the caller belongs to,
    groups in id order, keys Name, DepartmentId, Active, Waiting, Queued,
    FollowUp (over all tickets of the group, not only the caller's)."""
    groups = _GROUPS_OF_MEMBER.all(call.connection, {"user_id": call.principal.user_id})
    if not groups:
        return []
    counts = tallies.of_groups_of(call.connection, call.principal.user_id)
    items = []
    for group_id, name, department_id in groups:
        a, w, f, q = counts.get(group_id, (0, 0, 0, 0))
        prefix = "Group.%d." % group_id
        items += [prefix + "Name=" + name, prefix + "DepartmentId=%d" % department_id,
                  prefix + "Active=%d" % a, prefix + "Waiting=%d" % w, prefix + "Queued=%d" % q,
                  prefix + "FollowUp=%d" % f]
    return items


# --------------------------------------------------------------- changes


def add_comment(call, ticket: Ticket, text: str, comment_type_id: int = GENERAL_COMMENT) -> TicketComment:
    comment = TicketComment(ticket_id=ticket.id, comment_type_id=comment_type_id, user_id=call.principal.user_id,
                            text=text, is_html=False, date_entered_utc=utcnow())
    call.session.add(comment)
    call.session.flush()
    return comment


def close_ticket(call, number: str, comment: str | None) -> Ticket:
    """Closed status, DateClosed, and the comment (if any) as a Resolution note.

    A Resolution, not a General note: it is what the ticket's closing says
    (as TransferTicket's comment is a Transfer note), SmarterTrack lists it
    as a resolution comment (TicketPartInfo.Type 12), and the Auto-Purge
    keeps a deleted ticket that has one, as SmarterTrack keeps tickets with
    resolutions (README, svcTickets).

    Agents must first fill in the custom fields the ticket's template
    requires for closing (fields.require_fields_to_close)."""
    ticket = core.get_ticket_by_number(call, number)
    core.require_changeable(call, ticket)
    status = core.status_of(call.session, ticket)
    if not status.is_open:
        raise InvalidState("Ticket %s is already %s." % (ticket.ticket_number, status.display_name))
    text = validation.name(comment, "closing comment", MAX_COMMENT_LENGTH, required=False)
    closed = call.session.get(TicketStatus, core.CLOSED)
    fields.require_fields_to_close(call, ticket, closed)
    core.set_status(call, ticket, closed, "Closed with a resolution" if text else "Closed")
    if text:
        note = add_comment(call, ticket, text, RESOLUTION_COMMENT)
        core.record_event(call, ticket, "CommentAdded", "Resolution comment added", "comment %d" % note.id)
    return ticket


def delete_ticket(call, ticket_id: int) -> Ticket:
    """Soft delete: the purge removes the row and its files later."""
    ticket = core.get_ticket(call, ticket_id)
    now = utcnow()
    ticket.is_deleted = True
    ticket.date_deleted_utc = now
    core.touch(ticket, now)
    core.record_event(call, ticket, "Deleted", "Ticket deleted", when=now)
    return ticket


_STATUS_NAME = core.VisibleTicketQuery(
    select(TicketStatus.display_name).select_from(Ticket).join(TicketStatus, TicketStatus.id == Ticket.status_id))


def ticket_status_name(call, number: str) -> str:
    return _STATUS_NAME.by_number(call, number).display_name


def ticket_url(call, number: str) -> str:
    ticket = core.get_ticket_by_number(call, number)
    base = (call.runtime.base_url or call.runtime.config.public_url or "").rstrip("/")
    if not base:
        raise InvalidState("The server does not know its public URL yet; set public-url in the configuration.")
    return "%s%s?ticket=%s" % (base, TICKET_PAGE, quote(ticket.ticket_number, safe=""))


# --------------------------------------------------------------- related items


def _visible_call_log(call, number: str) -> CallLog | None:
    log = call.session.scalars(select(CallLog).where(CallLog.call_number == number)).first()
    if log is None or log.is_deleted:
        return None
    if core.sees_all_tickets(call):
        return log
    if log.agent_id == call.principal.user_id or log.group_id in core.agent_group_ids(call):
        return log
    return None


def add_related_item(call, number: str, related_number: str) -> TicketLink:
    """Relate a ticket to another ticket (by ticket number) or a call log
    (by call number); a ticket number wins if both tables have it."""
    ticket = core.get_ticket_by_number(call, number)
    related = (related_number or "").strip().lstrip("#")
    if not related:
        raise InvalidArgument("No relatedItemNumber was given (a ticket number or a call number).")
    if related.upper() == ticket.ticket_number:
        raise InvalidArgument("A ticket cannot be related to itself.")
    core.require_changeable(call, ticket)
    try:
        other = core.get_ticket_by_number(call, related)
    except NotFound:
        other = None
    log = None if other is not None else _visible_call_log(call, related)
    if other is None and log is None:
        raise NotFound("There is no ticket or call log numbered %s that you can see." % related)
    column, target, what = ((TicketLink.linked_ticket_id, other.id, "ticket %s" % other.ticket_number)
                            if other is not None else
                            (TicketLink.linked_call_log_id, log.id, "call log %s" % log.call_number))
    duplicate = call.session.scalar(select(TicketLink.id).where(TicketLink.ticket_id == ticket.id, column == target))
    if duplicate is not None:
        raise AlreadyExists("Ticket %s is already related to %s." % (ticket.ticket_number, what))
    link = TicketLink(ticket_id=ticket.id, date_created_utc=utcnow(),
                      linked_ticket_id=other.id if other is not None else None,
                      linked_call_log_id=log.id if log is not None else None)
    call.session.add(link)
    core.touch(ticket)
    core.record_event(call, ticket, "RelatedItemAdded", "Related to %s" % what)
    return link
