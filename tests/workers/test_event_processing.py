"""The Event Processing thread: the ticket_counts table (the same numbers as
the live counts, used by GetTicketCounts_* while fresh) and the error
emails (recorded by a logging handler, mailed through the spool at most
once a minute per distinct error)."""
from __future__ import annotations

import datetime as dt
import email
import email.policy
import logging

import pytest
from sqlalchemy import event, func, select

from stws.db.models import Brand, OutgoingMessage, Setting, Ticket, TicketCount, utcnow
from stws.diagnostics import errormail
from stws.domain.tickets import counts, lifecycle
from stws.security import roles as role_rules
from stws.security.principals import Principal
from stws.domain.context import Context
from stws.workers.framework import MAINTENANCE_SETTING, RunOutcome, ThreadDefinition
from stws.workers.jobs import event_processing
from workers import rows
from workers.live import eventually, started_workers
from workers.test_framework import EPOCH, Harness, runtime, state, with_rows  # noqa: F401 (runtime: fixture)

DEFINITION = ThreadDefinition("Event Processing", 60, "test", job=event_processing.run, waits_for_maintenance=True)
AGENT = frozenset({role_rules.EVERYONE, role_rules.AGENT})
MANAGER = frozenset({role_rules.EVERYONE, role_rules.AGENT, role_rules.MANAGER})


# ---------------------------------------------------------------- ticket counts


@pytest.fixture
def desk(runtime):
    """Two brands, agents alice (groups 1 and 3) and bob (group 2), and
    tickets of every kind that counts or must not."""
    with runtime.db.transaction() as session:
        alice = rows.user(session, "alice", agent=True).id
        bob = rows.user(session, "bob", agent=True).id
        other_brand = Brand(name="Other")
        session.add(other_brand)
        session.flush()
        department = rows.department(session, "Sales")
        department.brand_id = other_brand.id
        group2 = rows.group(session, "Sales L1", department.id).id
        group3 = rows.group(session, "Quiet").id
        rows.member(session, 1, alice)
        rows.member(session, group3, alice)
        rows.member(session, group2, bob)
        for status in (rows.ACTIVE, rows.ACTIVE, rows.WAITING, rows.CLOSED):
            rows.ticket(session, status=status, agent_id=alice)
        rows.ticket(session, status=rows.CLOSED, agent_id=alice, follow_up=True)  # follow-up only
        rows.ticket(session, status=rows.WAITING, agent_id=alice, follow_up=True)
        rows.ticket(session, status=rows.ACTIVE, agent_id=alice, deleted_at=utcnow())  # never counted
        rows.ticket(session, status=rows.ACTIVE)  # unassigned
        rows.ticket(session, status=rows.ACTIVE, agent_id=bob)  # bob's, in alice's group 1
        rows.ticket(session, status=rows.CLOSED_AND_LOCKED, agent_id=bob)
        for status in (rows.ACTIVE, rows.WAITING):
            rows.ticket(session, status=status, agent_id=bob, group_id=group2, department_id=department.id,
                        brand_id=other_brand.id)
        rows.ticket(session, status=rows.ACTIVE, agent_id=alice, group_id=group2, department_id=department.id,
                    brand_id=other_brand.id)  # alice's ticket in a group she is not in
    return dict(alice=alice, bob=bob, admin=1)


def call_as(session, runtime, user_id, roles):
    return Context.in_session(session, Principal(user_id, "u%d" % user_id, roles), runtime)


def refresh(runtime, now=None):
    return counts.refresh(runtime.db, now or utcnow())


def test_the_table_gives_the_same_numbers_as_the_live_counts(runtime, desk):
    assert refresh(runtime) == 5  # (group 1: alice, bob, unassigned), (group 2: bob, alice)
    with runtime.db.transaction(writes=False) as session:
        for user, roles in ((desk["alice"], AGENT), (desk["bob"], AGENT), (desk["admin"], MANAGER)):
            call = call_as(session, runtime, user, roles)
            assert counts.current_counts(session, counts.fresh_for(runtime)) is not None
            assert counts.agent_counts(call) == lifecycle.agent_counts(call), user
            assert counts.global_counts(call) == lifecycle.global_counts(call), user
        alice = call_as(session, runtime, desk["alice"], AGENT)
        # What the table holds for alice, spelled out: group 3 has no tickets
        # (zeros); group 2 (other brand) is not hers but a ticket there is.
        assert [(c.brand_id, c.group_id, c.active, c.waiting, c.follow_up) for c in counts.agent_counts(alice)] \
            == [(1, 1, 2, 2, 2), (1, 3, 0, 0, 0), (2, 2, 1, 0, 0)]


def test_the_operations_read_the_table_only_while_it_is_fresh(runtime, desk):
    refresh(runtime)
    with runtime.db.transaction() as session:
        rows.ticket(session, status=rows.ACTIVE)  # a new unassigned ticket, not in the table yet
    with runtime.db.transaction(writes=False) as session:
        admin = call_as(session, runtime, 1, MANAGER)
        unassigned = [c.active for c in counts.global_counts(admin) if c.group_id == 1 and c.user_id == 0]
        live = [c.active for c in lifecycle.global_counts(admin) if c.group_id == 1 and c.user_id == 0]
        assert (unassigned, live) == ([1], [2])  # the table, one interval behind
    # Older than two intervals (2 x 60 s): the live count again.
    with runtime.db.transaction() as session:
        session.get(Setting, counts.COMPUTED_SETTING).value = (utcnow() - dt.timedelta(seconds=121)).isoformat()
    with runtime.db.transaction(writes=False) as session:
        admin = call_as(session, runtime, 1, MANAGER)
        assert counts.current_counts(session, counts.fresh_for(runtime)) is None
        assert counts.global_counts(admin) == lifecycle.global_counts(admin)


def test_freshness_follows_the_configured_interval(runtime):
    assert counts.fresh_for(runtime) == dt.timedelta(seconds=120)
    runtime.config.thread_intervals = {"Event Processing": 5}
    assert counts.fresh_for(runtime) == dt.timedelta(seconds=10)


async def test_get_ticket_counts_answers_the_same_from_the_table_and_live(server):
    runtime = server.runtime
    with runtime.db.transaction() as session:
        agent = rows.user(session, "carol", agent=True)
        rows.member(session, 1, agent.id)
        for status in (rows.ACTIVE, rows.WAITING, rows.ACTIVE):
            rows.ticket(session, status=status, agent_id=1)
        rows.ticket(session, status=rows.CLOSED, follow_up=True)
    tickets = await server.client("svcTickets")

    async def both():
        result_global = await tickets.GetTicketCounts_Global(*server.admin)
        result_agent = await tickets.GetTicketCounts_Agent(*server.admin)
        assert result_global.Result and result_agent.Result
        return ([(c.GroupId, c.UserId, c.ActiveTicketCount, c.WaitingTicketCount, c.FollowUpTicketCount)
                 for c in result_global.TicketCounts.TicketCountInfo],
                [(c.GroupId, c.UserId, c.ActiveTicketCount, c.WaitingTicketCount, c.FollowUpTicketCount)
                 for c in result_agent.TicketCounts.TicketCountInfo])

    live = await both()
    assert live == ([(1, 0, 0, 0, 1), (1, 1, 2, 1, 0)], [(1, 1, 2, 1, 0)])
    refresh(runtime)
    assert await both() == live


def test_a_run_refreshes_the_table_and_waits_for_maintenance(runtime, desk):
    with_rows(runtime, DEFINITION)
    harness = Harness(runtime, DEFINITION)
    harness.runner.start()
    assert harness.advance(60) == RunOutcome.RAN
    with runtime.db.transaction(writes=False) as session:
        assert session.scalar(select(func.count()).select_from(TicketCount)) == 5
        assert counts.computed_at(session) == EPOCH + dt.timedelta(seconds=60)
    with runtime.db.transaction() as session:
        session.add(Setting(name=MAINTENANCE_SETTING, value="true"))
    assert harness.advance(60) == RunOutcome.MAINTENANCE
    with runtime.db.transaction(writes=False) as session:
        assert counts.computed_at(session) == EPOCH + dt.timedelta(seconds=60)


# ---------------------------------------------------------------- error emails

ADDRESS = "ops@example.com"


def set_error_address(runtime, address=ADDRESS):
    with runtime.db.transaction() as session:
        session.add(Setting(name="diagnostics.EmailAddressToReceiveErrors", value=address))
    runtime.options.reload()


def spooled(runtime) -> list[email.message.EmailMessage]:
    with runtime.db.transaction(writes=False) as session:
        return [email.message_from_bytes(row.raw_content, policy=email.policy.default)
                for row in session.scalars(select(OutgoingMessage).order_by(OutgoingMessage.id))]


def test_errors_of_a_failing_job_are_mailed_once_a_minute_with_their_repeats(runtime):
    set_error_address(runtime)

    def broken(ctx):
        raise RuntimeError("disk on fire")

    failing = ThreadDefinition("Broken", 11, "test", job=broken)
    with_rows(runtime, failing, DEFINITION)
    broken_thread, processing = Harness(runtime, failing), Harness(runtime, DEFINITION)
    processing.clock = broken_thread.clock
    processing.runner.clock = broken_thread.clock
    processing.runner.now = broken_thread.runner.now
    broken_thread.runner.start()
    processing.runner.start()
    for _ in range(60):  # failures at 11, 22, ... 55 s, then the Event Processing run at 60 s
        broken_thread.clock.advance(1)
    assert processing.runner.last_outcome == RunOutcome.RAN
    mails = spooled(runtime)
    assert len(mails) == 1
    first = mails[0]
    assert first["To"] == ADDRESS and first["Auto-Submitted"] == "auto-generated"
    assert first["Subject"] == "stws error (5 times): thread Broken failed"
    body = first.get_content()
    assert "RuntimeError: disk on fire" in body and "It occurred 5 times" in body
    assert "Traceback (most recent call last)" in body
    # The next minute: the new failures are one more email; a minute without
    # any failure sends nothing.
    for _ in range(60):  # 66, 77, ... 110 s
        broken_thread.clock.advance(1)
    assert [m["Subject"] for m in spooled(runtime)][1:] == ["stws error (5 times): thread Broken failed"]
    broken_thread.runner.stop()
    for _ in range(120):
        broken_thread.clock.advance(1)
    assert len(spooled(runtime)) == 2


def test_repeats_within_a_minute_wait_for_the_minute(runtime):
    set_error_address(runtime)
    collector = runtime.error_mail
    log = logging.getLogger("stws.error")
    now = EPOCH

    def quota_exceeded(disk):  # one place in the code that logs the error
        log.error("quota exceeded on %s", disk)

    quota_exceeded("disk1")
    assert errormail.flush(runtime, collector, now) == 1
    quota_exceeded("disk2")
    quota_exceeded("disk3")
    assert errormail.flush(runtime, collector, now + dt.timedelta(seconds=59)) == 0
    assert errormail.flush(runtime, collector, now + dt.timedelta(seconds=60)) == 1
    second = spooled(runtime)[1]
    assert second["Subject"] == "stws error (2 times): quota exceeded on disk2"
    assert "The last occurrence's message:\nquota exceeded on disk3" in second.get_content().replace("\r\n", "\n")


def test_logging_an_error_does_no_database_work_and_memory_is_bounded(runtime, monkeypatch):
    set_error_address(runtime)
    statements = []
    listener = lambda *args: statements.append(args[2])  # noqa: E731
    event.listen(runtime.db.engine, "before_cursor_execute", listener)
    try:
        monkeypatch.setattr(errormail, "MAX_DISTINCT", 3)
        log = logging.getLogger("stws.error")
        for n in range(5):
            try:
                raise ValueError("bad %d" % n)
            except ValueError:
                log.exception("step %d failed" % n)  # a distinct template each time
        assert statements == []
    finally:
        event.remove(runtime.db.engine, "before_cursor_execute", listener)
    assert errormail.flush(runtime, runtime.error_mail, EPOCH) == 3
    mails = spooled(runtime)
    assert [m["Subject"] for m in mails] == ["stws error: step %d failed" % n for n in range(3)]
    assert "2 further errors of other kinds were not kept" in mails[0].get_content()


def test_without_an_address_errors_are_not_mailed(runtime):
    logging.getLogger("stws.error").error("nobody listens")
    assert errormail.flush(runtime, runtime.error_mail, EPOCH) == 0
    assert spooled(runtime) == [] and errormail.unsent(runtime) == 0


async def test_an_operation_failing_inside_is_mailed_once_for_all_its_references(server, monkeypatch):
    runtime = server.runtime
    set_error_address(runtime)
    from stws.domain import organization

    def broken(call):
        raise KeyError("no such thing")

    monkeypatch.setattr(organization, "all_groups", broken)
    org = await server.client("svcOrganization")
    for _ in range(3):
        with pytest.raises(Exception, match="Internal error"):
            await org.GetAllGroups(*server.admin)
    service = await started_workers(runtime, {"Event Processing": 0.2})
    try:
        mails = await eventually(lambda: spooled(runtime))
    finally:
        await service.stopService()
    assert len(mails) == 1
    assert mails[0]["Subject"].startswith("stws error (3 times): operation GetAllGroups failed (reference ")
    assert "KeyError: 'no such thing'" in mails[0].get_content()
    with runtime.db.transaction(writes=False) as session:
        assert counts.computed_at(session) is not None  # the same runs keep the counts
    assert state(runtime, "Event Processing").last_error == ""
