"""The sample Python external provider (examples/providers/python/):
started as administrators start it (one command, its own process), called
with zeep, a real SOAP client, and with a hand-written ASMX-style request;
its WSDL checked for the ASP.NET shape; with Mono, called through a .NET
proxy generated from that WSDL.
"""
from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
import textwrap
import urllib.request
from pathlib import Path

import pytest
from lxml import etree

from peer_process import PeerProcess

PROVIDER_DIR = Path(__file__).resolve().parent.parent / "examples" / "providers" / "python"
PROVIDER_SCRIPT = PROVIDER_DIR / "provider.py"
AUTH_PW = "test-web-service-password"
TNS = "http://tempuri.org/"
METHODS = ["Authenticate", "GetSignInCookieInfo", "Register", "GetCustomFieldOptions", "StartTicket",
           "StartChat", "GetUserInformation", "RecordEvent"]

W = "{http://schemas.xmlsoap.org/wsdl/}"
S11 = "{http://schemas.xmlsoap.org/wsdl/soap/}"
XS = "{http://www.w3.org/2001/XMLSchema}"


def _load_module():
    spec = importlib.util.spec_from_file_location("sample_provider", PROVIDER_SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


sample = _load_module()


def write_config(directory: Path) -> Path:
    """A config like the shipped one, with the test's password and users; a
    custom field name with '=' in it proves output keys are encoded."""
    users = {"alice": ("alice-pw", "alice@example.com", "Alice Example", "Plan = Gold\nAccount since = 2019-04-01"),
             "mallory": ("mallory-pw", "mallory@spam.example", "Mallory", "Plan = Free")}
    user_sections = "".join(
        "\n[user %s]\npassword_hash = %s\nemail = %s\ndisplay_name = %s\n%s\n"
        % (name, sample.hash_password(pw), email, display, facts)
        for name, (pw, email, display, facts) in users.items())
    config = directory / "provider.ini"
    config.write_text(textwrap.dedent("""\
        [provider]
        auth_password = %s
        events_log = events.log

        [tickets]
        blocked_sender_domains = spam.example
        blocked_message = Not from your address.
        escalation_keywords = outage, down
        escalation_department = Escalations
        fill_fields =
            Plan | Plan
            Plan=Tier | Plan

        [custom fields]
        rules =
            Sales | show | Order Number
            Sales | require | Order Number
            Sales | options | Product | Basic, Pro
            Sales | lookup | Product
            * | require | Customer ID

        [chats]
        closed_departments = Billing
        closed_message = No chat for Billing.

        [registration]
        allowed_domains = example.com
        refused_message = Customers only.
        """) % AUTH_PW + user_sections, encoding="utf-8")
    return config


class RunningProvider(PeerProcess):
    """provider.py (or ``script``, another provider made with its pieces) in
    its own process, on a free loopback port."""

    def __init__(self, config: Path, script: Path = PROVIDER_SCRIPT, listen: str = "127.0.0.1:0"):
        """``listen``: host:port (port 0: a free one; a fixed one to come back
        at the same URL after a stop). Its log (a line per call) is
        ``provider.log`` beside the config."""
        self.config = config
        super().__init__([sys.executable, str(script), "--config", str(config), "--listen", listen],
                         r"serving (http://\S+/provider\.asmx)", config.parent / "provider.log", "provider")


class Client:
    """zeep over the provider's WSDL; ``call`` takes raw InputVariables items
    and returns the result with its OutputVariables decoded into ``outputs``."""

    def __init__(self, url: str):
        import zeep
        from zeep.transports import Transport

        self.zeep = zeep.Client(url + "?WSDL", transport=Transport(timeout=30, operation_timeout=30))

    def call(self, method: str, *items: str, auth: str | None = AUTH_PW):
        if auth is not None:
            items = ("authPW=" + auth,) + items
        result = getattr(self.zeep.service, method)(inputs={"InputVariables": {"string": list(items)}})
        raw = list(result.OutputVariables.string) if result.OutputVariables else []
        result.raw_outputs = raw
        result.outputs = dict(sample.decode_item(item) for item in raw)
        return result


@pytest.fixture(scope="module")
def provider(tmp_path_factory):
    running = RunningProvider(write_config(tmp_path_factory.mktemp("provider")))
    yield running
    running.stop()


@pytest.fixture(scope="module")
def client(provider):
    return Client(provider.url)


# ---------------------------------------------------------------- Key=Value encoding


@pytest.mark.parametrize("key, value, item", [
    ("authPW", "a=b", "authPW=a=b"),          # '=' in a value is not doubled
    ("cf_Plan=Tier", "Gold", "cf_Plan==Tier=Gold"),
    ("a=", "v=", "a===v="),
    ("=", "", "==="),
])
def test_items_double_equals_in_keys(key, value, item):
    # (A key ending in "=" with a value starting with "=" cannot be told
    # apart: the encoding is ambiguous there, in SmarterTrack's too.)
    assert sample.encode_item(key, value) == item
    assert sample.decode_item(item) == (key, value)


# ---------------------------------------------------------------- the WSDL


def test_wsdl_is_asmx_shaped(provider):
    wsdl = etree.fromstring(urllib.request.urlopen(provider.url + "?WSDL", timeout=30).read())
    assert wsdl.get("targetNamespace") == TNS
    (binding,) = wsdl.findall(W + "binding")
    assert binding.get("name") == "ExternalProviderSoap"
    assert binding.find(S11 + "binding").get("style") == "document"
    operations = {op.get("name"): op for op in binding.findall(W + "operation")}
    assert sorted(operations) == sorted(METHODS)
    for name, op in operations.items():
        assert op.find(S11 + "operation").get("soapAction") == TNS + name
        for direction in ("input", "output"):
            assert op.find("%s%s/%sbody" % (W, direction, S11)).get("use") == "literal"
    assert {part.get("name") for part in wsdl.iter(W + "part")} == {"parameters"}

    schema = wsdl.find("%stypes/%sschema" % (W, XS))
    assert schema.get("elementFormDefault") == "qualified"
    types = {t.get("name"): t for t in schema.findall(XS + "complexType")}

    def members(type_name):
        return {e.get("name"): e for e in types[type_name].iter(XS + "element")}

    for name in METHODS:
        # wrapped: <Name><inputs/></Name> -> <NameResponse><NameResult/></NameResponse>
        (inputs,) = members(name).values()
        assert inputs.get("name") == "inputs" and inputs.get("nillable") is None
        (result,) = members(name + "Response").values()
        assert result.get("name") == name + "Result"
        input_type = inputs.get("type").split(":")[1]
        assert members(input_type)["InputVariables"].get("type") == "tns:ArrayOfString"
        result_members = members(result.get("type").split(":")[1])
        assert list(result_members)[:3] == ["Success", "Message", "OutputVariables"]
        success = result_members["Success"]
        assert success.get("minOccurs") in (None, "1") and success.get("nillable") in (None, "false")
        assert result_members["OutputVariables"].get("type") == "tns:ArrayOfString"
    assert members("ArrayOfString")["string"].get("type") == "xs:string"
    assert list(members("ExternalCustomFieldData")) == [
        "CustomFieldName", "ChangeVisible", "NewVisibleValue", "ChangeRequired", "NewRequiredValue",
        "ChangeListOptions", "ListOptions", "DisplayWithInformationLookup"]
    assert types["ArrayOfExternalCustomFieldData"] is not None


def test_a_browser_gets_a_page_listing_the_methods(provider):
    page = urllib.request.urlopen(provider.url, timeout=30).read().decode()
    assert "?WSDL" in page and all("<li>%s</li>" % method in page for method in METHODS)


def test_hand_written_asmx_request(provider):
    """The request a SmarterTrack-style client sends, by hand: the answer is
    the wrapped result with a Success value (never xsi:nil)."""
    envelope = (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>'
        '<Authenticate xmlns="http://tempuri.org/"><inputs><InputVariables>'
        '<string>authPW=wrong</string><string>loginUsername=alice</string>'
        '</InputVariables></inputs></Authenticate></soap:Body></soap:Envelope>')
    request = urllib.request.Request(provider.url, data=envelope.encode(), headers={
        "Content-Type": "text/xml; charset=utf-8", "SOAPAction": '"http://tempuri.org/Authenticate"'})
    body = urllib.request.urlopen(request, timeout=30).read()
    assert b"nil" not in body
    result = etree.fromstring(body).find(".//{%s}AuthenticateResult" % TNS)
    assert result.findtext("{%s}Success" % TNS) == "false"
    assert result.findtext("{%s}Message" % TNS) == "Permission Denied"


# ---------------------------------------------------------------- every method


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("auth", ["wrong", "", None])
def test_wrong_auth_pw_is_refused(client, method, auth):
    result = client.call(method, "loginUsername=alice", "loginPassword=alice-pw", "eventId=e-refused",
                         "eventType=x", "departmentName=Sales", auth=auth)
    assert (result.Success, result.Message, result.outputs) == (False, "Permission Denied", {})


@pytest.mark.parametrize("method, items, missing", [
    ("Authenticate", ["loginUsername=alice"], "loginPassword"),
    ("GetSignInCookieInfo", [], "loginUsername"),
    ("Register", ["loginUsername=new"], "emailAddress"),
    ("GetCustomFieldOptions", [], "departmentName"),
    ("StartTicket", ["departmentName=Support"], "loginUsername or emailFrom"),
    ("StartChat", ["loginUsername=alice"], "departmentName"),
    ("GetUserInformation", ["ticketNumber=ABC-1"], "loginUsername or emailAddress"),
    ("RecordEvent", ["eventId=e-9"], "eventType"),
])
def test_missing_input_is_refused(client, method, items, missing):
    result = client.call(method, *items)
    assert (result.Success, result.Message) == (False, "Missing input: " + missing)


def test_authenticate(client):
    ok = client.call("Authenticate", "loginUsername=Alice", "loginPassword=alice-pw")
    assert ok.Success and ok.outputs == {
        "Authentication": "OK", "EmailAddress": "alice@example.com", "DisplayName": "Alice Example"}
    # A wrong password is a handled call: Success=true, the decision in the outputs.
    for items in (["loginUsername=alice", "loginPassword=nope"], ["loginUsername=nobody", "loginPassword=x"]):
        fail = client.call("Authenticate", *items)
        assert fail.Success and fail.outputs == {"Authentication": "FAIL"}


def test_sign_in_cookie_info(client):
    assert client.call("GetSignInCookieInfo", "loginUsername=alice").outputs["Authentication"] == "OK"
    assert client.call("GetSignInCookieInfo", "loginUsername=nobody").outputs == {"Authentication": "FAIL"}


def test_register(client):
    ok = client.call("Register", "loginUsername=alice2", "emailAddress=alice@example.com", "displayName=A")
    assert ok.Success and ok.outputs == {"Registration": "OK", "DisplayName": "Alice Example"}
    new = client.call("Register", "loginUsername=carol", "emailAddress=carol@example.com")
    assert new.outputs == {"Registration": "OK"}
    refused = client.call("Register", "loginUsername=eve", "emailAddress=eve@elsewhere.example")
    assert refused.Success and refused.outputs == {"Registration": "REFUSED"}
    assert refused.Message == "Customers only."


def test_custom_field_options(client):
    sales = client.call("GetCustomFieldOptions", "loginUsername=alice", "departmentName=sales", "location=PRE",
                        "interactiontype=TICKET", "cf_Size==Big=XL")
    assert sales.Success and sales.outputs == {"CanStartTickets": "true", "CanStartChats": "true"}
    items = {item.CustomFieldName: item for item in sales.CustomFieldDataItems.ExternalCustomFieldData}
    assert list(items) == ["Order Number", "Product", "Customer ID"]
    order = items["Order Number"]
    assert (order.ChangeVisible, order.NewVisibleValue, order.ChangeRequired, order.NewRequiredValue,
            order.ChangeListOptions) == (True, True, True, True, False)
    product = items["Product"]
    assert (product.ChangeVisible, product.ChangeListOptions, product.ListOptions.string,
            product.DisplayWithInformationLookup) == (False, True, ["Basic", "Pro"], True)
    assert (items["Customer ID"].ChangeRequired, items["Customer ID"].NewRequiredValue) == (True, True)

    billing = client.call("GetCustomFieldOptions", "loginUsername=alice", "departmentName=Billing")
    assert billing.outputs == {"CanStartTickets": "true", "CanStartChats": "false"}
    assert billing.Message == "No chat for Billing."
    assert [i.CustomFieldName for i in billing.CustomFieldDataItems.ExternalCustomFieldData] == ["Customer ID"]

    blocked = client.call("GetCustomFieldOptions", "loginUsername=mallory", "departmentName=Support")
    assert blocked.outputs == {"CanStartTickets": "false", "CanStartChats": "false"}
    assert blocked.Message == "Not from your address."


def test_start_ticket_refused_for_blocked_sender(client):
    refused = client.call("StartTicket", "emailFrom=someone@Spam.Example", "departmentName=Support",
                          "subject=hello", "ticketNumber=AAA-1")
    assert refused.Success and refused.outputs == {"TicketCreation": "FALSE"}
    assert refused.Message == "Not from your address."


def test_start_ticket_rerouted_and_fields_set(client):
    result = client.call("StartTicket", "loginUsername=alice", "departmentName=Support",
                         "subject=Mail server down since noon", "ticketNumber=AAA-2", "cf_Plan=Silver")
    # The '=' in the custom field name "Plan=Tier" is doubled on the wire.
    assert result.raw_outputs == ["TicketCreation=TRUE", "cf_Plan=Gold", "cf_Plan==Tier=Gold",
                                  "departmentName=Escalations"]
    assert result.outputs["cf_Plan=Tier"] == "Gold"
    plain = client.call("StartTicket", "emailFrom=stranger@example.net", "departmentName=Support",
                        "subject=Question about downloads")  # "downloads" is not the keyword "down"
    assert plain.outputs == {"TicketCreation": "TRUE"}


def test_start_chat(client):
    ok = client.call("StartChat", "loginUsername=alice", "departmentName=Support")
    assert ok.outputs == {"ChatCreation": "TRUE", "cf_Plan": "Gold", "cf_Plan=Tier": "Gold"}
    closed = client.call("StartChat", "loginUsername=alice", "departmentName=billing")
    assert (closed.outputs, closed.Message) == ({"ChatCreation": "FALSE"}, "No chat for Billing.")
    blocked = client.call("StartChat", "loginUsername=mallory", "departmentName=Support")
    assert blocked.outputs == {"ChatCreation": "FALSE"}


def test_user_information(client):
    by_name = client.call("GetUserInformation", "loginUsername=alice", "ticketNumber=AAA-2")
    assert by_name.Success and by_name.outputs == {
        "DisplayName": "Alice Example", "EmailAddress": "alice@example.com", "Plan": "Gold",
        "Account since": "2019-04-01"}
    assert client.call("GetUserInformation", "emailAddress=ALICE@example.com").outputs == by_name.outputs
    unknown = client.call("GetUserInformation", "emailAddress=nobody@example.com")
    assert (unknown.Success, unknown.outputs) == (True, {})
    assert unknown.Message == "No information about this customer."


def _events(provider) -> list:
    log = provider.config.parent / "events.log"
    return [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()] if log.exists() else []


def test_calls_are_logged_without_inputs(provider, client):
    client.call("Authenticate", "loginUsername=alice", "loginPassword=logged-never")
    log = provider.log.read_text()
    assert "Authenticate: Success=True Authentication=FAIL" in log and "logged-never" not in log


def test_event_written_once(provider, client):
    items = ["eventId=ev-1", "eventType=TicketCommentAdded", "ticketNumber=AAA-2",
             "occurredUtc=2026-12-06T20:00:00Z", "agent=bob", "old==status=Open"]
    first = client.call("RecordEvent", *items)
    again = client.call("RecordEvent", *items)
    assert (first.Success, first.outputs) == (True, {"Recorded": "NEW"})
    assert (again.Success, again.outputs) == (True, {"Recorded": "DUPLICATE"})
    assert [e for e in _events(provider) if e["eventId"] == "ev-1"] == [{
        "eventId": "ev-1", "eventType": "TicketCommentAdded", "ticketNumber": "AAA-2",
        "occurredUtc": "2026-12-06T20:00:00Z", "details": {"agent": "bob", "old=status": "Open"}}]


def test_events_log_survives_a_restart(tmp_path):
    """Duplicates are recognised from the log itself after a restart."""
    config = write_config(tmp_path)
    for expected in ("NEW", "DUPLICATE"):
        running = RunningProvider(config)
        try:
            result = Client(running.url).call("RecordEvent", "eventId=ev-restart", "eventType=TicketClosed")
            assert result.outputs == {"Recorded": expected}
        finally:
            running.stop()
    assert len((tmp_path / "events.log").read_text().splitlines()) == 1


# ---------------------------------------------------------------- for administrators


def test_shipped_sample_config_loads_and_its_users_sign_in():
    settings = sample.load_settings(PROVIDER_DIR / "provider.ini")
    assert settings.namespace == TNS and settings.escalation_department == "Escalations"
    provider = sample.Provider(settings)
    for name in ("alice", "bob"):
        reply = provider.call("Authenticate", sample.Inputs([
            "authPW=" + settings.auth_password, "loginUsername=" + name, "loginPassword=%s-demo-password" % name]))
        assert reply.outputs[0] == ("Authentication", "OK"), name


def test_hash_password_command():
    completed = subprocess.run([sys.executable, str(PROVIDER_SCRIPT), "--hash-password"], input="s3cret\n",
                               capture_output=True, text=True, timeout=60, check=True)
    line = completed.stdout.strip()
    assert line.startswith("password_hash = scrypt$")
    stored = line.split(" = ", 1)[1]
    assert sample.verify_password("s3cret", stored) and not sample.verify_password("s3cret ", stored)


def test_config_errors_are_reported(tmp_path):
    config = tmp_path / "bad.ini"
    config.write_text("[provider]\nauth_password = x\n[user plain]\npassword_hash = hunter2\n")
    completed = subprocess.run([sys.executable, str(PROVIDER_SCRIPT), "--config", str(config)],
                               capture_output=True, text=True, timeout=60)
    assert completed.returncode == 2
    assert "[user plain] password_hash: not a scrypt" in completed.stderr


# ---------------------------------------------------------------- a .NET client (Mono)

sys.path.insert(0, str(Path(__file__).resolve().parent / "interop"))
import dotnet  # noqa: E402  (tests/interop/dotnet.py: wsdl, mcs and mono)

# What a SmarterTrack customer's .NET code does with a Web Reference to the
# provider: plain wrapped signatures and the connector's class names.
DOTNET_SCENARIO = r"""
using System;
using System.Linq;
using Stws;
using static Scenario;

static class ProviderAsmx
{
    static int Main(string[] args)
    {
        return Run(args, "ProviderAsmx.exe <url> <user> <password> <authPW>", 4, Exercise);
    }

    static void Exercise(string[] args)
    {
        var svc = AsmxProxy.Connect(new ExternalProvider(), args[0]);
        var login = new ExternalLoginProviderInputs();
        login.InputVariables = new string[] { "authPW=" + args[3], "loginUsername=" + args[1],
                                              "loginPassword=" + args[2] };
        ExternalLoginProviderResult ok = svc.Authenticate(login);
        Check(ok.Success, "Authenticate: Success=false " + ok.Message);
        Ok("Authenticate", "authentication", Property(ok.OutputVariables, "Authentication"),
           "email", Property(ok.OutputVariables, "EmailAddress"));

        login.InputVariables[2] = "loginPassword=wrong";
        ExternalLoginProviderResult fail = svc.Authenticate(login);
        Ok("AuthenticateWrongPassword", "success", fail.Success,
           "authentication", Property(fail.OutputVariables, "Authentication"));

        login.InputVariables[0] = "authPW=wrong";
        ExternalLoginProviderResult refused = svc.Authenticate(login);
        Ok("AuthenticateWrongAuthPW", "success", refused.Success, "message", refused.Message.Replace(' ', '_'));

        var form = new ExternalCustomFieldProviderInputs();
        form.InputVariables = new string[] { "authPW=" + args[3], "loginUsername=" + args[1], "departmentName=Sales" };
        ExternalCustomFieldProviderResult fields = svc.GetCustomFieldOptions(form);
        Check(fields.Success, "GetCustomFieldOptions: Success=false " + fields.Message);
        ExternalCustomFieldData product = fields.CustomFieldDataItems.First(f => f.CustomFieldName == "Product");
        Ok("GetCustomFieldOptions", "items", fields.CustomFieldDataItems.Length,
           "changeListOptions", product.ChangeListOptions, "options", string.Join(",", product.ListOptions));
    }
}
"""


@pytest.mark.mono
@dotnet.skip_unless_tools()
def test_dotnet_proxy_calls_the_provider(provider, tmp_path):
    proxy = dotnet.wsdl_proxy(provider.url, tmp_path / "Proxy.cs")
    assert re.search(r'WebServiceBindingAttribute\(Name="ExternalProviderSoap", Namespace="http://tempuri.org/"\)',
                     proxy)
    for method, kind in sample.METHODS.items():
        signature = "public External%sProviderResult %s(External%sProviderInputs inputs) {" % (kind, method, kind)
        pattern = (r'SoapDocumentMethodAttribute\("http://tempuri\.org/%s", .*'
                   r'ParameterStyle=System\.Web\.Services\.Protocols\.SoapParameterStyle\.Wrapped\)\]\s*%s'
                   % (method, re.escape(signature)))
        assert re.search(pattern, dotnet.flatten_strings(proxy)), signature
    dotnet.assert_no_nullable_value_types(proxy)  # Success is a plain bool
    scenario = tmp_path / "ProviderAsmx.cs"
    scenario.write_text(DOTNET_SCENARIO, encoding="utf-8")
    exe = dotnet.compile_exe(tmp_path / "ProviderAsmx.exe", [*dotnet.ASMX_SUPPORT_SOURCES, scenario,
                                                              tmp_path / "Proxy.cs"], dotnet.ASMX_REFERENCES)
    run = dotnet.run_exe(exe, provider.url, "alice", "alice-pw", AUTH_PW)
    run.assert_succeeded()
    assert run.ok["Authenticate"] == {"authentication": "OK", "email": "alice@example.com"}
    assert run.ok["AuthenticateWrongPassword"] == {"success": "True", "authentication": "FAIL"}
    assert run.ok["AuthenticateWrongAuthPW"] == {"success": "False", "message": "Permission_Denied"}
    assert run.ok["GetCustomFieldOptions"] == {"items": "3", "changeListOptions": "True", "options": "Basic,Pro"}
