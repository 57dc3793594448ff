"""stws.soap.writer writes the same responses spyne would.

For every operation of every service, a response filled with awkward
values (markup characters, carriage returns, non-ASCII, datetimes with and
without zones, empty and null arrays, null items and null optional
fields) is serialized twice: by spyne's own Soap11/Soap12 serializer and
through our protocol classes, which hand it to the writer. The two
documents must hold the same elements, attributes and text (prefixes may
differ: spyne writes ``tns:``, the writer a default namespace as ASMX does).
"""
from __future__ import annotations

import datetime

import pytest
from lxml import etree
from spyne import Array, Boolean, ComplexModelBase, DateTime, Integer, MethodContext, Unicode
from spyne.server import ServerBase

from stws.services import SERVICES
from stws.soap import endpoint as endpoint_module
from stws.soap.writer import _NOT_XML, ITEM_XML, RenderedItems, RenderedOnce, holds_non_xml, shared_item, writer_for

AWKWARD = 'a & b < c > "d" \'e\'\r\nline two\ttab é ✓ 𝄞'
ZONE = datetime.timezone(datetime.timedelta(hours=-5, minutes=-30))


def sample(kind, variant: int):
    """A value of ``kind``; variants differ in which values are null/empty."""
    if issubclass(kind, Boolean):
        return variant % 2 == 0
    if issubclass(kind, Integer):
        return [42, -7, 0][variant % 3]
    if issubclass(kind, DateTime):
        return [datetime.datetime(2026, 11, 27, 13, 5, 9, 123456, tzinfo=ZONE),
                datetime.datetime(1, 1, 1, tzinfo=datetime.timezone.utc),
                datetime.datetime(2024, 2, 29, 23, 59, 59)][variant % 3]
    if issubclass(kind, Unicode):
        return [AWKWARD, "", None][variant % 3]
    if issubclass(kind, Array):
        ((_, item_kind),) = kind._type_info.items()
        if variant == 1:
            return []
        if variant == 2:
            return None
        items = [sample(item_kind, 0), sample(item_kind, 1)]
        if issubclass(item_kind, Unicode):
            items.append(None)
        return items
    if issubclass(kind, ComplexModelBase):
        if variant == 2 and kind.Attributes.min_occurs == 0:
            return None
        values = {}
        for name, field_kind in kind.get_flat_type_info(kind).items():
            value = sample(field_kind, variant)
            if value is not None or field_kind.Attributes.min_occurs > 0:
                values[name] = value
        return (getattr(kind, "__orig__", None) or kind)(**values)
    raise AssertionError("no sample for %r" % kind)


def canonical(element):
    return (
        element.tag,
        sorted(element.attrib.items()),
        element.text or "",
        [canonical(child) for child in element],
    )


def serialize(endpoint_app, method, values, through_writer: bool) -> bytes:
    protocol = endpoint_app.out_protocol
    ctx = MethodContext(ServerBase(endpoint_app), MethodContext.SERVER)
    ctx.descriptor = method
    ctx.out_object = values
    if through_writer:
        protocol.serialize(ctx, protocol.RESPONSE)
        protocol.create_out_string(ctx)
    else:
        spyne_class = type(protocol).__mro__[2]  # Soap11 / Soap12 (after our mixin)
        spyne_class.serialize(protocol, ctx, protocol.RESPONSE)
        spyne_class.create_out_string(protocol, ctx)
    return b"".join(ctx.out_string)


def operations():
    for service_class in SERVICES:
        for name in sorted(service_class.public_methods):
            yield pytest.param(service_class, name, id="%s.%s" % (service_class.__service_name__, name))


@pytest.mark.parametrize("service_class, operation_name", list(operations()))
def test_writer_output_equals_spyne_output(offline_endpoints, service_class, operation_name):
    endpoint = offline_endpoints[service_class]
    method = service_class.public_methods[operation_name]
    writer = writer_for(method.out_message)
    assert writer is not None, "spyne would serialize %s: a result type the writer does not know" % operation_name
    ((_, result_kind),) = method.out_message._type_info.items()
    for app in (endpoint._soap11, endpoint._soap12):
        descriptor = app.interface.service_method_map["{%s}%s" % (endpoint.namespace, operation_name)][0]
        for variant in range(3):
            values = [sample(result_kind, variant)]
            ours = serialize(app, descriptor, values, through_writer=True)
            theirs = serialize(app, descriptor, values, through_writer=False)
            assert ours != theirs, "the writer did not run"  # spyne writes tns: prefixes
            assert canonical(etree.fromstring(ours)) == canonical(etree.fromstring(theirs)), (ours, theirs)


def test_control_characters_are_left_to_spyne(offline_endpoints):
    """A value XML cannot carry takes spyne's path (and its error), not a
    malformed response."""
    service_class = SERVICES[0]
    endpoint = offline_endpoints[service_class]
    app = endpoint._soap11
    name = next(n for n, m in sorted(service_class.public_methods.items())
                if any(issubclass(k, Unicode) for k in m.out_message._type_info.values())
                or "Message" in m.out_message._type_info[next(iter(m.out_message._type_info))]._type_info)
    descriptor = app.interface.service_method_map["{%s}%s" % (endpoint.namespace, name)][0]
    ((_, result_kind),) = descriptor.out_message._type_info.items()
    result = sample(result_kind, 1)
    result.Message = "bell \x07"
    with pytest.raises(ValueError, match="XML compatible"):
        serialize(app, descriptor, [result], through_writer=True)
    assert endpoint_module._PrebuiltEnvelope is not None


def test_the_quick_check_for_characters_xml_cannot_carry_agrees_with_the_pattern():
    """holds_non_xml's ASCII path says what _NOT_XML says, for every code
    point alone and inside ASCII and non-ASCII text."""
    for code in range(0x110000):
        character = chr(code)
        expected = _NOT_XML.search(character) is not None
        assert holds_non_xml(character) is expected, hex(code)
        if code < 0x80:
            assert holds_non_xml("<a>%s</a>" % character) is expected, hex(code)
            assert holds_non_xml("é%s" % character) is expected, hex(code)
    assert not holds_non_xml("") and not holds_non_xml(AWKWARD)


def _sample_result(offline_endpoints, service_name: str, operation: str):
    """(SOAP 1.1 application, the operation's descriptor, a sample of its result)."""
    service_class = next(s for s in SERVICES if s.__service_name__ == service_name)
    endpoint = offline_endpoints[service_class]
    app = endpoint._soap11
    descriptor = app.interface.service_method_map["{%s}%s" % (endpoint.namespace, operation)][0]
    ((_, result_kind),) = descriptor.out_message._type_info.items()
    return app, descriptor, sample(result_kind, 0)


def test_rendered_once_arrays_are_written_once_and_alike(offline_endpoints):
    """A RenderedOnce listing gives the XML a list of the same items gives,
    and its text is kept for the next response."""
    app, descriptor, result = _sample_result(offline_endpoints, "svcOrganization", "GetAllAgents")
    plain = serialize(app, descriptor, [result], through_writer=True)
    result.Agents = RenderedOnce(result.Agents)
    assert serialize(app, descriptor, [result], through_writer=True) == plain
    assert len(result.Agents.xml) == 1
    # The kept text is what is written: the items are not looked at again.
    (key,) = result.Agents.xml
    result.Agents.xml[key] = "<Agents/>"
    assert b"<Agents/>" in serialize(app, descriptor, [result], through_writer=True)


def test_rendered_items_are_each_written_once_and_alike(offline_endpoints):
    """RenderedItems gives the XML a list of the same items gives, keeps
    each item's text on the item, and writes the kept text after; a value
    XML cannot carry is still left to spyne."""
    app, descriptor, result = _sample_result(offline_endpoints, "svcTickets", "GetTicketsBySearch")
    plain = serialize(app, descriptor, [result], through_writer=True)
    result.Tickets = RenderedItems(shared_item(item) for item in result.Tickets)
    assert serialize(app, descriptor, [result], through_writer=True) == plain
    first = result.Tickets[0]
    (key,) = getattr(first, ITEM_XML)
    getattr(first, ITEM_XML)[key] = "<TicketInfo/>"
    assert b"<TicketInfo/>" in serialize(app, descriptor, [result], through_writer=True)
    # An item holding a value XML cannot carry sends every response it is in to spyne.
    result.Tickets.append(shared_item(_sample_result(offline_endpoints, "svcTickets", "GetTicketsBySearch")[2].Tickets[0]))
    result.Tickets[-1].Subject = "bell \x07"
    for _ in range(2):
        with pytest.raises(ValueError, match="XML compatible"):
            serialize(app, descriptor, [result], through_writer=True)


def missing_required(element, kind, path: str) -> list[str]:
    """The required members of ``kind`` (minOccurs 1) that ``element`` lacks
    or holds as xsi:nil, recursively; [] when all are there."""
    missing = []
    for name, field_kind in kind.get_flat_type_info(kind).items():
        if field_kind.Attributes.min_occurs < 1:
            continue
        child = element.find("{%s}%s" % (element.tag.partition("}")[0][1:], name))
        if child is None or child.get("{http://www.w3.org/2001/XMLSchema-instance}nil") is not None:
            missing.append(path + "." + name)
        elif issubclass(field_kind, ComplexModelBase) and not issubclass(field_kind, Array):
            missing.extend(missing_required(child, field_kind, path + "." + name))
    return missing


@pytest.mark.parametrize("service_class, operation_name", list(operations()))
def test_failure_answers_carry_every_required_member(offline_endpoints, service_class, operation_name):
    """A Result=false answer holds every member its type declares required,
    nested ones included (TicketInfoResult.Ticket and its value types), so
    that .NET proxies (XmlSerializer, or WCF DataContract with
    IsRequired=true members) can read it."""
    from stws.errors import NotFound
    from stws.soap.operation import failed_result

    endpoint = offline_endpoints[service_class]
    method = service_class.public_methods[operation_name]
    binding = method.function.stws_spec
    ((_, result_kind),) = method.out_message._type_info.items()
    result = failed_result(binding, NotFound("No such thing."))
    for app in (endpoint._soap11, endpoint._soap12):
        descriptor = app.interface.service_method_map["{%s}%s" % (endpoint.namespace, operation_name)][0]
        for through_writer in (True, False):
            document = etree.fromstring(serialize(app, descriptor, [result], through_writer))
            (answer,) = document.iter("{%s}%sResult" % (endpoint.namespace, operation_name))
            assert missing_required(answer, result_kind, operation_name + "Result") == []
