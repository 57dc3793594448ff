"""SOAP requests of our operations read straight from the envelope: the
way in that ``stws.soap.writer`` is the way out.

spyne's way in costs more than most of our operations do: a new XMLParser
per request, two XPath expressions compiled per request for Header and
Body, schema validation of the body, a MethodContext and its transport
context, events fired, then generic per-field dispatch to build the
arguments (bench/tickets_throughput.py --profile t1: over half the server's
time for GetTicketInfo was spyne's, a quarter the operation's own).

``DirectCalls`` answers the requests it fully understands and leaves every
other one to spyne, untouched, so that spyne stays the judge of anything
unusual and its faults stay what clients get. A request is understood when:

- it is a SOAP 1.1 or 1.2 envelope in UTF-8 with no DTD, no Header and a
  Body holding exactly one element, the wrapper of an ``@operation`` of
  this service whose response ``stws.soap.writer`` can write;
- the wrapper's children are its parameters in contract order, each once
  at most, with no attributes (``xsi:nil`` included) and no unknown
  element, and nothing but whitespace between them; every required
  parameter is present;
- each value is of a type read here (string, int, long, boolean, string
  array) and lexically valid for its XML Schema type, in range.

That is what the schema spyne validates against demands (plus a few
forms it accepts that we leave to it), so everything read here is a
request spyne would have accepted, and the arguments are the ones it would
have built (tests/test_request_reader.py compares them for every
operation of every service).
"""
from __future__ import annotations

import io
import re
import threading

from lxml import etree
from spyne import Array, Boolean, Fault, Integer32, Integer64, Unicode
from spyne.server.wsgi import WsgiMethodContext

from stws.soap.operation import invoke, log_internal_error
from stws.soap.writer import NotWritable, writer_for

SOAP11_ENVELOPE = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12_ENVELOPE = "http://www.w3.org/2003/05/soap-envelope"
_MEDIA_TYPES = {SOAP11_ENVELOPE: "text/xml", SOAP12_ENVELOPE: "application/soap+xml"}
_XML_SPACE = " \t\r\n"
_INTEGER = re.compile(r"[+-]?[0-9]+\Z")


# The WSGI environ key under which the hosting passes the operation the
# request names in SOAPAction or its SOAP 1.2 action (stws.soap.hosting).
NAMED_OPERATION = "stws.named_operation"


class NotReadable(Exception):
    """A request this module leaves to spyne."""


def _text_only(element) -> str:
    if len(element) or element.attrib:
        raise NotReadable(element.tag)
    return element.text or ""


def _read_string(element) -> str:
    return _text_only(element)


def _integer_reader(bits: int):
    low, high = -(1 << (bits - 1)), (1 << (bits - 1)) - 1

    def read(element) -> int:
        text = _text_only(element).strip(_XML_SPACE)
        if not _INTEGER.match(text):
            raise NotReadable(element.tag)
        value = int(text)
        if not low <= value <= high:
            raise NotReadable(element.tag)
        return value

    return read


_BOOLEANS = {"true": True, "1": True, "false": False, "0": False}


def _read_boolean(element) -> bool:
    value = _BOOLEANS.get(_text_only(element).strip(_XML_SPACE))
    if value is None:
        raise NotReadable(element.tag)
    return value


def _string_array_reader(kind):
    ((item_name, item_kind),) = kind._type_info.items()
    if not issubclass(item_kind, Unicode) or item_kind.Attributes.sub_name not in (None, item_name):
        return None
    item_tag = "{%s}%s" % (kind.get_namespace(), item_name)

    def read(element) -> list:
        if element.attrib or (element.text or "").strip(_XML_SPACE):
            raise NotReadable(element.tag)
        items = []
        for item in element:
            if item.tag != item_tag or (item.tail or "").strip(_XML_SPACE):
                raise NotReadable(element.tag)
            items.append(_text_only(item))
        return items

    return read


def _value_reader(kind):
    """How a parameter of ``kind`` is read, or None if it is left to spyne."""
    attributes = kind.Attributes
    if attributes.max_occurs != 1 or getattr(attributes, "default", None) is not None:
        return None
    if issubclass(kind, Array):
        return _string_array_reader(kind)
    if getattr(attributes, "pattern", None) or getattr(attributes, "max_len", None) not in (None, float("inf")):
        return None
    if issubclass(kind, Boolean):
        return _read_boolean
    if issubclass(kind, Integer32):
        return _integer_reader(32)
    if issubclass(kind, Integer64):
        return _integer_reader(64)
    if issubclass(kind, Unicode) and getattr(attributes, "min_len", 0) in (0, None):
        return _read_string
    return None


class OperationReader:
    """The parameters of one operation, read from its wrapper element."""

    def __init__(self, method, namespace: str):
        self.spec = method.function.stws_spec
        self.writer = writer_for(method.out_message)
        parameters = []
        for name, kind in method.in_message._type_info.items():
            read = _value_reader(kind)
            if read is None:
                raise NotReadable("parameter %s of %s" % (name, method.name))
            parameters.append(("{%s}%s" % (namespace, name), read, kind.Attributes.min_occurs > 0))
        self.parameters = tuple(parameters)
        if self.writer is None:
            raise NotReadable("the response of %s" % method.name)

    def arguments(self, wrapper) -> list:
        """All parameters in order (None for an omitted optional one)."""
        if wrapper.attrib or (wrapper.text or "").strip(_XML_SPACE):
            raise NotReadable(wrapper.tag)
        children = iter(wrapper)
        child = next(children, None)
        values = []
        for tag, read, required in self.parameters:
            if child is not None and child.tag == tag:
                if (child.tail or "").strip(_XML_SPACE):
                    raise NotReadable(tag)
                values.append(read(child))
                child = next(children, None)
            elif required:
                raise NotReadable(tag)
            else:
                values.append(None)
        if child is not None:  # unknown, repeated or out of order
            raise NotReadable(child.tag)
        return values


class _ThreadParsers(threading.local):
    """An lxml parser is not safe to share between threads; one per thread
    is, and saves making one per request as spyne does."""

    def __init__(self, options: dict):
        self.parser = etree.XMLParser(**options)


class DirectCalls:
    """Answers the requests of one service's operations that ``NotReadable``
    does not stop (see the module docstring); ``answer`` returns None for the
    others, which then go to spyne as they came."""

    def __init__(self, namespace: str, runtime, soap11_wsgi, soap12_wsgi):
        self.runtime = runtime
        self.operations: dict[str, OperationReader] = {}
        # The methods as the application resolved them (namespaces assigned).
        for tag, (method, *_) in soap11_wsgi.app.interface.service_method_map.items():
            if getattr(method.function, "stws_spec", None) is None:
                continue  # a plain spyne @rpc
            try:
                self.operations[tag] = OperationReader(method, namespace)
            except NotReadable:
                pass
        self.names = frozenset(tag.partition("}")[2] for tag in self.operations)
        # Parse as spyne would: the same parser options (entities not
        # resolved, no network, comments and PIs dropped, size limits on).
        self._parsers = _ThreadParsers(soap11_wsgi.app.in_protocol.parser_kwargs)
        self._wsgi = {SOAP11_ENVELOPE: soap11_wsgi, SOAP12_ENVELOPE: soap12_wsgi}

    def answer(self, environ, soap12: bool):
        """(status, headers, body) of a request answered here, or None with
        ``wsgi.input`` rewound for spyne. ``soap12``: the request came as
        ``application/soap+xml`` (else ``text/xml``)."""
        named = environ.get(NAMED_OPERATION)
        if named is not None and named not in self.names:
            return None  # not ours (a plain spyne @rpc): no parsing it twice
        data = environ["wsgi.input"].read()
        environ["wsgi.input"] = io.BytesIO(data)
        try:
            operation, arguments = self.read(environ, data, soap12)
        except NotReadable:
            return None
        wsgi = self._wsgi[SOAP12_ENVELOPE if soap12 else SOAP11_ENVELOPE]
        try:
            result = invoke(operation.spec, self.runtime, arguments[0], arguments[1], arguments[2:])
            body = operation.writer.body((result,))
        except Fault as fault:
            return _fault_answer(wsgi, environ, fault)
        except NotWritable:
            return _fault_answer(wsgi, environ, Fault("Server", log_internal_error(
                "the response of %s holds a character XML cannot carry" % operation.spec.name, exc_info=False)))
        except Exception:
            return _fault_answer(wsgi, environ, Fault("Server", log_internal_error(
                "operation %s failed" % operation.spec.name)))
        protocol = wsgi.app.out_protocol
        data = protocol.envelope(body)
        return "200 OK", [("Content-Type", protocol.mime_type), ("Content-Length", str(len(data)))], data

    def read(self, environ, data: bytes, soap12: bool):
        """The operation a request calls and its arguments, or NotReadable."""
        envelope_namespace = SOAP12_ENVELOPE if soap12 else SOAP11_ENVELOPE
        content_type = environ.get("CONTENT_TYPE", "")
        media_type = content_type.partition(";")[0].strip().lower()
        if (environ["REQUEST_METHOD"] != "POST" or media_type != _MEDIA_TYPES[envelope_namespace]
                or not _utf8_or_unstated(content_type)):
            raise NotReadable("transport")
        try:
            root = etree.fromstring(data, self._parsers.parser)
        except (etree.XMLSyntaxError, ValueError):
            raise NotReadable("not well-formed") from None
        document = root.getroottree().docinfo
        if document.doctype or (document.encoding or "UTF-8").upper() != "UTF-8":
            raise NotReadable("document")
        if root.tag != "{%s}Envelope" % envelope_namespace or root.attrib:
            raise NotReadable("envelope")
        if len(root) != 1 or (root.text or "").strip(_XML_SPACE):
            raise NotReadable("header or extra content")
        body = root[0]
        if body.tag != "{%s}Body" % envelope_namespace or body.attrib or len(body) != 1:
            raise NotReadable("body")
        if (body.text or "").strip(_XML_SPACE) or (body.tail or "").strip(_XML_SPACE):
            raise NotReadable("body text")
        wrapper = body[0]
        operation = self.operations.get(wrapper.tag)
        if operation is None or (wrapper.tail or "").strip(_XML_SPACE):
            raise NotReadable("operation")
        return operation, operation.arguments(wrapper)


def _utf8_or_unstated(content_type: str) -> bool:
    for parameter in content_type.split(";")[1:]:
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "charset" and value.strip().strip('"').lower() not in ("utf-8", "utf8"):
            return False
    return True


def _fault_answer(wsgi, environ, fault: Fault):
    """A fault as spyne writes and frames it (status, headers, envelope)."""
    ctx = WsgiMethodContext(wsgi, environ, wsgi.app.out_protocol.mime_type)
    ctx.out_error = fault
    answer = []

    def start_response(status, headers, exc_info=None):
        answer[:] = [status, headers]

    chunks = wsgi.handle_error(ctx, [], fault, start_response)
    body = b"".join(chunk if isinstance(chunk, bytes) else chunk.encode("utf-8") for chunk in chunks)
    status, headers = answer
    return status, headers, body
