"""The served contract: golden WSDL per service, ASMX shape, help pages."""
from __future__ import annotations

import pytest
import requests
from lxml import etree
from twisted.internet.threads import deferToThread

from stws.services import SERVICES
from stws.tools.golden_wsdl import canonical_wsdl, golden_path

NS = {
    "wsdl": "http://schemas.xmlsoap.org/wsdl/",
    "xs": "http://www.w3.org/2001/XMLSchema",
    "soap": "http://schemas.xmlsoap.org/wsdl/soap/",
    "soap12": "http://schemas.xmlsoap.org/wsdl/soap12/",
}
SERVICE_NAMES = [service.__service_name__ for service in SERVICES]


async def get(url, **kwargs):
    return await deferToThread(requests.get, url, timeout=30, **kwargs)


@pytest.mark.parametrize("name", SERVICE_NAMES)
async def test_served_wsdl_matches_the_golden_file(server, name):
    response = await get(server.url(name) + "?WSDL")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/xml")
    served = canonical_wsdl(response.content, server.base_url)
    golden = golden_path(name).read_text(encoding="utf-8")
    assert served == golden, (
        "The served WSDL of %s differs from %s. If the contract change is intended, run "
        "`.venv/bin/python -m stws.tools.golden_wsdl` and review the diff." % (name, golden_path(name))
    )


@pytest.mark.parametrize("name", SERVICE_NAMES)
async def test_wsdl_has_the_asmx_shape(server, name):
    wsdl = etree.fromstring((await get(server.url(name) + "?wsdl")).content)
    namespace = "http://www.smartertools.com/SmarterTrack/Services2/%s.asmx" % name
    assert wsdl.get("targetNamespace") == namespace
    # Wrapped document/literal: one part per message, named "parameters".
    parts = wsdl.findall("wsdl:message/wsdl:part", NS)
    assert parts and {p.get("name") for p in parts} == {"parameters"}
    assert all(len(m) == 1 for m in wsdl.findall("wsdl:message", NS))
    # SOAP 1.1 and 1.2 bindings and ports, SOAPAction = namespace/operation.
    bindings = {b.get("name") for b in wsdl.findall("wsdl:binding", NS)}
    assert bindings == {name + "Soap", name + "Soap12"}
    ports = wsdl.findall("wsdl:service/wsdl:port", NS)
    assert {p.get("name") for p in ports} == {name + "Soap", name + "Soap12"}
    assert {p[0].get("location") for p in ports} == {server.url(name)}
    for prefix in ("soap", "soap12"):
        for op in wsdl.iterfind("wsdl:binding/wsdl:operation/%s:operation" % prefix, NS):
            assert op.get("soapAction") == "%s/%s" % (namespace, op.getparent().get("name"))
    # No parameterOrder (spyne's names a part that does not exist; JAX-WS
    # wsimport warns on every operation, and ASP.NET never writes it).
    operations = wsdl.findall("wsdl:portType/wsdl:operation", NS)
    assert operations and not [op.get("name") for op in operations if op.get("parameterOrder") is not None]
    # .NET maps xs:integer to string, and optional value types to T? + TSpecified.
    types = wsdl.findall(".//xs:element", NS)
    assert not [e for e in types if e.get("type") == "xs:integer"]
    for element in types:
        if element.get("type") in ("xs:int", "xs:long", "xs:boolean", "xs:dateTime"):
            assert element.get("minOccurs") in (None, "1"), etree.tostring(element)


@pytest.mark.parametrize("name", SERVICE_NAMES)
async def test_each_service_declares_its_own_array_of_string(server, name):
    # ASMX declares ArrayOfString in every service's namespace; a shared
    # declaration would put <string> items in another service's namespace
    # (the first one built), which clients made from SmarterTrack's WSDL
    # neither send nor read.
    wsdl = etree.fromstring((await get(server.url(name) + "?WSDL")).content)
    assert wsdl.findall(".//xs:import", NS) == []
    (schema,) = wsdl.findall("wsdl:types/xs:schema", NS)
    assert schema.get("targetNamespace") == "http://www.smartertools.com/SmarterTrack/Services2/%s.asmx" % name
    for element in wsdl.iterfind(".//xs:element", NS):
        assert (element.get("type") or "xs:").split(":")[0] in ("xs", "tns"), etree.tostring(element)


async def test_string_items_in_the_service_namespace_are_accepted_and_returned(server):
    namespace = "http://www.smartertools.com/SmarterTrack/Services2/svcDiagnostics.asmx"
    envelope = (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>'
        '<%%s xmlns="%s"><authUserName>%s</authUserName><authPassword>%s</authPassword>%%s</%%s>'
        "</soap:Body></soap:Envelope>" % ((namespace,) + server.admin)
    )

    async def call(operation, parameters=""):
        response = await deferToThread(
            requests.post, server.url("svcDiagnostics"), timeout=30,
            data=(envelope % (operation, parameters, operation)).encode(),
            headers={"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '"%s/%s"' % (namespace, operation)})
        assert response.status_code == 200, response.text
        return etree.fromstring(response.content)

    # The request shape of SmarterTrack's own proxies: <string> inherits the
    # service namespace.
    result = await call("SetDiagnosticOptions",
                        "<optionValues><string>HeartbeatIntervalSeconds=30</string></optionValues>")
    assert result.findtext(".//{%s}Result" % namespace) == "true"
    result = await call("GetDiagnosticOptions")
    items = [e.text for e in result.iterfind(".//{%s}RequestResults/{%s}string" % (namespace, namespace))]
    assert "HeartbeatIntervalSeconds=30" in items


async def test_known_smartertrack_signatures(server):
    wsdl = etree.fromstring((await get(server.url("svcOrganization") + "?WSDL")).content)

    def parameters(operation):
        sequence = wsdl.find(".//xs:complexType[@name='%s']/xs:sequence" % operation, NS)
        return [(e.get("name"), e.get("type")) for e in sequence]

    assert parameters("CreateUser") == [
        ("authUserName", "xs:string"), ("authPassword", "xs:string"), ("username", "xs:string"),
        ("password", "xs:string"), ("email", "xs:string"), ("isEmailVerified", "xs:boolean"),
        ("displayName", "xs:string"),
    ]
    for operation in ("GetAllDepartments", "GetAllGroups", "GetAllAgents"):
        assert parameters(operation) == [("authUserName", "xs:string"), ("authPassword", "xs:string")]


async def test_wsdl_paths_are_case_insensitive(server):
    upper = await get(server.base_url + "/SERVICES2/SVCORGANIZATION.ASMX?WSDL")
    lower = await get(server.base_url + "/services2/svcorganization.asmx?wsdl")
    assert upper.status_code == lower.status_code == 200
    assert upper.content == lower.content


async def test_services_index_lists_every_service_and_operation(server):
    page = await get(server.base_url + "/Services2/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    for service in SERVICES:
        assert "%s.asmx?WSDL" % service.__service_name__ in page.text
        for operation in service.public_methods:
            assert "?op=%s" % operation in page.text


async def test_operation_page_shows_parameters_and_sample_requests(server):
    page = await get(server.url("svcOrganization") + "?op=CreateUser")
    assert page.status_code == 200
    text = page.text
    assert "isEmailVerified" in text and "boolean" in text
    assert 'SOAPAction: &#34;http://www.smartertools.com/SmarterTrack/Services2/svcOrganization.asmx/CreateUser&#34;' in text
    assert "application/soap+xml" in text
    # The sample XML is shown as text, not injected as markup.
    assert "&lt;CreateUser xmlns=" in text and "<CreateUser" not in text


async def test_operation_page_shows_what_the_operation_does(server):
    """The operation's description (as in the WSDL's documentation), e.g.
    GetTicketsBySearch's search and sort keys, as ASMX's ?op= page shows it."""
    page = await get(server.url("svcTickets") + "?op=GetTicketsBySearch")
    assert page.status_code == 200
    for key in ("EmailAddress", "IsOpen", "MaxResults", "SortBy", "SortField", "SortOrder", "Ascending",
                "Descending", "LastReplyDateUtc", "DateOpened"):
        assert key in page.text, key
    assert "``" not in page.text  # reStructuredText quotes are shown as code


async def test_unknown_operation_page_is_404_and_escapes_the_name(server):
    page = await get(server.url("svcOrganization") + "?op=%3Cscript%3Ealert(1)%3C/script%3E")
    assert page.status_code == 404
    assert "<script>" not in page.text and "&lt;script&gt;" in page.text


async def test_service_page_and_unknown_paths(server):
    page = await get(server.url("svcOrganization"))
    assert page.status_code == 200 and "?op=GetAllAgents" in page.text
    assert (await get(server.base_url + "/Services2/svcNothing.asmx")).status_code == 404
    assert (await get(server.base_url + "/elsewhere")).status_code == 404
    put = await deferToThread(requests.put, server.url("svcOrganization"), data=b"x", timeout=30)
    assert put.status_code == 405
