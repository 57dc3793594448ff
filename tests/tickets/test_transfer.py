"""Moving tickets: TransferTicket, TransferTicketToInstance (against a second
live server), SetFollowUp / RemoveFollowUp and applying due follow-ups."""
from __future__ import annotations

import datetime as dt
import os
import re
import socket

import pytest
import pytest_twisted
import zeep.exceptions
from sqlalchemy import select, update
from twisted.internet import threads

from conftest import ADMIN_PASSWORD, SoapClient, failed, ok
from stws.db.models import (
    CommentType, GroupAgent, Ticket, TicketAttachment, TicketComment, TicketEvent, TicketMessage, TicketTransferClaim,
    TransferServer, utcnow,
)
from stws.errors import AlreadyExists, InvalidArgument, NotFound, ResultCode
from stws.domain.tickets import transfer
from tickets.conftest import make_user

UTC = dt.timezone.utc


async def new_ticket(desk, subject="Printer on fire", address="cust@example.com") -> str:
    result = ok(await desk.tickets.CreateTicketFromCustomer(*desk.agent, desk.department_id, address, subject,
                                                            "Please help.", False, False))
    return result.RequestResult


def load(desk, number) -> Ticket:
    with desk.server.runtime.db.transaction(writes=False) as session:
        return session.scalars(select(Ticket).where(Ticket.ticket_number == number)).one()


def comments(desk, ticket_id):
    with desk.server.runtime.db.transaction(writes=False) as session:
        return list(session.scalars(select(TicketComment).where(TicketComment.ticket_id == ticket_id)
                                    .order_by(TicketComment.id)))


def events(desk, ticket_id, event_type=None):
    with desk.server.runtime.db.transaction(writes=False) as session:
        query = select(TicketEvent).where(TicketEvent.ticket_id == ticket_id).order_by(TicketEvent.id)
        if event_type:
            query = query.where(TicketEvent.event_type == event_type)
        return list(session.scalars(query))


def set_receiving(desk, group_id, user_id, receiving=True):
    with desk.server.runtime.db.transaction() as session:
        session.get(GroupAgent, (group_id, user_id)).is_receiving = receiving


def set_status(desk, number, status_id):
    with desk.server.runtime.db.transaction() as session:
        session.scalars(select(Ticket).where(Ticket.ticket_number == number)).one().status_id = status_id


async def agent(desk, name, group_id, mode="Primary") -> tuple[tuple, int]:
    credentials = (name, name + "-passw0rd")
    user_id = await make_user(desk.org, desk.admin, *credentials, "%s@helpdesk.example" % name, roles="Agent")
    ok(await desk.org.AddAgentToGroup(*desk.admin, group_id, user_id, mode, False, 0))
    return credentials, user_id


async def billing(desk) -> tuple[int, int]:
    """A second department "Billing" with its front line group; (department id, group id)."""
    department_id = ok(await desk.org.CreateDepartment(*desk.admin, 1, "Billing", "billing@example.com",
                                                       "Billing L1")).RequestResult
    groups = (await desk.org.GetAllGroups(*desk.admin)).Groups.GroupInfo
    (group_id,) = [g.ID for g in groups if g.DepartmentID == department_id]
    return department_id, group_id


# --------------------------------------------------------------------------
# TransferTicket
# --------------------------------------------------------------------------


async def test_transfer_to_another_department_and_agent(desk):
    department_id, group_id = await billing(desk)
    bob, bob_id = await agent(desk, "bob", group_id)
    number = await new_ticket(desk)
    ok(await desk.tickets.TransferTicket(*desk.agent, number, group_id, bob_id, "Invoice question", "Waiting"))

    info = (await desk.tickets.GetTicketInfoByTicketNumber(*bob, number)).Ticket
    assert (info.IdDepartment, info.IdGroup, info.IdAgent) == (department_id, group_id, bob_id)
    assert info.IsOpen and not info.IsActive  # Waiting
    # alice is not in Billing and no longer owns it: she cannot see it any more.
    failed(await desk.tickets.GetTicketInfoByTicketNumber(*desk.agent, number), ResultCode.NOT_FOUND)
    (comment,) = comments(desk, info.ID)
    assert comment.comment_type_id == transfer.TRANSFER_COMMENT and comment.text == "Invoice question"
    assert comment.user_id == desk.agent_id
    (event,) = events(desk, info.ID, "Transferred")
    assert event.description == "Transferred from Support / Level 1 (the queue) to Billing / Billing L1 (bob)"
    assert event.user_name == "alice" and event.details == "Invoice question"
    assert [e.description for e in events(desk, info.ID, "StatusChanged")] == ["Status changed from Active to Waiting"]
    assert [e.description for e in events(desk, info.ID, "Assigned")] == ["Assigned to bob"]


async def test_transfer_without_agent_uses_the_target_groups_distribution(desk):
    _, group_id = await billing(desk)
    _, bob_id = await agent(desk, "bob", group_id)
    number = await new_ticket(desk)
    # Nobody in Billing receives: the ticket waits in the queue; empty comment, status kept.
    ok(await desk.tickets.TransferTicket(*desk.agent, number, group_id, 0, "", ""))
    ticket = load(desk, number)
    assert ticket.group_id == group_id and ticket.agent_id is None and ticket.status_id == 1
    assert comments(desk, ticket.id) == []
    # bob starts receiving (round robin primary): a transfer hands it to him.
    set_receiving(desk, group_id, bob_id)
    ok(await desk.tickets.TransferTicket(*desk.admin, number, group_id, 0, "", ""))
    assert load(desk, number).agent_id == bob_id


async def test_transfer_within_the_group_hands_off_to_another_agent(desk):
    _, carol_id = await agent(desk, "carol", desk.group_id)
    set_receiving(desk, desk.group_id, desk.agent_id)
    set_receiving(desk, desk.group_id, carol_id)
    number = await new_ticket(desk)
    first = load(desk, number).agent_id
    assert first in (desk.agent_id, carol_id)
    ok(await desk.tickets.TransferTicket(*desk.admin, number, 0, 0, "", ""))
    other = carol_id if first == desk.agent_id else desk.agent_id
    assert load(desk, number).agent_id == other
    # To a named agent of the same group, with a closing status.
    ok(await desk.tickets.TransferTicket(*desk.admin, number, 0, first, "back to you", "closed"))
    ticket = load(desk, number)
    assert ticket.agent_id == first and ticket.status_id == 3 and ticket.date_closed_utc is not None


async def test_transfer_refusals_change_nothing(desk):
    _, group_id = await billing(desk)
    bob, bob_id = await agent(desk, "bob", group_id)
    number = await new_ticket(desk)
    t = desk.tickets
    assert "not an agent of group" in failed(
        await t.TransferTicket(*desk.agent, number, desk.group_id, bob_id, "x", ""), ResultCode.INVALID_ARGUMENT)
    assert "not a ticket status" in failed(
        await t.TransferTicket(*desk.agent, number, group_id, 0, "x", "Pending"), ResultCode.INVALID_ARGUMENT)
    failed(await t.TransferTicket(*desk.agent, number, 999, 0, "x", ""), ResultCode.NOT_FOUND)
    failed(await t.TransferTicket(*desk.agent, number, group_id, 999, "x", ""), ResultCode.NOT_FOUND)
    failed(await t.TransferTicket(*desk.agent, number, -1, 0, "x", ""), ResultCode.INVALID_ARGUMENT)
    failed(await t.TransferTicket(*desk.agent, "000-00000000-0000", group_id, 0, "x", ""), ResultCode.NOT_FOUND)
    failed(await t.TransferTicket(*desk.agent, "", group_id, 0, "x", ""), ResultCode.INVALID_ARGUMENT)
    # Not bob's group: he cannot see the ticket, so he cannot move it.
    failed(await t.TransferTicket(*bob, number, group_id, 0, "x", ""), ResultCode.NOT_FOUND)
    failed(await t.TransferTicket(*desk.customer, number, group_id, 0, "x", ""), ResultCode.PERMISSION_DENIED)
    failed(await t.TransferTicket("alice", "wrong", number, group_id, 0, "x", ""), ResultCode.AUTHENTICATION_FAILED)
    ticket = load(desk, number)
    assert ticket.group_id == desk.group_id and ticket.status_id == 1
    assert comments(desk, ticket.id) == [] and events(desk, ticket.id, "Transferred") == []
    set_status(desk, number, 4)  # closed and locked
    assert "locked" in failed(await t.TransferTicket(*desk.admin, number, group_id, 0, "x", ""),
                              ResultCode.INVALID_STATE)
    assert load(desk, number).group_id == desk.group_id


# --------------------------------------------------------------------------
# Follow-ups
# --------------------------------------------------------------------------


def later(**delta) -> dt.datetime:
    return (utcnow() + dt.timedelta(**delta)).replace(microsecond=0)


async def test_set_follow_up_stores_it_with_a_comment(desk):
    _, group_id = await billing(desk)
    _, bob_id = await agent(desk, "bob", group_id)
    number = await new_ticket(desk)
    ticket_id = load(desk, number).id
    when = later(days=3)
    ok(await desk.tickets.SetFollowUp(*desk.agent, ticket_id, when, group_id, bob_id, "Active", True,
                                      "Call the customer back"))
    info = (await desk.tickets.GetTicketInfo(*desk.agent, ticket_id)).Ticket
    assert info.RequiresFollowUp and info.ShowInFollowUpView
    ticket = load(desk, number)
    assert ticket.date_follow_up_utc == when
    assert (ticket.follow_up_group_id, ticket.follow_up_agent_id, ticket.follow_up_status_id) == (group_id, bob_id, 1)
    assert ticket.follow_up_pin is True
    (comment,) = comments(desk, ticket_id)
    assert ticket.follow_up_comment_id == comment.id
    assert comment.comment_type_id == transfer.FOLLOW_UP_COMMENT and comment.text == "Call the customer back"
    (event,) = events(desk, ticket_id, "FollowUpSet")
    assert when.strftime("%Y-%m-%d %H:%M") in event.description
    assert "group: Billing L1; agent: bob; status: Active; pinned" in event.details
    # Nothing moves before the date.
    assert (ticket.group_id, ticket.agent_id) == (desk.group_id, None)

    # Setting it again replaces it; 0 / empty keep the current values, no comment.
    ok(await desk.tickets.SetFollowUp(*desk.agent, ticket_id, later(hours=1), 0, 0, "", False, ""))
    ticket = load(desk, number)
    assert (ticket.follow_up_group_id, ticket.follow_up_agent_id, ticket.follow_up_status_id) == (None, None, None)
    assert ticket.follow_up_comment_id is None and ticket.follow_up_pin is False
    assert len(events(desk, ticket_id, "FollowUpChanged")) == 1


async def test_set_follow_up_refusals(desk):
    _, group_id = await billing(desk)
    bob, bob_id = await agent(desk, "bob", group_id)
    number = await new_ticket(desk)
    ticket_id = load(desk, number).id
    t, when = desk.tickets, later(days=1)
    assert "past" in failed(await t.SetFollowUp(*desk.agent, ticket_id, later(hours=-1), 0, 0, "", False, ""),
                            ResultCode.INVALID_ARGUMENT)
    failed(await t.SetFollowUp(*desk.agent, ticket_id, when, 999, 0, "", False, ""), ResultCode.NOT_FOUND)
    failed(await t.SetFollowUp(*desk.agent, ticket_id, when, 0, 999, "", False, ""), ResultCode.NOT_FOUND)
    # bob is not in the ticket's group (Level 1), which 0 keeps.
    failed(await t.SetFollowUp(*desk.agent, ticket_id, when, 0, bob_id, "", False, ""), ResultCode.INVALID_ARGUMENT)
    failed(await t.SetFollowUp(*desk.agent, ticket_id, when, 0, 0, "Someday", False, ""), ResultCode.INVALID_ARGUMENT)
    # Pinning needs an agent, and the ticket has none.
    failed(await t.SetFollowUp(*desk.agent, ticket_id, when, 0, 0, "", True, ""), ResultCode.INVALID_ARGUMENT)
    failed(await t.SetFollowUp(*desk.agent, 4242, when, 0, 0, "", False, ""), ResultCode.NOT_FOUND)
    failed(await t.SetFollowUp(*bob, ticket_id, when, 0, 0, "", False, ""), ResultCode.NOT_FOUND)
    failed(await t.SetFollowUp(*desk.customer, ticket_id, when, 0, 0, "", False, ""), ResultCode.PERMISSION_DENIED)
    ticket = load(desk, number)
    assert not ticket.requires_follow_up and comments(desk, ticket_id) == []
    set_status(desk, number, 4)
    failed(await t.SetFollowUp(*desk.admin, ticket_id, when, 0, 0, "", False, "x"), ResultCode.INVALID_STATE)
    assert comments(desk, ticket_id) == []


async def test_remove_follow_up(desk):
    number = await new_ticket(desk)
    ticket_id = load(desk, number).id
    t = desk.tickets
    assert "no follow-up" in failed(await t.RemoveFollowUp(*desk.agent, ticket_id), ResultCode.INVALID_STATE)
    ok(await t.SetFollowUp(*desk.agent, ticket_id, later(days=2), 0, desk.agent_id, "Waiting", True, "ring"))
    failed(await t.RemoveFollowUp(*desk.customer, ticket_id), ResultCode.PERMISSION_DENIED)
    failed(await t.RemoveFollowUp(*desk.agent, 4242), ResultCode.NOT_FOUND)
    ok(await t.RemoveFollowUp(*desk.agent, ticket_id))
    info = (await t.GetTicketInfo(*desk.agent, ticket_id)).Ticket
    assert not info.RequiresFollowUp and not info.ShowInFollowUpView
    ticket = load(desk, number)
    assert ticket.date_follow_up_utc is None and ticket.follow_up_agent_id is None and not ticket.follow_up_pin
    assert len(events(desk, ticket_id, "FollowUpRemoved")) == 1
    failed(await t.RemoveFollowUp(*desk.agent, ticket_id), ResultCode.INVALID_STATE)
    # A locked ticket's follow-up cannot be removed either.
    ok(await t.SetFollowUp(*desk.agent, ticket_id, later(days=2), 0, 0, "", False, ""))
    set_status(desk, number, 4)
    assert "locked" in failed(await t.RemoveFollowUp(*desk.admin, ticket_id), ResultCode.INVALID_STATE)
    assert load(desk, number).requires_follow_up


def apply(desk, now, limit=transfer.FOLLOW_UP_BATCH) -> int:
    with desk.server.runtime.db.transaction() as session:
        return transfer.apply_due_follow_ups(session, now, limit)


async def test_apply_due_follow_ups(desk):
    department_id, group_id = await billing(desk)
    _, bob_id = await agent(desk, "bob", group_id)
    _, dave_id = await agent(desk, "dave", group_id, mode="Secondary")
    set_receiving(desk, group_id, dave_id)
    t = desk.tickets
    explicit, keep, moved, locked, gone, future = [await new_ticket(desk, "T%d" % i) for i in range(6)]
    ids = {number: load(desk, number).id for number in (explicit, keep, moved, locked, gone, future)}
    soon = later(minutes=5)
    # To bob in Billing, Active, pinned.
    set_status(desk, explicit, 2)
    ok(await t.SetFollowUp(*desk.agent, ids[explicit], soon, group_id, bob_id, "Active", True, "back"))
    # Closed now; comes back Active in its group, nobody owns it -> distribution (alice receives).
    set_receiving(desk, desk.group_id, desk.agent_id)
    set_status(desk, keep, 3)
    ok(await t.SetFollowUp(*desk.agent, ids[keep], soon, 0, 0, "Active", False, ""))
    # To Billing without an agent: distribution there (dave is the only one receiving).
    ok(await t.SetFollowUp(*desk.agent, ids[moved], soon, group_id, 0, "", False, ""))
    # Locked before it is due: dropped, state kept.
    ok(await t.SetFollowUp(*desk.agent, ids[locked], soon, 0, 0, "Active", False, ""))
    set_status(desk, locked, 4)
    # bob leaves Billing before it is due: the ticket goes to the distribution instead.
    ok(await t.SetFollowUp(*desk.agent, ids[gone], soon, group_id, bob_id, "", False, ""))
    ok(await t.SetFollowUp(*desk.agent, ids[future], later(days=30), group_id, 0, "", False, ""))

    assert apply(desk, utcnow()) == 0  # nothing due yet
    assert load(desk, explicit).group_id == desk.group_id
    # bob leaves Billing only now (after the "explicit" ticket's follow-up was set for him as well).
    now = utcnow() + dt.timedelta(minutes=10)
    assert apply(desk, now, limit=1) == 1  # the batch limit holds (the earliest due first)
    first = load(desk, explicit)
    assert (first.group_id, first.department_id, first.agent_id) == (group_id, department_id, bob_id)
    assert first.status_id == 1 and first.is_pinned_to_agent and not first.requires_follow_up
    with desk.server.runtime.db.transaction() as session:
        session.delete(session.get(GroupAgent, (group_id, bob_id)))
    assert apply(desk, now) == 4  # keep, moved, locked, gone; future stays

    kept = load(desk, keep)
    assert kept.status_id == 1 and kept.date_closed_utc is None and kept.agent_id == desk.agent_id
    assert kept.group_id == desk.group_id
    shifted = load(desk, moved)
    assert (shifted.group_id, shifted.department_id, shifted.agent_id) == (group_id, department_id, dave_id)
    assert shifted.status_id == 1
    still = load(desk, locked)
    assert still.status_id == 4 and not still.requires_follow_up
    without_bob = load(desk, gone)
    assert without_bob.group_id == group_id and without_bob.agent_id == dave_id
    pending = load(desk, future)
    assert pending.requires_follow_up and pending.group_id == desk.group_id
    for number in (explicit, keep, moved, gone):
        ticket = load(desk, number)
        assert not ticket.show_in_follow_up_view and ticket.date_follow_up_utc is None
        assert ticket.follow_up_group_id is None and ticket.follow_up_comment_id is None
        (event,) = events(desk, ticket.id, "FollowUpApplied")
        assert event.user_name == "system"
    (applied,) = events(desk, ids[explicit], "FollowUpApplied")
    assert applied.details == "status: Active; group: Billing L1; agent: bob; pinned"
    assert [e.event_type for e in events(desk, ids[locked])][-1] == "FollowUpDropped"
    assert "Assigned to dave" in [e.description for e in events(desk, ids[gone])]
    # The follow-up comment stays in the conversation.
    assert [c.comment_type_id for c in comments(desk, ids[explicit])] == [transfer.FOLLOW_UP_COMMENT]


# --------------------------------------------------------------------------
# Transfer servers
# --------------------------------------------------------------------------


def add_transfer_server(desk, name, base_url, username="admin", password=ADMIN_PASSWORD, enabled=True) -> int:
    with desk.server.runtime.db.transaction() as session:
        return transfer.create_transfer_server(session, name, base_url, username, password, enabled).id


async def test_transfer_server_management(desk):
    with desk.server.runtime.db.transaction() as session:
        server = transfer.create_transfer_server(session, "Partner", "https://desk.example.com/Services2/svcTickets.asmx",
                                                 "api", "secret")
        assert server.base_url == "https://desk.example.com"
        with pytest.raises(AlreadyExists):
            transfer.create_transfer_server(session, "partner", "https://other.example.com", "api", "secret")
        for url in ("ftp://desk.example.com", "desk.example.com", ""):
            with pytest.raises(InvalidArgument):
                transfer.create_transfer_server(session, "Other", url, "api", "secret")
        with pytest.raises(InvalidArgument):
            transfer.create_transfer_server(session, "Other", "http://x.example.com/", "api", "")
        transfer.create_transfer_server(session, "Archive", "http://127.0.0.1:8080/", "api", "secret")
        assert [s.name for s in transfer.list_transfer_servers(session)] == ["Archive", "Partner"]
        assert transfer.list_transfer_servers(session)[0].base_url == "http://127.0.0.1:8080"
        transfer.delete_transfer_server(session, server.id)
        with pytest.raises(NotFound):
            transfer.get_transfer_server(session, server.id)
    with desk.server.runtime.db.transaction(writes=False) as session:
        assert [s.name for s in session.scalars(select(TransferServer))] == ["Archive"]


# --------------------------------------------------------------------------
# TransferTicketToInstance
# --------------------------------------------------------------------------


@pytest.fixture
def second_server(make_config, start_server, databases, tmp_path):
    """A second server with its own data folder and database."""
    return start_server(make_config(data_dir=tmp_path / "remote-data", database=databases.new_url()))


@pytest_twisted.async_fixture
async def remote(second_server):
    """The second server with its clients, a department Escalations (front
    line group Tier 3) and a group Tier 4 in it."""
    second = second_server
    second.org = await second.client("svcOrganization")
    second.tickets = await second.client("svcTickets")
    department_id = ok(await second.org.CreateDepartment(*second.admin, 1, "Escalations", "esc@partner.example",
                                                         "Tier 3")).RequestResult
    second.department_id = department_id
    second.tier4 = ok(await second.org.CreateGroup(*second.admin, department_id, "Tier 4", "")).RequestResult
    return second


def remote_tickets(second):
    with second.runtime.db.transaction(writes=False) as session:
        return list(session.scalars(select(Ticket).order_by(Ticket.id)))


def remote_messages(second, ticket_id):
    with second.runtime.db.transaction(writes=False) as session:
        return list(session.scalars(select(TicketMessage).where(TicketMessage.ticket_id == ticket_id)
                                    .order_by(TicketMessage.date_received_utc, TicketMessage.id)))


def add_messages(desk, number):
    """A reply and a further customer message, dated after the first one."""
    with desk.server.runtime.db.transaction() as session:
        ticket = session.scalars(select(Ticket).where(Ticket.ticket_number == number)).one()
        start = ticket.date_opened_utc
        session.add(TicketMessage(ticket_id=ticket.id, direction=1, subject="Re: Printer on fire",
                                  body_text="Have you tried water?", to_address="cust@example.com",
                                  date_received_utc=start + dt.timedelta(seconds=1)))
        session.add(TicketMessage(ticket_id=ticket.id, direction=2, subject="Re: Printer on fire",
                                  body_html="<p>It is <b>worse</b> now.</p>", body_text="It is worse now.",
                                  from_address="cust@example.com", date_received_utc=start + dt.timedelta(seconds=2)))
        session.add(TicketMessage(ticket_id=ticket.id, direction=1, subject="draft", body_text="unsent",
                                  is_draft=True, date_received_utc=start + dt.timedelta(seconds=3)))


REMOTE_NUMBER = re.compile(r"as (\d{3}-[0-9A-F]{8}-[0-9A-F]{4})")


async def test_transfer_to_instance_by_names(desk, remote):
    server_id = add_transfer_server(desk, "Partner desk", remote.base_url)
    number = await new_ticket(desk)
    add_messages(desk, number)
    result = ok(await desk.tickets.TransferTicketToInstance(
        *desk.agent, number, server_id, 0, "escalations", 0, "TIER 4", 0, "", "Customer is angry", ""))
    remote_number = REMOTE_NUMBER.search(result.Message).group(1)
    assert result.Message == "Transferred to Partner desk as %s." % remote_number

    (copy,) = remote_tickets(remote)
    assert copy.ticket_number == remote_number
    assert (copy.department_id, copy.group_id) == (remote.department_id, remote.tier4)
    assert copy.subject == "Printer on fire" and copy.customer_email == "cust@example.com"
    local = load(desk, number)
    assert copy.date_opened_utc == local.date_opened_utc
    messages = remote_messages(remote, copy.id)
    assert [(m.direction, m.body_text) for m in messages] == [
        (2, "Please help."), (1, "Have you tried water?"), (2, "It is worse now.")]
    assert "<b>worse</b>" in messages[2].body_html
    with remote.runtime.db.transaction(writes=False) as session:
        (note,) = session.scalars(select(TicketComment).where(TicketComment.ticket_id == copy.id))
    assert note.text == "Transferred from ticket %s by alice.\n\nCustomer is angry" % number
    assert note.comment_type_id == transfer.TRANSFER_COMMENT

    # Here: closed, with a Transfer comment and an event naming the remote number.
    assert local.status_id == 3 and local.date_closed_utc is not None
    (comment,) = comments(desk, local.id)
    assert comment.comment_type_id == transfer.TRANSFER_COMMENT
    assert comment.text == "Transferred to Partner desk as %s\n\nCustomer is angry" % remote_number
    (event,) = events(desk, local.id, "TransferredToInstance")
    assert remote_number in event.description and event.user_name == "alice"
    assert events(desk, local.id, "TransferToInstanceFailed") == []


async def add_attachment(desk, number, message_id, name, payload, chunk=None):
    """Upload ``payload`` here (in chunks of ``chunk`` bytes when given); its id."""
    now = dt.datetime.now(dt.timezone.utc)
    first = payload[:chunk] if chunk else payload
    added = ok(await desk.tickets.AddTicketAttachment(*desk.agent, number, message_id, name, first, len(payload),
                                                      now))
    for start in range(len(first), len(payload), chunk or len(payload)):
        ok(await desk.tickets.AppendToTicketAttachment(*desk.agent, added.File.fileId,
                                                       payload[start:start + chunk]))
    return added.File.fileId


def remote_files(second, ticket_id):
    """(message index among the copy's messages or None, name, bytes) of each remote attachment."""
    messages = [m.id for m in remote_messages(second, ticket_id)]
    with second.runtime.db.transaction(writes=False) as session:
        rows = session.scalars(select(TicketAttachment).where(TicketAttachment.ticket_id == ticket_id)
                               .order_by(TicketAttachment.id)).all()
    root = second.runtime.data.attachments
    return [(messages.index(r.message_id) if r.message_id else None, r.file_name_original,
             (root / r.file_name_on_disk).read_bytes()) for r in rows]


async def test_transfer_to_instance_carries_notes_and_attachments(desk, remote):
    server_id = add_transfer_server(desk, "Partner desk", remote.base_url)
    number = await new_ticket(desk)
    add_messages(desk, number)
    local = load(desk, number)
    messages = [m.id for m in remote_messages(desk.server, local.id) if not m.is_draft]
    ok(await desk.tickets.AddTicketNote(*desk.agent, number, "General", "Called them.\nNo answer <yet>."))
    ok(await desk.tickets.AddTicketNoteHtml(*desk.agent, number, "Resolution", "<p>Use <b>water</b>.</p>"))
    big = os.urandom(2 * 1024 * 1024 + 12345)  # three chunks on the way over
    await add_attachment(desk, number, messages[0], "photo.jpg", b"\xff\xd8 first message's")
    await add_attachment(desk, number, messages[2], "dump.bin", big, chunk=700_000)
    await add_attachment(desk, number, 0, "contract.pdf", b"%PDF ticket-wide")
    with desk.server.runtime.db.transaction(writes=False) as session:
        noted = {c.text: c.date_entered_utc for c in session.scalars(
            select(TicketComment).where(TicketComment.ticket_id == local.id))}

    result = ok(await desk.tickets.TransferTicketToInstance(
        *desk.agent, number, server_id, remote.department_id, "", 0, "", 0, "", "", ""))
    remote_number = REMOTE_NUMBER.search(result.Message).group(1)
    (copy,) = remote_tickets(remote)
    assert copy.ticket_number == remote_number
    with remote.runtime.db.transaction(writes=False) as session:
        types = dict(session.execute(select(CommentType.id, CommentType.english_name)).all())
        notes = [(types[c.comment_type_id], c.text, c.date_entered_utc) for c in session.scalars(
            select(TicketComment).where(TicketComment.ticket_id == copy.id).order_by(TicketComment.id))]
    assert notes[:2] == [
        ("General", "Called them.<br>\nNo answer &lt;yet&gt;.", noted["Called them.\nNo answer <yet>."]),
        ("Resolution", "<p>Use <b>water</b>.</p>", noted["<p>Use <b>water</b>.</p>"])]
    assert notes[2][0] == "Transfer" and notes[2][1].startswith("Transferred from ticket %s" % number)
    assert remote_files(remote, copy.id) == [
        (0, "photo.jpg", b"\xff\xd8 first message's"), (2, "dump.bin", big), (None, "contract.pdf", b"%PDF ticket-wide")]


async def test_transfer_to_instance_with_an_attachment_missing_on_disk_sends_nothing(desk, remote):
    server_id = add_transfer_server(desk, "Partner", remote.base_url)
    number = await new_ticket(desk)
    attachment_id = await add_attachment(desk, number, 0, "gone.txt", b"soon gone")
    with desk.server.runtime.db.transaction(writes=False) as session:
        on_disk = session.get(TicketAttachment, attachment_id).file_name_on_disk
    (desk.server.runtime.data.attachments / on_disk).unlink()
    message = failed(await desk.tickets.TransferTicketToInstance(
        *desk.agent, number, server_id, remote.department_id, "", 0, "", 0, "", "", ""), ResultCode.INVALID_STATE)
    assert "gone.txt of this ticket cannot be read from disk" in message and "was deleted" in message
    (copy,) = remote_tickets(remote)
    assert copy.is_deleted
    assert_unchanged_but_recorded(desk, number, "cannot be read from disk")


async def test_transfer_to_instance_by_ids_with_agent_and_status(desk, remote):
    server_id = add_transfer_server(desk, "Partner", remote.base_url + "/")
    erin = await make_user(remote.org, remote.admin, "erin", "erin-passw0rd", "erin@partner.example",
                           roles="Agent")
    ok(await remote.org.AddAgentToGroup(*remote.admin, remote.tier4, erin, "Queue", False, 0))
    number = await new_ticket(desk)
    ok(await desk.tickets.SetFollowUp(*desk.agent, load(desk, number).id, later(days=1), 0, 0, "", False, ""))
    result = ok(await desk.tickets.TransferTicketToInstance(
        *desk.agent, number, server_id, 0, "", remote.tier4, "", 0, "Erin", "", "Closed and Locked"))
    (copy,) = remote_tickets(remote)
    assert (copy.department_id, copy.group_id, copy.agent_id) == (remote.department_id, remote.tier4, erin)
    assert copy.ticket_number in result.Message
    assert [m.body_text for m in remote_messages(remote, copy.id)] == ["Please help."]
    local = load(desk, number)
    assert local.status_id == 4 and not local.requires_follow_up
    # Locked now: a second transfer is refused before anything is sent.
    failed(await desk.tickets.TransferTicketToInstance(*desk.admin, number, server_id, 0, "", remote.tier4, "", 0,
                                                       "", "", ""), ResultCode.INVALID_STATE)
    assert len(remote_tickets(remote)) == 1


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def assert_unchanged_but_recorded(desk, number, reason):
    ticket = load(desk, number)
    assert ticket.status_id == 1 and ticket.group_id == desk.group_id
    assert comments(desk, ticket.id) == []
    assert events(desk, ticket.id, "TransferredToInstance") == []
    (event,) = events(desk, ticket.id, "TransferToInstanceFailed")
    assert reason in event.details and event.user_name == "alice"
    return event


async def test_transfer_to_instance_unreachable(desk):
    server_id = add_transfer_server(desk, "Gone", "http://127.0.0.1:%d" % closed_port())
    number = await new_ticket(desk)
    message = failed(await desk.tickets.TransferTicketToInstance(
        *desk.agent, number, server_id, 1, "", 0, "", 0, "", "bye", ""), ResultCode.REMOTE_FAILURE)
    assert "Cannot connect to Gone" in message
    assert_unchanged_but_recorded(desk, number, "Cannot connect")


async def test_transfer_to_instance_remote_refuses_the_credentials(desk, remote):
    server_id = add_transfer_server(desk, "Partner", remote.base_url, password="not-the-password")
    number = await new_ticket(desk)
    message = failed(await desk.tickets.TransferTicketToInstance(
        *desk.agent, number, server_id, remote.department_id, "", 0, "", 0, "", "", ""), ResultCode.REMOTE_FAILURE)
    assert "Partner refused CreateTicketFromCustomerWithDate" in message
    assert "user name or password is incorrect" in message and "result code 1" in message
    assert_unchanged_but_recorded(desk, number, "user name or password is incorrect")
    assert remote_tickets(remote) == []


async def test_transfer_to_instance_unknown_remote_names(desk, remote):
    server_id = add_transfer_server(desk, "Partner", remote.base_url)
    number = await new_ticket(desk)
    assert "no department named 'Sales'" in failed(await desk.tickets.TransferTicketToInstance(
        *desk.agent, number, server_id, 0, "Sales", 0, "", 0, "", "", ""), ResultCode.NOT_FOUND)
    assert "no agent named 'nobody'" in failed(await desk.tickets.TransferTicketToInstance(
        *desk.agent, number, server_id, remote.department_id, "", 0, "", 0, "nobody", "", ""), ResultCode.NOT_FOUND)
    assert remote_tickets(remote) == []
    assert len(events(desk, load(desk, number).id, "TransferToInstanceFailed")) == 2


async def test_transfer_to_instance_partial_copy_is_deleted(desk, remote):
    server_id = add_transfer_server(desk, "Partner", remote.base_url)
    number = await new_ticket(desk)
    with desk.server.runtime.db.transaction() as session:
        ticket = session.scalars(select(Ticket).where(Ticket.ticket_number == number)).one()
        # A message the remote server refuses (its sender is not an address).
        session.add(TicketMessage(ticket_id=ticket.id, direction=2, subject="x", body_text="x",
                                  from_address="not an address",
                                  date_received_utc=ticket.date_opened_utc + dt.timedelta(seconds=1)))
    message = failed(await desk.tickets.TransferTicketToInstance(
        *desk.agent, number, server_id, remote.department_id, "", 0, "", 0, "", "", ""), ResultCode.REMOTE_FAILURE)
    assert "refused AddMessageToTicketWithDate" in message
    (copy,) = remote_tickets(remote)
    assert "The partial copy %s on Partner was deleted." % copy.ticket_number in message
    assert copy.is_deleted
    assert_unchanged_but_recorded(desk, number, "was deleted")


async def test_transfer_to_instance_times_out(desk, monkeypatch):
    monkeypatch.setattr(transfer, "REQUEST_TIMEOUT_SECONDS", 1.5)
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)  # accepts connections (the kernel does) but never answers
    try:
        server_id = add_transfer_server(desk, "Silent", "http://127.0.0.1:%d" % silent.getsockname()[1])
        number = await new_ticket(desk)
        args = (number, server_id, 1, "", 0, "", 0, "", "", "")
        # A second transfer of the same ticket while the first waits is refused.
        first = desk.tickets.TransferTicketToInstance(*desk.agent, *args)
        await deferLater(0.3)
        second = await desk.tickets.TransferTicketToInstance(*desk.admin, *args)
        assert "being transferred already" in failed(second, ResultCode.INVALID_STATE)
        message = failed(await first, ResultCode.REMOTE_FAILURE)
        assert "did not answer" in message and "within 1.5 seconds" in message
        assert_unchanged_but_recorded(desk, number, "did not answer")
    finally:
        silent.close()


def deferLater(seconds):
    from twisted.internet import reactor, task
    return task.deferLater(reactor, seconds, lambda: None)


@pytest.fixture
def node_b(request, desk, tmp_path):
    """A second node on the desk's database (as behind a load balancer), in
    a process of its own: it shares nothing held in memory with the desk's
    node. Its base URL."""
    if request.config.getoption("--db") != "postgresql":
        pytest.skip("several nodes share a PostgreSQL database (run with --db=postgresql, as scripts/test does)")
    from workers.test_multinode import Node

    node = Node(tmp_path, "node-b", desk.server.runtime.db.url)
    node.start()
    yield "http://127.0.0.1:%d" % node.port
    node.stop()


def claims(desk) -> list:
    with desk.server.runtime.db.transaction(writes=False) as session:
        return list(session.scalars(select(TicketTransferClaim)))


async def test_a_ticket_in_transfer_on_one_node_is_refused_on_another(desk, remote, node_b, monkeypatch):
    # Long enough for node b's whole call to fall inside it on a loaded machine.
    monkeypatch.setattr(transfer, "REQUEST_TIMEOUT_SECONDS", 8.0)
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)  # accepts connections (the kernel does) but never answers
    try:
        slow = add_transfer_server(desk, "Silent", "http://127.0.0.1:%d" % silent.getsockname()[1])
        partner = add_transfer_server(desk, "Partner", remote.base_url)
        number = await new_ticket(desk)
        to_partner = (number, partner, remote.department_id, "", 0, "", 0, "", "", "")
        tickets_b = await threads.deferToThread(SoapClient, node_b + "/Services2/svcTickets.asmx")
        first = desk.tickets.TransferTicketToInstance(*desk.agent, number, slow, 1, "", 0, "", 0, "", "", "")
        # Node a has claimed the ticket and now waits for the silent server
        # (waited for, not slept on: a loaded machine takes its time to get there).
        for _ in range(400):
            if await threads.deferToThread(claims, desk):
                break
            await deferLater(0.05)
        else:
            raise AssertionError("node a never claimed the ticket")
        # On node b, to a server that would answer at once: refused while node a's transfer waits.
        second = await tickets_b.TransferTicketToInstance(*desk.admin, *to_partner)
        assert failed(second, ResultCode.INVALID_STATE) == "Ticket %s is being transferred already." % number
        assert "did not answer" in failed(await first, ResultCode.REMOTE_FAILURE)
        assert remote_tickets(remote) == []
        # The failed transfer let go of the ticket: node b's goes through, and lets go too.
        ok(await tickets_b.TransferTicketToInstance(*desk.admin, *to_partner))
        assert len(remote_tickets(remote)) == 1 and claims(desk) == []
    finally:
        silent.close()


async def test_a_transfer_claim_left_by_a_dead_node_lapses(desk, remote):
    partner = add_transfer_server(desk, "Partner", remote.base_url)
    number = await new_ticket(desk)
    now = utcnow()
    with desk.server.runtime.db.transaction() as session:
        session.add(TicketTransferClaim(ticket_id=load(desk, number).id, claimed_by="dead-node:1:x",
                                        claimed_utc=now, expires_utc=now + dt.timedelta(minutes=4)))
    args = (number, partner, remote.department_id, "", 0, "", 0, "", "", "")
    failed(await desk.tickets.TransferTicketToInstance(*desk.agent, *args), ResultCode.INVALID_STATE,
           "being transferred already")
    with desk.server.runtime.db.transaction() as session:
        session.execute(update(TicketTransferClaim).values(expires_utc=now - dt.timedelta(seconds=1)))
    ok(await desk.tickets.TransferTicketToInstance(*desk.agent, *args))
    assert len(remote_tickets(remote)) == 1 and claims(desk) == []


async def test_transfer_to_instance_refusals(desk):
    gone = add_transfer_server(desk, "Gone", "http://127.0.0.1:%d" % closed_port())
    disabled = add_transfer_server(desk, "Off", "http://127.0.0.1:%d" % closed_port(), enabled=False)
    number = await new_ticket(desk)
    t = desk.tickets
    failed(await t.TransferTicketToInstance(*desk.agent, number, 99, 1, "", 0, "", 0, "", "", ""),
           ResultCode.NOT_FOUND)
    failed(await t.TransferTicketToInstance(*desk.agent, number, disabled, 1, "", 0, "", 0, "", "", ""),
           ResultCode.INVALID_STATE)
    assert "Say where" in failed(await t.TransferTicketToInstance(*desk.agent, number, gone, 0, " ", 0, "", 0, "",
                                                                  "", ""), ResultCode.INVALID_ARGUMENT)
    failed(await t.TransferTicketToInstance(*desk.agent, number, gone, 1, "", 0, "", 0, "", "", "Gone fishing"),
           ResultCode.INVALID_ARGUMENT)
    failed(await t.TransferTicketToInstance(*desk.agent, number, gone, -1, "", 0, "", 0, "", "", ""),
           ResultCode.INVALID_ARGUMENT)
    failed(await t.TransferTicketToInstance(*desk.customer, number, gone, 1, "", 0, "", 0, "", "", ""),
           ResultCode.PERMISSION_DENIED)
    failed(await t.TransferTicketToInstance(*desk.agent, "000-00000000-0000", gone, 1, "", 0, "", 0, "", "", ""),
           ResultCode.NOT_FOUND)
    # None of these got as far as the remote server, so none is in the history.
    ticket = load(desk, number)
    assert ticket.status_id == 1 and events(desk, ticket.id, "TransferToInstanceFailed") == []


# --------------------------------------------------------------------------
# The outbound client's plumbing (stws.remote) in transfers
# --------------------------------------------------------------------------


def record_requests(second) -> list[tuple[bytes, bytes]]:
    """(method, uri) of every request the second server answers from now on."""
    seen = []
    site = second.web.site
    original = site.log

    def log(request):
        seen.append((request.method, request.uri))
        original(request)
    site.log = log
    return seen


async def test_transfer_to_instance_reads_each_wsdl_once(desk, remote):
    seen = record_requests(remote)
    server_id = add_transfer_server(desk, "Partner desk", remote.base_url)
    for subject in ("First", "Second", "Third"):
        number = await new_ticket(desk, subject)
        ok(await desk.tickets.TransferTicketToInstance(*desk.agent, number, server_id, 0, "escalations", 0,
                                                       "TIER 4", 0, "", "", ""))
    assert len(remote_tickets(remote)) == 3
    assert sorted(uri for method, uri in seen if method == b"GET") == [
        b"/Services2/svcOrganization.asmx?WSDL", b"/Services2/svcTickets.asmx?WSDL"]
    # GetAllDepartments, GetAllGroups, CreateTicketFromCustomerWithDate, AddTicketNote each time.
    assert len([uri for method, uri in seen if method == b"POST"]) == 3 * 4

    today = dt.datetime.now(UTC).date().isoformat()
    log = (desk.server.runtime.data.logs / ("providers-%s.log" % today)).read_text()
    assert log.count("CreateTicketFromCustomerWithDate on Partner desk (%s/Services2/svcTickets.asmx): ok in "
                     % remote.base_url) == 3


async def test_transfer_to_instance_own_bug_is_not_a_remote_failure(desk, remote, monkeypatch):
    # A bug of ours (an argument too many): an internal error, not result code 9.
    def buggy_resolve(self, target):
        self.call("svcOrganization", "GetAllDepartments", "an argument too many")
    monkeypatch.setattr(transfer.RemoteDesk, "resolve", buggy_resolve)
    server_id = add_transfer_server(desk, "Partner", remote.base_url)
    number = await new_ticket(desk)
    with pytest.raises(zeep.exceptions.Fault) as fault:
        await desk.tickets.TransferTicketToInstance(*desk.agent, number, server_id, 0, "escalations", 0, "", 0,
                                                    "", "", "")
    assert "Internal error (reference" in fault.value.message
    event = assert_unchanged_but_recorded(desk, number, "internal error: TypeError")
    assert "Partner" in event.description
    assert remote_tickets(remote) == []
    # The peer is not blamed: no failure counted against it.
    breakers = desk.server.runtime.remote.breakers
    assert breakers.consecutive_failures("%s/Services2/svcOrganization.asmx" % remote.base_url) == 0
