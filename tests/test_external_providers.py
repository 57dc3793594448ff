"""svcExternalProviders.asmx through zeep: the providers' settings (all or
nothing, write-only passwords), TestProvider against the sample provider
(examples/providers/python) on loopback, and the self-diagnostic's check per
enabled external provider."""
from __future__ import annotations

import socket

import pytest
import pytest_twisted
from sqlalchemy import select

from conftest import strings
from stws.db.models import Setting
from stws.errors import ResultCode
from test_sample_provider import AUTH_PW


@pytest.fixture
def refused_url():
    """A loopback URL where nothing listens: connections are refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return "http://127.0.0.1:%d/provider.asmx" % port


@pytest_twisted.async_fixture
async def providers(server):
    return await server.client("svcExternalProviders")


def as_dict(result) -> dict:
    return dict(item.split("=", 1) for item in result.RequestResults.string)


async def settings_of(server, providers) -> dict:
    result = await providers.GetProviderSettings(*server.admin)
    assert result.Result, result.Message
    return as_dict(result)


async def configure(server, providers, *items):
    result = await providers.SetProviderSettings(*server.admin, strings(*items))
    assert result.Result, result.Message
    return result


def external(provider: str, url: str, password: str = AUTH_PW):
    return ("%s.Enabled=true" % provider, "%s.Mode=WebService" % provider, "%s.WebServiceUrl=%s" % (provider, url),
            "%s.WebServicePassword=%s" % (provider, password))


async def test_defaults(server, providers):
    settings = await settings_of(server, providers)
    for provider in ("Login", "Registration", "CustomField", "Ticket", "LiveChat", "UserInformation", "Events"):
        assert settings["%s.Enabled" % provider] == "false"
        assert settings["%s.Mode" % provider] == "BuiltIn"
        assert settings["%s.WebServiceUrl" % provider] == ""
        assert settings["%s.HasWebServicePassword" % provider] == "false"
        assert settings["%s.TimeoutSeconds" % provider] == "10"
    assert settings["Login.DefaultRole"] == "Registered Users"
    assert settings["Login.HasSingleSignOnSecret"] == "false"
    assert "Ticket.DefaultRole" not in settings


async def test_round_trip_never_returns_passwords(server, providers):
    result = await configure(server, providers, *external("Login", "https://sso.example.com/login.asmx",
                                                          "pw-of-the-provider"),
                             "Login.TimeoutSeconds=30", "login.defaultrole=anonymous",
                             "Login.SingleSignOnSecret=shared-sso-secret", "Login.MarkEmailVerified=true",
                             "Login.ForgotPasswordUrl=https://sso.example.com/forgot",
                             "Events.TimeoutSeconds=120")
    assert "Login.WebServicePassword" in result.Message
    settings = await settings_of(server, providers)
    assert settings["Login.Enabled"] == "true" and settings["Login.Mode"] == "WebService"
    assert settings["Login.WebServiceUrl"] == "https://sso.example.com/login.asmx"
    assert settings["Login.HasWebServicePassword"] == "true"
    assert settings["Login.HasSingleSignOnSecret"] == "true"
    assert settings["Login.TimeoutSeconds"] == "30" and settings["Events.TimeoutSeconds"] == "120"
    assert settings["Login.DefaultRole"] == "Everyone"
    assert settings["Login.MarkEmailVerified"] == "true"
    assert settings["Login.ForgotPasswordUrl"] == "https://sso.example.com/forgot"
    everything = "\n".join("%s=%s" % item for item in settings.items())
    assert "pw-of-the-provider" not in everything and "shared-sso-secret" not in everything
    assert "Login.WebServicePassword" not in settings and "Login.SingleSignOnSecret" not in settings
    with server.runtime.db.transaction(writes=False) as session:
        stored = session.scalar(select(Setting.value).where(Setting.name == "providers.Login.WebServicePassword"))
    assert stored == "pw-of-the-provider"
    # An empty password clears it.
    await configure(server, providers, "Login.WebServicePassword=")
    assert (await settings_of(server, providers))["Login.HasWebServicePassword"] == "false"


@pytest.mark.parametrize("items, named", [
    (("Ticket.WebServiceUrl=ftp://files.example.com/x",), "Ticket.WebServiceUrl"),
    (("Ticket.WebServiceUrl=/relative/provider.asmx",), "Ticket.WebServiceUrl"),
    (("Ticket.TimeoutSeconds=0",), "Ticket.TimeoutSeconds"),
    (("Ticket.TimeoutSeconds=121",), "Ticket.TimeoutSeconds"),
    (("Ticket.Colour=blue",), "Ticket.Colour"),
    (("Ticket.HasWebServicePassword=true",), "Ticket.HasWebServicePassword"),
    (("Login.DefaultRole=Administrator",), "Login.DefaultRole"),
    (("Ticket.Enabled=true", "Ticket.Mode=WebService"), "Ticket.WebServiceUrl"),
])
async def test_bad_input_changes_nothing(server, providers, items, named):
    before = await settings_of(server, providers)
    # A good item beside the bad one is not applied either.
    result = await providers.SetProviderSettings(*server.admin, strings("Events.TimeoutSeconds=33", *items))
    assert result.Result is False and result.ResultCode == int(ResultCode.INVALID_ARGUMENT)
    assert named in result.Message and "Nothing was changed" in result.Message
    assert await settings_of(server, providers) == before


async def test_disabling_keeps_the_url_requirement_off(server, providers, refused_url):
    await configure(server, providers, *external("Ticket", refused_url))
    cleared = await providers.SetProviderSettings(*server.admin, strings("Ticket.WebServiceUrl="))
    assert cleared.Result is False and "Ticket.WebServiceUrl" in cleared.Message
    await configure(server, providers, "Ticket.Enabled=false", "Ticket.WebServiceUrl=")
    assert (await settings_of(server, providers))["Ticket.WebServiceUrl"] == ""


async def test_an_agent_is_refused(server, providers):
    org = await server.client("svcOrganization")
    created = await org.CreateUser(*server.admin, "agent1", "agent-passw0rd", "a@example.com", True, "")
    await org.SetUsersProperties(*server.admin, created.RequestResult, strings("Roles=Agent,Manager"))
    agent = ("agent1", "agent-passw0rd")
    for call in (providers.GetProviderSettings(*agent),
                 providers.SetProviderSettings(*agent, strings("Ticket.TimeoutSeconds=5")),
                 providers.TestProvider(*agent, "Login")):
        result = await call
        assert result.Result is False and result.ResultCode == int(ResultCode.PERMISSION_DENIED)
    assert (await settings_of(server, providers))["Ticket.TimeoutSeconds"] == "10"


async def test_provider_reachable_and_password_accepted(server, providers, sample_provider):
    for provider in ("Login", "Registration", "CustomField", "Ticket", "LiveChat", "UserInformation", "Events"):
        await configure(server, providers, *external(provider, sample_provider.url))
        result = await providers.TestProvider(*server.admin, provider.lower())
        assert result.Result, result.Message
        assert result.ResultCode == 0 and result.IsReachable and result.PasswordAccepted
        assert result.ElapsedMs >= 0 and "accepted the Web Service Password" in result.Message
        assert "authPW" in result.Detail and AUTH_PW not in result.Detail and AUTH_PW not in result.Message
    login = await providers.TestProvider(*server.admin, "Login")
    assert "Authenticate" in login.Detail and "Missing input" in login.Detail


async def test_provider_refusing_the_password(server, providers, sample_provider):
    await configure(server, providers, *external("Login", sample_provider.url, "not-the-password"))
    result = await providers.TestProvider(*server.admin, "Login")
    assert result.Result is False and result.ResultCode == int(ResultCode.REMOTE_FAILURE)
    assert result.IsReachable and not result.PasswordAccepted
    assert "refused the Web Service Password" in result.Message and "Permission Denied" in result.Message


async def test_provider_not_listening(server, providers, refused_url):
    await configure(server, providers, *external("Ticket", refused_url), "Ticket.TimeoutSeconds=5")
    result = await providers.TestProvider(*server.admin, "Ticket")
    assert result.Result is False and result.ResultCode == int(ResultCode.REMOTE_FAILURE)
    assert not result.IsReachable and not result.PasswordAccepted
    assert "Cannot connect" in result.Message and "connection refused" in result.Message
    assert refused_url in result.Message


async def test_provider_unknown_or_without_url(server, providers):
    unknown = await providers.TestProvider(*server.admin, "Weather")
    assert unknown.Result is False and unknown.ResultCode == int(ResultCode.NOT_FOUND)
    assert "Login" in unknown.Message
    without_url = await providers.TestProvider(*server.admin, "Events")
    assert without_url.Result is False and without_url.ResultCode == int(ResultCode.INVALID_STATE)
    assert "Events.WebServiceUrl" in without_url.Message


async def test_self_diagnostic_checks_each_enabled_external_provider(server, providers, sample_provider,
                                                                     refused_url):
    await configure(server, providers, *external("Login", sample_provider.url), *external("Ticket", refused_url),
                    # Configured but not enabled: not checked.
                    "Events.Mode=WebService", "Events.WebServiceUrl=" + refused_url)
    diag = await server.client("svcDiagnostics")
    result = await diag.RunSelfDiagnostic(*server.admin)
    assert result.Result, result.Message
    checks = {c.Name: c for c in result.Checks.SelfDiagnosticCheck if c.Name.startswith("External")}
    assert set(checks) == {"External login provider", "External ticket provider"}
    assert checks["External login provider"].Status == "pass"
    assert checks["External ticket provider"].Status == "failure"
    assert "Cannot connect" in checks["External ticket provider"].Message


async def test_changed_urls_are_read_again(server, providers, monkeypatch):
    await configure(server, providers, "Ticket.WebServiceUrl=http://127.0.0.1:1/old.asmx",
                    "Events.WebServiceUrl=http://127.0.0.1:1/events.asmx")
    forgotten = []
    monkeypatch.setattr(server.runtime.remote, "invalidate", forgotten.append)
    await configure(server, providers, "Ticket.WebServiceUrl=http://127.0.0.1:1/new.asmx")
    # Old and new URL of the changed provider; the untouched one keeps its WSDL and breaker.
    assert sorted(forgotten) == ["http://127.0.0.1:1/new.asmx", "http://127.0.0.1:1/old.asmx"]
