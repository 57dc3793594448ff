"""Response bodies written straight to text, for the result types we declare.

spyne serializes a response element by element through generic dispatch
(class attributes looked up, a handler chosen, an lxml element made) for
every field: about 10 us per field. GetAllAgents with 50 agents spent half
its server time there, GetTicketsBySearch with 75 tickets 40 %
(bench/soap_throughput.py --profile c).

Our result types are small and fixed: complex types of strings, ints, longs,
booleans and UTC datetimes, arrays of those, all in the service's namespace.
For each operation's response message this module generates one Python
function per complex type (plain attribute reads and string concatenation,
no dispatch at run time) that writes the same XML spyne would: same element
names, order and namespace, optional nulls omitted, required nulls as
``xsi:nil``, the same text for every value. tests/test_response_writer.py
checks the output equals spyne's for every result type of every service.

A type outside that set (anywhere in a response) leaves the operation to
spyne, and so does a value that cannot be written as XML 1.0 (a control
character), so errors stay what spyne makes of them.
"""
from __future__ import annotations

import datetime
import re
from types import SimpleNamespace

from spyne import Array, Boolean, ComplexModelBase, DateTime, Integer, Unicode

XSI = "http://www.w3.org/2001/XMLSchema-instance"

# Characters XML 1.0 cannot carry (and lone surrogates, which UTF-8 cannot).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
# The ASCII characters it can: tab, line feed, carriage return and 0x20-0x7f.
_XML_ASCII = bytes([0x09, 0x0a, 0x0d, *range(0x20, 0x80)])


def holds_non_xml(text: str) -> bool:
    """Whether ``text`` holds a character ``_NOT_XML`` matches.

    The regular expression scans about 35 ns per character (its class
    spans the surrogates, which puts sre on its slow path): 50-70 us for
    the 1.5 KB of GetTicketPropertiesList, a tenth of the call. Most
    responses are ASCII, and for those deleting the allowed bytes and
    seeing whether any are left is a C loop over the bytes, 5-10 times
    faster."""
    if text.isascii():
        return bool(text.encode("ascii").translate(None, _XML_ASCII))
    return _NOT_XML.search(text) is not None


class NotWritable(Exception):
    """A response this module leaves to spyne."""


class RenderedOnce(tuple):
    """An array value that never changes once made (a cached listing shared
    by many calls, stws.domain.directory): the writer keeps the XML it
    writes for it on the value and reuses it. 50 AgentInfo cost about
    140 us to write and nothing the second time."""

    def __new__(cls, items=()):
        value = super().__new__(cls, items)
        value.xml = {}  # "namespace field item" -> text (equal texts if two threads race)
        return value


class RenderedItems(list):
    """An array value whose items are shared between calls and never change
    once made (stws.services.tickets.convert keeps the TicketInfo of each
    ticket row it saw): the writer keeps each item's XML on the item, in
    the dict ``shared_item`` gave it, and reuses it. A TicketInfo costs
    about 6 us to write."""


ITEM_XML = "_stws_xml"


def shared_item(value):
    """``value`` (a result object), ready to be an item of RenderedItems."""
    value.__dict__[ITEM_XML] = {}  # "namespace item" -> text (equal texts if two threads race)
    return value


def escape_text(value: str) -> str:
    """Element text as lxml writes it (``\\r`` as a character reference, so
    it survives the reader's line-end normalisation)."""
    if "&" in value:
        value = value.replace("&", "&amp;")
    if "<" in value:
        value = value.replace("<", "&lt;")
    if ">" in value:
        value = value.replace(">", "&gt;")
    if "\r" in value:
        value = value.replace("\r", "&#13;")
    return value


def datetime_text(value) -> str:
    """A DateTime field's text: UTC with 'Z' when the value has a zone
    (.NET reads it as DateTimeKind.Utc), as written otherwise."""
    if isinstance(value, datetime.datetime) and value.tzinfo is not None:
        if value.tzinfo is not datetime.timezone.utc:  # what the database gives needs no conversion
            value = value.astimezone(datetime.timezone.utc)
        return value.isoformat()[:-6] + "Z"  # less its "+00:00" (no datetime copied without the zone)
    return value.isoformat()


def _string_text(value) -> str:
    return escape_text(value if type(value) is str else str(value))


# How the generated code writes a simple field held in ``{v}``, its tags
# included: one expression of one operation (a constant, or a %-format of
# the tags around the value), so a field costs one string, not three
# concatenated ones.
_SIMPLE = (
    (Boolean, "({true!r} if {v} else {false!r})"),
    (Integer, "{around_int!r} % {v}"),
    (DateTime, "{around!r} % _datetime({v})"),
    (Unicode, "{around!r} % _string({v})"),
)


def _simple_element(kind, variable: str, open_tag: str, close_tag: str) -> str | None:
    for base, template in _SIMPLE:
        if issubclass(kind, base):
            return template.format(v=variable, true=open_tag + "true" + close_tag,
                                   false=open_tag + "false" + close_tag, around_int=open_tag + "%d" + close_tag,
                                   around=open_tag + "%s" + close_tag)
    return None


def _appended(expressions: list[str]) -> str:
    """The statement appending ``expressions`` to ``out`` (in one call, and
    without concatenating them: the response is joined once at the end)."""
    if len(expressions) == 1:
        return "out.append(%s)" % expressions[0]
    return "out.extend((%s))" % ", ".join(expressions)


def _fields(cls):
    """(name, type) of a complex type in wire order, inherited ones first."""
    return cls.get_flat_type_info(cls).items()


def _is_array(kind) -> bool:
    return issubclass(kind, Array)


class _Compiler:
    """Generates the writer functions of the complex types one response
    needs, as source text compiled once.

    ``_write_N(o, out, head, tail)`` appends ``head``, the fields of ``o``
    and ``tail`` to ``out``; the enclosing element's tags come in as
    ``head``/``tail`` so that a run of simple fields is one append.
    """

    def __init__(self, namespace: str):
        self.namespace = namespace
        self.lines: list[str] = []
        self.names: dict[type, str] = {}
        self.arrays: list[str] = []
        self.globals: dict[str, object] = {"_string": _string_text, "_datetime": datetime_text,
                                           "_RenderedOnce": RenderedOnce, "_RenderedItems": RenderedItems}

    def function_for(self, cls) -> str:
        if cls in self.names:
            return self.names[cls]
        if cls.get_namespace() != self.namespace:
            raise NotWritable("%s is in namespace %s" % (cls.__name__, cls.get_namespace()))
        name = "_write_%d" % len(self.names)
        self.names[cls] = name
        body, run = [], ["head"]  # run: expressions not appended yet
        for index, (field, kind) in enumerate(_fields(cls)):
            variable = "v%d" % index
            field_code = self._field(field, kind, variable)
            if field_code is None:
                continue
            reads, expression, statements = field_code
            body.extend(reads)
            if expression is not None:
                run.append(expression)
                continue
            if run:
                body.append(_appended(run))
                run = []
            body.extend(statements)
        run.append("tail")
        body.append(_appended(run))
        self.lines.append("def %s(o, out, head, tail):" % name)
        self.lines.extend("    " + line for line in body)
        return name

    def _field(self, field: str, kind, variable: str):
        """How one field is written: (statements reading it into ``variable``,
        an expression for a simple field or None, statements otherwise);
        None for a field that is never written."""
        attributes = kind.Attributes
        if getattr(attributes, "exc", False):
            return None
        if attributes.sub_name not in (None, field) or attributes.sub_ns is not None:
            raise NotWritable("renamed field %s" % field)
        if attributes.max_occurs > 1:
            raise NotWritable("repeated field %s" % field)
        reads = ["%s = getattr(o, %r, None)" % (variable, field)]
        default = getattr(attributes, "default", None)
        if default is not None:
            self.globals["_default_%s" % variable] = default
            reads.append("if %s is None: %s = _default_%s" % (variable, variable, variable))
        # spyne leaves out a null optional field and writes a required one as nil.
        absent = '<%s xsi:nil="true"/>' % field if attributes.min_occurs > 0 else ""
        open_tag, close_tag = "<%s>" % field, "</%s>" % field
        simple = _simple_element(kind, variable, open_tag, close_tag)
        if simple is not None:
            return reads, "(%r if %s is None else %s)" % (absent, variable, simple), None
        if _is_array(kind):
            present = self._array(field, kind, variable)
        elif issubclass(kind, ComplexModelBase):
            present = ["%s(%s, out, %r, %r)" % (self.function_for(kind), variable, open_tag, close_tag)]
        else:
            raise NotWritable("type %s of field %s" % (kind.__name__, field))
        statements = ["if %s is None:" % variable, "    out.append(%r)" % absent, "else:"]
        return reads, None, statements + ["    " + line for line in present]

    def _array(self, field: str, kind, variable: str) -> list[str]:
        if kind.get_namespace() != self.namespace:
            raise NotWritable("array %s is in namespace %s" % (kind.__name__, kind.get_namespace()))
        ((item_name, item_kind),) = kind._type_info.items()
        item_attributes = item_kind.Attributes
        if item_attributes.sub_name not in (None, item_name) or item_attributes.sub_ns is not None:
            raise NotWritable("renamed array item %s" % item_name)
        open_item, close_item = "<%s>" % item_name, "</%s>" % item_name
        simple = _simple_element(item_kind, "item", open_item, close_item)
        shared_items = None
        if simple is not None:
            write_item = "out.append(%s)" % simple
        elif issubclass(item_kind, ComplexModelBase) and not _is_array(item_kind):
            write_item = "%s(item, out, %r, %r)" % (self.function_for(item_kind), open_item, close_item)
            item_key = "%s %s" % (self.namespace, item_name)
            shared_items = [
                "text = item.%s.get(%r)" % (ITEM_XML, item_key),
                "if text is None:",
                "    text = []",
                "    %s(item, text, %r, %r)" % (self.function_for(item_kind), open_item, close_item),
                "    text = item.%s[%r] = ''.join(text)" % (ITEM_XML, item_key),
                "out.append(text)",
            ]
        else:
            raise NotWritable("array item type %s" % item_kind.__name__)
        # Null items: spyne writes them as nil, whatever the item's minOccurs.
        writer = "_array_%d" % len(self.arrays)
        self.arrays.append(writer)
        # What the text depends on besides the items themselves.
        memo_key = "%s %s %s" % (self.namespace, field, item_name)
        for name, write in ((writer, [write_item]), (writer + "_shared", shared_items)):
            if write is None:
                continue
            self.lines.extend([
                "def %s(v, out):" % name,
                "    out.append(%r)" % ("<%s>" % field),
                "    for item in v:",
                "        if item is None:",
                "            out.append(%r)" % ('<%s xsi:nil="true"/>' % item_name),
                "        else:",
                *("            " + line for line in write),
                "    out.append(%r)" % ("</%s>" % field),
            ])
        shared = [] if shared_items is None else [
            "elif %s.__class__ is _RenderedItems:" % variable,
            "    %s_shared(%s, out)" % (writer, variable),
        ]
        return [
            "if %s.__class__ is _RenderedOnce:" % variable,
            "    text = %s.xml.get(%r)" % (variable, memo_key),
            "    if text is None:",
            "        text = []",
            "        %s(%s, text)" % (writer, variable),
            "        text = %s.xml[%r] = ''.join(text)" % (variable, memo_key),
            "    out.append(text)",
            *shared,
            "else:",
            "    %s(%s, out)" % (writer, variable),
        ]

    def build(self, cls):
        entry = self.function_for(cls)
        namespace = dict(self.globals)
        exec(compile("\n".join(self.lines), "<stws response writer %s>" % cls.__name__, "exec"), namespace)
        return namespace[entry]


class ResponseWriter:
    """The body of one operation's response (the wrapped ``<OpResponse>``
    element), or NotWritable at build time when spyne has to do it."""

    def __init__(self, message_class):
        self.namespace = message_class.get_namespace()
        self.element = message_class.get_type_name()
        self.fields = [name for name, _ in _fields(message_class)]
        self._write = _Compiler(self.namespace).build(message_class)
        self._head = '<%s xmlns="%s">' % (self.element, self.namespace)
        self._tail = "</%s>" % self.element

    def body(self, values) -> str:
        """``values`` are the operation's return values in field order (what
        spyne has in ``ctx.out_object``)."""
        message = SimpleNamespace(**dict(zip(self.fields, values)))
        out = []
        self._write(message, out, self._head, self._tail)
        text = "".join(out)
        if holds_non_xml(text):
            raise NotWritable("a value holds a character XML cannot carry")
        return text


_writers: dict[type, ResponseWriter | None] = {}


def writer_for(message_class) -> ResponseWriter | None:
    """The cached writer of a response message class; None when spyne must
    write it."""
    try:
        return _writers[message_class]
    except KeyError:
        pass
    try:
        writer = ResponseWriter(message_class)
    except NotWritable:
        writer = None
    _writers[message_class] = writer
    return writer
