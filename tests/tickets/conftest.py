"""Fixtures for svcTickets tests: clients and a small organisation.

``desk`` gives an administrator, an agent "alice" in group "Level 1"
(receiving, round-robin primary) and a customer account "cust" with email
cust@example.com, plus zeep clients of both services.
"""
from __future__ import annotations

from dataclasses import dataclass

import pytest_twisted
from sqlalchemy import select

from conftest import strings
from stws.db.models import OutgoingMessage

AGENT = ("alice", "alice-passw0rd")
CUSTOMER = ("cust", "cust-passw0rd")


@dataclass
class Desk:
    server: object
    org: object
    tickets: object
    admin: tuple
    agent: tuple
    agent_id: int
    customer: tuple
    customer_id: int
    department_id: int
    group_id: int

    def spool(self) -> list[OutgoingMessage]:
        """The outgoing spool rows, oldest first."""
        with self.server.runtime.db.transaction(writes=False) as session:
            return list(session.scalars(select(OutgoingMessage).order_by(OutgoingMessage.id)))

    def sql(self, statement: str, **params):
        from sqlalchemy import text

        with self.server.runtime.db.engine.begin() as connection:
            return connection.execute(text(statement), params).all()


async def make_user(org, admin, username, password, email, roles=None) -> int:
    created = await org.CreateUser(*admin, username, password, email, True, username.title())
    assert created.Result, created.Message
    if roles:
        result = await org.SetUsersProperties(*admin, created.RequestResult, strings("Roles=%s" % roles))
        assert result.Result, result.Message
    return created.RequestResult


BOB = ("bob", "bob-passw0rd")


async def second_group_with_bob(desk):
    """Group "Level 2" of the desk's department with agent bob (in the queue);
    returns (group id, bob's credentials, bob's id)."""
    group = await desk.org.CreateGroup(*desk.admin, desk.department_id, "Level 2", "")
    assert group.Result, group.Message
    bob_id = await make_user(desk.org, desk.admin, *BOB, "bob@helpdesk.example", roles="Agent")
    assert (await desk.org.AddAgentToGroup(*desk.admin, group.RequestResult, bob_id, "Queue", False, 0)).Result
    return group.RequestResult, BOB, bob_id


@pytest_twisted.async_fixture
async def desk(server) -> Desk:
    org = await server.client("svcOrganization")
    tickets = await server.client("svcTickets")
    admin = server.admin
    agent_id = await make_user(org, admin, *AGENT, "alice@helpdesk.example", roles="Agent")
    customer_id = await make_user(org, admin, *CUSTOMER, "cust@example.com")
    assert (await org.AddAgentToGroup(*admin, 1, agent_id, "Primary", False, 0)).Result
    return Desk(server, org, tickets, admin, AGENT, agent_id, CUSTOMER, customer_id, 1, 1)
