"""stws.soap.reader reads requests as spyne would, and leaves it the rest.

For every operation the reader takes, requests with awkward values (markup
and non-ASCII text, CDATA, comments inside values, empty and omitted
strings and arrays, signs and spaces around numbers, every boolean form)
are read twice: by the reader and by spyne's own way in (parse, schema
validation, deserialization). The arguments must be equal. Requests the
schema refuses or that the reader does not handle must be left to spyne.
Then, on a live server, answers of the direct path are compared byte for
byte with the answers spyne gives to the same requests.
"""
from __future__ import annotations

import io
import urllib.request
from xml.sax.saxutils import escape

import pytest
import pytest_twisted
from spyne import Array, Boolean, Integer32, Integer64, Unicode
from spyne.server.wsgi import WsgiMethodContext
from twisted.internet import threads

from conftest import ok
from stws.services import SERVICES
from stws.soap.reader import NAMED_OPERATION, NotReadable, SOAP11_ENVELOPE, SOAP12_ENVELOPE

AWKWARD = 'a & b < c > "d" \'e\'\r\nline two\ttab é ✓ 𝄞'


def operations():
    for service_class in SERVICES:
        for name in sorted(service_class.public_methods):
            yield pytest.param(service_class, name, id="%s.%s" % (service_class.__service_name__, name))


def is_string_array(kind) -> bool:
    return issubclass(kind, Array) and issubclass(next(iter(kind._type_info.values())), Unicode)


def value_texts(kind, variant: int, array_namespace: str):
    """The XML of one parameter's value in some variant; None to omit it."""
    if issubclass(kind, Boolean):
        return ["true", "0", " false\n", "1"][variant % 4]
    if issubclass(kind, Integer32):
        return ["42", " +7 ", "-2147483648", "2147483647", "0", "\t-0012\n"][variant % 6]
    if issubclass(kind, Integer64):
        return ["9223372036854775807", " -5 ", "-9223372036854775808", "0", "1", "+00"][variant % 6]
    if issubclass(kind, Unicode):
        return [escape(AWKWARD), "", None, "  spaced  ", "<![CDATA[x < y & z]]>", "half<!-- note -->way"][variant % 6]
    if issubclass(kind, Array):
        item = '<string xmlns="%s">%%s</string>' % array_namespace
        return ["".join(item % text for text in ("IsOpen=true", escape(AWKWARD), "")), "", None,
                item % " spaced ", "\n  " + item % "a" + "\n  " + item % "b" + "\n", "<string xmlns='%s'/>"
                % array_namespace][variant % 6]
    raise AssertionError("no text for %r" % kind)


def request(namespace: str, operation: str, fields: str, soap12: bool = False, envelope_extra: str = "") -> bytes:
    envelope = SOAP12_ENVELOPE if soap12 else SOAP11_ENVELOPE
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<soap:Envelope xmlns:soap="%s" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">%s'
        '<soap:Body><%s xmlns="%s">%s</%s></soap:Body></soap:Envelope>'
        % (envelope, envelope_extra, operation, namespace, fields, operation)
    ).encode("utf-8")


def sample_request(endpoint, method, variant: int, soap12: bool = False) -> bytes:
    fields = []
    for name, kind in method.in_message._type_info.items():
        text = value_texts(kind, variant + len(fields), endpoint.namespace)
        if text is not None:
            fields.append("<%s>%s</%s>" % (name, text, name))
    return request(endpoint.namespace, method.name, "".join(fields), soap12)


def environ_of(data: bytes, soap12: bool = False, content_type: str | None = None) -> dict:
    if content_type is None:
        content_type = "application/soap+xml; charset=utf-8" if soap12 else "text/xml; charset=utf-8"
    return {"REQUEST_METHOD": "POST", "CONTENT_TYPE": content_type, "CONTENT_LENGTH": str(len(data)),
            "wsgi.input": io.BytesIO(data), "QUERY_STRING": "", "PATH_INFO": "", "SCRIPT_NAME": "",
            "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "1", "wsgi.url_scheme": "http"}


def spyne_reads(endpoint, data: bytes, soap12: bool = False):
    """The arguments spyne's way in builds for a request, or its fault."""
    wsgi = endpoint._wsgi12 if soap12 else endpoint._wsgi11
    ctx = WsgiMethodContext(wsgi, environ_of(data, soap12), wsgi.app.out_protocol.mime_type)
    ctx.in_string = [data]
    first = wsgi.generate_contexts(ctx, "utf-8")[0]
    if first.in_error is None:
        wsgi.get_in_object(first)
    if first.in_error is not None:
        return first.in_error
    return list(first.in_object)


def reader_reads(endpoint, data: bytes, soap12: bool = False, content_type: str | None = None):
    operation, arguments = endpoint.direct_calls.read(environ_of(data, soap12, content_type), data, soap12)
    return arguments


@pytest.mark.parametrize("service_class, operation_name", list(operations()))
def test_the_reader_reads_what_spyne_reads(offline_endpoints, service_class, operation_name):
    endpoint = offline_endpoints[service_class]
    method = service_class.public_methods[operation_name]
    readable = all(issubclass(kind, (Unicode, Boolean, Integer32, Integer64)) or is_string_array(kind)
                   for kind in method.in_message._type_info.values())
    tag = "{%s}%s" % (endpoint.namespace, operation_name)
    if getattr(method.function, "stws_spec", None) is None or not readable:
        assert tag not in endpoint.direct_calls.operations
        return
    assert tag in endpoint.direct_calls.operations
    for soap12 in (False, True):
        for variant in range(6):
            data = sample_request(endpoint, method, variant, soap12)
            theirs = spyne_reads(endpoint, data, soap12)
            assert isinstance(theirs, list), (data, theirs)
            assert reader_reads(endpoint, data, soap12) == theirs, data


def tickets_endpoint(offline_endpoints):
    return next(e for s, e in offline_endpoints.items() if s.__service_name__ == "svcTickets")


CREATE_FIELDS = ("<authUserName>admin</authUserName><authPassword>pw</authPassword><departmentId>1</departmentId>"
                 "<fromAddress>a@example.com</fromAddress><subject>s</subject><body>b</body>"
                 "<isHtml>false</isHtml><sendAutoResponder>true</sendAutoResponder>")


def test_the_hot_operations_are_read_directly(offline_endpoints):
    endpoint = tickets_endpoint(offline_endpoints)
    for name in ("GetTicketInfo", "CreateTicketFromCustomer", "GetTicketsBySearch", "AddTicketNote"):
        assert "{%s}%s" % (endpoint.namespace, name) in endpoint.direct_calls.operations
    data = request(endpoint.namespace, "CreateTicketFromCustomer", CREATE_FIELDS)
    assert reader_reads(endpoint, data) == ["admin", "pw", 1, "a@example.com", "s", "b", False, True]


# Changes to a valid CreateTicketFromCustomer request that the reader must
# leave to spyne: (name, fields, envelope extra, content type, SOAP 1.2).
LEFT_TO_SPYNE = [
    ("int out of range", CREATE_FIELDS.replace(">1<", ">2147483648<"), "", None, False),
    ("int with underscore", CREATE_FIELDS.replace(">1<", ">1_0<"), "", None, False),
    ("int in non-ASCII digits", CREATE_FIELDS.replace(">1<", ">\u0661<"), "", None, False),
    ("boolean spelled yes", CREATE_FIELDS.replace(">false<", ">yes<"), "", None, False),
    ("required int missing", CREATE_FIELDS.replace("<departmentId>1</departmentId>", ""), "", None, False),
    ("unknown element", CREATE_FIELDS + "<extra>1</extra>", "", None, False),
    ("repeated element", CREATE_FIELDS + "<isHtml>true</isHtml>", "", None, False),
    ("out of order", CREATE_FIELDS.replace("<subject>s</subject><body>b</body>", "<body>b</body><subject>s</subject>"),
     "", None, False),
    ("xsi:nil on a string", CREATE_FIELDS.replace("<body>b</body>", '<body xsi:nil="true"/>'), "", None, False),
    ("attribute on a parameter", CREATE_FIELDS.replace("<body>", '<body lang="en">'), "", None, False),
    ("element inside a string", CREATE_FIELDS.replace("<body>b</body>", "<body><b>x</b></body>"), "", None, False),
    ("text between parameters", CREATE_FIELDS.replace("<subject>", "stray<subject>"), "", None, False),
    ("a SOAP header", CREATE_FIELDS, "<soap:Header/>", None, False),
    ("latin-1 charset", CREATE_FIELDS, "", "text/xml; charset=iso-8859-1", False),
    ("SOAP 1.2 envelope as text/xml", CREATE_FIELDS, "", "text/xml; charset=utf-8", True),
    ("multipart (SwA)", CREATE_FIELDS, "", "multipart/related; type=text/xml", False),
]


@pytest.mark.parametrize("name, fields, extra, content_type, envelope12", LEFT_TO_SPYNE,
                         ids=[case[0] for case in LEFT_TO_SPYNE])
def test_anything_unusual_is_left_to_spyne(offline_endpoints, name, fields, extra, content_type, envelope12):
    endpoint = tickets_endpoint(offline_endpoints)
    data = request(endpoint.namespace, "CreateTicketFromCustomer", fields, envelope12, extra)
    with pytest.raises(NotReadable):
        reader_reads(endpoint, data, soap12=content_type is None and envelope12, content_type=content_type)


def test_a_request_naming_an_operation_left_to_spyne_is_not_parsed_twice(offline_endpoints):
    endpoint = tickets_endpoint(offline_endpoints)
    data = request(endpoint.namespace, "CreateTicketFromCustomer", CREATE_FIELDS)
    environ = environ_of(data)
    environ[NAMED_OPERATION] = "AddTicketAttachment"  # base64 data: spyne's
    assert endpoint.direct_calls.answer(environ, False) is None
    assert environ["wsgi.input"].tell() == 0


def test_a_dtd_or_broken_xml_is_left_to_spyne(offline_endpoints):
    endpoint = tickets_endpoint(offline_endpoints)
    valid = request(endpoint.namespace, "CreateTicketFromCustomer", CREATE_FIELDS)
    with_dtd = valid.replace(b"?>", b'?><!DOCTYPE x [<!ENTITY e "boom">]>', 1)
    for data in (with_dtd, valid[:-10], b""):
        with pytest.raises(NotReadable):
            reader_reads(endpoint, data)
    assert not isinstance(spyne_reads(endpoint, with_dtd), list)


# ------------------------------------------------------------ on a live server


def post(url: str, data: bytes, soap12: bool = False, action: str = "") -> tuple[int, str, bytes]:
    headers = ({"Content-Type": 'application/soap+xml; charset=utf-8; action="%s"' % action} if soap12 else
               {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '"%s"' % action})
    http_request = urllib.request.Request(url, data=data, headers=headers)
    try:
        with urllib.request.urlopen(http_request, timeout=30) as reply:
            return reply.status, reply.headers["Content-Type"], reply.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers["Content-Type"], error.read()


class Answers:
    """Which of a live endpoint's requests the reader answered."""

    def __init__(self, endpoint):
        self.endpoint = endpoint
        self.direct = 0
        calls = endpoint.direct_calls
        answer = calls.answer

        def counting(environ, soap12):
            result = answer(environ, soap12)
            self.direct += result is not None
            return result

        calls.answer = counting

    async def both_ways(self, url: str, data: bytes, soap12: bool = False, action: str = ""):
        """The answer of the direct path, then spyne's to the same request."""
        direct = await threads.deferToThread(post, url, data, soap12, action)
        calls, self.endpoint.direct_calls = self.endpoint.direct_calls, None
        try:
            through_spyne = await threads.deferToThread(post, url, data, soap12, action)
        finally:
            self.endpoint.direct_calls = calls
        return direct, through_spyne


@pytest_twisted.ensureDeferred
async def test_direct_answers_equal_spynes(server):
    tickets = await server.client("svcTickets")
    created = ok(await tickets.CreateTicketFromCustomer(*server.admin, 1, "reader@example.com", "Subject <&>",
                                                        "Body é", False, False))
    (endpoint,) = [e for e in server.web.site.endpoints if e.name == "svcTickets"]
    answers = Answers(endpoint)
    url = server.url("svcTickets")
    namespace = endpoint.namespace
    auth = "<authUserName>%s</authUserName><authPassword>%s</authPassword>" % tuple(map(escape, server.admin))
    search = auth + '<searchCriteria><string xmlns="%s">EmailAddress=reader@example.com</string></searchCriteria>' % (
        namespace)
    cases = [
        ("GetTicketsBySearch", request(namespace, "GetTicketsBySearch", search), False),
        ("GetTicketsBySearch", request(namespace, "GetTicketsBySearch", search, soap12=True), True),
        ("GetTicketInfoByTicketNumber", request(
            namespace, "GetTicketInfoByTicketNumber",
            auth + "<ticketNumber>%s</ticketNumber>" % created.RequestResult), False),
        # Result=false: in band, 200, same bytes.
        ("GetTicketInfo", request(namespace, "GetTicketInfo", auth + "<ticketId>987654</ticketId>"), False),
    ]
    for operation, data, soap12 in cases:
        before = answers.direct
        direct, through_spyne = await answers.both_ways(url, data, soap12, "%s/%s" % (namespace, operation))
        assert answers.direct == before + 1, operation
        assert direct[0] == 200 and b"<Result>" in direct[2], direct
        assert direct == through_spyne, operation

    # A request with a header goes to spyne, and is answered.
    data = request(namespace, "GetTicketsBySearch", search, envelope_extra="<soap:Header/>")
    before = answers.direct
    status, _, body = await threads.deferToThread(post, url, data, False, namespace + "/GetTicketsBySearch")
    assert answers.direct == before
    assert status == 200 and b"reader@example.com" in body


@pytest_twisted.ensureDeferred
async def test_a_failure_inside_a_direct_call_is_spynes_server_fault(server, monkeypatch):
    from stws.domain.tickets import search as search_module

    def broken(*args, **kwargs):
        raise KeyError("secret detail")

    monkeypatch.setattr(search_module, "find_tickets", broken)
    (endpoint,) = [e for e in server.web.site.endpoints if e.name == "svcTickets"]
    answers = Answers(endpoint)
    auth = "<authUserName>%s</authUserName><authPassword>%s</authPassword>" % tuple(map(escape, server.admin))
    data = request(endpoint.namespace, "GetTicketsBySearch", auth)
    direct, through_spyne = await answers.both_ways(server.url("svcTickets"), data)
    assert answers.direct == 1
    assert direct[0] == through_spyne[0] == 500
    assert direct[1] == through_spyne[1]
    for answer in (direct, through_spyne):
        assert b"faultcode>soap11env:Server<" in answer[2] and b"Internal error (reference" in answer[2]
        assert b"secret detail" not in answer[2]
    # The same envelope apart from the reference.
    assert direct[2].split(b"reference ")[0] == through_spyne[2].split(b"reference ")[0]
