"""GetTicketUserInformation (svcExternalProviders) through zeep: what the
user information provider (the sample provider, in its own process on
loopback) says of a ticket's customer, its cache, who may ask, and the
provider off, down or refusing."""
from __future__ import annotations

import pytest_twisted

from conftest import strings
from stws.errors import ResultCode
from stws.providers.user_information import CACHE_SECONDS
from test_external_providers import configure, external, providers, refused_url  # noqa: F401 - fixtures

AGENT = ("ada", "ada-passw0rd")
OUTSIDER = ("otto", "otto-passw0rd")  # an agent of no group: sees no ticket he is not assigned
CUSTOMER = ("carl", "carl-passw0rd")


async def make_user(org, admin, username, password, email, roles=None) -> int:
    created = await org.CreateUser(*admin, username, password, email, True, username.title())
    assert created.Result, created.Message
    if roles:
        assert (await org.SetUsersProperties(*admin, created.RequestResult, strings("Roles=" + roles))).Result
    return created.RequestResult


@pytest_twisted.async_fixture
async def desk(server):
    """Agent ada in the default department's front-line group (1), agent otto
    in none, customer carl; a zeep client of svcTickets."""
    org = await server.client("svcOrganization")
    ada = await make_user(org, server.admin, *AGENT, "ada@helpdesk.example", "Agent")
    await make_user(org, server.admin, *OUTSIDER, "otto@helpdesk.example", "Agent")
    await make_user(org, server.admin, *CUSTOMER, "carl@example.net")
    assert (await org.AddAgentToGroup(*server.admin, 1, ada, "Primary", False, 0)).Result
    return await server.client("svcTickets")


async def ticket_from(tickets, address: str) -> str:
    created = await tickets.CreateTicketFromCustomer(*AGENT, 1, address, "Where is my order?", "Hello.", False,
                                                     False)
    assert created.Result, created.Message
    return created.RequestResult


def pairs(result) -> list[str]:
    return list(result.RequestResults.string) if result.RequestResults else []


def calls_of(provider) -> int:
    """GetUserInformation calls the sample provider has logged (a line each)."""
    return provider.log.read_text().count("GetUserInformation: ")


async def test_pairs_of_the_customer_by_address(server, providers, sample_provider, desk):
    await configure(server, providers, *external("UserInformation", sample_provider.url))
    number = await ticket_from(desk, "Alice@Example.com")
    result = await providers.GetTicketUserInformation(*AGENT, number)
    assert result.Result and result.ResultCode == 0, result.Message
    assert pairs(result) == ["DisplayName=Alice Example", "EmailAddress=alice@example.com", "Plan=Gold",
                             "Account since=2019-04-01"]
    # A customer the provider does not know: nothing, and its Message.
    unknown = await providers.GetTicketUserInformation(*AGENT, await ticket_from(desk, "nobody@example.org"))
    assert unknown.Result and pairs(unknown) == []
    assert unknown.Message == "No information about this customer."


async def test_a_customer_account_is_asked_by_its_user_name(server, providers, sample_provider, desk):
    org = await server.client("svcOrganization")
    # stws's account "mallory" writes from another address than the provider knows.
    await make_user(org, server.admin, "mallory", "mallory-passw0rd", "m.new@example.org")
    await configure(server, providers, *external("UserInformation", sample_provider.url))
    result = await providers.GetTicketUserInformation(*AGENT, await ticket_from(desk, "m.new@example.org"))
    assert result.Result, result.Message
    assert "EmailAddress=mallory@spam.example" in pairs(result) and "Plan=Free" in pairs(result)


async def test_answers_are_cached_per_customer_until_settings_change(server, providers, sample_provider, desk):
    await configure(server, providers, *external("UserInformation", sample_provider.url))
    alice, alice_again = await ticket_from(desk, "alice@example.com"), await ticket_from(desk, "ALICE@example.com")
    mallory = await ticket_from(desk, "mallory@spam.example")
    before = calls_of(sample_provider)
    for number in (alice, alice_again, alice, mallory, mallory):
        result = await providers.GetTicketUserInformation(*AGENT, number)
        assert result.Result and pairs(result), result.Message
    # Within CACHE_SECONDS: one call per customer, whichever ticket asked.
    assert CACHE_SECONDS >= 30 and calls_of(sample_provider) == before + 2
    # A change of the providers' settings drops what was kept.
    await configure(server, providers, "UserInformation.TimeoutSeconds=20")
    assert (await providers.GetTicketUserInformation(*AGENT, alice)).Result
    assert calls_of(sample_provider) == before + 3


async def test_only_agents_who_see_the_ticket(server, providers, sample_provider, desk):
    await configure(server, providers, *external("UserInformation", sample_provider.url))
    number = await ticket_from(desk, "alice@example.com")
    before = calls_of(sample_provider)
    customer = await providers.GetTicketUserInformation(*CUSTOMER, number)
    assert customer.Result is False and customer.ResultCode == int(ResultCode.PERMISSION_DENIED)
    outsider = await providers.GetTicketUserInformation(*OUTSIDER, number)
    assert outsider.Result is False and outsider.ResultCode == int(ResultCode.NOT_FOUND)
    assert number in outsider.Message and not pairs(outsider)
    missing = await providers.GetTicketUserInformation(*AGENT, "123-4567ABCD-0001")
    assert missing.Result is False and missing.ResultCode == int(ResultCode.NOT_FOUND)
    wrong_password = await providers.GetTicketUserInformation("ada", "not-her-password", number)
    assert wrong_password.Result is False and wrong_password.ResultCode == int(ResultCode.AUTHENTICATION_FAILED)
    # Nobody who was refused got the provider asked.
    assert calls_of(sample_provider) == before
    # Administrators see every ticket.
    assert (await providers.GetTicketUserInformation(*server.admin, number)).Result


async def test_provider_off(server, providers, sample_provider, desk):
    number = await ticket_from(desk, "alice@example.com")
    # Configured, but not enabled: nobody is called.
    await configure(server, providers, "UserInformation.Mode=WebService",
                    "UserInformation.WebServiceUrl=" + sample_provider.url)
    before = calls_of(sample_provider)
    result = await providers.GetTicketUserInformation(*AGENT, number)
    assert result.Result and result.ResultCode == 0 and pairs(result) == []
    assert "user information provider is off" in result.Message
    # Enabled as built-in: stws has no information of its own either.
    await configure(server, providers, "UserInformation.Enabled=true", "UserInformation.Mode=BuiltIn")
    assert "is off" in (await providers.GetTicketUserInformation(*AGENT, number)).Message
    assert calls_of(sample_provider) == before


async def test_provider_down_or_refusing(server, providers, sample_provider, refused_url, desk):
    number = await ticket_from(desk, "alice@example.com")
    await configure(server, providers, *external("UserInformation", refused_url))
    down = await providers.GetTicketUserInformation(*AGENT, number)
    assert down.Result is False and down.ResultCode == int(ResultCode.REMOTE_FAILURE)
    assert "Cannot connect" in down.Message and refused_url in down.Message and not pairs(down)
    await configure(server, providers, *external("UserInformation", sample_provider.url, "not-the-password"))
    refused = await providers.GetTicketUserInformation(*AGENT, number)
    assert refused.Result is False and refused.ResultCode == int(ResultCode.REMOTE_FAILURE)
    assert "Permission Denied" in refused.Message and "user information provider" in refused.Message
    # Failures are not kept: with the right password it answers at once.
    await configure(server, providers, "UserInformation.WebServicePassword=test-web-service-password")
    assert pairs(await providers.GetTicketUserInformation(*AGENT, number))
