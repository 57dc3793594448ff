"""What the Ticket Watcher does to tickets, one rule per function.

Each function takes a session and ``now`` (the run's time; tests pass a
clock's) and a row ``limit``, changes at most that many tickets with
set-based statements and returns how many it changed; the job calls it in
short transactions until it returns less than asked (see
``stws.workers.jobs.ticket_watcher``). Every change records a ticket event
by "system".

Auto-close (department ``auto_close_enabled``)
    Waiting tickets idle since before ``now - auto_close_hours`` become
    Closed: ``date_closed_utc`` and ``idle_start_utc`` = now. With
    ``auto_close_send_email`` the customer gets a short closing notice
    through the outgoing spool, in the same transaction (none to tickets
    marked spam or without a well-formed address); such departments close at
    most ``NOTICE_BATCH`` tickets per transaction.

Auto-lock (``auto_lock_enabled``)
    Closed tickets closed before ``now - auto_lock_hours`` become Closed
    and Locked. A closed ticket without ``date_closed_utc`` (created closed)
    counts from ``idle_start_utc``.

Auto-delete (``auto_delete_enabled``)
    Tickets of a closed status (Closed, Closed and Locked) closed before
    ``now - auto_delete_days`` are soft-deleted (``is_deleted``,
    ``date_deleted_utc``); the Auto-Purge thread removes them 90 days later.

Cut-offs are strict ("older than"): a ticket idle exactly
``auto_close_hours`` is closed on the next run. Deleted departments' tickets
are left alone.

Follow-ups are ``transfer.apply_due_follow_ups``; queued tickets go out per
the group's distribution with ``agents.assign_queued_tickets``.

Rebalance rules (``rebalance_rules``)
    A rule is due when, since its last run (or its creation, before the
    first run): its interval has elapsed; one of its times of day (UTC) has
    passed; or (with the activate/deactivate triggers) an agent it covers
    started/stopped receiving tickets in its group
    (``group_agents.receiving_changed_utc``, set by the receiving-status
    code). Running it: the group's open Active tickets (not deleted, not
    spam) assigned to the agents the rule covers (its agents, or every
    member of the group with ``include_all_agents``) are spread evenly over
    those of them who receive in the group now (whatever their distribution
    mode: the rule names them) and are not locked out: first the tickets of
    covered agents who do not receive, then from the most to the least
    loaded until loads differ by at most one. A receiving agent at their
    Max Tickets (open tickets of every group, as distribution counts them)
    gets nothing more. Pinned tickets never move, nor do tickets within a
    hold: ``hold_start_{compose,read,assigned,pinned}_utc`` later than
    ``now`` minus the rule's hold seconds of that kind. The newest tickets
    move first; each move resets the assigned hold and records a
    "Rebalanced" event. Rules of deleted groups do not run.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, insert, literal, null, select, update

from stws.db.models import (
    Department, Group, GroupAgent, RebalanceRule, RebalanceRuleAgent, Ticket, TicketEvent, TicketMessage,
    TicketStatus, User, UtcDateTime,
)
from stws.domain import validation
from stws.domain.tickets import agents as agent_rules
from stws.domain.tickets import core

SYSTEM = "system"
# Tickets closed with a closing notice per transaction (see auto_close).
NOTICE_BATCH = 200
_EVENT_COLUMNS = ["ticket_id", "date_utc", "user_id", "user_name", "event_type", "description", "details"]
_SYNC = {"synchronize_session": False}


# --------------------------------------------------------------- helpers


def _record(session, ids, now, event_type: str, description: str, details) -> None:
    """One event per ticket of ``ids``, set-based; ``details`` is text or a
    SQL expression over the ticket's columns."""
    if isinstance(details, str):
        details = literal(details)
    session.execute(insert(TicketEvent).from_select(_EVENT_COLUMNS, select(
        Ticket.id, literal(now, UtcDateTime()), null(), literal(SYSTEM), literal(event_type),
        literal(description[:1000]), details,
    ).where(Ticket.id.in_(ids))))


def _status_names(session) -> dict[int, str]:
    return dict(session.execute(select(TicketStatus.id, TicketStatus.display_name)).all())


def _departments(session, flag):
    return session.scalars(
        select(Department).where(flag.is_(True), Department.is_deleted.is_(False)).order_by(Department.id)
    ).all()


def _ids(session, query, limit: int) -> list[int]:
    # FOR UPDATE SKIP LOCKED (PostgreSQL): a ticket an operation is changing
    # right now is left for the next run; SQLite's write lock covers it.
    return list(session.scalars(query.limit(limit).with_for_update(skip_locked=True)))


def _closed_before(session, status_ids, department_id: int, cutoff: dt.datetime, limit: int) -> list[int]:
    """Live tickets of ``status_ids`` in the department closed before ``cutoff``,
    oldest first (ix_tickets_closed_due); those without a closing date count
    from their idle start."""
    base = (Ticket.is_deleted.is_(False), Ticket.status_id.in_(status_ids), Ticket.department_id == department_id)
    ids = _ids(session, select(Ticket.id).where(*base, Ticket.date_closed_utc < cutoff)
               .order_by(Ticket.date_closed_utc, Ticket.id), limit)
    if len(ids) < limit:
        ids += _ids(session, select(Ticket.id).where(*base, Ticket.date_closed_utc.is_(None),
                                                     Ticket.idle_start_utc < cutoff)
                    .order_by(Ticket.idle_start_utc, Ticket.id), limit - len(ids))
    return ids


# --------------------------------------------------------------- auto-close / lock / delete


def auto_close(session, now: dt.datetime, limit: int) -> int:
    """Close due waiting tickets; departments that email the closing notice
    take at most ``NOTICE_BATCH`` tickets per call (composing a notice costs
    a few milliseconds, and all of them are in this write transaction)."""
    names = _status_names(session)
    changed, notices_left = 0, NOTICE_BATCH
    for department in _departments(session, Department.auto_close_enabled):
        if changed >= limit:
            break
        wanted = limit - changed
        if department.auto_close_send_email:
            wanted = min(wanted, notices_left)
            if wanted <= 0:
                continue
        cutoff = now - dt.timedelta(hours=department.auto_close_hours)
        ids = _ids(session, select(Ticket.id).where(
            Ticket.status_id == core.WAITING, Ticket.department_id == department.id,
            Ticket.idle_start_utc < cutoff, Ticket.is_deleted.is_(False),
        ).order_by(Ticket.idle_start_utc, Ticket.id), wanted)
        if not ids:
            continue
        if department.auto_close_send_email:
            notices_left -= len(ids)
        notify = _notified(session, ids) if department.auto_close_send_email else []
        description = "Status changed from %s to %s" % (names.get(core.WAITING, "Waiting"),
                                                         names.get(core.CLOSED, "Closed"))
        details = literal("Auto-close: waiting for more than %d hours (department %s)" % (
            department.auto_close_hours, department.name))
        if notify:
            _record(session, notify, now, "StatusChanged", description,
                    details + literal("; closing notice emailed to ") + Ticket.customer_email)
        quiet = sorted(set(ids) - set(notify))
        if quiet:
            _record(session, quiet, now, "StatusChanged", description, details)
        session.execute(update(Ticket).where(Ticket.id.in_(ids)).values(
            status_id=core.CLOSED, date_closed_utc=now, idle_start_utc=now, date_modified_utc=now,
            is_indexed=False,
        ).execution_options(**_SYNC))
        if notify:
            _send_closing_notices(session, department, notify)
        changed += len(ids)
    return changed


def _notified(session, ids: list[int]) -> list[int]:
    """The tickets of ``ids`` whose customer gets a closing notice: not spam,
    with a well-formed address."""
    rows = session.execute(select(Ticket.id, Ticket.customer_email).where(
        Ticket.id.in_(ids), Ticket.is_spam.is_(False))).all()
    return sorted(row.id for row in rows if validation.EMAIL_RE.match(row.customer_email or ""))


CLOSING_NOTICE = """Hello,

your ticket {number} ("{subject}") has been closed because we have not
heard back from you for {hours} hours.

If you still need help, simply reply to this email; please keep the
ticket number {number} in the subject.

{department}
"""


def _send_closing_notices(session, department: Department, ids: list[int]) -> None:
    """One spool row per ticket (to its customer), in the caller's transaction."""
    from stws.domain.outgoing_mail import queue_ticket_email, sender_address

    tickets = session.scalars(select(Ticket).where(Ticket.id.in_(ids)).order_by(Ticket.id)
                              .execution_options(populate_existing=True)).all()
    sender = sender_address(session, department)
    # The spool rows are flushed together at the end, not one by one before
    # each of queue_ticket_email's queries.
    with session.no_autoflush:
        for ticket in tickets:
            # Not kept in the conversation (the history event says it was sent):
            # the message only carries subject and body into the spool row.
            notice = TicketMessage(
                ticket_id=ticket.id, direction=core.OUTGOING, subject="Closed: %s" % ticket.subject,
                body_text=CLOSING_NOTICE.format(number=ticket.ticket_number, subject=ticket.subject,
                                                hours=department.auto_close_hours, department=department.name),
            )
            queue_ticket_email(session, ticket, notice, [ticket.customer_email], from_address=sender)
    session.flush()


def auto_lock(session, now: dt.datetime, limit: int) -> int:
    names = _status_names(session)
    changed = 0
    for department in _departments(session, Department.auto_lock_enabled):
        if changed >= limit:
            break
        cutoff = now - dt.timedelta(hours=department.auto_lock_hours)
        ids = _closed_before(session, [core.CLOSED], department.id, cutoff, limit - changed)
        if not ids:
            continue
        _record(session, ids, now, "StatusChanged", "Status changed from %s to %s" % (
            names.get(core.CLOSED, "Closed"), names.get(core.CLOSED_AND_LOCKED, "Closed and Locked")),
            "Auto-lock: closed for more than %d hours (department %s)" % (
                department.auto_lock_hours, department.name))
        session.execute(update(Ticket).where(Ticket.id.in_(ids)).values(
            status_id=core.CLOSED_AND_LOCKED, idle_start_utc=now, date_modified_utc=now, is_indexed=False,
        ).execution_options(**_SYNC))
        changed += len(ids)
    return changed


def auto_delete(session, now: dt.datetime, limit: int) -> int:
    closed = list(session.scalars(select(TicketStatus.id).where(TicketStatus.is_open.is_(False))))
    changed = 0
    for department in _departments(session, Department.auto_delete_enabled):
        if changed >= limit:
            break
        cutoff = now - dt.timedelta(days=department.auto_delete_days)
        ids = _closed_before(session, closed, department.id, cutoff, limit - changed)
        if not ids:
            continue
        _record(session, ids, now, "Deleted", "Ticket deleted",
                "Auto-delete: closed for more than %d days (department %s)" % (
                    department.auto_delete_days, department.name))
        session.execute(update(Ticket).where(Ticket.id.in_(ids)).values(
            is_deleted=True, date_deleted_utc=now, date_modified_utc=now, is_indexed=False,
        ).execution_options(**_SYNC))
        changed += len(ids)
    return changed


# --------------------------------------------------------------- queued tickets


def groups_with_queue(session) -> list[int]:
    """Groups holding queued tickets (Active, unassigned, live, not spam) that
    have a receiving round-robin agent to give them to."""
    round_robin = select(GroupAgent.group_id).join(User, User.id == GroupAgent.user_id).where(
        GroupAgent.is_receiving.is_(True), GroupAgent.distribution_mode.in_(("primary", "secondary")),
        User.is_deleted.is_(False), User.is_locked_out.is_(False))
    active = select(TicketStatus.id).where(TicketStatus.is_open.is_(True), TicketStatus.is_active.is_(True))
    return list(session.scalars(
        select(Ticket.group_id).distinct().where(
            Ticket.agent_id.is_(None), Ticket.status_id.in_(active), Ticket.is_deleted.is_(False),
            Ticket.is_spam.is_(False), Ticket.group_id.in_(round_robin),
        ).order_by(Ticket.group_id)
    ))


def assign_queued(session, group_id: int, now: dt.datetime, limit: int) -> int:
    return agent_rules.assign_queued_tickets(session, group_id, limit=limit, now=now)


# --------------------------------------------------------------- rebalance rules


def rule_times(rule: RebalanceRule) -> list[dt.time]:
    return [t for t in (rule.execute_at_time_utc_1, rule.execute_at_time_utc_2, rule.execute_at_time_utc_3) if t]


def _covered(session, rule: RebalanceRule) -> set[int] | None:
    """The user ids of the agents the rule names; None: every member of its group."""
    if rule.include_all_agents:
        return None
    return set(session.scalars(select(RebalanceRuleAgent.user_id).where(RebalanceRuleAgent.rule_id == rule.id)))


def why_due(session, rule: RebalanceRule, now: dt.datetime) -> str | None:
    """Why ``rule`` runs now ("interval", "time 08:00 UTC", ...), or None."""
    since = rule.date_last_run_utc or rule.date_created_utc
    if rule.execute_on_interval_seconds > 0 and now >= since + dt.timedelta(seconds=rule.execute_on_interval_seconds):
        return "every %d seconds" % rule.execute_on_interval_seconds
    today = now.astimezone(dt.timezone.utc).date()
    for at in rule_times(rule):
        latest = dt.datetime.combine(today, at, tzinfo=dt.timezone.utc)
        if latest > now:
            latest -= dt.timedelta(days=1)
        if latest > since:
            return "at %s UTC" % at.strftime("%H:%M")
    wanted = [flag for flag, on in ((True, rule.execute_on_agent_activate), (False, rule.execute_on_agent_deactivate))
              if on]
    if wanted:
        query = select(User.username, GroupAgent.is_receiving).join(User, User.id == GroupAgent.user_id).where(
            GroupAgent.group_id == rule.group_id, GroupAgent.receiving_changed_utc > since,
            GroupAgent.receiving_changed_utc <= now, GroupAgent.is_receiving.in_(wanted))
        covered = _covered(session, rule)
        if covered is not None:
            query = query.where(GroupAgent.user_id.in_(covered or [0]))
        row = session.execute(query.order_by(GroupAgent.receiving_changed_utc).limit(1)).first()
        if row is not None:
            return "%s %s receiving" % (row.username, "started" if row.is_receiving else "stopped")
    return None


@dataclass
class _Member:
    user_id: int
    load: int = 0  # the group's Active tickets it holds
    room: int | None = None  # how many more open tickets it may take (None: no limit)
    order: int = 0

    def can_take(self) -> bool:
        return self.room is None or self.room > 0


def rebalance(session, rule: RebalanceRule, now: dt.datetime, reason: str, limit: int) -> int:
    """Run ``rule`` once; returns how many tickets moved (at most ``limit``)."""
    group = session.get(Group, rule.group_id)
    if group is None or group.is_deleted:
        return 0
    covered = _covered(session, rule)
    members = session.execute(
        select(GroupAgent, User.is_deleted, User.is_locked_out).join(User, User.id == GroupAgent.user_id)
        .where(GroupAgent.group_id == group.id).order_by(GroupAgent.user_id)
    ).all()
    if covered is None:
        covered = {membership.user_id for membership, _, _ in members}
    targets = {membership.user_id: (membership, index) for index, (membership, deleted, locked) in enumerate(members)
               if membership.user_id in covered and membership.is_receiving and not deleted and not locked}
    if not targets or not covered:
        return 0
    active = select(TicketStatus.id).where(TicketStatus.is_open.is_(True), TicketStatus.is_active.is_(True))
    rows = session.execute(
        select(Ticket.id, Ticket.agent_id, Ticket.is_pinned_to_agent, Ticket.hold_start_compose_utc,
               Ticket.hold_start_read_utc, Ticket.hold_start_assigned_utc, Ticket.hold_start_pinned_utc)
        .where(Ticket.group_id == group.id, Ticket.agent_id.in_(covered), Ticket.status_id.in_(active),
               Ticket.is_deleted.is_(False), Ticket.is_spam.is_(False))
        .order_by(Ticket.date_opened_utc, Ticket.id)
        .with_for_update(skip_locked=True)
    ).all()
    if not rows:
        return 0
    holds = [(now - dt.timedelta(seconds=seconds), index) for index, seconds in (
        (3, rule.hold_seconds_compose), (4, rule.hold_seconds_read), (5, rule.hold_seconds_assigned),
        (6, rule.hold_seconds_pinned)) if seconds > 0]

    def movable(row) -> bool:
        if row.is_pinned_to_agent:
            return False
        return not any(row[index] is not None and row[index] > cutoff for cutoff, index in holds)

    open_counts = dict(session.execute(
        select(Ticket.agent_id, func.count(Ticket.id)).join(TicketStatus, Ticket.status_id == TicketStatus.id)
        .where(Ticket.agent_id.in_(targets), TicketStatus.is_open.is_(True), Ticket.is_deleted.is_(False))
        .group_by(Ticket.agent_id)
    ).all())
    loads = {}
    for user_id, (membership, index) in targets.items():
        room = None
        if membership.max_tickets_enabled:
            room = max(0, membership.max_tickets - open_counts.get(user_id, 0))
        loads[user_id] = _Member(user_id, room=room, order=index)
    pool, held_by = [], {user_id: [] for user_id in targets}
    for row in rows:
        if row.agent_id in loads:
            loads[row.agent_id].load += 1
            if movable(row):
                held_by[row.agent_id].append(row)
        elif movable(row):
            pool.append(row)

    def lightest() -> _Member | None:
        takers = [m for m in loads.values() if m.can_take()]
        return min(takers, key=lambda m: (m.load, m.order)) if takers else None

    moves: list[tuple[int, int, int]] = []  # (ticket id, from agent, to agent)
    for row in pool:  # tickets of covered agents who do not receive: all go
        if len(moves) >= limit:
            break
        taker = lightest()
        if taker is None:
            break
        moves.append((row.id, row.agent_id, taker.user_id))
        taker.load += 1
        if taker.room is not None:
            taker.room -= 1
    while len(moves) < limit:
        taker = lightest()
        donors = [m for m in loads.values() if held_by[m.user_id]]
        if taker is None or not donors:
            break
        donor = max(donors, key=lambda m: (m.load, -m.order))
        if donor.load - taker.load <= 1:
            break
        row = held_by[donor.user_id].pop()  # the newest of the donor's movable tickets
        moves.append((row.id, donor.user_id, taker.user_id))
        donor.load -= 1
        taker.load += 1
        if donor.room is not None:
            donor.room += 1
        if taker.room is not None:
            taker.room -= 1
    if not moves:
        return 0
    names = agent_rules._usernames(session, {a for _, a, _ in moves} | {b for _, _, b in moves})
    agent_rules._write(session, now, [
        (ticket_id, new, "Rebalanced", "Rebalanced from %s to %s" % (names.get(old, old), names.get(new, new)),
         "rebalance rule %r (%s)" % (rule.name, reason))
        for ticket_id, old, new in moves
    ])
    return len(moves)


def due_rule_ids(session, now: dt.datetime) -> list[tuple[int, str]]:
    """[(rule id, why)] of the rules due at ``now`` whose group is live."""
    rules = session.scalars(
        select(RebalanceRule).join(Group, Group.id == RebalanceRule.group_id)
        .where(Group.is_deleted.is_(False)).order_by(RebalanceRule.id)
    ).all()
    due = []
    for rule in rules:
        reason = why_due(session, rule, now)
        if reason:
            due.append((rule.id, reason))
    return due


def run_rule(session, rule_id: int, reason: str, now: dt.datetime, limit: int) -> int:
    """Run one due rule and note its run; returns the tickets moved."""
    rule = session.get(RebalanceRule, rule_id, with_for_update=True)
    if rule is None:
        return 0
    moved = rebalance(session, rule, now, reason, limit)
    rule.date_last_run_utc = now
    return moved

