"""The live chat provider's StartChat (stws.providers.chat_start) against
the sample provider (examples/providers/python) in its own process on
loopback, configured through svcExternalProviders. Live chat itself does
not exist yet: this is the call it will make."""
from __future__ import annotations

import pytest
import pytest_twisted
from twisted.internet import threads

from stws.providers.chat_start import ChatStart, start_chat
from stws.providers.gateway import ProviderRefused
from stws.remote import RemoteFailure
from scripted_peers import closed_port
from test_external_providers import configure, external


@pytest_twisted.async_fixture
async def providers(server):
    return await server.client("svcExternalProviders")


def chat(server, *args, **options):
    return threads.deferToThread(start_chat, server.runtime, *args, **options)


async def test_not_enabled_allows_without_asking(server):
    assert await chat(server, "Billing", email_from="mallory@spam.example") == ChatStart(True)


async def test_start_chat(server, providers, sample_provider):
    await configure(server, providers, *external("LiveChat", sample_provider.url))
    allowed = await chat(server, "Support", login_username="alice", custom_fields={"Topic": "Invoices"})
    assert allowed == ChatStart(True, "", {"Plan": "Gold", "Plan=Tier": "Gold"})
    assert await chat(server, "Billing", email_from="bob@example.org") == ChatStart(False, "No chat for Billing.")
    assert await chat(server, "Support", email_from="x@spam.example") == ChatStart(False, "Not from your address.")


async def test_provider_failures_are_result_code_9(server, providers, sample_provider):
    await configure(server, providers, *external("LiveChat", sample_provider.url, "wrong-password"))
    with pytest.raises(ProviderRefused, match="did not handle StartChat: Permission Denied") as refused:
        await chat(server, "Support", email_from="bob@example.org")
    assert refused.value.code == 9
    url = "http://127.0.0.1:%d/provider.asmx" % closed_port()
    await configure(server, providers, *external("LiveChat", url))
    with pytest.raises(RemoteFailure, match="Cannot connect to the live chat provider") as failed:
        await chat(server, "Support", email_from="bob@example.org")
    assert failed.value.code == 9
