"""The Auto-Inactive thread and the heartbeats it watches: an active agent
silent for 3 Heartbeat Intervals (at least 60 s) is set inactive, stops
receiving, and their active tickets are handed off; every authenticated
call of an active agent is a heartbeat."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import event, select

from stws.db.models import GroupAgent, Setting, Ticket, TicketEvent, User
from stws.diagnostics.options import DiagnosticOptions
from stws.security.passwords import hash_password
from stws.workers.framework import RunOutcome, ThreadDefinition
from stws.workers.jobs import auto_inactive
from workers import rows
from workers.live import eventually, started_workers
from workers.test_framework import EPOCH, Harness, runtime, with_rows  # noqa: F401 (runtime: fixture)

DEFINITION = ThreadDefinition("Auto-Inactive", 30, "test", job=auto_inactive.run)


def test_the_silence_limit_is_three_heartbeat_intervals_and_at_least_a_minute():
    def limit(seconds):
        return auto_inactive.silence_limit(DiagnosticOptions(HeartbeatIntervalSeconds=seconds)).total_seconds()

    assert (limit(10), limit(20), limit(21), limit(300)) == (60, 60, 63, 900)


def agents_with_tickets(runtime, heartbeat):
    """alice (heartbeat at ``heartbeat``) and bob (receiving, fresh heartbeat)
    in group 1; alice has 3 active tickets, 1 waiting, 1 pinned."""
    with runtime.db.transaction() as session:
        alice = rows.user(session, "alice", agent=True, active_agent=True, heartbeat=heartbeat)
        bob = rows.user(session, "bob", agent=True, active_agent=True, heartbeat=EPOCH + dt.timedelta(days=1))
        second_group = rows.group(session, "Level 2")
        rows.member(session, 1, alice.id)
        rows.member(session, second_group.id, alice.id)
        rows.member(session, 1, bob.id)
        active = [rows.ticket(session, agent_id=alice.id).id for _ in range(3)]
        waiting = rows.ticket(session, agent_id=alice.id, status=rows.WAITING).id
        pinned = rows.ticket(session, agent_id=alice.id, pinned=True).id
        return alice.id, bob.id, active, waiting, pinned


def test_a_silent_agent_is_set_inactive_and_their_active_tickets_handed_off(runtime):
    alice, bob, active, waiting, pinned = agents_with_tickets(runtime, heartbeat=EPOCH)
    with_rows(runtime, DEFINITION)
    harness = Harness(runtime, DEFINITION)
    harness.runner.start()
    # Default interval 10 s: the limit is the 60 s floor. At 30 s and 60 s
    # alice is not silent long enough (60 s is not *older* than 60 s).
    assert harness.advance(30) == RunOutcome.RAN
    assert harness.advance(30) == RunOutcome.RAN
    with runtime.db.transaction(writes=False) as session:
        assert session.get(User, alice).is_active_agent
    assert harness.advance(30) == RunOutcome.RAN
    with runtime.db.transaction(writes=False) as session:
        assert not session.get(User, alice).is_active_agent
        assert session.get(User, bob).is_active_agent
        memberships = session.scalars(select(GroupAgent).where(GroupAgent.user_id == alice)).all()
        assert [(m.is_receiving, m.receiving_changed_utc) for m in memberships] == \
            [(False, EPOCH + dt.timedelta(seconds=90))] * 2
        owners = {t.id: t.agent_id for t in session.scalars(select(Ticket))}
        assert [owners[t] for t in active] == [bob] * 3
        assert owners[waiting] == alice and owners[pinned] == alice
        handed = session.scalars(select(TicketEvent).where(TicketEvent.event_type == "HandedOff")).all()
        assert sorted(e.ticket_id for e in handed) == sorted(active)
        assert {e.user_name for e in handed} == {"system"}
    assert harness.runner.last_outcome == RunOutcome.RAN
    from workers.test_framework import state
    assert state(runtime, "Auto-Inactive").last_items == 1
    assert harness.advance(30) == RunOutcome.RAN and state(runtime, "Auto-Inactive").last_items == 0


def test_the_heartbeat_interval_option_sets_the_limit_and_heartbeats_keep_an_agent_active(runtime):
    with runtime.db.transaction() as session:
        session.add(Setting(name="diagnostics.HeartbeatIntervalSeconds", value="100"))
    runtime.options.reload()
    alice, bob, active, _, _ = agents_with_tickets(runtime, heartbeat=EPOCH)
    with_rows(runtime, DEFINITION)
    harness = Harness(runtime, DEFINITION)
    harness.runner.start()
    for _ in range(10):  # 300 s: 3 intervals of 100 s, not more
        assert harness.advance(30) == RunOutcome.RAN
    with runtime.db.transaction() as session:
        agent = session.get(User, alice)
        assert agent.is_active_agent
        agent.last_heartbeat_utc = EPOCH + dt.timedelta(seconds=300)  # a call came in
    for _ in range(10):
        harness.advance(30)
    with runtime.db.transaction(writes=False) as session:
        assert session.get(User, alice).is_active_agent  # at 600 s, silent for 300 s: not more
    harness.advance(30)
    with runtime.db.transaction(writes=False) as session:
        assert not session.get(User, alice).is_active_agent
        assert session.get(Ticket, active[0]).agent_id == bob


def test_an_active_agent_without_any_heartbeat_counts_as_silent_and_inactive_agents_are_left_alone(runtime):
    with runtime.db.transaction() as session:
        never = rows.user(session, "never", agent=True, active_agent=True, heartbeat=None).id
        idle = rows.user(session, "idle", agent=True, active_agent=False, heartbeat=EPOCH).id
        rows.member(session, 1, idle, receiving=True)  # odd, but not this thread's business
    with_rows(runtime, DEFINITION)
    harness = Harness(runtime, DEFINITION)
    harness.runner.start()
    harness.advance(30)
    with runtime.db.transaction(writes=False) as session:
        assert not session.get(User, never).is_active_agent
        assert session.get(GroupAgent, (1, idle)).is_receiving
    from workers.test_framework import state
    assert state(runtime, "Auto-Inactive").last_items == 1


# ---------------------------------------------------------------- heartbeats from calls

PASSWORD = "agent-Passw0rd!"


def make_agent(runtime, name, active=True, heartbeat=None) -> int:
    with runtime.db.transaction() as session:
        agent = rows.user(session, name, agent=True, active_agent=active, heartbeat=heartbeat)
        agent.password_hash = hash_password(PASSWORD)
        return agent.id


def heartbeat_of(runtime, user_id):
    with runtime.db.transaction(writes=False) as session:
        return session.get(User, user_id).last_heartbeat_utc


async def test_calls_of_an_active_agent_are_heartbeats_written_once_per_interval(server):
    runtime = server.runtime
    old = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=5)
    agent = make_agent(runtime, "carol", heartbeat=old)
    resting = make_agent(runtime, "dave", active=False, heartbeat=old)
    writes = []

    @event.listens_for(runtime.db.engine, "before_cursor_execute")
    def spy(conn, cursor, statement, parameters, context, executemany):
        if statement.startswith("UPDATE users"):
            writes.append(statement)

    org = await server.client("svcOrganization")
    try:
        result = await org.GetAllGroups("carol", PASSWORD)
        assert result.Result
        first = heartbeat_of(runtime, agent)
        assert first > old
        assert len(writes) == 1
        # More calls within the interval (10 s): no more writes, however many.
        for _ in range(5):
            assert (await org.GetAllGroups("carol", PASSWORD)).Result
        assert len(writes) == 1 and heartbeat_of(runtime, agent) == first
        # A call that fails in the operation is still a sign of life.
        with runtime.db.transaction() as session:
            session.get(User, agent).last_heartbeat_utc = old
        failed = await org.GetAgentsForGroup("carol", PASSWORD, 999999)
        assert failed.Result is False
        assert heartbeat_of(runtime, agent) > old
        # Agents who are not active, and failed logins, are no heartbeat.
        assert (await org.GetAllGroups("dave", PASSWORD)).Result
        assert heartbeat_of(runtime, resting) == old
        with runtime.db.transaction() as session:
            session.get(User, agent).last_heartbeat_utc = old
        assert (await org.GetAllGroups("carol", "wrong-password")).Result is False
        assert heartbeat_of(runtime, agent) == old
    finally:
        event.remove(runtime.db.engine, "before_cursor_execute", spy)


async def test_the_thread_sets_a_silent_agent_inactive_on_a_live_runtime(runtime):
    now = dt.datetime.now(dt.timezone.utc)
    with runtime.db.transaction() as session:
        silent = rows.user(session, "silent", agent=True, active_agent=True, heartbeat=now - dt.timedelta(minutes=2))
        rows.member(session, 1, silent.id)
        ticket = rows.ticket(session, agent_id=silent.id).id
        silent_id = silent.id
        alive = rows.user(session, "alive", agent=True, active_agent=True, heartbeat=now + dt.timedelta(hours=1)).id
    service = await started_workers(runtime, {"Auto-Inactive": 0.2})
    try:
        def handed_off():
            with runtime.db.transaction(writes=False) as session:
                return not session.get(User, silent_id).is_active_agent and session.get(Ticket, ticket).agent_id is None
        await eventually(handed_off)
    finally:
        await service.stopService()
    with runtime.db.transaction(writes=False) as session:
        assert session.get(User, alive).is_active_agent
