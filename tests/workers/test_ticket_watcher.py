"""Ticket Watcher: auto-close (with the closing notice), auto-lock,
auto-delete, due follow-ups, rebalance rules and queued tickets, each at
the times they fall due; batching; the thread on a Clock and on a real
reactor."""
from __future__ import annotations

import datetime as dt
import itertools
import time
import types

import pytest
import pytest_twisted
from sqlalchemy import func, select
from twisted.internet import reactor, task, threads

from stws.db.models import (
    Department, Group, GroupAgent, OutgoingMessage, RebalanceRule, RebalanceRuleAgent, Ticket, TicketEvent, User,
    utcnow,
)
from stws.domain.tickets import agents as agent_rules
from stws.domain.tickets import watcher
from stws.security.auth import new_security_stamp, username_key
from stws.workers import registry
from stws.workers.framework import JobContext, RunOutcome, ThreadDefinition, WorkerService
from stws.workers.jobs import ticket_watcher
from workers.test_framework import EPOCH, Harness, runtime, state, with_rows  # noqa: F401

ACTIVE, WAITING, CLOSED, LOCKED = 1, 2, 3, 4
NOW = EPOCH + dt.timedelta(days=400)
HOUR = dt.timedelta(hours=1)
DAY = dt.timedelta(days=1)
MINUTE = dt.timedelta(minutes=1)
SECOND = dt.timedelta(seconds=1)
_numbers = itertools.count(1)


# ------------------------------------------------------------------ a desk in the database


class Desk:
    """Departments, groups, agents and tickets written straight to the database."""

    def __init__(self, runtime):
        self.runtime = runtime
        self.db = runtime.db
        with self.db.transaction(writes=False) as session:
            self.brand_id = session.scalar(select(Department.brand_id).order_by(Department.id))

    def department(self, name, **settings) -> tuple[int, int]:
        """(department id, front line group id)."""
        with self.db.transaction() as session:
            department = Department(brand_id=self.brand_id, name=name, **settings)
            session.add(department)
            session.flush()
            group = Group(department_id=department.id, name="Level 1")
            session.add(group)
            session.flush()
            department.front_line_group_id = group.id
            return department.id, group.id

    def group(self, department_id, name="Level 2") -> int:
        with self.db.transaction() as session:
            group = Group(department_id=department_id, name=name)
            session.add(group)
            session.flush()
            return group.id

    def agent(self, name, *group_ids, mode="primary", receiving=True, max_tickets=None) -> int:
        with self.db.transaction() as session:
            user = User(username=name, username_key=username_key(name), email="%s@helpdesk.example" % name,
                        security_stamp=new_security_stamp(), is_active_agent=receiving)
            session.add(user)
            session.flush()
            for group_id in group_ids:
                session.add(GroupAgent(group_id=group_id, user_id=user.id, distribution_mode=mode,
                                       is_receiving=receiving, max_tickets_enabled=max_tickets is not None,
                                       max_tickets=max_tickets or 0))
            return user.id

    def ticket(self, department_id, group_id, status=ACTIVE, agent_id=None, opened=None, idle=None, closed=None,
               email="cust@example.com", **columns) -> int:
        opened = opened or NOW - 30 * DAY
        if "date_closed_utc" in columns:  # given as None: a ticket created closed has no closing date
            closed = columns.pop("date_closed_utc")
        elif closed is None and status in (CLOSED, LOCKED):
            closed = idle
        with self.db.transaction() as session:
            number = next(_numbers)
            ticket = Ticket(
                ticket_number="%03d-%08X-%04X" % (department_id, number, number), brand_id=self.brand_id,
                department_id=department_id, group_id=group_id, agent_id=agent_id, customer_email=email,
                subject="Ticket %d" % number, status_id=status, priority_id=2, date_opened_utc=opened,
                idle_start_utc=idle or opened, date_closed_utc=closed, date_modified_utc=opened, **columns)
            session.add(ticket)
            session.flush()
            return ticket.id

    def get(self, ticket_id) -> Ticket:
        with self.db.transaction(writes=False) as session:
            return session.get(Ticket, ticket_id)

    def status(self, ticket_id) -> int:
        return self.get(ticket_id).status_id

    def agent_of(self, ticket_id) -> int | None:
        return self.get(ticket_id).agent_id

    def events(self, ticket_id, event_type=None) -> list[TicketEvent]:
        with self.db.transaction(writes=False) as session:
            query = select(TicketEvent).where(TicketEvent.ticket_id == ticket_id).order_by(TicketEvent.id)
            if event_type:
                query = query.where(TicketEvent.event_type == event_type)
            return list(session.scalars(query))

    def spool(self) -> list[OutgoingMessage]:
        with self.db.transaction(writes=False) as session:
            return list(session.scalars(select(OutgoingMessage).order_by(OutgoingMessage.id)))

    def loads(self, group_id, *agent_ids) -> list[int]:
        with self.db.transaction(writes=False) as session:
            return [session.scalar(select(func.count(Ticket.id)).where(
                Ticket.group_id == group_id, Ticket.agent_id == agent_id, Ticket.status_id == ACTIVE))
                for agent_id in agent_ids]

    def rule(self, group_id, name="Even out", agent_ids=(), created=None, last_run=None, **settings) -> int:
        with self.db.transaction() as session:
            department_id = session.get(Group, group_id).department_id
            rule = RebalanceRule(name=name, department_id=department_id, group_id=group_id,
                                 include_all_agents=not agent_ids, date_created_utc=created or NOW - DAY,
                                 date_last_run_utc=last_run, **settings)
            session.add(rule)
            session.flush()
            for agent_id in agent_ids:
                session.add(RebalanceRuleAgent(rule_id=rule.id, user_id=agent_id))
            return rule.id

    def last_run(self, rule_id):
        with self.db.transaction(writes=False) as session:
            return session.get(RebalanceRule, rule_id).date_last_run_utc


DEFINITION = ThreadDefinition("Ticket Watcher", 60, "test", job=ticket_watcher.run)


def watch(runtime, now=NOW) -> int:
    """One run of the job at ``now``."""
    return ticket_watcher.run(JobContext(runtime, DEFINITION, now))


@pytest.fixture
def desk(runtime):
    return Desk(runtime)


# ------------------------------------------------------------------ auto-close


def test_auto_close_closes_waiting_tickets_idle_longer_than_their_departments_hours(desk, runtime):
    support, support_group = desk.department("Support 72h", auto_close_enabled=True, auto_close_hours=72)
    sales, sales_group = desk.department("Sales 24h", auto_close_enabled=True, auto_close_hours=24)
    off, off_group = desk.department("Legal (off)", auto_close_enabled=False, auto_close_hours=1)
    due = desk.ticket(support, support_group, WAITING, idle=NOW - 73 * HOUR)
    early = desk.ticket(support, support_group, WAITING, idle=NOW - 71 * HOUR)
    active = desk.ticket(support, support_group, ACTIVE, idle=NOW - 100 * HOUR)
    deleted = desk.ticket(support, support_group, WAITING, idle=NOW - 100 * HOUR, is_deleted=True)
    due_sales = desk.ticket(sales, sales_group, WAITING, idle=NOW - 25 * HOUR)
    not_due_sales = desk.ticket(sales, sales_group, WAITING, idle=NOW - 23 * HOUR)
    never = desk.ticket(off, off_group, WAITING, idle=NOW - 1000 * HOUR)

    assert watch(runtime) == 2
    for ticket_id in (due, due_sales):
        ticket = desk.get(ticket_id)
        assert (ticket.status_id, ticket.date_closed_utc, ticket.idle_start_utc) == (CLOSED, NOW, NOW)
        assert ticket.is_indexed is False
        (event,) = desk.events(ticket_id, "StatusChanged")
        assert (event.user_name, event.user_id, event.date_utc) == ("system", None, NOW)
        assert event.description == "Status changed from Waiting to Closed"
        assert "Auto-close" in event.details and "emailed" not in event.details
    assert [desk.status(t) for t in (early, active, deleted, not_due_sales, never)] == [
        WAITING, ACTIVE, WAITING, WAITING, WAITING]
    assert desk.spool() == []  # no department sends the notice

    assert watch(runtime) == 0  # done once
    assert watch(runtime, NOW + 2 * HOUR) == 2  # the 71 h and 23 h tickets are due two hours later
    assert desk.status(early) == desk.status(not_due_sales) == CLOSED


def test_auto_close_emails_one_closing_notice_per_ticket(desk, runtime):
    department, group = desk.department("Hosting", auto_close_enabled=True, auto_close_hours=48,
                                        auto_close_send_email=True, email_address="hosting@helpdesk.example")
    first = desk.ticket(department, group, WAITING, idle=NOW - 50 * HOUR, email="Ann@Example.com")
    second = desk.ticket(department, group, WAITING, idle=NOW - 60 * HOUR, email="bob@example.org")
    spam = desk.ticket(department, group, WAITING, idle=NOW - 60 * HOUR, email="spam@example.net", is_spam=True)
    nobody = desk.ticket(department, group, WAITING, idle=NOW - 60 * HOUR, email="")

    assert watch(runtime) == 4
    assert {desk.status(t) for t in (first, second, spam, nobody)} == {CLOSED}
    rows = desk.spool()
    assert sorted((row.ticket_id, row.recipients) for row in rows) == [
        (first, "Ann@Example.com"), (second, "bob@example.org")]
    for row in rows:
        number = desk.get(row.ticket_id).ticket_number
        assert number in row.subject and row.from_address == "hosting@helpdesk.example"
        raw = row.raw_content.decode()
        assert number in raw and "48 hours" in raw and row.status == "queued"
        assert row.ticket_message_id is None  # the notice is not part of the conversation
    (event,) = desk.events(first, "StatusChanged")
    assert event.details.endswith("closing notice emailed to Ann@Example.com")
    assert "emailed" not in desk.events(spam, "StatusChanged")[0].details
    assert watch(runtime, NOW + DAY) == 0 and len(desk.spool()) == 2  # never twice


def test_a_failed_step_leaves_its_batch_unchanged_and_the_other_steps_run(desk, runtime, monkeypatch):
    department, group = desk.department("Hosting", auto_close_enabled=True, auto_close_hours=1,
                                        auto_close_send_email=True, auto_lock_enabled=True, auto_lock_hours=1)
    waiting = desk.ticket(department, group, WAITING, idle=NOW - 2 * HOUR)
    closed = desk.ticket(department, group, CLOSED, idle=NOW - 2 * HOUR)

    def broken(*args, **kwargs):
        raise OSError("mail composer broken")

    monkeypatch.setattr("stws.domain.outgoing_mail.queue_ticket_email", broken)
    with pytest.raises(RuntimeError, match="closed: OSError: mail composer broken.*1 tickets changed"):
        watch(runtime)
    # The close rolled back with its notice (all or nothing); the lock went ahead.
    assert desk.status(waiting) == WAITING and desk.events(waiting) == [] and desk.spool() == []
    assert desk.status(closed) == LOCKED
    monkeypatch.undo()
    assert watch(runtime) == 1 and desk.status(waiting) == CLOSED and len(desk.spool()) == 1


# ------------------------------------------------------------------ auto-lock and auto-delete


def test_auto_lock_locks_tickets_closed_longer_than_their_departments_hours(desk, runtime):
    week, week_group = desk.department("Week", auto_lock_enabled=True, auto_lock_hours=168)
    day, day_group = desk.department("Day", auto_lock_enabled=True, auto_lock_hours=24)
    off, off_group = desk.department("Off", auto_lock_enabled=False, auto_lock_hours=1)
    due = desk.ticket(week, week_group, CLOSED, idle=NOW - 169 * HOUR)
    early = desk.ticket(week, week_group, CLOSED, idle=NOW - 167 * HOUR)
    # Created closed, without a closing date: counts from its idle start.
    undated = desk.ticket(week, week_group, CLOSED, idle=NOW - 200 * HOUR, date_closed_utc=None)
    waiting = desk.ticket(week, week_group, WAITING, idle=NOW - 500 * HOUR)
    deleted = desk.ticket(week, week_group, CLOSED, idle=NOW - 500 * HOUR, is_deleted=True)
    due_day = desk.ticket(day, day_group, CLOSED, idle=NOW - 25 * HOUR)
    never = desk.ticket(off, off_group, CLOSED, idle=NOW - 5000 * HOUR)

    assert watch(runtime) == 3
    assert [desk.status(t) for t in (due, undated, due_day)] == [LOCKED] * 3
    assert [desk.status(t) for t in (early, waiting, deleted, never)] == [CLOSED, WAITING, CLOSED, CLOSED]
    locked = desk.get(due)
    assert locked.date_closed_utc == NOW - 169 * HOUR and locked.idle_start_utc == NOW  # still closed since then
    (event,) = desk.events(due)
    assert (event.event_type, event.description, event.user_name) == (
        "StatusChanged", "Status changed from Closed to Closed and Locked", "system")
    assert "168 hours" in event.details
    assert watch(runtime, NOW + 2 * HOUR) == 1 and desk.status(early) == LOCKED


def test_auto_delete_soft_deletes_closed_tickets_older_than_their_departments_days(desk, runtime):
    year, year_group = desk.department("Year", auto_delete_enabled=True, auto_delete_days=365)
    month, month_group = desk.department("Month", auto_delete_enabled=True, auto_delete_days=30)
    off, off_group = desk.department("Keep", auto_delete_enabled=False, auto_delete_days=1)
    closed = desk.ticket(year, year_group, CLOSED, idle=NOW - 366 * DAY)
    locked = desk.ticket(year, year_group, LOCKED, idle=NOW - 400 * DAY)
    young = desk.ticket(year, year_group, CLOSED, idle=NOW - 364 * DAY)
    still_open = desk.ticket(year, year_group, WAITING, idle=NOW - 900 * DAY)
    month_old = desk.ticket(month, month_group, CLOSED, idle=NOW - 31 * DAY)
    kept = desk.ticket(off, off_group, LOCKED, idle=NOW - 900 * DAY)

    assert watch(runtime) == 3
    for ticket_id in (closed, locked, month_old):
        ticket = desk.get(ticket_id)
        assert (ticket.is_deleted, ticket.date_deleted_utc) == (True, NOW)
        (event,) = desk.events(ticket_id, "Deleted")
        assert event.user_name == "system" and "Auto-delete" in event.details
    assert desk.get(locked).status_id == LOCKED  # the status stays; the purge removes it in 90 days
    assert not any(desk.get(t).is_deleted for t in (young, still_open, kept))
    assert watch(runtime) == 0  # deleted tickets are not deleted again
    assert watch(runtime, NOW + 2 * DAY) == 1 and desk.get(young).is_deleted


def test_work_is_done_in_bounded_batches_and_the_rest_on_the_next_run(desk, runtime, monkeypatch):
    monkeypatch.setattr(ticket_watcher, "BATCH", 3)
    monkeypatch.setattr(ticket_watcher, "RUN_LIMIT", 7)
    department, group = desk.department("Busy", auto_close_enabled=True, auto_close_hours=1)
    tickets = [desk.ticket(department, group, WAITING, idle=NOW - (100 - n) * HOUR) for n in range(10)]
    transactions = []
    real = runtime.db.transaction

    def counting(writes=True):
        transactions.append(writes)
        return real(writes)

    monkeypatch.setattr(runtime.db, "transaction", counting)
    assert watch(runtime) == 7
    assert [desk.status(t) for t in tickets] == [CLOSED] * 7 + [WAITING] * 3  # the oldest first
    assert transactions.count(True) >= 3  # 3 + 3 + 1, each batch its own transaction
    assert watch(runtime) == 3


def test_closing_notices_are_composed_in_smaller_transactions(desk, runtime, monkeypatch):
    monkeypatch.setattr(watcher, "NOTICE_BATCH", 2)
    mailing, mailing_group = desk.department("Mailing", auto_close_enabled=True, auto_close_hours=1,
                                             auto_close_send_email=True)
    quiet, quiet_group = desk.department("Quiet", auto_close_enabled=True, auto_close_hours=1)
    mailed = [desk.ticket(mailing, mailing_group, WAITING, idle=NOW - 2 * HOUR) for _ in range(5)]
    silent = [desk.ticket(quiet, quiet_group, WAITING, idle=NOW - 2 * HOUR) for _ in range(4)]
    sizes = []
    real = watcher.auto_close

    def counting(session, now, limit):
        changed = real(session, now, limit)
        sizes.append(changed)
        return changed

    monkeypatch.setattr(watcher, "auto_close", counting)
    assert watch(runtime) == 9
    # 2 notices + the 4 quiet ones, then 2 and 1 notices, then nothing left.
    assert sizes == [6, 2, 1, 0]
    assert {desk.status(t) for t in mailed + silent} == {CLOSED}
    assert sorted(row.ticket_id for row in desk.spool()) == mailed


# ------------------------------------------------------------------ follow-ups and the queue


def test_due_follow_ups_are_applied(desk, runtime):
    department, group = desk.department("Follow")
    other = desk.group(department)
    carol = desk.agent("carol", other, mode="queue")
    due = desk.ticket(department, group, WAITING, requires_follow_up=True, show_in_follow_up_view=True,
                      date_follow_up_utc=NOW - HOUR, follow_up_group_id=other, follow_up_agent_id=carol,
                      follow_up_status_id=ACTIVE)
    later = desk.ticket(department, group, WAITING, requires_follow_up=True, date_follow_up_utc=NOW + HOUR,
                        follow_up_status_id=ACTIVE)
    assert watch(runtime) == 1
    ticket = desk.get(due)
    assert (ticket.status_id, ticket.group_id, ticket.agent_id, ticket.requires_follow_up) == (
        ACTIVE, other, carol, False)
    assert desk.events(due, "FollowUpApplied")
    assert desk.get(later).requires_follow_up and desk.status(later) == WAITING
    assert watch(runtime, NOW + 2 * HOUR) == 1 and desk.status(later) == ACTIVE


def test_queued_tickets_go_to_receiving_round_robin_agents(desk, runtime):
    department, group = desk.department("Queue")
    pull, pull_group = desk.department("Pull only")
    ann = desk.agent("ann", group)
    ben = desk.agent("ben", group, max_tickets=1)
    desk.agent("cid", group, receiving=False)
    desk.agent("dot", pull_group, mode="queue")
    queued = [desk.ticket(department, group, opened=NOW - (10 - n) * HOUR) for n in range(4)]
    waiting = desk.ticket(department, group, WAITING)
    spam = desk.ticket(department, group, is_spam=True)
    pulled = desk.ticket(pull, pull_group)

    assert watch(runtime) == 4
    # Ben takes one (his limit), Ann the rest; nobody gets the waiting, spam or pull-from-queue tickets.
    assert sorted(desk.agent_of(t) for t in queued) == sorted([ann, ann, ann, ben])
    assert [desk.agent_of(t) for t in (waiting, spam, pulled)] == [None, None, None]
    assert desk.events(queued[0], "Assigned")[0].user_name == "system"
    assert desk.get(queued[0]).hold_start_assigned_utc == NOW
    assert watch(runtime) == 0


# ------------------------------------------------------------------ rebalance rules


def rebalance_desk(desk, **agent_options):
    """(department, group, [ann, ben, cid]): three receiving agents."""
    department, group = desk.department("Rebalance")
    return department, group, [desk.agent(name, group, **agent_options) for name in ("ann", "ben", "cid")]


def test_a_rule_runs_when_its_interval_has_elapsed(desk, runtime):
    department, group, (ann, ben, cid) = rebalance_desk(desk)
    tickets = [desk.ticket(department, group, agent_id=ann, opened=NOW - (20 - n) * HOUR) for n in range(9)]
    rule = desk.rule(group, execute_on_interval_seconds=3600, created=NOW - 30 * MINUTE)

    assert watch(runtime) == 0 and desk.last_run(rule) is None  # half an hour since it was made
    assert watch(runtime, NOW + 30 * MINUTE) == 6
    assert desk.loads(group, ann, ben, cid) == [3, 3, 3]
    assert desk.last_run(rule) == NOW + 30 * MINUTE
    moved = [t for t in tickets if desk.agent_of(t) != ann]
    assert moved == tickets[3:]  # the newest tickets move
    (event,) = desk.events(moved[0], "Rebalanced")
    assert event.user_name == "system" and event.description in (
        "Rebalanced from ann to ben", "Rebalanced from ann to cid")
    assert "Even out" in event.details
    assert desk.get(moved[0]).hold_start_assigned_utc == NOW + 30 * MINUTE

    desk.ticket(department, group, agent_id=ann)
    desk.ticket(department, group, agent_id=ann)
    assert watch(runtime, NOW + 60 * MINUTE) == 0  # not due again yet
    assert watch(runtime, NOW + 90 * MINUTE) == 1 and desk.loads(group, ann, ben, cid) in ([4, 4, 3], [4, 3, 4])


def test_a_rule_runs_when_a_time_of_day_has_passed_since_its_last_run(desk, runtime):
    department, group, (ann, ben, cid) = rebalance_desk(desk)
    for _ in range(6):
        desk.ticket(department, group, agent_id=ann)
    seven = NOW.replace(hour=7, minute=0)
    rule = desk.rule(group, execute_at_time_utc_1=dt.time(8, 0), execute_at_time_utc_2=dt.time(17, 30),
                     last_run=seven)
    assert watch(runtime, seven + 59 * MINUTE) == 0
    assert watch(runtime, seven + 60 * MINUTE) == 4 and desk.last_run(rule) == seven + 60 * MINUTE
    for _ in range(3):
        desk.ticket(department, group, agent_id=ann)
    assert watch(runtime, seven + 10 * HOUR) == 0  # 17:00: nothing since 08:00
    assert watch(runtime, seven + 10.5 * HOUR) == 2  # 17:30
    assert watch(runtime, seven + 23 * HOUR) == 0  # 06:00 the next day
    assert watch(runtime, seven + 25 * HOUR) == 0  # 08:00 again, but nothing to even out
    assert desk.last_run(rule) == seven + 25 * HOUR


def test_a_rule_runs_when_an_agent_starts_or_stops_receiving(desk, runtime):
    # The receiving-status code stamps the change with the wall clock, so this test lives on it.
    now = utcnow()
    department, group, (ann, ben, cid) = rebalance_desk(desk)
    tickets = [desk.ticket(department, group, agent_id=ann, opened=now - DAY) for _ in range(4)]
    starts = desk.rule(group, name="On start", execute_on_agent_activate=True, created=now - HOUR,
                       last_run=now - MINUTE)
    assert watch(runtime, now) == 0 and desk.last_run(starts) == now - MINUTE

    def set_receiving(agent_id, receiving):
        with runtime.db.transaction() as session:
            call = types.SimpleNamespace(session=session, principal=None)
            agent_rules.set_receiving_for_all_groups(call, session.get(User, agent_id), receiving)

    set_receiving(ben, False)  # stopping does not trigger an "on start" rule
    set_receiving(cid, False)
    assert watch(runtime, utcnow()) == 0 and desk.loads(group, ann, ben, cid) == [4, 0, 0]
    time.sleep(0.01)
    set_receiving(ben, True)
    assert watch(runtime, utcnow()) == 2 and desk.loads(group, ann, ben, cid) == [2, 2, 0]

    stops = desk.rule(group, name="On stop", execute_on_agent_deactivate=True, created=utcnow())
    time.sleep(0.01)
    set_receiving(ben, False)  # Ben's two tickets go back to the receiving agents (Ann)
    moved = watch(runtime, utcnow())
    assert moved == 2 and desk.loads(group, ann, ben, cid) == [4, 0, 0]
    assert {e.details for t in tickets for e in desk.events(t, "Rebalanced")} >= {
        "rebalance rule 'On start' (ben started receiving)", "rebalance rule 'On stop' (ben stopped receiving)"}
    assert watch(runtime, utcnow()) == 0 and desk.last_run(stops) is not None


def test_pinned_tickets_and_tickets_inside_a_hold_stay(desk, runtime):
    department, group, (ann, ben, cid) = rebalance_desk(desk)
    pinned = [desk.ticket(department, group, agent_id=ann, is_pinned_to_agent=True) for _ in range(3)]
    composing = desk.ticket(department, group, agent_id=ann, hold_start_compose_utc=NOW - 50 * SECOND)
    read = desk.ticket(department, group, agent_id=ann, hold_start_read_utc=NOW - 50 * SECOND)
    assigned = desk.ticket(department, group, agent_id=ann, hold_start_assigned_utc=NOW - 50 * SECOND)
    was_pinned = desk.ticket(department, group, agent_id=ann, hold_start_pinned_utc=NOW - 50 * SECOND)
    long_ago = NOW - 500 * SECOND
    expired = desk.ticket(department, group, agent_id=ann, hold_start_compose_utc=long_ago,
                          hold_start_read_utc=long_ago, hold_start_assigned_utc=long_ago,
                          hold_start_pinned_utc=long_ago)
    free = desk.ticket(department, group, agent_id=ann)
    desk.rule(group, execute_on_interval_seconds=60, hold_seconds_compose=60, hold_seconds_read=60,
              hold_seconds_assigned=60, hold_seconds_pinned=60)

    assert watch(runtime) == 2  # 9 tickets, only two may move
    assert {desk.agent_of(expired), desk.agent_of(free)} == {ben, cid}
    assert [desk.agent_of(t) for t in pinned + [composing, read, assigned, was_pinned]] == [ann] * 7
    # Ten seconds later the holds are over: loads 7/1/1 become 3/3/3, pinned tickets still stay.
    assert watch(runtime, NOW + 70 * SECOND) == 4
    assert desk.loads(group, ann, ben, cid) == [3, 3, 3]
    assert [desk.agent_of(t) for t in pinned] == [ann] * 3


def test_rules_respect_max_tickets_and_cover_only_their_agents(desk, runtime):
    department, group = desk.department("Limits")
    other = desk.group(department, "Level 2")
    ann = desk.agent("ann", group)
    ben = desk.agent("ben", group, other, max_tickets=3)
    cid = desk.agent("cid", group, receiving=False)
    dot = desk.agent("dot", group)  # not named by the rule
    for _ in range(2):
        desk.ticket(department, other, agent_id=ben)  # open elsewhere: count toward Ben's limit
    desk.ticket(department, other, CLOSED, agent_id=ben)  # closed: does not count
    anns = [desk.ticket(department, group, agent_id=ann) for _ in range(6)]
    cids = [desk.ticket(department, group, agent_id=cid) for _ in range(2)]
    dots = [desk.ticket(department, group, agent_id=dot) for _ in range(5)]
    desk.rule(group, agent_ids=(ann, ben, cid), execute_on_interval_seconds=60)

    # Cid does not receive: both of his go, one to Ben (then at his limit), one to Ann; Ann keeps the
    # rest as Ben is full; Dot is not the rule's.
    assert watch(runtime) == 2
    assert desk.loads(group, ann, ben, cid, dot) == [7, 1, 0, 5]
    assert [desk.agent_of(t) for t in dots] == [dot] * 5
    assert all(desk.agent_of(t) in (ann, ben) for t in cids + anns)


def test_rules_of_deleted_groups_and_rules_without_receiving_agents_do_nothing(desk, runtime):
    department, group = desk.department("Gone")
    ann = desk.agent("ann", group, receiving=False)
    ben = desk.agent("ben", group, receiving=False)
    tickets = [desk.ticket(department, group, agent_id=ann) for _ in range(4)]
    rule = desk.rule(group, execute_on_interval_seconds=60)
    assert watch(runtime) == 0 and desk.last_run(rule) == NOW  # ran, nobody to give tickets to
    with runtime.db.transaction() as session:
        session.get(Group, group).is_deleted = True
        session.get(GroupAgent, (group, ben)).is_receiving = True
    assert watch(runtime, NOW + HOUR) == 0 and desk.last_run(rule) == NOW  # a deleted group's rule does not run
    assert [desk.agent_of(t) for t in tickets] == [ann] * 4


# ------------------------------------------------------------------ the thread


def test_the_thread_runs_the_watcher_on_its_interval(desk, runtime):
    department, group = desk.department("Clocked", auto_close_enabled=True, auto_close_hours=1)
    ticket = desk.ticket(department, group, WAITING, idle=EPOCH - 30 * MINUTE)
    (definition,) = [d for d in registry.definitions() if d.name == "Ticket Watcher"]
    assert definition.available and definition.interval == 60 and not definition.waits_for_maintenance
    with_rows(runtime, definition)
    harness = Harness(runtime, definition)
    harness.runner.start()
    assert harness.advance(60) == RunOutcome.RAN and desk.status(ticket) == WAITING  # idle 31 minutes
    for _ in range(29):
        harness.advance(60)
    assert desk.status(ticket) == WAITING  # idle exactly 60 minutes: not more than the hour yet
    assert harness.advance(60) == RunOutcome.RAN and desk.status(ticket) == CLOSED
    assert desk.get(ticket).date_closed_utc == EPOCH + dt.timedelta(minutes=31)
    row = state(runtime, "Ticket Watcher")
    assert (row.total_runs, row.last_items) == (31, 1)
    harness.runner.stop()


@pytest_twisted.inlineCallbacks
def test_the_watcher_closes_a_due_ticket_on_a_real_reactor(desk, runtime):
    department, group = desk.department("Live", auto_close_enabled=True, auto_close_hours=1,
                                        auto_close_send_email=True)
    ticket = desk.ticket(department, group, WAITING, idle=utcnow() - 2 * HOUR)
    definitions = [d for d in registry.definitions({"Ticket Watcher": 0.2}) if d.name == "Ticket Watcher"]
    workers = WorkerService(runtime, definitions, reactor)
    workers.startService()
    try:
        deadline = time.monotonic() + 15
        while (yield threads.deferToThread(desk.status, ticket)) != CLOSED:
            assert time.monotonic() < deadline, "the Ticket Watcher did not close the ticket"
            yield task.deferLater(reactor, 0.05, lambda: None)
    finally:
        yield workers.stopService()
    spool = yield threads.deferToThread(desk.spool)
    assert [row.ticket_id for row in spool] == [ticket]
    row = state(runtime, "Ticket Watcher")
    assert row.total_runs >= 1 and row.last_error == ""
