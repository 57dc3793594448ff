"""Hostile and broken requests: each gets the documented error, leaks
nothing, and the server goes on serving normal calls."""
from __future__ import annotations

import socket
from urllib.parse import urlsplit

import pytest
import requests
from lxml import etree
from twisted.internet.threads import deferToThread

NS = "http://www.smartertools.com/SmarterTrack/Services2/svcOrganization.asmx"
SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
MAX_BODY = 64 * 1024


def envelope(body: str, prolog: str = "", soap=SOAP11) -> bytes:
    return ('%s<s:Envelope xmlns:s="%s"><s:Body>%s</s:Body></s:Envelope>' % (prolog, soap, body)).encode()


def get_all_groups(user="admin", password="admin-Passw0rd!") -> str:
    return ('<GetAllGroups xmlns="%s"><authUserName>%s</authUserName><authPassword>%s</authPassword>'
            "</GetAllGroups>" % (NS, user, password))


@pytest.fixture
def small_server(make_config, start_server):
    return start_server(make_config(max_request_size=MAX_BODY))


async def post(server, body: bytes, soap12=False, headers=None, **kwargs):
    content_type = "application/soap+xml; charset=utf-8" if soap12 else "text/xml; charset=utf-8"
    all_headers = {"Content-Type": content_type, "SOAPAction": '"%s/GetAllGroups"' % NS}
    all_headers.update(headers or {})
    return await deferToThread(requests.post, server.url("svcOrganization"), data=body,
                               headers=all_headers, timeout=30, **kwargs)


def fault(response, soap=SOAP11) -> tuple[str, str]:
    """(fault code, fault string) of a SOAP fault response."""
    document = etree.fromstring(response.content)
    if soap == SOAP11:
        return document.findtext(".//faultcode").split(":")[-1], document.findtext(".//faultstring")
    code = document.find(".//{%s}Code" % SOAP12)
    values = [v.text for v in code.iter("{%s}Value" % SOAP12)]
    return ".".join(v.split(":")[-1] for v in values), document.findtext(".//{%s}Text" % SOAP12)


async def assert_still_serving(server):
    response = await post(server, envelope(get_all_groups()))
    assert response.status_code == 200
    assert b"<tns:Result>true</tns:Result>" in response.content or b">true</" in response.content


async def test_a_plain_call_works(small_server):
    await assert_still_serving(small_server)


async def test_malformed_xml_is_a_client_fault(small_server):
    response = await post(small_server, b"<s:Envelope xmlns:s='%s'><s:Body><oops" % SOAP11.encode())
    assert response.status_code == 500
    code, text = fault(response)
    assert code == "Client.XMLSyntaxError"
    assert "Traceback" not in response.text
    await assert_still_serving(small_server)


async def test_malformed_xml_over_soap12_is_a_sender_fault(small_server):
    response = await post(small_server, b"<not-closed>", soap12=True)
    assert response.status_code in (400, 500)
    code, _ = fault(response, SOAP12)
    assert code.startswith("Sender")
    await assert_still_serving(small_server)


def error_log_text(server) -> str:
    return "".join(path.read_text() for path in server.runtime.data.logs.glob("error-*.log"))


# Bodies that are no SOAP request; "{ns}" stands for the envelope namespace
# of the SOAP version the request is sent as.
NOT_SOAP = {
    "empty": (b"", None),
    "blank": (b"  \r\n", None),
    "text": (b"hello", None),
    "json": (b'{"authUserName": "admin"}', None),
    "not-utf8": (b"\xff\xfe\x00<a/>", None),
    "utf16-declared-utf8-sent": (b'<?xml version="1.0" encoding="UTF-16"?><a/>', None),
    "unknown-charset": (b'<s:Envelope xmlns:s="{ns}"><s:Body>' + get_all_groups().encode()
                        + b"</s:Body></s:Envelope>", "charset=no-such-charset"),
    "not-an-envelope": (b"<GetAllGroups/>", None),
    "empty-envelope": (b'<s:Envelope xmlns:s="{ns}"/>', None),
    "header-only": (b'<s:Envelope xmlns:s="{ns}"><s:Header/></s:Envelope>', None),
    "empty-body": (b'<s:Envelope xmlns:s="{ns}"><s:Body/></s:Envelope>', None),
    "text-in-body": (b'<s:Envelope xmlns:s="{ns}"><s:Body>hello</s:Body></s:Envelope>', None),
    "fault-as-request": (b'<s:Envelope xmlns:s="{ns}"><s:Body><s:Fault/></s:Body></s:Envelope>', None),
    "unknown-operation": (b'<s:Envelope xmlns:s="{ns}"><s:Body><Nothing xmlns="urn:x"/></s:Body></s:Envelope>',
                          None),
    "wrong-type": (b'<s:Envelope xmlns:s="{ns}"><s:Body><GetAgentsForGroup xmlns="' + NS.encode()
                   + b'"><authUserName>admin</authUserName><authPassword>x</authPassword>'
                   b"<groupId>one</groupId></GetAgentsForGroup></s:Body></s:Envelope>", None),
}


@pytest.mark.parametrize("soap12", [False, True], ids=["soap11", "soap12"])
@pytest.mark.parametrize("case", sorted(NOT_SOAP))
async def test_a_body_that_is_not_soap_is_a_client_fault_not_logged(small_server, soap12, case):
    """Empty, non-XML or non-SOAP bodies are the client's mistake: a Client
    (1.2: Sender) fault, never a Server error reference or an error-log entry."""
    body, charset = NOT_SOAP[case]
    body = body.replace(b"{ns}", (SOAP12 if soap12 else SOAP11).encode())
    media_type = "application/soap+xml" if soap12 else "text/xml"
    headers = {"Content-Type": "%s; %s" % (media_type, charset)} if charset else None
    response = await post(small_server, body, soap12=soap12, headers=headers)
    assert response.status_code in (400, 500), response.text
    code, text = fault(response, SOAP12 if soap12 else SOAP11)
    assert code.startswith("Sender" if soap12 else "Client"), (code, text)
    assert "reference" not in text
    assert error_log_text(small_server) == ""
    await assert_still_serving(small_server)


async def test_external_entity_is_refused_and_not_read(small_server):
    prolog = '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
    body = envelope(get_all_groups(user="&xxe;"), prolog=prolog)
    response = await post(small_server, body)
    assert response.status_code == 500
    code, text = fault(response)
    assert code == "Client.DTDNotAllowed"
    assert "root:" not in response.text
    await assert_still_serving(small_server)


async def test_internal_dtd_is_refused(small_server):
    prolog = '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY name "admin">]>'
    response = await post(small_server, envelope(get_all_groups(user="&name;"), prolog=prolog))
    assert fault(response)[0] == "Client.DTDNotAllowed"


async def test_billion_laughs_is_refused(small_server):
    entities = ['<!ENTITY a0 "lol">'] + [
        '<!ENTITY a%d "%s">' % (i, ("&a%d;" % (i - 1)) * 10) for i in range(1, 10)]
    prolog = '<?xml version="1.0"?><!DOCTYPE x [%s]>' % "".join(entities)
    response = await post(small_server, envelope(get_all_groups(user="&a9;"), prolog=prolog))
    assert response.status_code == 500
    assert fault(response)[0].startswith("Client")
    await assert_still_serving(small_server)


async def test_deep_nesting_is_refused(small_server):
    body = envelope("<a>" * 5000 + "</a>" * 5000)
    response = await post(small_server, body)
    assert response.status_code == 500
    assert fault(response)[0].startswith("Client")
    await assert_still_serving(small_server)


async def test_oversized_body_is_refused_with_413(small_server):
    big = envelope(get_all_groups(user="x" * (MAX_BODY + 1)))
    response = await post(small_server, big)
    assert response.status_code == 413
    await assert_still_serving(small_server)


async def test_oversized_chunked_body_is_refused_with_413(small_server):
    big = envelope(get_all_groups(user="x" * (MAX_BODY + 1)))

    def chunks():
        for start in range(0, len(big), 8192):
            yield big[start:start + 8192]

    response = await post(small_server, chunks())
    assert response.status_code == 413
    await assert_still_serving(small_server)


async def test_wrong_type_is_a_schema_validation_fault(small_server):
    body = ('<GetAgentsForGroup xmlns="%s"><authUserName>admin</authUserName><authPassword>x</authPassword>'
            "<groupId>not-a-number</groupId></GetAgentsForGroup>" % NS)
    response = await post(small_server, envelope(body))
    assert response.status_code == 500
    assert fault(response)[0] == "Client.SchemaValidationError"
    await assert_still_serving(small_server)


async def test_unknown_operation_is_a_client_fault(small_server):
    response = await post(small_server, envelope('<DropAllTables xmlns="%s"/>' % NS))
    assert response.status_code == 500
    assert fault(response)[0].startswith("Client")
    await assert_still_serving(small_server)


async def test_internal_error_is_a_server_fault_with_a_reference_only(small_server):
    # A database that lost a table: the call fails inside, the client learns
    # nothing of the internals, and the error log has the details.
    with small_server.runtime.db.engine.begin() as connection:
        connection.exec_driver_sql("DROP TABLE group_agents")
    body = ('<GetAgentsForGroup xmlns="%s"><authUserName>admin</authUserName>'
            "<authPassword>admin-Passw0rd!</authPassword><groupId>1</groupId></GetAgentsForGroup>" % NS)
    response = await post(small_server, envelope(body))
    assert response.status_code == 500
    code, text = fault(response)
    assert code == "Server"
    assert "reference" in text
    assert "Traceback" not in response.text and "group_agents" not in response.text
    reference = text.split("reference ")[1].split(")")[0]
    error_logs = list(small_server.runtime.data.logs.glob("error-*.log"))
    assert error_logs, "no error log written"
    log_text = "".join(path.read_text() for path in error_logs)
    assert reference in log_text and "group_agents" in log_text and "Traceback" in log_text
    await assert_still_serving(small_server)


# ---------------------------------------------------------------- HTTP level


ODD_METHODS = ["PUT", "DELETE", "OPTIONS", "PATCH", "PROPFIND", "TRACE"]
SERVICE_URLS = ["/Services2/", "/Services2/svcTickets.asmx", "/Services2/svcTickets.asmx?WSDL",
                "/Services2/svcOrganization.asmx?op=GetAllGroups", "/Attachments/1?expires=1&token=x",
                "/Attachments/"]


@pytest.mark.parametrize("path", SERVICE_URLS)
@pytest.mark.parametrize("method", ODD_METHODS)
async def test_odd_methods_on_service_urls_are_405_with_allow(small_server, method, path):
    """Not Twisted's "501 Huh?" page: 405, and the Allow header HTTP requires."""
    response = await deferToThread(requests.request, method, small_server.base_url + path, timeout=30)
    assert response.status_code == 405, (response.status_code, response.text[:200])
    allowed = {m.strip() for m in response.headers["allow"].split(",")}
    assert "GET" in allowed and method not in allowed
    assert "Huh" not in response.text


async def test_services_folder_without_slash_redirects(small_server):
    for method in ("GET", "HEAD"):
        response = await deferToThread(requests.request, method, small_server.base_url + "/Services2",
                                       allow_redirects=False, timeout=30)
        assert response.status_code == 301, (method, response.status_code)
        assert response.headers["location"].endswith("/Services2/")
    response = await deferToThread(requests.request, "PUT", small_server.base_url + "/services2", timeout=30)
    assert response.status_code == 405 and "GET" in response.headers["allow"]


@pytest.mark.parametrize("attachment_id", [2 ** 31, 2 ** 63, 2 ** 64, 10 ** 30])
async def test_attachment_ids_no_attachment_can_have_are_404(small_server, attachment_id):
    """Even with a valid token: 404, not an internal error on the
    database's integer range (fileId is an xs:int)."""
    from stws.domain.tickets.attachments import download_url

    url = download_url(small_server.runtime.data.root, attachment_id)
    response = await deferToThread(requests.get, small_server.base_url + url, timeout=30)
    assert response.status_code == 404, response.text
    assert error_log_text(small_server) == ""


def raw_request(base_url: str, head: bytes) -> bytes:
    """Send ``head`` (a request without body) on a new connection; all the server answers."""
    parts = urlsplit(base_url)
    with socket.create_connection((parts.hostname, parts.port), timeout=30) as connection:
        connection.sendall(head)
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    return answer


OVER_LIMITS = {
    "request-line": (b"GET /Services2/?q=" + b"a" * 20000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414),
    "long-header": (b"GET /Services2/ HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n", 431),
    "headers-total": (b"GET /Services2/ HTTP/1.1\r\nHost: x\r\n"
                      + b"".join(b"X-H%d: %s\r\n" % (i, b"a" * 1000) for i in range(20)) + b"\r\n", 431),
    "header-count": (b"GET /Services2/ HTTP/1.1\r\nHost: x\r\n"
                     + b"".join(b"X-H%d: a\r\n" % i for i in range(600)) + b"\r\n", 431),
}


@pytest.mark.parametrize("case", sorted(OVER_LIMITS))
async def test_requests_over_the_header_limits_get_an_answer(small_server, case):
    """Twisted closes the connection without a word on a line over 16 KiB
    and answers a bare 400 to too many or too large headers; clients need
    to know what went wrong: 414 for the request line, 431 for headers."""
    head, status = OVER_LIMITS[case]
    answer = await deferToThread(raw_request, small_server.base_url, head)
    status_line = answer.split(b"\r\n", 1)[0]
    assert status_line.startswith(b"HTTP/1.1 %d " % status), answer[:200]
    assert b"\r\nConnection: close\r\n" in answer
    await assert_still_serving(small_server)
    # Just under the limits still works.
    fine = await deferToThread(raw_request, small_server.base_url,
                               b"GET /Services2/?q=" + b"a" * 8000 + b" HTTP/1.1\r\nHost: x\r\n"
                               b"Connection: close\r\nX-Big: " + b"b" * 7000 + b"\r\n\r\n")
    assert fine.startswith(b"HTTP/1.1 200 "), fine[:200]
