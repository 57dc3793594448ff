"""Agent availability (receiving status per group), distribution of new and
queued tickets, hand-off, and the agent's signature."""
from __future__ import annotations

import datetime as dt

from conftest import failed, ok, strings
from stws.errors import ResultCode
from tickets.conftest import make_user

BOB = ("bob", "bob-passw0rd")
CAROL = ("carol", "carol-passw0rd")


async def add_agent(desk, credentials, mode="Primary", max_tickets=None, group_id=None) -> int:
    user_id = await make_user(desk.org, desk.admin, *credentials, "%s@helpdesk.example" % credentials[0],
                              roles="Agent")
    await member(desk, user_id, mode, max_tickets, group_id)
    return user_id


async def member(desk, user_id, mode="Primary", max_tickets=None, group_id=None):
    ok(await desk.org.AddAgentToGroup(*desk.admin, group_id or desk.group_id, user_id, mode,
                                      max_tickets is not None, max_tickets or 0))


def statuses(desk, *items):
    """A ReceivingStatusInfo array: items are (group id, receiving) or (department id, group id, receiving)."""
    kind = desk.tickets.type("ReceivingStatusInfo")
    values = []
    for item in items:
        department_id, group_id, receiving = item if len(item) == 3 else (0, *item)
        values.append(kind(DepartmentId=department_id, DepartmentName="", GroupId=group_id, GroupName="",
                           IsReceiving=receiving))
    return {"ReceivingStatusInfo": values}


async def receiving(desk, credentials, value=True):
    ok(await desk.tickets.SetAgentReceivingStatusForAllGroups(*credentials, value))


async def customer_ticket(desk, subject="Help", address="cust@example.com"):
    created = ok(await desk.tickets.CreateTicketFromCustomer(*desk.admin, desk.department_id, address, subject,
                                                             "Please help.", False, False))
    return (await desk.tickets.GetTicketInfoByTicketNumber(*desk.admin, created.RequestResult)).Ticket


async def agent_of(desk, ticket_id) -> int:
    return (await desk.tickets.GetTicketInfo(*desk.admin, ticket_id)).Ticket.IdAgent


def events(desk, ticket_id, kind):
    return desk.sql("SELECT description, user_name FROM ticket_events WHERE ticket_id = :t AND event_type = :k "
                    "ORDER BY id", t=ticket_id, k=kind)


def update(desk, statement, **params):
    from sqlalchemy import text

    with desk.server.runtime.db.engine.begin() as connection:
        assert connection.execute(text(statement), params).rowcount == 1


def flags(desk, user_id):
    (row,) = desk.sql("SELECT is_active_agent, last_heartbeat_utc FROM users WHERE id = :u", u=user_id)
    return bool(row[0]), row[1]


async def second_group(desk, name="Level 2") -> int:
    return ok(await desk.org.CreateGroup(*desk.admin, desk.department_id, name, "")).RequestResult


# ---------------------------------------------------------------- receiving status


async def test_get_receiving_status_lists_every_group_of_the_agent(desk):
    level2 = await second_group(desk)
    await member(desk, desk.agent_id, "Secondary", group_id=level2)
    other_department = ok(await desk.org.CreateDepartment(*desk.admin, 1, "Sales", "", "Front")).RequestResult
    result = ok(await desk.tickets.GetAgentReceivingStatus(*desk.agent))
    rows = [(r.DepartmentId, r.DepartmentName, r.GroupId, r.GroupName, r.IsReceiving)
            for r in result.ReceivingStatus.ReceivingStatusInfo]
    assert rows == [(1, "Support", 1, "Level 1", False), (1, "Support", level2, "Level 2", False)]
    # The admin sees the same through the AsAdmin twin; other departments' groups are not listed.
    as_admin = ok(await desk.tickets.GetAgentReceivingStatusAsAdmin(*desk.admin, "ALICE"))
    assert [r.GroupId for r in as_admin.ReceivingStatus.ReceivingStatusInfo] == [1, level2]
    assert other_department


async def test_get_receiving_status_failures(desk):
    failed(await desk.tickets.GetAgentReceivingStatus(*desk.customer), ResultCode.PERMISSION_DENIED)
    failed(await desk.tickets.GetAgentReceivingStatusAsAdmin(*desk.agent, "alice"), ResultCode.PERMISSION_DENIED)
    failed(await desk.tickets.GetAgentReceivingStatusAsAdmin(*desk.admin, "nobody"), ResultCode.NOT_FOUND)
    failed(await desk.tickets.GetAgentReceivingStatusAsAdmin(*desk.admin, "cust"), ResultCode.INVALID_ARGUMENT)
    failed(await desk.tickets.GetAgentReceivingStatusAsAdmin(*desk.admin, " "), ResultCode.INVALID_ARGUMENT)
    failed(await desk.tickets.GetAgentReceivingStatus("alice", "wrong"), ResultCode.AUTHENTICATION_FAILED)


async def test_agent_with_no_group_has_an_empty_list(desk):
    await make_user(desk.org, desk.admin, *BOB, "bob@helpdesk.example", roles="Agent")
    result = ok(await desk.tickets.GetAgentReceivingStatus(*BOB))
    assert not result.ReceivingStatus or not result.ReceivingStatus.ReceivingStatusInfo


async def test_starting_and_stopping_to_receive_makes_the_agent_active_and_inactive(desk):
    level2 = await second_group(desk)
    await member(desk, desk.agent_id, group_id=level2)
    assert flags(desk, desk.agent_id) == (False, None)
    before = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None) - dt.timedelta(seconds=1)
    result = ok(await desk.tickets.SetAgentReceivingStatus(*desk.agent, statuses(desk, (level2, True))))
    assert "1 of 2 groups" in result.Message
    got = (await desk.tickets.GetAgentReceivingStatus(*desk.agent)).ReceivingStatus.ReceivingStatusInfo
    assert [(r.GroupId, r.IsReceiving) for r in got] == [(1, False), (level2, True)]
    active, heartbeat = flags(desk, desk.agent_id)
    assert active and dt.datetime.fromisoformat(str(heartbeat)) >= before
    agents = (await desk.org.GetAgentsForGroup(*desk.admin, level2)).Agents.AgentInfo
    assert [(a.UserName, a.IsActive, a.IsReceiving) for a in agents] == [("alice", True, True)]
    # Receiving in one group of two still counts as active.
    ok(await desk.tickets.SetAgentReceivingStatusAsAdmin(*desk.admin, "alice",
                                                         statuses(desk, (1, True), (1, True))))
    ok(await desk.tickets.SetAgentReceivingStatus(*desk.agent, statuses(desk, (1, False))))
    assert flags(desk, desk.agent_id)[0] is True
    # Stopping in the last group makes the agent inactive.
    ok(await desk.tickets.SetAgentReceivingStatus(*desk.agent, statuses(desk, (1, desk.group_id, False),
                                                                        (level2, False))))
    assert flags(desk, desk.agent_id)[0] is False
    got = (await desk.tickets.GetAgentReceivingStatus(*desk.agent)).ReceivingStatus.ReceivingStatusInfo
    assert [r.IsReceiving for r in got] == [False, False]


async def test_set_receiving_status_rejects_bad_input_and_changes_nothing(desk):
    level2 = await second_group(desk)  # alice is not a member
    sales = ok(await desk.org.CreateDepartment(*desk.admin, 1, "Sales", "", "Front")).RequestResult
    t = desk.tickets
    # A valid entry next to a group alice is not in: nothing is applied.
    failed(await t.SetAgentReceivingStatus(*desk.agent, statuses(desk, (1, True), (level2, True))),
           ResultCode.INVALID_ARGUMENT)
    failed(await t.SetAgentReceivingStatus(*desk.agent, statuses(desk, (1, True), (999, True))),
           ResultCode.INVALID_ARGUMENT)
    failed(await t.SetAgentReceivingStatus(*desk.agent, statuses(desk, (0, True))), ResultCode.INVALID_ARGUMENT)
    failed(await t.SetAgentReceivingStatus(*desk.agent, statuses(desk, (sales, 1, True))),
           ResultCode.INVALID_ARGUMENT)
    failed(await t.SetAgentReceivingStatus(*desk.agent, statuses(desk, (1, True), (1, False))),
           ResultCode.INVALID_ARGUMENT)
    failed(await t.SetAgentReceivingStatus(*desk.agent, {"ReceivingStatusInfo": []}), ResultCode.INVALID_ARGUMENT)
    failed(await t.SetAgentReceivingStatus(*desk.agent, None), ResultCode.INVALID_ARGUMENT)
    got = (await t.GetAgentReceivingStatus(*desk.agent)).ReceivingStatus.ReceivingStatusInfo
    assert [r.IsReceiving for r in got] == [False]
    assert flags(desk, desk.agent_id) == (False, None)
    # Roles: customers are not agents; only managers/administrators act for others.
    failed(await t.SetAgentReceivingStatus(*desk.customer, statuses(desk, (1, True))), ResultCode.PERMISSION_DENIED)
    failed(await t.SetAgentReceivingStatusAsAdmin(*desk.agent, "alice", statuses(desk, (1, True))),
           ResultCode.PERMISSION_DENIED)
    failed(await t.SetAgentReceivingStatusAsAdmin(*desk.admin, "nobody", statuses(desk, (1, True))),
           ResultCode.NOT_FOUND)
    failed(await t.SetAgentReceivingStatusAsAdmin(*desk.admin, "cust", statuses(desk, (1, True))),
           ResultCode.INVALID_ARGUMENT)
    got = (await t.GetAgentReceivingStatus(*desk.agent)).ReceivingStatus.ReceivingStatusInfo
    assert [r.IsReceiving for r in got] == [False]


async def test_a_manager_may_act_for_an_agent(desk):
    await make_user(desk.org, desk.admin, "mary", "mary-passw0rd", "mary@helpdesk.example", roles="Manager")
    ok(await desk.tickets.SetAgentReceivingStatusAsAdmin("mary", "mary-passw0rd", "alice", statuses(desk, (1, True))))
    got = (await desk.tickets.GetAgentReceivingStatusAsAdmin("mary", "mary-passw0rd", "alice"))
    assert [r.IsReceiving for r in got.ReceivingStatus.ReceivingStatusInfo] == [True]


async def test_locked_out_agent_cannot_start_receiving(desk):
    bob_id = await add_agent(desk, BOB)
    ok(await desk.org.SetUsersProperties(*desk.admin, bob_id, strings("IsLockedOut=true")))
    failed(await desk.tickets.SetAgentReceivingStatusForAllGroupsAsAdmin(*desk.admin, "bob", True),
           ResultCode.INVALID_STATE)
    assert flags(desk, bob_id) == (False, None)
    # Stopping is always allowed.
    ok(await desk.tickets.SetAgentReceivingStatusForAllGroupsAsAdmin(*desk.admin, "bob", False))


async def test_receiving_for_all_groups(desk):
    level2 = await second_group(desk)
    await member(desk, desk.agent_id, "Queue", group_id=level2)
    result = ok(await desk.tickets.SetAgentReceivingStatusForAllGroups(*desk.agent, True))
    assert "2 of 2 groups" in result.Message
    got = (await desk.tickets.GetAgentReceivingStatus(*desk.agent)).ReceivingStatus.ReceivingStatusInfo
    assert [r.IsReceiving for r in got] == [True, True]
    assert flags(desk, desk.agent_id)[0] is True
    ok(await desk.tickets.SetAgentReceivingStatusForAllGroupsAsAdmin(*desk.admin, "alice", False))
    got = (await desk.tickets.GetAgentReceivingStatus(*desk.agent)).ReceivingStatus.ReceivingStatusInfo
    assert [r.IsReceiving for r in got] == [False, False]
    assert flags(desk, desk.agent_id)[0] is False


async def test_receiving_for_all_groups_failures(desk):
    await make_user(desk.org, desk.admin, *BOB, "bob@helpdesk.example", roles="Agent")
    failed(await desk.tickets.SetAgentReceivingStatusForAllGroups(*BOB, True), ResultCode.INVALID_STATE)
    ok(await desk.tickets.SetAgentReceivingStatusForAllGroups(*BOB, False))  # nothing to stop: fine
    failed(await desk.tickets.SetAgentReceivingStatusForAllGroups(*desk.customer, True),
           ResultCode.PERMISSION_DENIED)
    failed(await desk.tickets.SetAgentReceivingStatusForAllGroupsAsAdmin(*desk.agent, "bob", True),
           ResultCode.PERMISSION_DENIED)
    failed(await desk.tickets.SetAgentReceivingStatusForAllGroupsAsAdmin(*desk.admin, "nobody", True),
           ResultCode.NOT_FOUND)


# ---------------------------------------------------------------- distribution


async def test_new_tickets_go_round_robin_primary_first_within_max_tickets(desk):
    # alice (desk) primary; bob primary with at most 2 open tickets; carol secondary (overflow).
    bob_id = await add_agent(desk, BOB, "Primary", max_tickets=2)
    carol_id = await add_agent(desk, CAROL, "Secondary")
    dave_id = await add_agent(desk, ("dave", "dave-passw0rd"), "Queue")  # pull from queue: never assigned
    ok(await desk.org.AddAgentToGroup(*desk.admin, 1, desk.agent_id, "Primary", True, 3))
    for credentials in (desk.agent, BOB, CAROL, ("dave", "dave-passw0rd")):
        await receiving(desk, credentials)
    got = [(await customer_ticket(desk, "T%d" % n)).IdAgent for n in range(7)]
    a, b, c = desk.agent_id, bob_id, carol_id
    assert got == [a, b, a, b, a, c, c]
    assert dave_id not in got
    # carol stops receiving: alice and bob are full, so the next one waits in the queue.
    ok(await desk.tickets.SetAgentReceivingStatus(*CAROL, statuses(desk, (1, False))))
    assert (await customer_ticket(desk, "T7")).IdAgent == 0


async def test_closed_tickets_free_a_place_under_max_tickets(desk):
    ok(await desk.org.AddAgentToGroup(*desk.admin, 1, desk.agent_id, "Primary", True, 1))
    await receiving(desk, desk.agent)
    first = await customer_ticket(desk)
    assert first.IdAgent == desk.agent_id
    assert (await customer_ticket(desk)).IdAgent == 0
    update(desk, "UPDATE tickets SET status_id = 3 WHERE id = :t", t=first.ID)
    assert (await customer_ticket(desk)).IdAgent == desk.agent_id


async def test_tickets_wait_in_the_queue_until_an_agent_starts_receiving(desk):
    bob_id = await add_agent(desk, BOB, "Primary")
    ok(await desk.org.AddAgentToGroup(*desk.admin, 1, desk.agent_id, "Primary", True, 2))
    tickets = [await customer_ticket(desk, "Q%d" % n) for n in range(5)]
    assert [t.IdAgent for t in tickets] == [0] * 5
    # Tickets that are not queued Active ones are not dealt out.
    waiting, deleted, spam = tickets[3].ID, tickets[4].ID, None
    update(desk, "UPDATE tickets SET status_id = 2 WHERE id = :t", t=waiting)
    update(desk, "UPDATE tickets SET is_deleted = :y WHERE id = :t", t=deleted, y=True)
    spam = (await customer_ticket(desk, "Spam")).ID
    update(desk, "UPDATE tickets SET is_spam = :y WHERE id = :t", t=spam, y=True)
    result = ok(await desk.tickets.SetAgentReceivingStatus(*desk.agent, statuses(desk, (1, True))))
    assert "2 queued tickets assigned" in result.Message
    # Oldest first, up to alice's maximum of 2.
    assert [await agent_of(desk, t.ID) for t in tickets[:3]] == [desk.agent_id, desk.agent_id, 0]
    assert events(desk, tickets[0].ID, "Assigned") == [("Assigned to alice", "alice")]
    ok(await desk.tickets.SetAgentReceivingStatusForAllGroupsAsAdmin(*desk.admin, "bob", True))
    assert await agent_of(desk, tickets[2].ID) == bob_id
    assert events(desk, tickets[2].ID, "Assigned") == [("Assigned to bob", "admin")]
    for untouched in (waiting, spam):
        assert await agent_of(desk, untouched) == 0
    assert desk.sql("SELECT agent_id FROM tickets WHERE id = :t", t=deleted) == [(None,)]
    # The round robin continues after the queue: bob was assigned last, alice is full... bob again;
    # once alice has room she is next.
    assert (await customer_ticket(desk)).IdAgent == bob_id
    update(desk, "UPDATE tickets SET status_id = 3 WHERE id = :t", t=tickets[0].ID)
    assert (await customer_ticket(desk)).IdAgent == desk.agent_id


async def test_queued_tickets_are_shared_round_robin_among_receiving_agents(desk):
    bob_id = await add_agent(desk, BOB, "Primary")
    carol_id = await add_agent(desk, CAROL, "Secondary")
    await receiving(desk, CAROL)
    ok(await desk.org.AddAgentToGroup(*desk.admin, 1, carol_id, "Secondary", True, 0))  # carol is full
    await receiving(desk, BOB)
    ok(await desk.org.AddAgentToGroup(*desk.admin, 1, bob_id, "Queue", False, 0))  # bob pulls from the queue
    tickets = [await customer_ticket(desk, "Q%d" % n) for n in range(4)]
    assert [t.IdAgent for t in tickets] == [0] * 4
    ok(await desk.org.AddAgentToGroup(*desk.admin, 1, bob_id, "Primary", False, 0))
    # alice starts: the queue is dealt to every receiving round-robin agent, alice first (never assigned).
    ok(await desk.tickets.SetAgentReceivingStatusForAllGroups(*desk.agent, True))
    assert [await agent_of(desk, t.ID) for t in tickets] == [desk.agent_id, bob_id, desk.agent_id, bob_id]


async def test_starting_again_in_a_group_already_receiving_assigns_nothing_new(desk):
    await receiving(desk, desk.agent)
    ok(await desk.org.AddAgentToGroup(*desk.admin, 1, desk.agent_id, "Queue", False, 0))
    ticket = await customer_ticket(desk)
    assert ticket.IdAgent == 0
    ok(await desk.org.AddAgentToGroup(*desk.admin, 1, desk.agent_id, "Primary", False, 0))
    result = ok(await desk.tickets.SetAgentReceivingStatus(*desk.agent, statuses(desk, (1, True))))
    assert "assigned" not in result.Message  # no change of state, so no assignment run
    assert await agent_of(desk, ticket.ID) == 0


# ---------------------------------------------------------------- hand-off


async def test_hand_off_moves_active_tickets_to_the_other_agent(desk):
    bob_id = await add_agent(desk, BOB, "Primary")
    await receiving(desk, desk.agent)
    mine = [await customer_ticket(desk, "M%d" % n) for n in range(5)]
    assert {t.IdAgent for t in mine} == {desk.agent_id}
    waiting, pinned, closed = mine[2].ID, mine[3].ID, mine[4].ID
    update(desk, "UPDATE tickets SET status_id = 2 WHERE id = :t", t=waiting)
    update(desk, "UPDATE tickets SET is_pinned_to_agent = :y WHERE id = :t", t=pinned, y=True)
    update(desk, "UPDATE tickets SET status_id = 4 WHERE id = :t", t=closed)
    await receiving(desk, BOB)
    result = ok(await desk.tickets.HandOffActiveTickets(*desk.agent))
    assert result.Message.startswith("2 active tickets handed off (2 to other agents, 0 to the queue)")
    assert "1 pinned tickets kept" in result.Message
    assert [await agent_of(desk, t.ID) for t in mine] == [bob_id, bob_id, desk.agent_id, desk.agent_id,
                                                          desk.agent_id]
    assert events(desk, mine[0].ID, "HandedOff") == [("Handed off by alice: assigned to bob", "alice")]
    assert events(desk, waiting, "HandedOff") == []
    # alice keeps receiving: the next new ticket may go to her again.
    assert (await customer_ticket(desk)).IdAgent == desk.agent_id
    # Nothing left to hand off.
    assert ok(await desk.tickets.HandOffActiveTickets(*BOB)).Message.startswith("2 active tickets")
    assert ok(await desk.tickets.HandOffActiveTickets(*BOB)).Message.startswith("0 active tickets")


async def test_hand_off_spreads_round_robin_and_queues_what_nobody_can_take(desk):
    bob_id = await add_agent(desk, BOB, "Primary", max_tickets=1)
    carol_id = await add_agent(desk, CAROL, "Secondary", max_tickets=1)
    await receiving(desk, desk.agent)
    mine = [await customer_ticket(desk, "M%d" % n) for n in range(4)]
    await receiving(desk, BOB)
    await receiving(desk, CAROL)
    result = ok(await desk.tickets.HandOffActiveTicketsAsAdmin(*desk.admin, "alice"))
    assert result.Message.startswith("4 active tickets handed off (2 to other agents, 2 to the queue)")
    assert [await agent_of(desk, t.ID) for t in mine] == [bob_id, carol_id, 0, 0]
    assert events(desk, mine[3].ID, "HandedOff") == [("Handed off by alice: placed in the queue of Level 1",
                                                      "admin")]
    # The queued ones go to the next agent who starts receiving.
    ok(await desk.tickets.SetAgentReceivingStatusForAllGroups(*desk.agent, False))
    dave_id = await add_agent(desk, ("dave", "dave-passw0rd"), "Primary")
    await receiving(desk, ("dave", "dave-passw0rd"))
    assert [await agent_of(desk, t.ID) for t in mine[2:]] == [dave_id, dave_id]


async def test_hand_off_failures(desk):
    failed(await desk.tickets.HandOffActiveTickets(*desk.customer), ResultCode.PERMISSION_DENIED)
    failed(await desk.tickets.HandOffActiveTicketsAsAdmin(*desk.agent, "alice"), ResultCode.PERMISSION_DENIED)
    failed(await desk.tickets.HandOffActiveTicketsAsAdmin(*desk.admin, "nobody"), ResultCode.NOT_FOUND)
    failed(await desk.tickets.HandOffActiveTicketsAsAdmin(*desk.admin, "cust"), ResultCode.INVALID_ARGUMENT)
    failed(await desk.tickets.HandOffActiveTicketsAsAdmin(*desk.admin, ""), ResultCode.INVALID_ARGUMENT)
    failed(await desk.tickets.HandOffActiveTickets("alice", "wrong"), ResultCode.AUTHENTICATION_FAILED)


# ---------------------------------------------------------------- signature


async def test_signature_empty_plain_and_html(desk):
    t = desk.tickets
    empty = ok(await t.GetAgentsSignature(*desk.agent, 0, 0, True))
    assert not empty.RequestResult
    ok(await desk.org.SetUsersProperties(*desk.agent, desk.agent_id, strings("Signature=Alice & co\nSupport")))
    assert ok(await t.GetAgentsSignature(*desk.agent, desk.department_id, desk.group_id, True)).RequestResult \
        == "Alice & co\nSupport"
    assert ok(await t.GetAgentsSignature(*desk.agent, 0, 0, False)).RequestResult \
        == "<p>Alice &amp; co<br>Support</p>"
    ok(await desk.org.SetUsersProperties(*desk.admin, desk.agent_id,
                                         strings("Signature=<p>Alice <b>Smith</b><br>Support &amp; Sales</p>")))
    assert ok(await t.GetAgentsSignature(*desk.agent, 0, 0, False)).RequestResult \
        == "<p>Alice <b>Smith</b><br>Support &amp; Sales</p>"
    assert ok(await t.GetAgentsSignature(*desk.agent, 0, desk.group_id, True)).RequestResult \
        == "Alice Smith\nSupport & Sales"
    # The caller's own signature, not somebody else's.
    await make_user(desk.org, desk.admin, *BOB, "bob@helpdesk.example", roles="Agent")
    assert not ok(await t.GetAgentsSignature(*BOB, 0, 0, True)).RequestResult


async def test_signature_failures(desk):
    t = desk.tickets
    sales = ok(await desk.org.CreateDepartment(*desk.admin, 1, "Sales", "", "Front")).RequestResult
    failed(await t.GetAgentsSignature(*desk.agent, 99, 0, True), ResultCode.NOT_FOUND)
    failed(await t.GetAgentsSignature(*desk.agent, 0, 99, True), ResultCode.NOT_FOUND)
    failed(await t.GetAgentsSignature(*desk.agent, sales, desk.group_id, True), ResultCode.INVALID_ARGUMENT)
    failed(await t.GetAgentsSignature(*desk.customer, 0, 0, True), ResultCode.PERMISSION_DENIED)
    failed(await t.GetAgentsSignature("alice", "nope", 0, 0, True), ResultCode.AUTHENTICATION_FAILED)
