"""The Email Import asks the custom field and ticket providers about each new
ticket (the sample provider, examples/providers/python, in its own process
on loopback; misbehaving peers from tests/scripted_peers.py): a declined
message is kept, marked refused, and its sender told by the auto-responder's
rules; a message the providers cannot be asked about stays pending and is
tried again after a backoff, never lost."""
from __future__ import annotations

import datetime as dt

import pytest
import pytest_twisted
from sqlalchemy import select
from twisted.internet import threads

from mail.pop_server import add_pop_account, import_all, make_mail
from scripted_peers import ScriptedPeer, closed_port, peers  # noqa: F401 (peers: a fixture)
from stws.db.models import Department, IncomingMessage, OutgoingMessage, Ticket, TicketCustomValue, utcnow
from stws.domain.tickets import fields
from stws.mail import importer, pop
from stws.operations import spool as spool_ops
from stws.operations.runner import run
from stws.security.principals import system_principal
from test_external_providers import configure, external
from test_sample_provider import AUTH_PW


@pytest_twisted.async_fixture
async def providers(server):
    return await server.client("svcExternalProviders")


@pytest.fixture
def account(server):
    """A POP account of department 1 (Support), whose auto-responder is on."""
    with server.runtime.db.transaction() as session:
        department = session.get(Department, 1)
        department.auto_responder_enabled = True
        department.email_address = "support@helpdesk.example"
    return add_pop_account(server.runtime, closed_port())


def store(server, account, **mail) -> int:
    return pop.store_message(server.runtime, account, make_mail(**mail))


def tickets(server) -> list[Ticket]:
    with server.runtime.db.transaction(writes=False) as session:
        return list(session.scalars(select(Ticket).order_by(Ticket.id)))


def outgoing(server) -> list[OutgoingMessage]:
    with server.runtime.db.transaction(writes=False) as session:
        return list(session.scalars(select(OutgoingMessage).order_by(OutgoingMessage.id)))


def row(server, row_id) -> IncomingMessage:
    with server.runtime.db.transaction(writes=False) as session:
        return session.get(IncomingMessage, row_id)


async def ticket_provider(server, providers, url, password=AUTH_PW):
    await configure(server, providers, *external("Ticket", url, password))


# ---------------------------------------------------------------- decisions


async def test_provider_sets_fields_of_the_new_ticket(server, providers, sample_provider, account):
    with server.runtime.db.transaction() as session:
        template = fields.create_template(session, "Support tickets")
        plan = fields.create_field(session, "Plan")
        fields.put_field_on_template(session, template.id, plan.id)
        fields.set_department_template(session, 1, template.id)
    await ticket_provider(server, providers, sample_provider.url)
    row_id = store(server, account, sender="Alice <alice@example.com>")
    assert await import_all(server.runtime) == 1
    (ticket,) = tickets(server)
    assert row(server, row_id).status == "imported" and ticket.customer_email == "alice@example.com"
    with server.runtime.db.transaction(writes=False) as session:
        assert session.get(TicketCustomValue, (ticket.id, plan.id)).value == "Gold"


async def test_declined_message_is_kept_refused_and_the_sender_told(server, providers, sample_provider, account):
    await ticket_provider(server, providers, sample_provider.url)
    row_id = store(server, account, sender="Mallory <mallory@spam.example>", subject="Buy now",
                   message_id="<m1@spam.example>")
    assert await import_all(server.runtime) == 1
    refused = row(server, row_id)
    assert (refused.status, refused.last_error) == ("refused",
                                                    "refused by the ticket provider: Not from your address.")
    assert (server.runtime.data.email / refused.file_name).exists()  # kept where a retry finds it
    assert tickets(server) == []
    (told,) = outgoing(server)
    assert told.recipients == "mallory@spam.example" and told.ticket_id is None
    assert told.subject == "Re: Buy now"
    raw = told.raw_content.decode()
    assert "Not from your address." in raw and "In-Reply-To: <m1@spam.example>" in raw
    assert "Auto-Submitted: auto-replied" in raw
    # Refused, not pending: the next run leaves it alone.
    assert await import_all(server.runtime) == 0
    # A retry from the spool makes it pending again (the provider may have changed its mind).
    with server.runtime.db.transaction() as session:
        admin = system_principal(session, "test")
    assert await threads.deferToThread(run, server.runtime, spool_ops.retry_incoming_messages, admin,
                                       ([row_id],)) == 1
    assert row(server, row_id).status == "pending"


async def test_automated_mail_is_refused_without_telling_anyone(server, providers, sample_provider, account):
    await ticket_provider(server, providers, sample_provider.url)
    row_id = store(server, account, sender="mallory@spam.example", headers={"Auto-Submitted": "auto-generated"})
    await import_all(server.runtime)
    assert row(server, row_id).status == "refused"
    assert outgoing(server) == []


async def test_replies_are_not_asked_about(server, providers, account):
    store(server, account, subject="First")
    await import_all(server.runtime)
    (ticket,) = tickets(server)
    await ticket_provider(server, providers, "http://127.0.0.1:%d/provider.asmx" % closed_port())
    reply = store(server, account, subject="Re: First [#%s]" % ticket.ticket_number)
    assert await import_all(server.runtime) == 1
    assert row(server, reply).status == "imported"


# ---------------------------------------------------------------- the providers cannot be asked


async def scripted(peers, sample_provider, mode):
    import requests
    wsdl = (await threads.deferToThread(requests.get, sample_provider.url + "?WSDL", timeout=10)).content
    peer = ScriptedPeer(wsdl, mode)
    return peer, peers.serve(peer, "provider.asmx")


@pytest.mark.parametrize("mode", ["unreachable", "html", "fault", "malformed", "wrong password"])
async def test_message_waits_and_is_retried_later(server, providers, sample_provider, peers, account, mode):
    if mode == "unreachable":
        await ticket_provider(server, providers, "http://127.0.0.1:%d/provider.asmx" % closed_port())
    elif mode == "wrong password":
        await ticket_provider(server, providers, sample_provider.url, password="wrong")
    else:
        await ticket_provider(server, providers, (await scripted(peers, sample_provider, mode))[1])
    row_id = store(server, account)
    now = utcnow()
    assert await import_all(server.runtime, now=now) == 0
    waiting = row(server, row_id)
    assert waiting.status == "pending" and waiting.attempts == 1
    assert waiting.next_attempt_utc == now + dt.timedelta(minutes=1)
    assert waiting.last_error.startswith("waiting for the providers (try 1 of %d; next try at "
                                         % importer.PROVIDER_ATTEMPTS)
    assert "ticket provider" in waiting.last_error
    assert (server.runtime.data.email / waiting.file_name).exists() and tickets(server) == []
    # Before its next try, a run leaves it alone; after it, it is tried again.
    await import_all(server.runtime, now=now + dt.timedelta(seconds=59))
    assert row(server, row_id).attempts == 1
    await import_all(server.runtime, now=now + dt.timedelta(minutes=1))
    waiting = row(server, row_id)
    assert waiting.attempts == 2 and waiting.next_attempt_utc == now + dt.timedelta(minutes=3)
    # Once the provider works, it is imported.
    await ticket_provider(server, providers, sample_provider.url)
    assert await import_all(server.runtime, now=now + dt.timedelta(minutes=3)) == 1
    assert row(server, row_id).status == "imported" and len(tickets(server)) == 1


async def test_one_failure_per_run_not_one_per_message(server, providers, sample_provider, peers, account):
    peer, url = await scripted(peers, sample_provider, "html")
    await ticket_provider(server, providers, url)
    ids = [store(server, account, subject="Message %d" % n) for n in range(3)]
    await import_all(server.runtime)
    assert peer.calls == 1
    rows = [row(server, row_id) for row_id in ids]
    assert [r.status for r in rows] == ["pending"] * 3
    assert [r.attempts for r in rows] == [1, 0, 0]
    assert "not asked: they failed for an earlier message of this run" in rows[1].last_error


async def test_after_the_last_try_the_message_fails_and_is_kept(server, providers, account):
    await ticket_provider(server, providers, "http://127.0.0.1:%d/provider.asmx" % closed_port())
    row_id = store(server, account)
    with server.runtime.db.transaction() as session:
        session.get(IncomingMessage, row_id).attempts = importer.PROVIDER_ATTEMPTS - 1
    await import_all(server.runtime)
    failed = row(server, row_id)
    assert failed.status == "failed"
    assert failed.last_error.startswith("the providers could not be asked %d times, the last time: Cannot connect "
                                        "to the ticket provider" % importer.PROVIDER_ATTEMPTS)
    assert failed.last_error.endswith("; retry it from the spool once they work")
    assert (server.runtime.data.email / failed.file_name).exists()


def test_backoff_doubles_up_to_an_hour():
    assert [importer.provider_backoff(n).total_seconds() for n in (1, 2, 3, 6, 7, 19)] == [
        60, 120, 240, 1920, 3600, 3600]
