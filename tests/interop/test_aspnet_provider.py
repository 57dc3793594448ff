"""A provider written as a real ASP.NET .asmx web service in C#
(examples/providers/aspnet), run by Mono's ASP.NET runtime behind the
example's own host: stws calls it unchanged, in its own namespace.

The site is built once per session with its build script and served once
per module on a free loopback port; stws's outbound gateway
(ProviderGateway over PeerClient) and svcExternalProviders' TestProvider
call it as they call any provider; SOAP calls sign in through it as the
login provider and create tickets asking it as the ticket provider.
"""
from __future__ import annotations

import shutil
import time
import urllib.request

import pytest
import pytest_twisted
from lxml import etree
from twisted.internet import threads

import aspnet_site
import dotnet
from conftest import failed, ok
from stws.errors import ResultCode
from stws.providers.gateway import ProviderGateway, ProviderRefused, keys
from stws.providers.settings import WEB_SERVICE, ProviderSettings
from stws.remote import FailureKind, PeerClient, RemoteFailure
from test_external_providers import configure, external, providers  # noqa: F401 (a fixture)
from test_login_provider import account
from tickets.test_ticket_providers import SUPPORT, department, template, ticket, tickets, values

pytestmark = dotnet.requires_mono(aspnet_site.REQUIRED_TOOLS)

NS = aspnet_site.NAMESPACE
WSDL = "http://schemas.xmlsoap.org/wsdl/"
TICKET_OUTPUTS = keys("TicketCreation", "departmentName", "cf_*")
LOGIN_OUTPUTS = keys("Authentication", "EmailAddress", "DisplayName")


@pytest.fixture(scope="session")
def aspnet_build(tmp_path_factory):
    return aspnet_site.build_site(tmp_path_factory.mktemp("aspnet-provider"))


@pytest.fixture(scope="module")
def aspnet_provider(aspnet_build):
    running = aspnet_site.RunningSite(aspnet_build)
    yield running
    running.stop()


@pytest.fixture
def gateway():
    return ProviderGateway(db=None, remote=PeerClient())


def call(gateway, url, name, method, inputs, accepts, password=aspnet_site.AUTH_PW):
    settings = ProviderSettings(Enabled=True, Mode=WEB_SERVICE, WebServiceUrl=url, WebServicePassword=password)
    return threads.deferToThread(gateway.call, name, method, inputs, accepts, settings)


def fetch(url: str, data: bytes | None = None, headers: dict | None = None):
    """(status, headers, body) of one request, without any proxy (loopback)."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    request = urllib.request.Request(url, data=data, headers=headers or {})
    try:
        with opener.open(request, timeout=30) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


# ---------------------------------------------------------------- the WSDL


def test_wsdl_is_aspnets_own_in_the_providers_namespace(aspnet_provider):
    status, headers, body = fetch(aspnet_provider.url + "?WSDL")
    assert status == 200 and headers["Content-Type"].startswith("text/xml")
    assert headers["X-AspNet-Version"]  # written by System.Web, not by the host
    wsdl = etree.fromstring(body)
    assert wsdl.get("targetNamespace") == NS
    # ServiceDescriptionReflector's marks: the text-matching namespace,
    # both SOAP bindings, and the service's [WebService(Description)].
    assert wsdl.nsmap["tm"] == "http://microsoft.com/wsdl/mime/textMatching/"
    bindings = sorted(b.get("name") for b in wsdl.iterfind("{%s}binding" % WSDL))
    assert bindings == ["ProviderSoap", "ProviderSoap12"]
    assert wsdl.findtext("{%s}documentation" % WSDL) == "Login and ticket provider for SmarterTrack and stws."
    operations = sorted(op.get("name") for op in wsdl.iterfind("{%s}portType/{%s}operation" % (WSDL, WSDL)))
    assert operations == ["Authenticate", "GetSignInCookieInfo", "StartTicket"]
    schema = {"s": "http://www.w3.org/2001/XMLSchema"}
    result = wsdl.find(".//s:complexType[@name='ExternalTicketProviderResult']", schema)
    assert [e.get("name") for e in result.iterfind(".//s:element", schema)] == [
        "Success", "Message", "OutputVariables"]
    assert wsdl.find(".//s:complexType[@name='ExternalLoginProviderInputs']", schema) is not None
    address = wsdl.find(".//{http://schemas.xmlsoap.org/wsdl/soap/}address")
    assert address.get("location") == aspnet_provider.url


def test_host_passes_soap12_content_type_and_body(aspnet_provider):
    """SOAP 1.2 routes by the action in Content-Type: the host must pass
    that header and the POST body as they came."""
    envelope = (
        '<soap12:Envelope xmlns:soap12="http://www.w3.org/2003/05/soap-envelope"><soap12:Body>'
        '<StartTicket xmlns="%s"><inputs><InputVariables><string>authPW=wrong</string></InputVariables>'
        '</inputs></StartTicket></soap12:Body></soap12:Envelope>' % NS).encode()
    status, headers, body = fetch(aspnet_provider.url, envelope, {
        "Content-Type": 'application/soap+xml; charset=utf-8; action="%sStartTicket"' % NS})
    assert status == 200 and headers["Content-Type"].startswith("application/soap+xml")
    answer = etree.fromstring(body).find(".//{%s}StartTicketResult" % NS)
    assert answer.findtext("{%s}Success" % NS) == "false"
    assert answer.findtext("{%s}Message" % NS) == "Permission Denied"


# ---------------------------------------------------------------- through stws's gateway


@pytest_twisted.ensureDeferred
async def test_authenticate_ok_with_account_details(gateway, aspnet_provider):
    answer = await call(gateway, aspnet_provider.url, "Login", "Authenticate",
                        [("loginUsername", "ALICE"), ("loginPassword", "alice-demo-password")], LOGIN_OUTPUTS)
    assert answer.outputs == (("Authentication", "OK"), ("EmailAddress", "alice@example.com"),
                              ("DisplayName", "Alice Example"))


@pytest.mark.parametrize("user, password", [("alice", "bob-demo-password"), ("nobody", "alice-demo-password")])
@pytest_twisted.ensureDeferred
async def test_authenticate_fail_is_an_answer(gateway, aspnet_provider, user, password):
    answer = await call(gateway, aspnet_provider.url, "Login", "Authenticate",
                        [("loginUsername", user), ("loginPassword", password)], LOGIN_OUTPUTS)
    assert answer.outputs == (("Authentication", "FAIL"),)


@pytest.mark.parametrize("user, outputs", [
    ("Bob", (("Authentication", "OK"), ("EmailAddress", "bob@example.org"), ("DisplayName", "Bob Builder"))),
    ("nobody", (("Authentication", "FAIL"),))])
@pytest_twisted.ensureDeferred
async def test_sign_in_cookie_info(gateway, aspnet_provider, user, outputs):
    answer = await call(gateway, aspnet_provider.url, "Login", "GetSignInCookieInfo", [("loginUsername", user)],
                        LOGIN_OUTPUTS)
    assert answer.outputs == outputs


@pytest_twisted.ensureDeferred
async def test_start_ticket_blocked_sender(gateway, aspnet_provider):
    answer = await call(gateway, aspnet_provider.url, "Ticket", "StartTicket",
                        [("departmentName", "Support"), ("emailFrom", "eve@Blocked.Example"),
                         ("subject", "hello")], TICKET_OUTPUTS)
    assert answer.flag("TicketCreation", True) is False
    assert answer.message == ("We cannot accept tickets from your address; please write from your company "
                              "account.")


@pytest_twisted.ensureDeferred
async def test_start_ticket_fills_custom_fields_and_reroutes(gateway, aspnet_provider):
    answer = await call(gateway, aspnet_provider.url, "Ticket", "StartTicket",
                        [("departmentName", "Support"), ("loginUsername", "alice"), ("subject", "Our site is down"),
                         ("ticketNumber", "ABC-1"), ("cf_Order=Ref", "x=y")], TICKET_OUTPUTS)
    assert answer.flag("TicketCreation", False) is True
    # "Plan=Tier" went over the wire as cf_Plan==Tier=Gold-2 and came back whole.
    assert answer.prefixed("cf_") == {"Plan": "Gold", "Plan=Tier": "Gold-2"}
    assert answer.get("departmentName") == "Escalations"


@pytest_twisted.ensureDeferred
async def test_start_ticket_by_email_without_keyword_keeps_department(gateway, aspnet_provider):
    answer = await call(gateway, aspnet_provider.url, "Ticket", "StartTicket",
                        [("departmentName", "Sales"), ("emailFrom", "Bob@Example.org"),
                         ("subject", "A question about invoices")], TICKET_OUTPUTS)
    assert answer.outputs == (("TicketCreation", "TRUE"), ("cf_Plan", "Basic"))


@pytest_twisted.ensureDeferred
async def test_wrong_auth_password_is_refused(gateway, aspnet_provider):
    with pytest.raises(ProviderRefused, match="Permission Denied"):
        await call(gateway, aspnet_provider.url, "Ticket", "StartTicket",
                   [("departmentName", "Support"), ("emailFrom", "alice@example.com")], TICKET_OUTPUTS,
                   password="aspnet=provider")


@pytest_twisted.ensureDeferred
async def test_missing_input_is_refused(gateway, aspnet_provider):
    with pytest.raises(ProviderRefused, match="Missing input: loginUsername or emailFrom"):
        await call(gateway, aspnet_provider.url, "Ticket", "StartTicket", [("departmentName", "Support")],
                   TICKET_OUTPUTS)


async def authenticate_until(gateway, url, password, user, user_password, wanted, seconds=30):
    """Authenticate's outputs once they are ``wanted`` (or the last ones
    after ``seconds``): the application restarts in the background."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            answer = (await call(gateway, url, "Login", "Authenticate",
                                 [("loginUsername", user), ("loginPassword", user_password)], LOGIN_OUTPUTS,
                                 password=password)).outputs
        except ProviderRefused as refusal:
            answer = str(refusal)
        if answer == wanted or time.monotonic() > deadline:
            return answer
        await threads.deferToThread(time.sleep, 0.5)


@pytest_twisted.ensureDeferred
async def test_administrators_edits_apply_after_web_config_changes(gateway, aspnet_build, tmp_path):
    """As the README says: a customer added with HashPassword.exe's hash and
    a new AuthPassword in Web.config apply without restarting the host
    (ASP.NET starts the application again; the host follows)."""
    site = tmp_path / "site"
    await threads.deferToThread(shutil.copytree, aspnet_build, site)
    running = await threads.deferToThread(aspnet_site.RunningSite, site)
    try:
        carol = [("Authentication", "OK"), ("EmailAddress", "carol@example.net"), ("DisplayName", "Carol")]
        assert await authenticate_until(gateway, running.url, aspnet_site.AUTH_PW, "carol", "carol-pw",
                                        (("Authentication", "FAIL"),), seconds=0) == (("Authentication", "FAIL"),)
        password_hash = await threads.deferToThread(aspnet_site.hash_password, site, "carol-pw")
        aspnet_site.add_customer(site, "carol", password_hash, "carol@example.net", "Carol")
        aspnet_site.set_auth_password(site, "a new provider password")
        assert await authenticate_until(gateway, running.url, "a new provider password", "carol", "carol-pw",
                                        tuple(carol)) == tuple(carol)
        with pytest.raises(ProviderRefused, match="Permission Denied"):
            await call(gateway, running.url, "Login", "Authenticate",
                       [("loginUsername", "carol"), ("loginPassword", "carol-pw")], LOGIN_OUTPUTS)
    finally:
        await threads.deferToThread(running.stop)


@pytest_twisted.ensureDeferred
async def test_a_configuration_error_is_a_fault_with_its_message_only(gateway, aspnet_build, tmp_path):
    """Web.config's customErrors: the help desk gets the provider's own
    message (result code 9 from stws), no stack trace."""
    site = tmp_path / "site"
    await threads.deferToThread(shutil.copytree, aspnet_build, site)
    aspnet_site.set_auth_password(site, "")
    running = await threads.deferToThread(aspnet_site.RunningSite, site)
    try:
        with pytest.raises(RemoteFailure) as failure:
            await call(gateway, running.url, "Ticket", "StartTicket",
                       [("departmentName", "Support"), ("emailFrom", "alice@example.com")], TICKET_OUTPUTS)
    finally:
        await threads.deferToThread(running.stop)
    assert failure.value.kind is FailureKind.FAULT
    assert "set appSettings Provider.AuthPassword (the help desk's Web Services Password)" in failure.value.message
    assert " at Example." not in failure.value.message and "Lazy" not in failure.value.message


# ---------------------------------------------------------------- svcExternalProviders


async def test_test_provider_reaches_it_and_the_password_is_accepted(server, providers, aspnet_provider):
    for provider in ("Login", "Ticket"):
        await configure(server, providers, *external(provider, aspnet_provider.url, aspnet_site.AUTH_PW))
        result = await providers.TestProvider(*server.admin, provider)
        assert result.Result, result.Message
        assert result.IsReachable and result.PasswordAccepted
        assert "accepted the Web Service Password" in result.Message and "Missing input" in result.Detail
    await configure(server, providers, *external("Login", aspnet_provider.url, "not-the-password"))
    refused = await providers.TestProvider(*server.admin, "Login")
    assert refused.IsReachable and not refused.PasswordAccepted
    assert "Permission Denied" in refused.Message


# ---------------------------------------------------------------- where tickets are created


async def test_soap_ticket_creation_asks_the_aspnet_provider(server, providers, aspnet_provider):
    """svcTickets' CreateTicketFromCustomer with the Ticket provider pointed
    at the ASP.NET provider: a blocked sender is declined with its Message
    and nothing is created; a known customer's ticket gets the custom field
    it fills in; an escalation keyword re-routes the ticket."""
    tickets_service = await server.client("svcTickets")
    escalations = await threads.deferToThread(department, server, "Escalations")
    await threads.deferToThread(template, server, SUPPORT, ("Plan", "text", "", (), {}))
    await configure(server, providers, *external("Ticket", aspnet_provider.url, aspnet_site.AUTH_PW))

    def from_customer(address, subject):
        return tickets_service.CreateTicketFromCustomer(*server.admin, SUPPORT, address, subject, "Details.", False,
                                                        False)

    declined = await from_customer("eve@blocked.example", "Hello")
    assert failed(declined, ResultCode.PERMISSION_DENIED) == (
        "We cannot accept tickets from your address; please write from your company account.")
    assert await threads.deferToThread(tickets, server) == []

    kept = await threads.deferToThread(ticket, server, ok(await from_customer("bob@example.org",
                                                                              "A question")).RequestResult)
    assert kept.department_id == SUPPORT
    assert await threads.deferToThread(values, server, kept.id) == {"Plan": "Basic"}

    moved = await threads.deferToThread(ticket, server, ok(await from_customer("alice@example.com",
                                                                               "Our site is down")).RequestResult)
    assert moved.department_id == escalations


# ---------------------------------------------------------------- where users sign in


async def test_soap_sign_in_through_the_aspnet_login_provider(server, providers, aspnet_provider):
    """A SOAP call as a user only the ASP.NET provider knows: Authenticate
    says OK, stws creates the account from its EmailAddress and DisplayName;
    a password it answers FAIL to is an incorrect password, no account."""
    tickets_service = await server.client("svcTickets")
    await configure(server, providers, *external("Login", aspnet_provider.url, aspnet_site.AUTH_PW))
    # GetTicketInfo of a ticket that does not exist: NotFound once signed in.
    failed(await tickets_service.GetTicketInfo("bob", "bob-demo-password", 999_999), ResultCode.NOT_FOUND)
    created = await threads.deferToThread(account, server, "bob")
    assert (created["email"], created["display_name"], created["auth_method"]) == (
        "bob@example.org", "Bob Builder", "external")

    refused = await tickets_service.GetTicketInfo("alice", "bob-demo-password", 999_999)
    assert failed(refused, ResultCode.AUTHENTICATION_FAILED) == "The user name or password is incorrect."
    assert await threads.deferToThread(account, server, "alice") is None
