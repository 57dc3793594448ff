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


class NotWritable(Exception):
    """A response this module leaves to spyne."""


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
        return value.astimezone(datetime.timezone.utc).replace(tzinfo=None).isoformat() + "Z"
    return value.isoformat()


def _string_text(value) -> str:
    return escape_text(value if type(value) is str else str(value))


def _int_text(value) -> str:
    return str(int(value))


def _bool_text(value) -> str:
    return "true" if value else "false"


_SIMPLE = ((Boolean, _bool_text), (Integer, _int_text), (DateTime, datetime_text), (Unicode, _string_text))


def _simple_formatter(kind):
    for base, formatter in _SIMPLE:
        if issubclass(kind, base):
            return formatter
    return None


def _fields(cls):
    """(name, type) of a complex type in wire order, inherited ones first."""
    chain = []
    while cls is not None and issubclass(cls, ComplexModelBase):
        chain.append(cls)
        cls = getattr(cls, "__extends__", None)
    fields = []
    for klass in reversed(chain):
        fields.extend(klass._type_info.items())
    return fields


def _is_array(kind) -> bool:
    return issubclass(kind, Array)


class _Compiler:
    """Generates the writer functions of the complex types one response
    needs, as source text compiled once."""

    def __init__(self, namespace: str):
        self.namespace = namespace
        self.lines: list[str] = []
        self.names: dict[type, str] = {}
        # The envelope declares the xsi prefix.
        self.globals: dict[str, object] = {"_nil": ' xsi:nil="true"/>'}

    def function_for(self, cls) -> str:
        if cls in self.names:
            return self.names[cls]
        if cls.get_namespace() != self.namespace:
            raise NotWritable("%s is in namespace %s" % (cls.__name__, cls.get_namespace()))
        name = "_write_%d" % len(self.names)
        self.names[cls] = name
        body = []
        for field, kind in _fields(cls):
            body.extend(self._field(field, kind))
        self.lines.append("def %s(o, out):" % name)
        self.lines.extend("    " + line for line in body or ["pass"])
        return name

    def _field(self, field: str, kind) -> list[str]:
        attributes = kind.Attributes
        if getattr(attributes, "exc", False):
            return []
        if attributes.sub_name not in (None, field) or attributes.sub_ns is not None:
            raise NotWritable("renamed field %s" % field)
        if attributes.max_occurs > 1:
            raise NotWritable("repeated field %s" % field)
        lines = ["v = getattr(o, %r, None)" % field]
        default = getattr(attributes, "default", None)
        if default is not None:
            self.globals["_default_%s" % field] = default
            lines.append("if v is None: v = _default_%s" % field)
        absent = self._absent(field, attributes)
        present = self._present(field, kind)
        if absent:
            lines.append("if v is None:")
            lines.extend("    " + line for line in absent)
            lines.append("else:")
            lines.extend("    " + line for line in present)
        else:
            lines.append("if v is not None:")
            lines.extend("    " + line for line in present)
        return lines

    @staticmethod
    def _absent(field: str, attributes) -> list[str]:
        # spyne leaves out a null optional field and writes a required one as nil.
        if attributes.min_occurs > 0:
            return ["out.append('<%s' + _nil)" % field]
        return []

    def _present(self, field: str, kind) -> list[str]:
        open_tag, close_tag = "<%s>" % field, "</%s>" % field
        formatter = _simple_formatter(kind)
        if formatter is not None:
            key = "_fmt_%s" % formatter.__name__.strip("_")
            self.globals[key] = formatter
            return ["out.append(%r + %s(v) + %r)" % (open_tag, key, close_tag)]
        if _is_array(kind):
            return self._array(field, kind)
        if issubclass(kind, ComplexModelBase):
            writer = self.function_for(kind)
            return ["out.append(%r)" % open_tag, "%s(v, out)" % writer, "out.append(%r)" % close_tag]
        raise NotWritable("type %s of field %s" % (kind.__name__, field))

    def _array(self, field: str, kind) -> list[str]:
        if kind.get_namespace() != self.namespace:
            raise NotWritable("array %s is in namespace %s" % (kind.__name__, kind.get_namespace()))
        ((item_name, item_kind),) = kind._type_info.items()
        item_attributes = item_kind.Attributes
        if item_attributes.sub_name not in (None, item_name) or item_attributes.sub_ns is not None:
            raise NotWritable("renamed array item %s" % item_name)
        open_item, close_item = "<%s>" % item_name, "</%s>" % item_name
        formatter = _simple_formatter(item_kind)
        if formatter is not None:
            key = "_fmt_%s" % formatter.__name__.strip("_")
            self.globals[key] = formatter
            write_item = ["out.append(%r + %s(item) + %r)" % (open_item, key, close_item)]
        elif issubclass(item_kind, ComplexModelBase) and not _is_array(item_kind):
            writer = self.function_for(item_kind)
            write_item = ["out.append(%r)" % open_item, "%s(item, out)" % writer, "out.append(%r)" % close_item]
        else:
            raise NotWritable("array item type %s" % item_kind.__name__)
        # Null items: spyne writes them as nil, whatever the item's minOccurs.
        return (
            ["out.append(%r)" % ("<%s>" % field), "for item in v:",
             "    if item is None:", "        out.append('<%s' + _nil)" % item_name, "    else:"]
            + ["        " + line for line in write_item]
            + ["out.append(%r)" % ("</%s>" % field)]
        )

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

    def body(self, values) -> str:
        """``values`` are the operation's return values in field order (what
        spyne has in ``ctx.out_object``)."""
        message = SimpleNamespace(**dict(zip(self.fields, values)))
        out = ['<%s xmlns="%s">' % (self.element, self.namespace)]
        self._write(message, out)
        out.append("</%s>" % self.element)
        text = "".join(out)
        if _NOT_XML.search(text):
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
