"""Counting, closing, deleting tickets, their status and URL, related items."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from twisted.internet import threads

from conftest import SoapClient, failed, ok, strings

from stws.db.models import CallLog, Ticket, TicketComment, TicketEvent, TicketLink
from stws.errors import ResultCode
from stws.domain.tickets import fields
from tickets.conftest import make_user, second_group_with_bob

UTC = dt.timezone.utc
MANAGER = ("mona", "mona-passw0rd")


async def new_ticket(desk, subject="Subject", caller=None, group=0, agent=0, waiting=False,
                     address="someone@example.org") -> str:
    result = await desk.tickets.CreateTicket(*(caller or desk.admin), desk.department_id, group, agent, address,
                                             subject, "Body", False, waiting, False)
    assert result.Result, result.Message
    return result.RequestResult


def ticket_row(desk, number) -> Ticket:
    with desk.server.runtime.db.transaction(writes=False) as session:
        ticket = session.scalars(select(Ticket).where(Ticket.ticket_number == number)).one()
        session.expunge(ticket)
        return ticket


def change(desk, number, **values) -> int:
    with desk.server.runtime.db.transaction() as session:
        ticket = session.scalars(select(Ticket).where(Ticket.ticket_number == number)).one()
        for name, value in values.items():
            setattr(ticket, name, value)
        return ticket.id


def events(desk, number) -> list[tuple[str, str]]:
    """(event type, user name) of the ticket's history, oldest first."""
    with desk.server.runtime.db.transaction(writes=False) as session:
        ticket_id = session.scalar(select(Ticket.id).where(Ticket.ticket_number == number))
        return [(e.event_type, e.user_name) for e in session.scalars(
            select(TicketEvent).where(TicketEvent.ticket_id == ticket_id).order_by(TicketEvent.id))]


# ---------------------------------------------------------------- CloseTicket


async def test_close_ticket_with_comment(desk):
    number = await new_ticket(desk, agent=desk.agent_id)
    ok(await desk.tickets.CloseTicket(*desk.agent, number, "  Fixed by restarting the router.  "))
    assert ok(await desk.tickets.GetTicketStatus(*desk.agent, number)).RequestResult == "Closed"
    row = ticket_row(desk, number)
    assert row.status_id == 3 and row.date_closed_utc is not None
    assert dt.datetime.now(UTC) - row.date_closed_utc < dt.timedelta(minutes=1)
    with desk.server.runtime.db.transaction(writes=False) as session:
        (comment,) = session.scalars(select(TicketComment).where(TicketComment.ticket_id == row.id))
        # A Resolution note (comment type 2), as SmarterTrack records what
        # a ticket's closing says; README, svcTickets.
        assert (comment.comment_type_id, comment.text, comment.user_id) == (
            2, "Fixed by restarting the router.", desk.agent_id)
    assert events(desk, number)[-2:] == [("StatusChanged", "alice"), ("CommentAdded", "alice")]
    parts = ok(await desk.tickets.GetTicketConversationPartList(*desk.agent, row.id)).Parts.TicketPartInfo
    assert [part.Type for part in parts if part.PartId == comment.id and part.Type >= 10] == [12]
    info = ok(await desk.tickets.GetTicketInfoByTicketNumber(*desk.agent, number)).Ticket
    assert info.IsOpen is False


async def test_close_ticket_without_comment_adds_no_note(desk):
    number = await new_ticket(desk, waiting=True)
    ok(await desk.tickets.CloseTicket(*desk.admin, number, ""))
    ok(await desk.tickets.CloseTicket(*desk.admin, await new_ticket(desk), None))
    row = ticket_row(desk, number)
    assert row.status_id == 3
    with desk.server.runtime.db.transaction(writes=False) as session:
        assert session.scalars(select(TicketComment)).all() == []
    assert events(desk, number)[-1] == ("StatusChanged", "admin")


async def test_close_ticket_refusals(desk):
    group2, bob, bob_id = await second_group_with_bob(desk)
    number = await new_ticket(desk)
    ok(await desk.tickets.CloseTicket(*desk.admin, number, "done"))
    before = events(desk, number)
    failed(await desk.tickets.CloseTicket(*desk.admin, number, "again"), ResultCode.INVALID_STATE, "already Closed")
    assert events(desk, number) == before

    locked = await new_ticket(desk)
    change(desk, locked, status_id=4)
    failed(await desk.tickets.CloseTicket(*desk.admin, locked, ""), ResultCode.INVALID_STATE, "locked")
    assert ticket_row(desk, locked).status_id == 4

    theirs = await new_ticket(desk, group=group2, agent=bob_id)
    failed(await desk.tickets.CloseTicket(*desk.agent, theirs, ""), ResultCode.NOT_FOUND)
    failed(await desk.tickets.CloseTicket(*desk.customer, theirs, ""), ResultCode.PERMISSION_DENIED)
    failed(await desk.tickets.CloseTicket(*desk.admin, "000-00000000-0000", ""), ResultCode.NOT_FOUND)
    failed(await desk.tickets.CloseTicket(*desk.admin, "", ""), ResultCode.INVALID_ARGUMENT)
    failed(await desk.tickets.CloseTicket(*desk.admin, theirs, "x" * 100_001), ResultCode.INVALID_ARGUMENT,
           "longer than")
    assert ticket_row(desk, theirs).status_id == 1  # nothing half-written
    ok(await desk.tickets.CloseTicket(*bob, theirs, ""))


async def test_close_ticket_needs_the_fields_required_to_close(desk):
    with desk.server.runtime.db.transaction() as session:
        template = fields.create_template(session, "Closing")
        outcome = fields.create_field(session, "Outcome", "text", "", ())
        fields.put_field_on_template(session, template.id, outcome.id, 1, required_by_agents_to_close=True)
        fields.set_department_template(session, desk.department_id, template.id)
    number = await new_ticket(desk)
    failed(await desk.tickets.CloseTicket(*desk.agent, number, "done"), ResultCode.INVALID_STATE, "Outcome")
    assert ticket_row(desk, number).status_id == 1
    ok(await desk.tickets.SetTicketCustomFields(*desk.agent, number, strings("Outcome=Solved")))
    ok(await desk.tickets.CloseTicket(*desk.agent, number, "done"))
    assert ticket_row(desk, number).status_id == 3


# ---------------------------------------------------------------- GetTicketStatus


async def test_get_ticket_status(desk):
    active = await new_ticket(desk, address="cust@example.com")
    change(desk, active, customer_id=desk.customer_id)
    waiting = await new_ticket(desk, waiting=True)
    assert ok(await desk.tickets.GetTicketStatus(*desk.agent, active)).RequestResult == "Active"
    assert ok(await desk.tickets.GetTicketStatus(*desk.agent, "#" + waiting.lower())).RequestResult == "Waiting"
    change(desk, waiting, status_id=4)
    assert ok(await desk.tickets.GetTicketStatus(*desk.agent, waiting)).RequestResult == "Closed and Locked"
    # Customers may ask about their own tickets only.
    assert ok(await desk.tickets.GetTicketStatus(*desk.customer, active)).RequestResult == "Active"
    failed(await desk.tickets.GetTicketStatus(*desk.customer, waiting), ResultCode.NOT_FOUND)
    failed(await desk.tickets.GetTicketStatus(*desk.agent, "123-00000000-FFFF"), ResultCode.NOT_FOUND)
    failed(await desk.tickets.GetTicketStatus(*desk.agent, ""), ResultCode.INVALID_ARGUMENT)
    result = await desk.tickets.GetTicketStatus("alice", "wrong", active)
    failed(result, ResultCode.AUTHENTICATION_FAILED)
    assert result.RequestResult is None


# ---------------------------------------------------------------- DeleteTicket


async def test_delete_ticket_needs_a_manager(desk):
    await make_user(desk.org, desk.admin, *MANAGER, "mona@helpdesk.example", roles="Manager")
    number = await new_ticket(desk, agent=desk.agent_id)
    ticket_id = ticket_row(desk, number).id
    failed(await desk.tickets.DeleteTicket(*desk.agent, ticket_id), ResultCode.PERMISSION_DENIED, "Manager")
    failed(await desk.tickets.DeleteTicket(*desk.customer, ticket_id), ResultCode.PERMISSION_DENIED)
    assert ticket_row(desk, number).is_deleted is False

    ok(await desk.tickets.DeleteTicket(*MANAGER, ticket_id))
    row = ticket_row(desk, number)
    assert row.is_deleted is True and row.date_deleted_utc is not None
    assert row.status_id == 1  # only flagged; the purge removes it later
    assert events(desk, number)[-1] == ("Deleted", "mona")
    # Gone for every operation; deleting again is "not found".
    failed(await desk.tickets.GetTicketInfo(*desk.admin, ticket_id), ResultCode.NOT_FOUND)
    failed(await desk.tickets.GetTicketStatus(*desk.admin, number), ResultCode.NOT_FOUND)
    failed(await desk.tickets.DeleteTicket(*desk.admin, ticket_id), ResultCode.NOT_FOUND)
    failed(await desk.tickets.DeleteTicket(*desk.admin, 98765), ResultCode.NOT_FOUND)
    failed(await desk.tickets.DeleteTicket(*desk.admin, 0), ResultCode.NOT_FOUND)


async def test_delete_a_closed_and_locked_ticket(desk):
    number = await new_ticket(desk)
    ticket_id = change(desk, number, status_id=4)
    ok(await desk.tickets.DeleteTicket(*desk.admin, ticket_id))
    assert ticket_row(desk, number).is_deleted is True


# ---------------------------------------------------------------- GetTicketURL


async def test_get_ticket_url(desk):
    group2, bob, bob_id = await second_group_with_bob(desk)
    number = await new_ticket(desk)
    url = ok(await desk.tickets.GetTicketURL(*desk.agent, number.lower())).RequestResult
    assert url == "%s/Main/frmTicket.aspx?ticket=%s" % (desk.server.base_url, number)
    assert url.startswith("http://127.0.0.1:")
    theirs = await new_ticket(desk, group=group2, agent=bob_id)
    failed(await desk.tickets.GetTicketURL(*desk.agent, theirs), ResultCode.NOT_FOUND)
    failed(await desk.tickets.GetTicketURL(*desk.customer, number), ResultCode.PERMISSION_DENIED)
    failed(await desk.tickets.GetTicketURL(*desk.agent, "999-FFFFFFFF-FFFF"), ResultCode.NOT_FOUND)


async def test_ticket_url_uses_the_configured_public_url(make_config, start_server):
    server = await start_server.started(make_config(public_url="https://help.example.com/desk/"))
    # The WSDL advertises the public URL; call the listening address instead.
    local = "http://127.0.0.1:%d/Services2/svcTickets.asmx" % server.web.port.getHost().port
    client = await threads.deferToThread(SoapClient, local)
    client.service = client.zeep.create_service("{%s}svcTicketsSoap" % client.namespace, local)
    number = ok(await client.CreateTicket(*server.admin, 1, 0, 0, "a@example.org", "s", "b", False, False,
                                          False)).RequestResult
    assert ok(await client.GetTicketURL(*server.admin, number)).RequestResult == (
        "https://help.example.com/desk/Main/frmTicket.aspx?ticket=" + number)


# ---------------------------------------------------------------- AddRelatedItem


def links(desk) -> list[tuple]:
    with desk.server.runtime.db.transaction(writes=False) as session:
        return [(link.ticket_id, link.linked_ticket_id, link.linked_call_log_id)
                for link in session.scalars(select(TicketLink).order_by(TicketLink.id))]


def add_call_log(desk, number, group_id, agent_id, deleted=False) -> int:
    with desk.server.runtime.db.transaction() as session:
        log = CallLog(call_number=number, department_id=desk.department_id, group_id=group_id, agent_id=agent_id,
                      subject="Phone call", is_deleted=deleted)
        session.add(log)
        session.flush()
        return log.id


async def test_relate_tickets_and_call_logs(desk):
    first = await new_ticket(desk, "first")
    second = await new_ticket(desk, "second")
    first_id, second_id = ticket_row(desk, first).id, ticket_row(desk, second).id
    log_id = add_call_log(desk, "CL-20250301-0001", desk.group_id, desk.agent_id)

    # The contract spells the user parameter authUsername here.
    ok(await desk.tickets.AddRelatedItem(authUsername="alice", authPassword="alice-passw0rd",
                                         ticketNumber=first, relatedItemNumber=second.lower()))
    ok(await desk.tickets.AddRelatedItem(*desk.agent, first, "CL-20250301-0001"))
    ok(await desk.tickets.AddRelatedItem(*desk.agent, second, first))  # the other direction is its own link
    assert links(desk) == [(first_id, second_id, None), (first_id, None, log_id), (second_id, first_id, None)]
    assert events(desk, first)[-2:] == [("RelatedItemAdded", "alice")] * 2

    failed(await desk.tickets.AddRelatedItem(*desk.agent, first, "#" + second), ResultCode.ALREADY_EXISTS)
    failed(await desk.tickets.AddRelatedItem(*desk.agent, first, "CL-20250301-0001"), ResultCode.ALREADY_EXISTS)
    failed(await desk.tickets.AddRelatedItem(*desk.agent, first, first.lower()), ResultCode.INVALID_ARGUMENT,
           "itself")
    failed(await desk.tickets.AddRelatedItem(*desk.agent, first, ""), ResultCode.INVALID_ARGUMENT)
    failed(await desk.tickets.AddRelatedItem(*desk.agent, first, "CL-NOPE"), ResultCode.NOT_FOUND)
    failed(await desk.tickets.AddRelatedItem(*desk.agent, "000-00000000-0000", second), ResultCode.NOT_FOUND)
    assert len(links(desk)) == 3


async def test_related_items_must_be_visible_and_the_ticket_changeable(desk):
    group2, bob, bob_id = await second_group_with_bob(desk)
    mine = await new_ticket(desk, "mine")
    theirs = await new_ticket(desk, "theirs", group=group2, agent=bob_id)
    add_call_log(desk, "CL-BOB", group2, bob_id)
    add_call_log(desk, "CL-GONE", desk.group_id, desk.agent_id, deleted=True)
    deleted = await new_ticket(desk, "deleted")
    change(desk, deleted, is_deleted=True)

    failed(await desk.tickets.AddRelatedItem(*desk.agent, mine, theirs), ResultCode.NOT_FOUND)
    failed(await desk.tickets.AddRelatedItem(*desk.agent, mine, "CL-BOB"), ResultCode.NOT_FOUND)
    failed(await desk.tickets.AddRelatedItem(*desk.agent, mine, "CL-GONE"), ResultCode.NOT_FOUND)
    failed(await desk.tickets.AddRelatedItem(*desk.admin, mine, deleted), ResultCode.NOT_FOUND)
    failed(await desk.tickets.AddRelatedItem(*desk.agent, theirs, mine), ResultCode.NOT_FOUND)
    failed(await desk.tickets.AddRelatedItem(*desk.customer, mine, theirs), ResultCode.PERMISSION_DENIED)
    ok(await desk.tickets.AddRelatedItem(*desk.admin, mine, "CL-BOB"))  # administrators see every call log
    ok(await desk.tickets.AddRelatedItem(*bob, theirs, "CL-BOB"))

    change(desk, mine, status_id=4)
    failed(await desk.tickets.AddRelatedItem(*desk.admin, mine, theirs), ResultCode.INVALID_STATE, "locked")
    # A locked ticket may still be the related item of another one.
    ok(await desk.tickets.AddRelatedItem(*desk.admin, theirs, mine))
    assert len(links(desk)) == 3


# ---------------------------------------------------------------- counts


async def counting_fixture(desk):
    """Tickets in two groups: alice (group 1) has 2 active, 1 waiting (with a
    follow-up), 1 closed with a follow-up, 1 deleted; group 1 has 2 queued
    active tickets and 1 active of the admin; bob (group 2) 1 waiting."""
    group2, bob, bob_id = await second_group_with_bob(desk)
    mine = [await new_ticket(desk, "a%d" % i, agent=desk.agent_id) for i in range(2)]
    waiting = await new_ticket(desk, "w", agent=desk.agent_id, waiting=True)
    change(desk, waiting, requires_follow_up=True, date_follow_up_utc=dt.datetime(2030, 1, 1, tzinfo=UTC))
    closed = await new_ticket(desk, "c", agent=desk.agent_id)
    change(desk, closed, status_id=3, requires_follow_up=True)
    deleted = await new_ticket(desk, "d", agent=desk.agent_id)
    change(desk, deleted, is_deleted=True)
    for i in range(2):
        change(desk, await new_ticket(desk, "q%d" % i), agent_id=None)
    await new_ticket(desk, "admin's")  # assigned to the admin (user 1)
    await new_ticket(desk, "bob's", group=group2, agent=bob_id, waiting=True)
    return group2, bob, bob_id, mine


def counts(result):
    ok(result)
    return [(c.BrandId, c.DepartmentId, c.GroupId, c.UserId, c.ActiveTicketCount, c.WaitingTicketCount,
             c.FollowUpTicketCount) for c in (result.TicketCounts.TicketCountInfo if result.TicketCounts else [])]


async def test_ticket_counts_of_the_agent(desk):
    group2, bob, bob_id, _ = await counting_fixture(desk)
    a = desk.agent_id
    assert counts(await desk.tickets.GetTicketCounts_Agent(*desk.agent)) == [(1, 1, 1, a, 2, 1, 2)]
    # bob: his waiting ticket in group 2. The administrator, in no group, has one ticket assigned.
    assert counts(await desk.tickets.GetTicketCounts_Agent(*bob)) == [(1, 1, group2, bob_id, 0, 1, 0)]
    assert counts(await desk.tickets.GetTicketCounts_Agent(*desk.admin)) == [(1, 1, 1, 1, 1, 0, 0)]
    # A member of a group without tickets still gets a row for it.
    carol_id = await make_user(desk.org, desk.admin, "carol", "carol-passw0rd", "carol@helpdesk.example",
                               roles="Agent")
    assert (await desk.org.AddAgentToGroup(*desk.admin, group2, carol_id, "Queue", False, 0)).Result
    assert counts(await desk.tickets.GetTicketCounts_Agent("carol", "carol-passw0rd")) == [
        (1, 1, group2, carol_id, 0, 0, 0)]
    failed(await desk.tickets.GetTicketCounts_Agent(*desk.customer), ResultCode.PERMISSION_DENIED)


async def test_ticket_counts_global(desk):
    group2, bob, bob_id, _ = await counting_fixture(desk)
    a = desk.agent_id
    everything = [(1, 1, 1, 0, 2, 0, 0), (1, 1, 1, 1, 1, 0, 0), (1, 1, 1, a, 2, 1, 2),
                  (1, 1, group2, bob_id, 0, 1, 0)]
    assert counts(await desk.tickets.GetTicketCounts_Global(*desk.admin)) == everything
    # Agents count what they can see: their groups' tickets and those assigned to them.
    assert counts(await desk.tickets.GetTicketCounts_Global(*desk.agent)) == everything[:3]
    assert counts(await desk.tickets.GetTicketCounts_Global(*bob)) == everything[3:]
    failed(await desk.tickets.GetTicketCounts_Global(*desk.customer), ResultCode.PERMISSION_DENIED)


async def test_ticket_count_is_the_open_tickets_the_caller_sees(desk):
    group2, bob, bob_id, _ = await counting_fixture(desk)
    assert ok(await desk.tickets.GetTicketCount(*desk.admin)).RequestResult == 7
    assert ok(await desk.tickets.GetTicketCount(*desk.agent)).RequestResult == 6
    assert ok(await desk.tickets.GetTicketCount(*bob)).RequestResult == 1
    assert ok(await desk.tickets.GetTicketCount(*desk.customer)).RequestResult == 0
    mine = await new_ticket(desk, "cust's", address="cust@example.com")
    change(desk, mine, customer_id=desk.customer_id)
    assert ok(await desk.tickets.GetTicketCount(*desk.customer)).RequestResult == 1
    failed(await desk.tickets.GetTicketCount("cust", "wrong"), ResultCode.AUTHENTICATION_FAILED)


async def test_group_ticket_info(desk):
    group2, bob, bob_id, _ = await counting_fixture(desk)
    result = ok(await desk.tickets.GetGroupTicketInfo(*desk.agent))
    assert result.RequestResults.string == [
        "Group.1.Name=Level 1", "Group.1.DepartmentId=1", "Group.1.Active=5", "Group.1.Waiting=1",
        "Group.1.Queued=2", "Group.1.FollowUp=2",
    ]
    # bob's group; carol (in both groups) gets both, in id order.
    prefix = "Group.%d." % group2
    assert ok(await desk.tickets.GetGroupTicketInfo(*bob)).RequestResults.string == [
        prefix + "Name=Level 2", prefix + "DepartmentId=1", prefix + "Active=0", prefix + "Waiting=1",
        prefix + "Queued=0", prefix + "FollowUp=0",
    ]
    carol_id = await make_user(desk.org, desk.admin, "carol", "carol-passw0rd", "carol@helpdesk.example",
                               roles="Agent")
    for group in (group2, 1):
        assert (await desk.org.AddAgentToGroup(*desk.admin, group, carol_id, "Queue", False, 0)).Result
    both = ok(await desk.tickets.GetGroupTicketInfo("carol", "carol-passw0rd")).RequestResults.string
    assert [item.split("=")[0] for item in both] == [
        "Group.1.Name", "Group.1.DepartmentId", "Group.1.Active", "Group.1.Waiting", "Group.1.Queued",
        "Group.1.FollowUp"] + [prefix + key for key in ("Name", "DepartmentId", "Active", "Waiting", "Queued",
                                                        "FollowUp")]
    # The administrator belongs to no group.
    assert not ok(await desk.tickets.GetGroupTicketInfo(*desk.admin)).RequestResults
    failed(await desk.tickets.GetGroupTicketInfo(*desk.customer), ResultCode.PERMISSION_DENIED)
