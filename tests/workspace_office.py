"""A small help desk for the ticket workspace's tests: agents alice (group 1,
"Level 1") and bob (group 2, "Level 2" only), both taking tickets from the
queue (no round robin: a customer's ticket stays queued), made over SOAP."""
from __future__ import annotations

from sqlalchemy import select

from conftest import ok
from stws.db.models import Ticket
from tickets.conftest import AGENT, BOB, make_user


async def make_office(server) -> dict:
    org = await server.client("svcOrganization")
    tickets = await server.client("svcTickets")
    alice_id = await make_user(org, server.admin, *AGENT, "alice@helpdesk.example", roles="Agent")
    bob_id = await make_user(org, server.admin, *BOB, "bob@helpdesk.example", roles="Agent")
    group_2 = ok(await org.CreateGroup(*server.admin, 1, "Level 2", "")).RequestResult
    assert (await org.AddAgentToGroup(*server.admin, 1, alice_id, "Queue", False, 0)).Result
    assert (await org.AddAgentToGroup(*server.admin, group_2, bob_id, "Queue", False, 0)).Result
    return dict(org=org, tickets=tickets, alice_id=alice_id, bob_id=bob_id, group_2=group_2)


async def create(office, credentials, group_id, subject) -> str:
    """A ticket an agent starts in ``group_id``, assigned to that agent; its number."""
    return ok(await office["tickets"].CreateTicket(*credentials, 1, group_id, 0, "cust@example.com", subject,
                                                   "Body of " + subject, False, False, False)).RequestResult


async def queued(office, subject) -> str:
    """A customer's ticket for department 1 (its group 1), left in the queue."""
    return ok(await office["tickets"].CreateTicketFromCustomer(*AGENT, 1, "cust@example.com", subject,
                                                               "Please help.", False, False)).RequestResult


def ticket_ids(server, *numbers) -> dict:
    with server.runtime.db.transaction(writes=False) as session:
        return dict(session.execute(select(Ticket.ticket_number, Ticket.id)
                                    .where(Ticket.ticket_number.in_(numbers))).all())
