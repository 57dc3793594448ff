"""Ticket operations run directly through the runner, as the agents' browser
workspace will run them: no SOAP, a principal instead of a password, plain
Python values back."""
from __future__ import annotations

import pytest
from twisted.internet import threads

from stws.db.models import TicketComment
from stws.errors import NotFound, PermissionDenied
from stws.domain.tickets import conversation as conv
from stws.operations import runner
from stws.operations.tickets import conversation, creation, lifecycle
from stws.security import roles
from stws.security.principals import Principal
from tickets.conftest import AGENT, CUSTOMER, second_group_with_bob


def principal(user_id, username, *role_names) -> Principal:
    return Principal(user_id, username, roles.effective_roles(role_names))


def run(desk, spec, who, *args):
    """``spec`` run for ``who`` off the reactor (quick writes wait for their
    commit group on another thread)."""
    return threads.deferToThread(runner.run, desk.server.runtime, spec, who, args)


def alice(desk) -> Principal:
    return principal(desk.agent_id, AGENT[0], roles.AGENT)


async def new_ticket(desk, subject="Printer on fire") -> str:
    return await run(desk, creation.create_ticket_from_customer, alice(desk), desk.department_id,
                     "cust@example.com", subject, "It is really on fire.", False, False)


async def test_create_a_ticket_add_a_note_and_read_them_back(desk):
    number = await new_ticket(desk)
    assert isinstance(number, str)

    row = await run(desk, creation.ticket_info_by_number, alice(desk), number)
    assert (row.ticket_number, row.subject, row.group_id) == (number, "Printer on fire", desk.group_id)
    assert row.is_open and row.is_active

    note = await run(desk, conversation.add_ticket_note, alice(desk), number, "Resolution", "Used the extinguisher.")
    assert isinstance(note, TicketComment) and note.id

    parts = await run(desk, conversation.ticket_conversation_parts, alice(desk), row.id)
    assert [(part.part_type, part.description) for part in parts] == [
        (conv.PART_MESSAGE, "Printer on fire"), (conv.PART_RESOLUTION_COMMENT, "Used the extinguisher."),
    ]
    read = await run(desk, conversation.ticket_note, alice(desk), note.id)
    assert (read.type_name, read.comment.text, read.comment.user_id) == (
        "Resolution", "Used the extinguisher.", desk.agent_id)

    found = await run(desk, lifecycle.search_tickets, alice(desk), ["TicketNumber=%s" % number])
    assert [ticket.id for ticket in found.tickets] == [row.id] and found.next_offset is None


async def test_an_agent_outside_the_tickets_group_is_refused(desk):
    number = await new_ticket(desk)
    _, (bob_name, _), bob_id = await second_group_with_bob(desk)
    bob = principal(bob_id, bob_name, roles.AGENT)

    with pytest.raises(NotFound):
        await run(desk, creation.ticket_info_by_number, bob, number)
    with pytest.raises(NotFound):
        await run(desk, conversation.add_ticket_note, bob, number, "", "Not my ticket.")
    assert desk.sql("SELECT id FROM ticket_comments") == []


async def test_the_role_is_checked_before_the_operation_runs(desk):
    number = await new_ticket(desk)
    customer = principal(desk.customer_id, CUSTOMER[0])

    with pytest.raises(PermissionDenied, match="needs the Agent role"):
        await run(desk, conversation.add_ticket_note, customer, number, "", "Let me in.")
    # A customer may read their own ticket, not notes of it.
    row = await run(desk, creation.ticket_info_by_number, customer, number)
    parts = await run(desk, conversation.ticket_conversation_parts, customer, row.id)
    assert [part.part_type for part in parts] == [conv.PART_MESSAGE]
