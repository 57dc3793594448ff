"""Agent availability: which groups an agent receives tickets from, handing
tickets back, and assigning the queue when agents start receiving.

Receiving status is the ``group_agents.is_receiving`` flag of each
membership (SmarterTrack's "Active Groups"). An agent who starts receiving
in a group becomes active (``users.is_active_agent``, heartbeat now) and
the group's queued tickets are dealt out to its receiving agents; an agent
who receives in no group any more becomes inactive.

Assignment follows the group's distribution exactly as
``core.pick_agent`` does for one new ticket (round robin: receiving primary
members first, then secondary ones, each in order of who was assigned least
recently; members at their Max Tickets are skipped; pull-from-queue
members never get tickets), but for many tickets at once with a fixed
number of queries: ``plan_assignments`` works out who gets what in memory
and the ticket rows and their history are written in bulk.

``assign_queued_tickets`` and ``hand_off_active_tickets`` take either an
operation's ``Call`` (events name its caller) or a bare SQLAlchemy
``Session`` (events name "system"), so background threads (Ticket Watcher,
Auto-Inactive) can reuse them inside their own transactions.
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from sqlalchemy import bindparam, func, insert, select
from sqlalchemy.orm import lazyload

from stws.db.models import Department, Group, GroupAgent, Ticket, TicketEvent, TicketStatus, User, utcnow
from stws.db.prepared import PreparedQuery
from stws.domain import organization as org
from stws.errors import InvalidArgument, InvalidState
from stws.domain.tickets import core

SYSTEM = "system"
_EARLIEST = dt.datetime.min.replace(tzinfo=dt.timezone.utc)


# --------------------------------------------------------------- call or session


def _session(call_or_session):
    return getattr(call_or_session, "session", call_or_session)


def _actor(call_or_session) -> tuple[int | None, str]:
    principal = getattr(call_or_session, "principal", None)
    if principal is None:
        return None, SYSTEM
    return principal.user_id, principal.username


# --------------------------------------------------------------- the agent


def agent_named(call, agent_user_name: str | None) -> User:
    """The agent an ...AsAdmin operation acts on."""
    if not (agent_user_name or "").strip():
        raise InvalidArgument("agentUserName is empty: give the user name of an agent.")
    user = org.find_user(call, agent_user_name.strip())
    if not org.is_agent(user):
        raise InvalidArgument("User %s is not an agent." % user.username)
    return user


def calling_agent(call) -> User:
    return org.get_user(call, call.principal.user_id)


# --------------------------------------------------------------- receiving status


@dataclass(frozen=True)
class Receiving:
    department_id: int
    department_name: str
    group_id: int
    group_name: str
    is_receiving: bool


def memberships(session, agent_id: int, lock: bool = False) -> list[tuple[GroupAgent, Group, Department]]:
    """The agent's memberships of live groups, by department then group."""
    query = (
        select(GroupAgent, Group, Department)
        .join(Group, Group.id == GroupAgent.group_id)
        .join(Department, Department.id == Group.department_id)
        .where(GroupAgent.user_id == agent_id, Group.is_deleted.is_(False), Department.is_deleted.is_(False))
        .order_by(Department.name, Department.id, Group.name, Group.id)
    )
    if lock:
        query = query.with_for_update(of=GroupAgent)
    return [tuple(row) for row in session.execute(query)]


# ``memberships`` as plain columns on the driver (stws.db.prepared): the
# read needs no Session and three ORM entities per group.
_RECEIVING = PreparedQuery(
    select(Department.id.label("department_id"), Department.name.label("department_name"),
           Group.id.label("group_id"), Group.name.label("group_name"), GroupAgent.is_receiving)
    .join(Group, Group.id == GroupAgent.group_id)
    .join(Department, Department.id == Group.department_id)
    .where(GroupAgent.user_id == bindparam("agent_id"), Group.is_deleted.is_(False),
           Department.is_deleted.is_(False))
    .order_by(Department.name, Department.id, Group.name, Group.id))


def receiving_status(call, agent_id: int) -> list[Receiving]:
    """Whether the agent receives tickets, per group it is a member of (``memberships``' order)."""
    return [Receiving(*row) for row in _RECEIVING.all(call.connection, {"agent_id": agent_id})]


def set_receiving_status(call, agent: User, wanted: list[tuple[int, int, bool]]) -> str:
    """Apply [(department id or 0, group id, receiving), ...] all-or-nothing;
    returns a summary for the result's Message."""
    if not wanted:
        raise InvalidArgument("receivingStatusArr is empty: give one ReceivingStatusInfo (GroupId, IsReceiving) "
                              "per group to change.")
    rows = {group.id: (membership, group, department)
            for membership, group, department in memberships(call.session, agent.id, lock=True)}
    changes: dict[int, bool] = {}
    for department_id, group_id, receiving in wanted:
        if not group_id:
            raise InvalidArgument("A ReceivingStatusInfo has no GroupId.")
        if group_id not in rows:
            raise InvalidArgument("%s is not a member of group %s; GetAgentReceivingStatus lists their groups."
                                  % (agent.username, group_id))
        _, group, department = rows[group_id]
        if department_id and department_id != department.id:
            raise InvalidArgument("Group %s (%s) belongs to department %s, not %s."
                                  % (group.id, group.name, department.id, department_id))
        if changes.get(group_id, receiving) != receiving:
            raise InvalidArgument("Group %s is given twice with different IsReceiving values." % group_id)
        changes[group_id] = bool(receiving)
    return _apply(call, agent, rows, changes)


def set_receiving_for_all_groups(call, agent: User, receiving: bool) -> str:
    rows = {group.id: (membership, group, department)
            for membership, group, department in memberships(call.session, agent.id, lock=True)}
    if not rows and receiving:
        raise InvalidState("%s is not a member of any group, so cannot receive tickets; "
                           "add them to a group first (svcOrganization AddAgentToGroup)." % agent.username)
    return _apply(call, agent, rows, {group_id: bool(receiving) for group_id in rows})


def _apply(call, agent: User, rows: dict, changes: dict[int, bool]) -> str:
    started = [group_id for group_id, receiving in changes.items()
               if receiving and not rows[group_id][0].is_receiving]
    if started and agent.is_locked_out:
        raise InvalidState("%s is locked out and cannot receive tickets." % agent.username)
    for group_id, receiving in changes.items():
        if rows[group_id][0].is_receiving != receiving:  # for rebalance rules' activate/deactivate triggers
            rows[group_id][0].receiving_changed_utc = utcnow()
        rows[group_id][0].is_receiving = receiving
    receiving_groups = [group_id for group_id, (membership, _, _) in rows.items() if membership.is_receiving]
    now = utcnow()
    if started:
        agent.is_active_agent = True
        agent.last_heartbeat_utc = now
    elif not receiving_groups:
        agent.is_active_agent = False
    call.session.flush()
    assigned = sum(assign_queued_tickets(call, group_id) for group_id in sorted(started))
    summary = "%s receives tickets in %d of %d groups" % (agent.username, len(receiving_groups), len(rows))
    if started:
        summary += "; %d queued tickets assigned" % assigned
    return summary + "."


# --------------------------------------------------------------- distribution


def plan_assignments(session, group_id: int, count: int, exclude_agent_id: int | None = None,
                     now: dt.datetime | None = None) -> list[int | None]:
    """Who gets each of ``count`` tickets of ``group_id`` in turn (None: the
    queue), as ``count`` successive ``core.pick_agent`` calls would decide;
    updates the members' ``last_assigned_utc`` the same way (with
    increasing microseconds, so the round robin continues where it stops)."""
    if count <= 0:
        return []
    now = now or utcnow()
    members = session.execute(
        select(GroupAgent, User).options(lazyload(User.roles)).join(User, User.id == GroupAgent.user_id)
        .where(GroupAgent.group_id == group_id, GroupAgent.is_receiving.is_(True),
               GroupAgent.distribution_mode.in_(("primary", "secondary")),
               User.is_deleted.is_(False), User.is_locked_out.is_(False))
        .with_for_update(of=GroupAgent)
    ).all()
    members = [(membership, user) for membership, user in members if user.id != exclude_agent_id]
    if not members:
        return [None] * count
    open_counts = dict(session.execute(
        select(Ticket.agent_id, func.count(Ticket.id)).join(TicketStatus, Ticket.status_id == TicketStatus.id)
        .where(Ticket.agent_id.in_([user.id for _, user in members]), TicketStatus.is_open.is_(True),
               Ticket.is_deleted.is_(False))
        .group_by(Ticket.agent_id)
    ).all())
    tiers = {"primary": [], "secondary": []}
    for membership, user in sorted(members, key=lambda row: (row[0].last_assigned_utc or _EARLIEST, row[1].id)):
        capacity = None
        if membership.max_tickets_enabled:
            capacity = max(0, membership.max_tickets - open_counts.get(user.id, 0))
        tiers[membership.distribution_mode].append([membership, user.id, capacity])
    plan: list[int | None] = []
    for n in range(count):
        chosen = None
        for tier in (tiers["primary"], tiers["secondary"]):
            for index, entry in enumerate(tier):
                if entry[2] is None or entry[2] > 0:
                    chosen = tier.pop(index)
                    tier.append(chosen)  # to the back of its tier: assigned most recently
                    break
            if chosen:
                break
        if chosen is None:
            plan.extend([None] * (count - n))
            break
        if chosen[2] is not None:
            chosen[2] -= 1
        chosen[0].last_assigned_utc = now + dt.timedelta(microseconds=n)
        plan.append(chosen[1])
    return plan


def _open_active_status_ids(session) -> list[int]:
    return list(session.scalars(
        select(TicketStatus.id).where(TicketStatus.is_open.is_(True), TicketStatus.is_active.is_(True))))


def assign_queued_tickets(call_or_session, group_id: int, limit: int | None = None,
                          now: dt.datetime | None = None) -> int:
    """Deal the queued tickets of ``group_id`` (Active, unassigned, not
    deleted, not spam), oldest first, to its receiving agents per its
    distribution; returns how many were assigned. Each assignment is
    recorded in the ticket's history. ``limit``: at most that many of the
    oldest queued tickets (the Ticket Watcher works in bounded batches);
    ``now``: the time recorded (default: the clock)."""
    session = _session(call_or_session)
    session.flush()
    query = (
        select(Ticket.id, Ticket.date_opened_utc)
        .where(Ticket.group_id == group_id, Ticket.agent_id.is_(None), Ticket.is_deleted.is_(False),
               Ticket.is_spam.is_(False), Ticket.status_id.in_(_open_active_status_ids(session)))
        .order_by(Ticket.date_opened_utc, Ticket.id)
        .with_for_update(skip_locked=True)
    )
    if limit is not None:
        query = query.limit(limit)
    queued = session.execute(query).all()
    if not queued:
        return 0
    now = now or utcnow()
    plan = plan_assignments(session, group_id, len(queued), now=now)
    moves = [(ticket_id, agent_id) for (ticket_id, _), agent_id in zip(queued, plan) if agent_id is not None]
    names = _usernames(session, {agent_id for _, agent_id in moves})
    _write(call_or_session, now, [
        (ticket_id, agent_id, "Assigned", "Assigned to %s" % names[agent_id], "from the queue of its group")
        for ticket_id, agent_id in moves
    ])
    return len(moves)


@dataclass
class HandOff:
    handed_off: int = 0
    reassigned: int = 0
    queued: int = 0
    pinned_kept: int = 0

    def message(self) -> str:
        text = "%d active tickets handed off (%d to other agents, %d to the queue)" % (
            self.handed_off, self.reassigned, self.queued)
        if self.pinned_kept:
            text += "; %d pinned tickets kept" % self.pinned_kept
        return text + "."


def hand_off_active_tickets(call_or_session, agent_id: int) -> HandOff:
    """Give the agent's open Active tickets back to their groups: each goes
    to another agent of its group per the group's distribution (this agent
    excluded) or to the group's queue, with a history event.

    Waiting tickets stay (their owner handles the customer's reply), and so
    do tickets pinned to the agent (pinning means "keep it with this agent";
    unpin or transfer them to move them). Deleted tickets are left alone.
    """
    session = _session(call_or_session)
    session.flush()
    rows = session.execute(
        select(Ticket.id, Ticket.group_id, Ticket.is_pinned_to_agent)
        .where(Ticket.agent_id == agent_id, Ticket.is_deleted.is_(False),
               Ticket.status_id.in_(_open_active_status_ids(session)))
        .order_by(Ticket.group_id, Ticket.date_opened_utc, Ticket.id)
        .with_for_update()
    ).all()
    result = HandOff(pinned_kept=sum(1 for row in rows if row.is_pinned_to_agent))
    by_group: dict[int, list[int]] = {}
    for row in rows:
        if not row.is_pinned_to_agent:
            by_group.setdefault(row.group_id, []).append(row.id)
    if not by_group:
        return result
    now = utcnow()
    old_name = _usernames(session, {agent_id})[agent_id]
    group_names = dict(session.execute(select(Group.id, Group.name).where(Group.id.in_(by_group))).all())
    planned = []
    for group_id, ticket_ids in sorted(by_group.items()):
        plan = plan_assignments(session, group_id, len(ticket_ids), exclude_agent_id=agent_id, now=now)
        planned.extend((ticket_id, new_agent, group_id) for ticket_id, new_agent in zip(ticket_ids, plan))
    names = _usernames(session, {new_agent for _, new_agent, _ in planned if new_agent})
    moves = []
    for ticket_id, new_agent, group_id in planned:
        if new_agent:
            target = "assigned to %s" % names[new_agent]
            result.reassigned += 1
        else:
            target = "placed in the queue of %s" % group_names.get(group_id, "its group")
            result.queued += 1
        moves.append((ticket_id, new_agent, "HandedOff", "Handed off by %s: %s" % (old_name, target),
                      "previous agent: %s" % old_name))
    result.handed_off = len(moves)
    _write(call_or_session, now, moves)
    return result


def _usernames(session, user_ids) -> dict[int, str]:
    if not user_ids:
        return {}
    return dict(session.execute(select(User.id, User.username).where(User.id.in_(user_ids))).all())


def _write(call_or_session, now: dt.datetime, moves) -> None:
    """Set agent_id of each ticket and record its event, in two bulk statements.

    ``moves``: [(ticket id, new agent id or None, event type, description, details)].
    """
    if not moves:
        return
    session = _session(call_or_session)
    user_id, user_name = _actor(call_or_session)
    table = Ticket.__table__
    session.execute(
        table.update().where(table.c.id == bindparam("b_id")).values(
            agent_id=bindparam("b_agent"), hold_start_assigned_utc=bindparam("b_hold"), is_pinned_to_agent=False),
        [{"b_id": ticket_id, "b_agent": agent_id, "b_hold": now if agent_id else None}
         for ticket_id, agent_id, _, _, _ in moves],
    )
    session.execute(insert(TicketEvent.__table__), [
        {"ticket_id": ticket_id, "event_type": kind, "description": description, "details": details,
         "user_id": user_id, "user_name": user_name, "date_utc": now}
        for ticket_id, _, kind, description, details in moves
    ])
    # Ticket objects this session already holds would be stale now.
    moved = {ticket_id for ticket_id, _, _, _, _ in moves}
    for instance in list(session.identity_map.values()):
        if isinstance(instance, Ticket) and instance.id in moved:
            session.expire(instance)


# --------------------------------------------------------------- signature

_LOOKS_LIKE_HTML = re.compile(r"<\s*(/?[a-zA-Z][a-zA-Z0-9]*)(\s[^>]*)?/?\s*>|&[a-zA-Z]+;|&#\d+;")


def signature(call, department_id: int, group_id: int, plain_text: bool) -> str:
    """The calling agent's signature, as plain text or HTML.

    Signatures are stored as entered (svcOrganization SetUsersProperties
    Signature=...): one containing markup is taken as HTML, anything else as
    plain text, and converted to what was asked for. Non-zero department and
    group ids must exist (and the group belong to the department).
    """
    department = org.get_department(call, department_id) if department_id else None
    group = org.get_group(call, group_id) if group_id else None
    if department is not None and group is not None and group.department_id != department.id:
        raise InvalidArgument("Group %s does not belong to department %s." % (group.id, department.id))
    stored = (calling_agent(call).signature or "").strip()
    if not stored:
        return ""
    is_html = bool(_LOOKS_LIKE_HTML.search(stored))
    if plain_text:
        return core.html_to_text(stored) if is_html else stored
    return stored if is_html else core.text_to_html(stored)
