"""The new ticket form's custom fields below the browser: the
``new_ticket_form`` operation and its endpoint (GET
/admin/tickets/new/fields) over real HTTP (tests/admin_client.py), and the
creation operations with the values a form filled in, against the sample
provider (examples/providers/python) on loopback.

The fields (``define_form_fields``) on the Support department's template
and on a Sales department's: Customer ID (text), Order Number (text,
hidden from users by the template), Product (list: Basic, Pro,
Enterprise), Internal Code (text), Callback (checkbox). The provider's
rules (``form_provider_config``): Customer ID required everywhere; in
Sales Order Number shown and required and Product limited to Basic, Pro;
in Support Internal Code hidden; senders at spam.example refused.
"""
from __future__ import annotations

import urllib.parse

import pytest
from sqlalchemy import select
from twisted.internet import threads

from admin_client import AdminClient
from conftest import ok
from stws.db.models import CustomField, Ticket, TicketCustomValue, TicketEvent
from stws.domain.tickets import fields
from stws.errors import PermissionDenied
from stws.operations import runner
from stws.operations.tickets import creation
from stws.providers.ticket_start import FieldRuleBroken
from test_external_providers import configure, external
from test_sample_provider import RunningProvider, write_config
from tickets.conftest import AGENT, make_user

SUPPORT = 1
FIELDS_URL = "/admin/tickets/new/fields"


def form_provider_config(directory):
    """The sample provider's test config with one more rule: Internal Code hidden in Support."""
    config = write_config(directory)
    text = config.read_text()
    config.write_text(text.replace("rules =\n", "rules =\n    Support | hide | Internal Code\n", 1))
    return config


@pytest.fixture(scope="module")
def form_provider(tmp_path_factory):
    running = RunningProvider(form_provider_config(tmp_path_factory.mktemp("form-provider")))
    yield running
    running.stop()


def define_form_fields(runtime) -> int:
    """The fields of the module docstring on Support's and a new Sales
    department's templates; Sales' id."""
    from stws.db.models import Department, Group

    with runtime.db.transaction() as session:
        sales = Department(brand_id=1, name="Sales")
        session.add(sales)
        session.flush()
        front = Group(department_id=sales.id, name="Sales front line")
        session.add(front)
        session.flush()
        sales.front_line_group_id = front.id
        template = fields.create_template(session, "New ticket form")
        placed = [fields.create_field(session, "Customer ID"), fields.create_field(session, "Order Number"),
                  fields.create_field(session, "Product", "list", "", ("Basic", "Pro", "Enterprise")),
                  fields.create_field(session, "Internal Code"), fields.create_field(session, "Callback", "checkbox")]
        for order, definition in enumerate(placed):
            fields.put_field_on_template(session, template.id, definition.id, order,
                                         visible_to_users=definition.display_name != "Order Number")
        fields.set_department_template(session, SUPPORT, template.id)
        fields.set_department_template(session, sales.id, template.id)
        return sales.id


async def enable_providers(server, url, *names):
    providers = await server.client("svcExternalProviders")
    items = []
    for name in names:
        items += external(name, url)
    await configure(server, providers, *items)


async def signed_in(server, credentials) -> AdminClient:
    client = AdminClient(server.base_url)
    status, headers, _ = await threads.deferToThread(client.sign_in, *credentials)
    assert status == 303 and "/signin" not in headers["Location"], "signing in as %s failed" % credentials[0]
    return client


async def fragment(client, **query):
    path = FIELDS_URL + "?" + urllib.parse.urlencode(query)
    return await threads.deferToThread(client.request, path)


def form_fields(server, principal, department_id, address="", values=None):
    return runner.run(server.runtime, creation.new_ticket_form, principal, (department_id, address, values or {}))


def stored_values(server, number) -> dict:
    with server.runtime.db.transaction(writes=False) as session:
        ticket_id = session.scalar(select(Ticket.id).where(Ticket.ticket_number == number))
        return dict(session.execute(select(CustomField.display_name, TicketCustomValue.value)
                                    .join(TicketCustomValue, TicketCustomValue.field_id == CustomField.id)
                                    .where(TicketCustomValue.ticket_id == ticket_id)).all())


def event_types(server, number) -> set:
    with server.runtime.db.transaction(writes=False) as session:
        return set(session.scalars(select(TicketEvent.event_type).join(Ticket, Ticket.id == TicketEvent.ticket_id)
                                   .where(Ticket.ticket_number == number)))


def ticket_count(server) -> int:
    with server.runtime.db.transaction(writes=False) as session:
        return len(session.scalars(select(Ticket.id)).all())


def principal_of(server, credentials):
    return runner.authenticate(server.runtime, runner.PasswordCredentials(*credentials))


# ---------------------------------------------------------------- the endpoint


async def test_the_fields_endpoint_answers_agents_only(desk):
    server = desk.server
    define_form_fields(server.runtime)
    anonymous = AdminClient(server.base_url)
    status, headers, body = await fragment(anonymous, department_id=SUPPORT)
    assert status == 401 and headers["Content-Type"].startswith("application/json") and "Customer ID" not in body
    # A customer has no session in the management interface, and the operation refuses one anyway.
    customer = await threads.deferToThread(principal_of, server, desk.customer)
    with pytest.raises(PermissionDenied):
        await threads.deferToThread(form_fields, server, customer, SUPPORT)
    agent = await signed_in(server, AGENT)
    status, _, body = await fragment(agent, department_id=SUPPORT, email="carol@example.com")
    assert status == 200 and 'id="custom-fields"' in body
    assert 'data-field="Customer ID"' in body and 'data-field="Internal Code"' in body
    assert 'data-field="Order Number"' not in body  # not visible to users on the template
    # It only asks: a POST is not routed.
    status, _, _ = await threads.deferToThread(agent.request, FIELDS_URL, {"department_id": SUPPORT})
    assert status == 405


async def test_without_providers_the_template_decides(desk):
    server = desk.server
    define_form_fields(server.runtime)
    agent = await threads.deferToThread(principal_of, server, AGENT)
    effects = await threads.deferToThread(form_fields, server, agent, SUPPORT, "carol@example.com",
                                          {"Product": "Pro"})
    assert [f.name for f in effects.fields] == ["Customer ID", "Product", "Internal Code", "Callback"]
    product = effects.fields[1]
    assert product.options == ("Basic", "Pro", "Enterprise") and product.value == "Pro" and not product.required
    assert effects.notice == ""


async def test_the_provider_hides_requires_and_limits_by_department_and_customer(desk, form_provider):
    server = desk.server
    sales = define_form_fields(server.runtime)
    await enable_providers(server, form_provider.url, "CustomField")
    agent = await signed_in(server, AGENT)
    _, _, support_body = await fragment(agent, department_id=SUPPORT, email="carol@example.com")
    assert 'data-field="Internal Code"' not in support_body  # hidden in Support
    assert 'data-field="Order Number"' not in support_body
    _, _, sales_body = await fragment(agent, department_id=sales, email="carol@example.com",
                                      **{"field:Product": "Pro"})
    assert 'data-field="Order Number"' in sales_body and 'data-field="Internal Code"' in sales_body
    principal = await threads.deferToThread(principal_of, server, AGENT)
    effects = await threads.deferToThread(form_fields, server, principal, sales, "carol@example.com")
    by_name = {f.name: f for f in effects.fields}
    assert by_name["Order Number"].required and by_name["Customer ID"].required
    assert by_name["Product"].options == ("Basic", "Pro") and by_name["Product"].lookup
    assert not by_name["Internal Code"].required
    # A customer the provider refuses (known to both by address): its Message on the form.
    await make_user(desk.org, desk.admin, "mallory", "mallory-passw0rd", "mallory@spam.example")
    _, _, refused = await fragment(agent, department_id=SUPPORT, email="mallory@spam.example")
    assert 'id="fields-notice"' in refused and "Not from your address." in refused


async def test_a_provider_that_cannot_be_asked_is_a_notice_not_a_failure(desk):
    from scripted_peers import closed_port

    server = desk.server
    define_form_fields(server.runtime)
    await enable_providers(server, "http://127.0.0.1:%d/provider.asmx" % closed_port(), "CustomField")
    agent = await signed_in(server, AGENT)
    status, _, body = await fragment(agent, department_id=SUPPORT, email="carol@example.com",
                                     **{"field:Customer ID": "C-7"})
    assert status == 200 and "could not be asked" in body
    assert 'data-field="Internal Code"' in body and 'value="C-7"' in body  # the template's fields, values kept


# ---------------------------------------------------------------- creating with the form's values


async def test_form_values_are_checked_and_recorded_without_providers(desk):
    server = desk.server
    define_form_fields(server.runtime)
    with server.runtime.db.transaction() as session:
        template_id = session.get(fields.Department, SUPPORT).ticket_custom_template_id
        customer_id = session.scalar(select(CustomField.id).where(CustomField.display_name == "Customer ID"))
        fields.put_field_on_template(session, template_id, customer_id, 0, required_by_users=True)
    agent = await threads.deferToThread(principal_of, server, AGENT)

    def create(values):
        return runner.run(server.runtime, creation.create_ticket_from_customer_with_date, agent,
                          (SUPPORT, 0, 0, "carol@example.com", "Called", "About the bill.", False, False, None,
                           None, None, values))

    before = ticket_count(server)
    with pytest.raises(FieldRuleBroken) as refused:
        await threads.deferToThread(create, {"Product": "Pro"})
    assert refused.value.field == "Customer ID" and "Customer ID is required" in refused.value.message
    with pytest.raises(FieldRuleBroken) as refused:
        await threads.deferToThread(create, {"Customer ID": "C-1", "Product": "Gold"})
    assert refused.value.field == "Product" and "Basic, Pro, Enterprise" in refused.value.message
    assert ticket_count(server) == before
    number = await threads.deferToThread(create, {"Customer ID": "C-1", "Product": "pro", "Callback": "true",
                                                  "Order Number": "hidden from users, dropped"})
    assert stored_values(server, number) == {"Customer ID": "C-1", "Product": "Pro", "Callback": "true"}
    assert "ProvidersConsulted" not in event_types(server, number)  # no provider was asked
    # What a form sends for fields left alone (an unticked box sends "false") is not recorded.
    number = await threads.deferToThread(create, {"Customer ID": "C-2", "Product": "", "Internal Code": "",
                                                  "Callback": "false"})
    assert stored_values(server, number) == {"Customer ID": "C-2"}
    # SOAP fills no fields in: the template's required-by-users does not apply to it.
    for auto_responder in (False, True):
        ok(await desk.tickets.CreateTicketFromCustomer(*desk.admin, SUPPORT, "carol@example.com", "By SOAP", "Hi.",
                                                       False, auto_responder))
    ok(await desk.tickets.CreateTicket(*desk.admin, SUPPORT, 0, 0, "carol@example.com", "By SOAP", "Hi.", False,
                                       False, False))
