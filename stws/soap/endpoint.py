"""One ``.asmx`` endpoint: spyne applications shaped like ASP.NET's ASMX.

ASMX answers SOAP 1.1 and 1.2 on one URL and publishes both bindings in one
WSDL. spyne ties one protocol to one Application, so each endpoint has two
Applications over the same service class, a WSGI router that picks one by
the request's Content-Type, and a WSDL hook that makes the 1.1 document look
like ASMX's: message parts named ``parameters`` (which .NET's importers need
for the wrapped signatures), SOAPAction = namespace + "/" + operation, and
a cloned SOAP 1.2 binding and port.

The WSDL is built once, with the public URL, right after the WSGI
application exists (spyne otherwise bakes in the first caller's host).
"""
from __future__ import annotations

import copy
import datetime
import inspect
import logging
from dataclasses import dataclass
from urllib.parse import urlsplit

from spyne import BODY_STYLE_WRAPPED, Application, DateTime, Fault
from spyne import const as spyne_const
from spyne.protocol.soap import Soap11, Soap12
from spyne.server.wsgi import WsgiApplication

from stws.soap.reader import DirectCalls
from stws.soap.types import localize_string_arrays, service_namespace
from stws.soap.writer import XSI, NotWritable, datetime_text, writer_for

_W = "{http://schemas.xmlsoap.org/wsdl/}"
_S11 = "{http://schemas.xmlsoap.org/wsdl/soap/}"
_S12 = "{http://schemas.xmlsoap.org/wsdl/soap12/}"
_XS = "{http://www.w3.org/2001/XMLSchema}"
_SCHEMA_ORDER = {_XS + "import": 0, _XS + "simpleType": 1, _XS + "complexType": 2, _XS + "element": 3}

# spyne logs whole unparsable requests and every client fault with a
# traceback: log flooding and log injection by anonymous callers.
# Server faults are written to our own error log (stws.soap.operation).
for _noisy in ("spyne.protocol.soap.soap11.invalid", "spyne.application",
               "spyne.protocol.xml", "spyne.server.wsgi"):
    logging.getLogger(_noisy).setLevel(logging.CRITICAL)

# spyne runs a full gc.collect() when a call ends if the last one was more
# than MIN_GC_INTERVAL (1 s) ago, for file handles of its File type (which
# we don't use; it closes them explicitly anyway). Under load that is a
# ~90 ms stop-the-world pause every second: ~9% of the server's CPU and
# the p99 latency (bench/soap_throughput.py). Python's own collector
# still runs; a forced full collection once a minute costs nothing.
spyne_const.MIN_GC_INTERVAL = 60.0


def _utc_iso(cls, value: datetime.datetime) -> str:
    return datetime_text(value)


class _PrebuiltEnvelope:
    """A response written by stws.soap.writer, in place of spyne's lxml
    document (spyne only hands ``ctx.out_document`` on to create_out_string)."""

    __slots__ = ("data",)

    def __init__(self, data: bytes):
        self.data = data


# What spyne's parsing of a request body raises, besides its own faults, on
# a body that is not a SOAP message (see _AsmxProtocolMixin.create_in_document).
_UNPARSABLE = (StopIteration, UnicodeError, LookupError, ValueError)


def _describe_unparsable(error: Exception) -> str:
    if isinstance(error, StopIteration):
        return "it is empty."
    if isinstance(error, UnicodeError):
        return "its bytes are not in the charset it states (%s)." % getattr(error, "encoding", "?")
    if isinstance(error, LookupError):
        return "unknown charset."
    return "%s." % (str(error)[:200],)


class _AsmxProtocolMixin:
    """UTC datetimes with 'Z' (.NET reads them as DateTimeKind.Utc), no DTDs,
    ``xsi:nil`` on an optional parameter read as "omitted", and responses
    of our result types written by stws.soap.writer.

    SOAP forbids a DTD in a message; rejecting it up front also avoids the
    lxml schema validator crashing on entity declarations (an empty 500).
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._to_unicode_handlers[DateTime] = _utc_iso
        # What the writer's responses start with (the envelope namespace is
        # the protocol's: SOAP 1.1 or 1.2).
        self._envelope_head = ("<?xml version='1.0' encoding='UTF-8'?>\n"
                               '<soap:Envelope xmlns:soap="%s" xmlns:xsi="%s"><soap:Body>' % (self.ns_soap_env, XSI))

    def create_in_document(self, ctx, charset=None):
        try:
            super().create_in_document(ctx, charset)
        except Fault:
            raise
        except _UNPARSABLE as error:
            # spyne lets these out of its parsing step, and they became a
            # Server fault with an error-log entry: an empty body
            # (StopIteration), bytes that are not in the stated charset, an
            # unknown charset. They are the client's mistake.
            raise Fault("Client.XMLSyntaxError", "The request body is not a SOAP message: %s"
                        % (_describe_unparsable(error),)) from None
        root = ctx.in_document
        if isinstance(root, tuple):
            root = root[0]
        if root is not None and root.getroottree().docinfo.doctype:
            raise Fault("Client.DTDNotAllowed", "A SOAP message must not contain a DTD.")

    def serialize(self, ctx, message):
        if (message is self.RESPONSE and ctx.out_error is None and ctx.out_header is None
                and ctx.descriptor.body_style is BODY_STYLE_WRAPPED):
            writer = writer_for(ctx.descriptor.out_message)
            if writer is not None:
                try:
                    body = writer.body(ctx.out_object)
                except NotWritable:
                    pass  # spyne writes it (or reports why it cannot)
                else:
                    ctx.out_document = _PrebuiltEnvelope(self.envelope(body))
                    return None
        return super().serialize(ctx, message)

    def envelope(self, body: str) -> bytes:
        """A response envelope around ``body`` (written by stws.soap.writer)."""
        return (self._envelope_head + body + "</soap:Body></soap:Envelope>").encode("utf-8")

    def create_out_string(self, ctx, charset=None):
        if isinstance(ctx.out_document, _PrebuiltEnvelope):
            ctx.out_string = [ctx.out_document.data]
        else:
            super().create_out_string(ctx, charset)

    def decompose_incoming_envelope(self, ctx, message=Soap11.REQUEST):
        if message is self.REQUEST:
            self._require_one_operation_element(ctx)
        super().decompose_incoming_envelope(ctx, message)

    def _require_one_operation_element(self, ctx) -> None:
        """A request's Body holds the operation's element. spyne fails
        inside (a Server fault) on an envelope without a Body, a Body without
        an element, or a Fault sent as a request."""
        envelope = ctx.in_document[0] if isinstance(ctx.in_document, tuple) else ctx.in_document
        if envelope.tag != "{%s}Envelope" % self.ns_soap_env:
            return  # spyne's own fault says what is wrong
        body = envelope.find("{%s}Body" % self.ns_soap_env)
        if body is None or len(body) == 0:
            raise Fault("Client.SoapError", "The SOAP Body holds no operation element.")
        if body[0].tag == "{%s}Fault" % self.ns_soap_env:
            raise Fault("Client.SoapError", "A request must call an operation, not carry a Fault.")

    def validate_body(self, ctx, message):
        if message is self.REQUEST and ctx.in_body_doc is not None:
            _drop_nil_optional_parameters(self.app, ctx.in_body_doc)
        super().validate_body(ctx, message)


_XSI_NIL = "{http://www.w3.org/2001/XMLSchema-instance}nil"


def _drop_nil_optional_parameters(app, body) -> None:
    """Remove ``<param xsi:nil="true"/>`` where ``param`` is optional and not
    nillable (our strings and arrays), so it reads as omitted (None).

    ASMX's XmlSerializer accepts such a parameter as null; the schema does
    not, so validation would fail the whole call. Mono's WCF client sends a
    null string argument this way (Microsoft's omits it). Only the
    operation's own parameters are treated; nil on a required or nillable
    element is left to validation and deserialization as before.
    """
    methods = app.interface.service_method_map.get(body.tag)
    if not methods:
        return
    parameters = methods[0].in_message.get_flat_type_info(methods[0].in_message)
    namespace = body.tag.partition("}")[0] + "}"
    for child in list(body):
        if not isinstance(child.tag, str) or not child.tag.startswith(namespace):
            continue
        if child.get(_XSI_NIL) not in ("true", "1") or len(child):
            continue
        kind = parameters.get(child.tag[len(namespace):])
        if kind is not None and kind.Attributes.min_occurs == 0 and not kind.Attributes.nillable:
            body.remove(child)


class AsmxSoap11(_AsmxProtocolMixin, Soap11):
    pass


class AsmxSoap12(_AsmxProtocolMixin, Soap12):
    def schema_validation_error_to_parent(self, ctx, cls, inst, parent, ns, **kwargs):
        """A request that fails schema validation gets the same Sender fault
        as any other. spyne's own writer for it fails on the message (ASCII
        bytes) and would put it in Reason without Text, overwritten by the
        Code: every invalid SOAP 1.2 request got a Server fault instead."""
        if isinstance(inst.faultstring, bytes):
            inst.faultstring = inst.faultstring.decode("ascii", "replace")
        return self.fault_to_parent(ctx, cls, inst, parent, ns, **kwargs)


@dataclass(frozen=True)
class OperationInfo:
    """What the help pages show of an operation."""

    name: str
    soap_action: str
    parameters: tuple  # ((name, xsd type name), ...)
    returns: str
    description: str = ""  # the binding's docstring, also the WSDL's documentation

    def description_paragraphs(self) -> list:
        """The description as paragraphs, each a list of (text, is_code)
        runs: ````Key=Value```` in a docstring is code."""
        return [[(run, index % 2 == 1) for index, run in enumerate(" ".join(paragraph.split()).split("``"))]
                for paragraph in self.description.split("\n\n") if paragraph.strip()]

    def sample_request(self, endpoint, soap_version: str) -> str:
        """An HTTP request for this operation with type names as placeholders."""
        fields = "".join(
            "\n      <%s>%s</%s>" % (name, kind, name) for name, kind in self.parameters
        )
        body = '    <%s xmlns="%s">%s\n    </%s>' % (self.name, endpoint.namespace, fields, self.name)
        path = urlsplit(endpoint.public_url).path
        if soap_version == "1.2":
            headers = 'Content-Type: application/soap+xml; charset=utf-8; action="%s"' % self.soap_action
            envelope, prefix = "http://www.w3.org/2003/05/soap-envelope", "soap12"
        else:
            headers = 'Content-Type: text/xml; charset=utf-8\nSOAPAction: "%s"' % self.soap_action
            envelope, prefix = "http://schemas.xmlsoap.org/soap/envelope/", "soap"
        return (
            "POST %s HTTP/1.1\n%s\n\n"
            '<?xml version="1.0" encoding="utf-8"?>\n'
            '<%s:Envelope xmlns:%s="%s">\n  <%s:Body>\n%s\n  </%s:Body>\n</%s:Envelope>'
            % (path, headers, prefix, prefix, envelope, prefix, body, prefix, prefix)
        )


class AsmxEndpoint:
    """The WSGI application, WSDL and operation list of one .asmx service."""

    def __init__(self, service_class, runtime, public_url: str, max_request_size: int):
        self.name = service_class.__service_name__
        self.namespace = service_namespace(self.name)
        self.public_url = public_url
        localize_string_arrays(service_class, self.namespace)
        hook = _asmx_wsdl_hook(self.name, self.namespace)
        self._soap11 = self._application(service_class, runtime, AsmxSoap11)
        self._soap11.interface.docs.wsdl11.event_manager.add_listener("wsdl_document_built", hook)
        self._wsgi11 = WsgiApplication(self._soap11, max_content_length=max_request_size)
        self._wsgi11.doc.wsdl11.build_interface_document(public_url)
        self.wsdl: bytes = self._wsgi11.doc.wsdl11.get_interface_document()
        self._wsgi11._wsdl = self.wsdl
        self._soap12 = self._application(service_class, runtime, AsmxSoap12)
        self._wsgi12 = WsgiApplication(self._soap12, max_content_length=max_request_size)
        # Requests of our operations that need nothing of spyne's way in
        # (stws.soap.reader); None sends every request through spyne.
        self.direct_calls: DirectCalls | None = DirectCalls(self.namespace, runtime, self._wsgi11, self._wsgi12)
        self.operations = tuple(self._describe(service_class))
        # Which pool runs each operation (stws.soap.hosting.SoapPools): the
        # quick ones declared writes=False on the read pool, the other quick
        # ones on the write pool, the rest on the general pool.
        specs = {name: getattr(method.function, "stws_spec", None)
                 for name, method in service_class.public_methods.items()}
        quick = {name: spec for name, spec in specs.items() if _is_quick(spec)}
        self.read_only_operations = frozenset(name for name, spec in quick.items() if not spec.writes)
        self.quick_write_operations = frozenset(name for name, spec in quick.items() if spec.writes)

    def _application(self, service_class, runtime, protocol):
        application = Application(
            [service_class], tns=self.namespace, name=self.name,
            in_protocol=protocol(validator="lxml"), out_protocol=protocol(),
        )
        application.stws_runtime = runtime
        return application

    def __call__(self, environ, start_response):
        content_type = environ.get("CONTENT_TYPE", "").lower()
        post = environ["REQUEST_METHOD"] == "POST"
        soap12 = post and content_type.startswith("application/soap+xml")
        if post and self.direct_calls is not None:
            answer = self.direct_calls.answer(environ, soap12)
            if answer is not None:
                status, headers, body = answer
                start_response(status, headers)
                return [body]
        return (self._wsgi12 if soap12 else self._wsgi11)(environ, start_response)

    def operation(self, name: str) -> OperationInfo | None:
        for info in self.operations:
            if info.name.lower() == name.lower():
                return info
        return None

    def _describe(self, service_class):
        for name in sorted(service_class.public_methods):
            method = service_class.public_methods[name]
            parameters = tuple(
                (arg, _xsd_name(kind)) for arg, kind in method.in_message._type_info.items()
            )
            (returns,) = method.out_message._type_info.values()
            yield OperationInfo(name, "%s/%s" % (self.namespace, name), parameters, _xsd_name(returns),
                                inspect.cleandoc(method.doc or ""))


def _is_quick(spec) -> bool:
    """Declared through @operation, not slow, and no ``prepare`` step (which
    hashes passwords: tens of milliseconds of CPU)."""
    return spec is not None and not spec.slow and spec.prepare is None


def _xsd_name(kind) -> str:
    return kind.get_type_name() or kind.__name__


def _asmx_wsdl_hook(name: str, namespace: str):
    def reshape(wsdl):
        root = wsdl.root_elt
        # spyne emits some types in hash order; sort so every process serves
        # the same bytes (stable golden files, cacheable by clients).
        for schema in root.iter(_XS + "schema"):
            children = sorted(schema, key=lambda e: (_SCHEMA_ORDER.get(e.tag, 9), e.get("name") or ""))
            schema[:] = children
        for part in root.iter(_W + "part"):
            part.set("name", "parameters")
        port_type = root.find(_W + "portType")
        port_type.set("name", name + "Soap")
        # spyne names a part that does not exist (the operation); ASP.NET
        # writes no parameterOrder, and JAX-WS wsimport warns on each one.
        for operation in port_type.iter(_W + "operation"):
            operation.attrib.pop("parameterOrder", None)
        binding11 = root.find(_W + "binding")
        binding11.set("name", name + "Soap")
        binding11.set("type", "tns:%sSoap" % name)
        for op in binding11.iter(_S11 + "operation"):
            op.set("soapAction", "%s/%s" % (namespace, op.get("soapAction")))
        port11 = root.find(_W + "service").find(_W + "port")
        port11.set("name", name + "Soap")
        port11.set("binding", "tns:%sSoap" % name)

        binding12 = copy.deepcopy(binding11)
        binding12.set("name", name + "Soap12")
        for element in binding12.iter():
            if isinstance(element.tag, str) and element.tag.startswith(_S11):
                element.tag = _S12 + element.tag[len(_S11):]
        binding11.addnext(binding12)
        port12 = copy.deepcopy(port11)
        port12.set("name", name + "Soap12")
        port12.set("binding", "tns:%sSoap12" % name)
        port12[0].tag = _S12 + "address"
        port11.addnext(port12)

    return reshape
