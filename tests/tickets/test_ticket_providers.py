"""The custom field and ticket providers where tickets are created over
SOAP (svcTickets CreateTicket, CreateTicketFromCustomer,
CreateTicketFromCustomerWithDate), against the sample provider
(examples/providers/python) in its own process on loopback, and against
misbehaving peers (tests/scripted_peers.py): each fault ends in result code
9 with a clear Message and no ticket.

The sample provider's test config (test_sample_provider.write_config):
senders at spam.example are declined ("Not from your address."); a subject
with "outage" or "down" re-routes to Escalations; known customers (alice,
alice@example.com) get cf_Plan=Gold and cf_Plan=Tier=Gold; the custom field
rules require Customer ID everywhere and, in Sales, show and require Order
Number and limit Product to Basic, Pro.
"""
from __future__ import annotations

import datetime as dt
import logging

import pytest
import pytest_twisted
from sqlalchemy import select
from twisted.internet import threads

from conftest import failed, ok
from scripted_peers import PingOnly, ScriptedPeer, closed_port, peers, wsgi_resource  # noqa: F401 (peers: a fixture)
from stws.db.models import Department, Ticket, TicketCustomValue, TicketEvent
from stws.domain.tickets import fields
from test_external_providers import configure, external
from test_sample_provider import AUTH_PW, RunningProvider, write_config

SUPPORT = 1  # the seeded department
BACK_DATED = (dt.datetime(2024, 1, 2, tzinfo=dt.timezone.utc),) * 3


@pytest_twisted.async_fixture
async def providers(server):
    return await server.client("svcExternalProviders")


async def enable(server, providers, url, *names, timeout=None, password=AUTH_PW):
    items = []
    for name in names:
        items += external(name, url, password)
        if timeout:
            items.append("%s.TimeoutSeconds=%d" % (name, timeout))
    await configure(server, providers, *items)


# ---------------------------------------------------------------- helpers


def tickets(server) -> list[Ticket]:
    with server.runtime.db.transaction(writes=False) as session:
        return list(session.scalars(select(Ticket).order_by(Ticket.id)))


def ticket(server, number) -> Ticket:
    with server.runtime.db.transaction(writes=False) as session:
        return session.scalars(select(Ticket).where(Ticket.ticket_number == number)).one()


def values(server, ticket_id) -> dict:
    with server.runtime.db.transaction(writes=False) as session:
        rows = session.execute(select(fields.CustomField.display_name, TicketCustomValue.value)
                               .join(TicketCustomValue, TicketCustomValue.field_id == fields.CustomField.id)
                               .where(TicketCustomValue.ticket_id == ticket_id))
        return dict(rows.all())


def history(server, ticket_id) -> dict:
    with server.runtime.db.transaction(writes=False) as session:
        return {event.event_type: event for event in session.scalars(
            select(TicketEvent).where(TicketEvent.ticket_id == ticket_id))}


def template(server, department_id=SUPPORT, *placed):
    """A ticket template for the department with ``placed`` fields: (name,
    type, default, options, {placement flags})."""
    with server.runtime.db.transaction() as session:
        made = fields.create_template(session, "Template of %d" % department_id)
        for order, (name, kind, default, options, flags) in enumerate(placed):
            existing = session.scalars(select(fields.CustomField).where(
                fields.CustomField.display_name == name)).first()
            definition = existing or fields.create_field(session, name, kind, default, options)
            fields.put_field_on_template(session, made.id, definition.id, order, **flags)
        fields.set_department_template(session, department_id, made.id)


def department(server, name) -> int:
    with server.runtime.db.transaction() as session:
        from stws.db.models import Group
        made = Department(brand_id=1, name=name)
        session.add(made)
        session.flush()
        group = Group(department_id=made.id, name="%s front line" % name)
        session.add(group)
        session.flush()
        made.front_line_group_id = group.id
        return made.id


def from_customer(desk, address="alice@example.com", subject="Printer jammed", department_id=SUPPORT):
    return desk.tickets.CreateTicketFromCustomer(*desk.admin, department_id, address, subject, "It jams.", False,
                                                 False)


def provider_calls(provider) -> int:
    return provider.log.read_text().count("Success=")


# ---------------------------------------------------------------- the sample provider


async def test_without_providers_nothing_is_asked(desk, sample_provider, providers):
    # Configured, but disabled: built-in behaviour, no call.
    await enable(desk.server, providers, sample_provider.url, "CustomField", "Ticket")
    await configure(desk.server, providers, "CustomField.Enabled=false", "Ticket.Enabled=false")
    before = provider_calls(sample_provider)
    number = ok(await from_customer(desk, "mallory@spam.example")).RequestResult
    assert provider_calls(sample_provider) == before
    assert "ProvidersConsulted" not in history(desk.server, ticket(desk.server, number).id)


async def test_ticket_provider_sets_fields_and_ignores_unknown_ones(desk, sample_provider, providers, caplog):
    server = desk.server
    template(server, SUPPORT, ("Plan", "text", "", (), {}))
    await enable(server, providers, sample_provider.url, "Ticket")
    with caplog.at_level(logging.WARNING, "stws.providers"):
        number = ok(await from_customer(desk)).RequestResult
    created = ticket(server, number)
    assert values(server, created.id) == {"Plan": "Gold"}
    consulted = history(server, created.id)["ProvidersConsulted"].details
    assert "Custom fields set: Plan" in consulted
    # cf_Plan=Tier: no such field (a name with "=" cannot even exist here).
    assert "'Plan=Tier'" in consulted and "ignored" in consulted
    assert "'Plan=Tier'" in caplog.text


async def test_on_sqlite_the_call_leaves_the_commit_group_to_ask_the_provider(desk, sample_provider, providers,
                                                                             offline_endpoints):
    """CreateTicketFromCustomer is a quick write: on SQLite it runs whole on
    the commit-group thread, where a provider call raises LeavesCommitGroup
    and the SOAP hosting runs it again on the general pool."""
    server = desk.server
    endpoint = next(e for s, e in offline_endpoints.items() if s.__service_name__ == "svcTickets")
    assert "CreateTicketFromCustomer" in endpoint.quick_write_operations
    await enable(server, providers, sample_provider.url, "Ticket")
    groups = server.runtime.write_groups
    calls = groups.calls if groups is not None else 0
    number = ok(await from_customer(desk, subject="Our site is down")).RequestResult
    assert ticket(server, number).department_id != 0
    if groups is not None:
        # Two runs on the commit-group thread: the request, which left it to
        # ask the provider, and the transaction the general pool handed back.
        assert groups.calls == calls + 2
    # Without a provider the same call stays on that thread (nothing to leave for).
    await configure(server, providers, "Ticket.Enabled=false")
    ok(await from_customer(desk))


async def test_declined_by_the_ticket_provider(desk, sample_provider, providers):
    await enable(desk.server, providers, sample_provider.url, "Ticket")
    result = await from_customer(desk, "mallory@spam.example")
    failed(result, 3, "Not from your address.")
    assert result.Message == "Not from your address."
    assert tickets(desk.server) == []


async def test_declined_by_the_custom_field_provider(desk, sample_provider, providers):
    # CanStartTickets=false for a known customer (loginUsername) of a blocked domain.
    org = desk.org
    made = await org.CreateUser(*desk.admin, "mallory", "mallory-passw0rd", "mallory@spam.example", True, "M")
    assert made.Result, made.Message
    await enable(desk.server, providers, sample_provider.url, "CustomField")
    result = await desk.tickets.CreateTicketFromCustomerWithDate(
        *desk.admin, SUPPORT, 0, made.RequestResult, "", "Hello", "Hi", False, False, *BACK_DATED)
    assert failed(result, 3) == "Not from your address."
    assert tickets(desk.server) == []


async def test_rerouted_to_another_department(desk, sample_provider, providers):
    server = desk.server
    escalations = department(server, "Escalations")
    await enable(server, providers, sample_provider.url, "Ticket")
    number = ok(await from_customer(desk, "someone@example.net", "Our site is DOWN again")).RequestResult
    created = ticket(server, number)
    with server.runtime.db.transaction(writes=False) as session:
        front_line = session.get(Department, escalations).front_line_group_id
    assert (created.department_id, created.group_id) == (escalations, front_line)
    assert number.startswith("%03d-" % escalations)
    assert "from Support to Escalations" in history(server, created.id)["ProvidersConsulted"].details


async def test_rerouted_with_date_and_group_goes_to_the_front_line(desk, sample_provider, providers):
    server = desk.server
    escalations = department(server, "Escalations")
    await enable(server, providers, sample_provider.url, "Ticket")
    result = await desk.tickets.CreateTicketFromCustomerWithDate(
        *desk.admin, SUPPORT, 1, desk.customer_id, "", "outage", "Hi", False, False, *BACK_DATED)
    created = ticket(server, ok(result).RequestResult)
    assert created.department_id == escalations and created.customer_id == desk.customer_id


async def test_reroute_to_an_unknown_department_keeps_the_ticket(desk, sample_provider, providers, caplog):
    await enable(desk.server, providers, sample_provider.url, "Ticket")
    with caplog.at_level(logging.WARNING, "stws.providers"):
        number = ok(await from_customer(desk, subject="outage")).RequestResult
    created = ticket(desk.server, number)
    assert created.department_id == SUPPORT
    note = history(desk.server, created.id)["ProvidersConsulted"].details
    assert "department 'Escalations', which does not exist; it stays in Support" in note
    assert "'Escalations', which does not exist" in caplog.text


async def test_agent_created_ticket_asks_too(desk, sample_provider, providers):
    await enable(desk.server, providers, sample_provider.url, "Ticket")
    result = await desk.tickets.CreateTicket(*desk.admin, SUPPORT, 1, 0, "mallory@spam.example", "Hi", "Body",
                                             False, False, False)
    assert failed(result, 3) == "Not from your address."
    ok(await desk.tickets.CreateTicket(*desk.admin, SUPPORT, 1, 0, "bob@example.org", "Hi", "Body", False, False,
                                       False))


async def test_required_field_without_a_value_is_refused(desk, sample_provider, providers):
    # The custom field provider requires Customer ID in every department.
    template(desk.server, SUPPORT, ("Customer ID", "text", "", (), {}), ("Plan", "text", "", (), {}))
    await enable(desk.server, providers, sample_provider.url, "CustomField", "Ticket")
    result = await from_customer(desk)
    assert failed(result, 4) == ("The ticket was not created: the custom field Customer ID is required and has "
                                 "no value.")
    assert tickets(desk.server) == []


async def test_a_hidden_required_field_is_not_required(desk, sample_provider, providers):
    template(desk.server, SUPPORT, ("Customer ID", "text", "", (), {"visible_to_users": False}),
             ("Plan", "text", "", (), {}))
    await enable(desk.server, providers, sample_provider.url, "CustomField", "Ticket")
    number = ok(await from_customer(desk)).RequestResult
    created = ticket(desk.server, number)
    assert values(desk.server, created.id) == {"Plan": "Gold"}
    assert "Custom field provider changed: Customer ID" in history(desk.server,
                                                                   created.id)["ProvidersConsulted"].details


async def test_a_default_value_satisfies_a_required_field(desk, sample_provider, providers):
    template(desk.server, SUPPORT, ("Customer ID", "text", "unknown", (), {}))
    await enable(desk.server, providers, sample_provider.url, "CustomField")
    ok(await from_customer(desk))


@pytest.fixture(scope="module")
def limiting_provider(tmp_path_factory):
    """The sample provider with one more rule: Plan may only be Free or Silver."""
    config = write_config(tmp_path_factory.mktemp("limiting"))
    text = config.read_text()
    config.write_text(text.replace("* | require | Customer ID", "* | options | Plan | Free, Silver"))
    running = RunningProvider(config)
    yield running
    running.stop()


async def test_a_value_outside_the_changed_options_is_refused(desk, limiting_provider, providers):
    template(desk.server, SUPPORT, ("Plan", "list", "", ("Free", "Silver", "Gold"), {}))
    await enable(desk.server, providers, limiting_provider.url, "CustomField", "Ticket")
    # alice's Plan is Gold (the ticket provider sets it): an option of the
    # field, but not one of those the custom field provider allows.
    result = await from_customer(desk)
    assert failed(result, 4) == ("The ticket was not created: 'Gold' (from the ticket provider) is not one of the "
                                 "options of the custom field Plan: Free, Silver.")
    assert tickets(desk.server) == []
    # bob has no Plan fact: nothing set, nothing refused.
    ok(await from_customer(desk, "bob@example.org"))


async def test_provider_value_of_the_wrong_type_is_refused(desk, sample_provider, providers):
    template(desk.server, SUPPORT, ("Plan", "number", "", (), {}))
    await enable(desk.server, providers, sample_provider.url, "Ticket")
    message = failed(await from_customer(desk), 4, "custom field Plan", "must be a number")
    assert message.startswith("The ticket was not created: the ticket provider's value")
    assert tickets(desk.server) == []


# ---------------------------------------------------------------- faults: result code 9, no ticket


async def scripted(server, peers, sample_provider, mode, answer=b""):
    """A misbehaving peer with the sample provider's (valid) WSDL."""
    import requests
    wsdl = (await threads.deferToThread(requests.get, sample_provider.url + "?WSDL", timeout=10)).content
    return peers.serve(ScriptedPeer(wsdl, mode, answer), "provider.asmx")


def answer(outputs, success="true", message=""):
    items = "".join("<string>%s</string>" % item for item in outputs)
    return ("<?xml version='1.0' encoding='utf-8'?><soap:Envelope "
            "xmlns:soap='http://schemas.xmlsoap.org/soap/envelope/'><soap:Body>"
            "<StartTicketResponse xmlns='http://tempuri.org/'><StartTicketResult><Success>%s</Success>"
            "<Message>%s</Message><OutputVariables>%s</OutputVariables></StartTicketResult></StartTicketResponse>"
            "</soap:Body></soap:Envelope>" % (success, message, items)).encode()


async def refused_with_code_9(desk, *mentions) -> str:
    message = failed(await from_customer(desk), 9, *mentions)
    assert tickets(desk.server) == []
    return message


async def test_provider_unreachable(desk, providers):
    url = "http://127.0.0.1:%d/provider.asmx" % closed_port()
    await enable(desk.server, providers, url, "Ticket")
    assert await refused_with_code_9(desk) == "Cannot connect to the ticket provider (%s): connection refused" % url


async def test_provider_slower_than_its_timeout(desk, providers, peers, sample_provider):
    url = await scripted(desk.server, peers, sample_provider, "slow")
    await enable(desk.server, providers, url, "Ticket", timeout=1)
    assert await refused_with_code_9(desk) == "the ticket provider (%s) did not answer StartTicket within 1 " \
                                              "seconds." % url


@pytest.mark.parametrize("mode, start", [
    ("html", 'the ticket provider answered StartTicket with a web page (HTTP 500, "Runtime Error"), not SOAP: is '),
    ("fault", "the ticket provider answered StartTicket with a SOAP fault: Server was unable to process request."),
    ("malformed", "the ticket provider answered StartTicket with malformed XML (HTTP 200): "),
])
async def test_provider_answers_nonsense(desk, providers, peers, sample_provider, mode, start):
    url = await scripted(desk.server, peers, sample_provider, mode)
    await enable(desk.server, providers, url, "Ticket")
    assert (await refused_with_code_9(desk)).startswith(start)


async def test_provider_wsdl_without_the_method(desk, providers, peers):
    url = peers.serve(wsgi_resource(PingOnly, "http://tempuri.org/"), "provider.asmx")
    await enable(desk.server, providers, url, "Ticket")
    assert await refused_with_code_9(desk) == ("The web service of the ticket provider (%s) has no operation "
                                               "StartTicket; its WSDL offers Ping." % url)


async def test_provider_refuses_our_password(desk, providers, sample_provider):
    await enable(desk.server, providers, sample_provider.url, "Ticket", password="not-the-password")
    assert await refused_with_code_9(desk) == ("The ticket provider (%s) did not handle StartTicket: Permission "
                                               "Denied" % sample_provider.url)


async def test_provider_answers_an_oversized_answer(desk, providers, peers, sample_provider):
    url = await scripted(desk.server, peers, sample_provider, "oversized")
    desk.server.runtime.remote.max_answer_bytes = 1024 * 1024
    await enable(desk.server, providers, url, "Ticket")
    assert await refused_with_code_9(desk) == ("the ticket provider answered StartTicket with more than 1 MiB; "
                                               "the answer was dropped.")


async def test_unknown_output_keys_are_ignored_and_logged(desk, providers, peers, sample_provider, caplog):
    url = await scripted(desk.server, peers, sample_provider, "canned",
                         answer(["TicketCreation=TRUE", "Priority=Urgent"]))
    await enable(desk.server, providers, url, "Ticket")
    with caplog.at_level(logging.INFO, "stws.providers"):
        ok(await from_customer(desk))
    assert "ignored the unknown output 'Priority'" in caplog.text
    assert len(tickets(desk.server)) == 1


async def test_canned_refusal_carries_the_providers_message(desk, providers, peers, sample_provider):
    url = await scripted(desk.server, peers, sample_provider, "canned",
                         answer(["TicketCreation=FALSE"], message="Your plan allows no more tickets this month."))
    await enable(desk.server, providers, url, "Ticket")
    assert failed(await from_customer(desk), 3) == "Your plan allows no more tickets this month."
    assert tickets(desk.server) == []
