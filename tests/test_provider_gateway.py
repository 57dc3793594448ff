"""stws.providers.gateway: the Key=Value encoding, and calls of every
provider method against the sample provider (examples/providers/python) in
its own process on loopback, as the places where providers act make them."""
from __future__ import annotations

import pytest
import pytest_twisted
from twisted.internet import threads

from stws.db.engine import Database
from stws.db.group_commit import LeavesCommitGroup
from stws.providers.gateway import ProviderGateway, ProviderRefused, decode_item, encode_item, keys
from stws.providers.settings import ProviderSettings, WEB_SERVICE
from stws.remote import PeerClient
from test_sample_provider import AUTH_PW


@pytest.mark.parametrize("key, value", [("plain", "v"), ("a=b", "c=d"), ("==", ""), ("cf_Plan=Tier", "Gold"),
                                        ("", "x"), ("k", "")])
def test_items_round_trip(key, value):
    assert decode_item(encode_item(key, value)) == (key, value)


def test_item_encoding_is_smartertracks():
    assert encode_item("a=b", "c=d") == "a==b=c=d"
    assert decode_item("no separator") == ("no separator", "")


def test_keys_accepts_names_and_prefixes():
    accepts = keys("TicketCreation", "cf_*")
    assert accepts("ticketcreation") and accepts("CF_Plan") and not accepts("departmentName")


@pytest.fixture
def gateway():
    remote = PeerClient()
    yield ProviderGateway(db=None, remote=remote)


def configured(url, password=AUTH_PW):
    return ProviderSettings(Enabled=True, Mode=WEB_SERVICE, WebServiceUrl=url, WebServicePassword=password)


def call(gateway, settings, name, method, inputs, accepts=lambda key: True):
    return threads.deferToThread(gateway.call, name, method, inputs, accepts, settings)


@pytest_twisted.ensureDeferred
async def test_start_ticket_outputs(gateway, sample_provider):
    answer = await call(gateway, configured(sample_provider.url), "Ticket", "StartTicket",
                        [("departmentName", "Support"), ("emailFrom", "alice@example.com"),
                         ("subject", "Our site is down")], keys("TicketCreation", "departmentName", "cf_*"))
    assert answer.flag("TicketCreation", False) is True
    assert answer.get("departmentname") == "Escalations"
    assert answer.prefixed("cf_") == {"Plan": "Gold", "Plan=Tier": "Gold"}


@pytest_twisted.ensureDeferred
async def test_unknown_outputs_are_dropped(gateway, sample_provider):
    answer = await call(gateway, configured(sample_provider.url), "Ticket", "StartTicket",
                        [("departmentName", "Support"), ("emailFrom", "alice@example.com"), ("subject", "hello")],
                        keys("TicketCreation"))
    assert answer.outputs == (("TicketCreation", "TRUE"),)


@pytest_twisted.ensureDeferred
async def test_custom_field_changes(gateway, sample_provider):
    answer = await call(gateway, configured(sample_provider.url), "CustomField", "GetCustomFieldOptions",
                        [("departmentName", "Sales"), ("interactiontype", "TICKET")])
    changes = {change.name: change for change in answer.custom_fields}
    assert changes["Order Number"].change_visible and changes["Order Number"].visible
    assert changes["Order Number"].change_required and changes["Order Number"].required
    assert changes["Product"].change_list_options and changes["Product"].list_options == ("Basic", "Pro")
    assert changes["Product"].display_with_information_lookup
    assert answer.flag("CanStartTickets", False) is True


@pytest_twisted.ensureDeferred
async def test_success_false_is_a_refusal_with_the_providers_message(gateway, sample_provider):
    with pytest.raises(ProviderRefused, match="Permission Denied"):
        await call(gateway, configured(sample_provider.url, "wrong"), "Login", "Authenticate",
                   [("loginUsername", "alice"), ("loginPassword", "alice-pw")])


@pytest_twisted.ensureDeferred
async def test_not_external_means_built_in(gateway):
    off = ProviderSettings(Enabled=False, Mode=WEB_SERVICE, WebServiceUrl="http://127.0.0.1:9/x.asmx")
    assert await call(gateway, off, "Login", "Authenticate", []) is None


def test_never_called_on_the_commit_group_thread(sample_provider):
    class OnGroupThread:
        def on_its_thread(self):
            return True

    gateway = ProviderGateway(db=None, remote=PeerClient(), write_groups=lambda: OnGroupThread())
    with pytest.raises(LeavesCommitGroup):
        gateway.call("Ticket", "StartTicket", [], settings=configured(sample_provider.url))


@pytest_twisted.ensureDeferred
async def test_a_call_returns_the_soap_calls_connection_first(sample_provider, database_url):
    """A provider is never asked while the SOAP call that asks it holds a
    pooled connection (runner.call keeps one for a ticket's creation, whose
    consult step may ask the ticket provider): the gateway releases it."""
    db = Database(database_url, pool_size=2)
    gateway = ProviderGateway(db=db, remote=PeerClient())

    def asked_inside_one_connection():
        with db.one_connection():
            with db.reading() as before:
                before.exec_driver_sql("SELECT 1")
            answer = gateway.call("Ticket", "StartTicket", [("departmentName", "Support"),
                                                            ("emailFrom", "alice@example.com"), ("subject", "hi")],
                                  settings=configured(sample_provider.url))
            with db.reading() as after:
                return answer, after is not before

    try:
        answer, released = await threads.deferToThread(asked_inside_one_connection)
        assert answer.flag("TicketCreation", False) is True
        assert released
    finally:
        db.dispose()
