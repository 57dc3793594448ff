"""Raw SOAP 1.1 requests for benchmarks: the bytes a .NET ASMX proxy sends,
without a SOAP client library in the loop.

    body = envelope("svcOrganization", "GetAllAgents", [("authUserName", "admin"), ("authPassword", pw)])
    reply = call(url, "svcOrganization", "GetAllAgents", params)   # Reply(status, body); reply.text("Result")
"""
from __future__ import annotations

import http.client
from dataclasses import dataclass
from urllib.parse import urlsplit
from xml.etree import ElementTree
from xml.sax.saxutils import escape

NAMESPACE = "http://www.smartertools.com/SmarterTrack/Services2/%s.asmx"


def namespace(service: str) -> str:
    return NAMESPACE % service


def soap_action(service: str, operation: str) -> str:
    return "%s/%s" % (namespace(service), operation)


def _value(value, array_namespace=None) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):  # ArrayOfString
        start = '<string xmlns="%s">' % array_namespace if array_namespace else "<string>"
        return "".join("%s%s</string>" % (start, escape(str(item))) for item in value)
    return escape(str(value))


def envelope(service: str, operation: str, params, array_namespace: str | None = None) -> bytes:
    """A SOAP 1.1 request; ``params`` is [(name, value), ...] in contract order.

    ArrayOfString items are ``<string>`` in the service namespace, or in
    ``array_namespace`` when given (the namespace the served WSDL declares
    ArrayOfString in; see ``array_of_string_namespace``)."""
    fields = "".join("<%s>%s</%s>" % (name, _value(value, array_namespace), name) for name, value in params)
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">'
        '<soap:Body><%s xmlns="%s">%s</%s></soap:Body></soap:Envelope>'
        % (operation, namespace(service), fields, operation)
    ).encode("utf-8")


def array_of_string_namespace(wsdl: bytes) -> str | None:
    """The targetNamespace of the schema defining ArrayOfString in a WSDL,
    which is where a generated proxy puts the ``<string>`` items."""
    root = ElementTree.fromstring(wsdl)
    for schema in root.iter("{http://www.w3.org/2001/XMLSchema}schema"):
        for kind in schema.findall("{http://www.w3.org/2001/XMLSchema}complexType"):
            if kind.get("name") == "ArrayOfString":
                return schema.get("targetNamespace")
    return None


def headers(service: str, operation: str) -> dict[str, str]:
    return {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '"%s"' % soap_action(service, operation)}


@dataclass
class Reply:
    status: int
    body: bytes

    def root(self):
        return ElementTree.fromstring(self.body)

    def text(self, local_name: str) -> str | None:
        """Text of the first element with this local name (any namespace)."""
        for element in self.root().iter():
            if element.tag.rsplit("}", 1)[-1] == local_name:
                return element.text
        return None

    def count(self, local_name: str) -> int:
        return sum(1 for e in self.root().iter() if e.tag.rsplit("}", 1)[-1] == local_name)


def call(url: str, service: str, operation: str, params, timeout: float = 30.0) -> Reply:
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        connection.request("POST", parts.path, envelope(service, operation, params), headers(service, operation))
        response = connection.getresponse()
        return Reply(response.status, response.read())
    finally:
        connection.close()
