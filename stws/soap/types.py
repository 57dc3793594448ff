"""Model types with the shapes ASP.NET's XmlSerializer gives ASMX services.

Value types (int, long, bool, dateTime) are required and non-nillable, so
.NET proxies get plain ``int``/``bool``/``DateTime`` rather than nullable
fields with ``...Specified`` twins; strings and arrays are optional (null is
omitted). ``Integer32``/``Integer64`` give ``xs:int``/``xs:long``; spyne's
plain ``Integer`` would give ``xs:integer``, which .NET maps to ``string``.

Each .asmx has its own target namespace and SmarterTrack declares its
result types (GenericResult, ...) in each of them, so types are made per
namespace by ``TypeFactory`` rather than declared once globally.
"""
from __future__ import annotations

import datetime
import functools

from spyne import Array, Boolean, ByteArray, ComplexModel, DateTime, Integer32, Integer64, Unicode
from spyne.const.xml import DEFAULT_NS

String = Unicode(min_occurs=0, nillable=False)
Int = Integer32(min_occurs=1, nillable=False)
Long = Integer64(min_occurs=1, nillable=False)
Bool = Boolean(min_occurs=1, nillable=False)
# Incoming values without an offset are taken as UTC (the contract's
# parameters are ...UTC); outgoing ones are written with "Z".
When = DateTime(min_occurs=1, nillable=False, as_timezone=datetime.timezone.utc)
Bytes = ByteArray(min_occurs=0, nillable=False)
# ``int?`` in C#: present but possibly xsi:nil.
NullableInt = Integer32(min_occurs=1, nillable=True)


def _string_array() -> type:
    return Array(Unicode(nillable=True), type_name="ArrayOfString").customize(min_occurs=0, nillable=False)


# ``string[]``. ASMX declares ArrayOfString in each service's namespace, so
# its <string> items are in that namespace. This shared declaration is a
# placeholder: every endpoint replaces it with its own namespace's copy
# (``localize_string_arrays``) before spyne resolves any namespace;
# otherwise the first service would own it and every other service would
# import it from there (<string> items in svcOrganization's namespace,
# which .NET clients made from SmarterTrack's WSDL neither send nor read).
ArrayOfString = _string_array()

TRIO = (("Message", String), ("Result", Bool), ("ResultCode", Int))

_local_string_arrays: dict[str, type] = {}


def string_array_of(namespace: str) -> type:
    """The ArrayOfString of one service namespace (one class per namespace)."""
    if namespace not in _local_string_arrays:
        local = _string_array()
        local.__namespace__ = namespace
        _local_string_arrays[namespace] = local
    return _local_string_arrays[namespace]


def localize_string_arrays(service_class, namespace: str) -> None:
    """Replace the shared ``ArrayOfString`` by ``namespace``'s own in the
    parameters, results and (recursively) the complex types of
    ``service_class``. Types of other namespaces are left alone; running it
    again changes nothing."""
    local = string_array_of(namespace)
    seen = set()

    def visit(cls):
        if id(cls) in seen:
            return
        seen.add(id(cls))
        for related in (getattr(cls, "__orig__", None), getattr(cls, "__extends__", None)):
            if related is not None:
                visit(related)
        type_info = getattr(cls, "_type_info", None)
        if not type_info or getattr(cls, "__namespace__", None) not in (None, DEFAULT_NS, namespace):
            return
        for name, kind in list(type_info.items()):
            if kind is ArrayOfString:
                type_info[name] = local
            else:
                visit(kind)

    for method in service_class.public_methods.values():
        visit(method.in_message)
        visit(method.out_message)


def service_namespace(service_name: str) -> str:
    return "http://www.smartertools.com/SmarterTrack/Services2/%s.asmx" % service_name


def _plain_init(self, **values):
    """Set the given fields, the others to None (what spyne's ComplexModel
    constructor does, without its per-field checks for SQLAlchemy-mapped
    and read-only members, which our result types never have: 10 us ->
    0.5 us per AgentInfo). Unknown names are an error, not silently dropped."""
    cls = type(self)
    empty = cls.__dict__.get("_stws_empty")
    if empty is None:
        empty = cls._stws_empty = dict.fromkeys(cls.get_flat_type_info(cls))
    state = empty.copy()
    state.update(values)
    if len(state) != len(empty):
        unknown = sorted(set(values) - set(empty))
        raise TypeError("%s has no field %s" % (cls.__name__, ", ".join(unknown)))
    self.__dict__.update(state)


class TypeFactory:
    """Complex types of one service namespace, each made once and reused."""

    def __init__(self, namespace: str):
        self.namespace = namespace
        self._types: dict[str, type] = {}

    def complex(self, name: str, fields) -> type:
        """A complex type with ``fields`` [(name, type), ...] in wire order."""
        if name in self._types:
            return self._types[name]
        local = string_array_of(self.namespace)
        cls = type(name, (ComplexModel,), {
            "__namespace__": self.namespace,
            "__type_name__": name,
            "__init__": _plain_init,
            "_type_info": [(field, local if kind is ArrayOfString else kind) for field, kind in fields],
        })
        self._types[name] = cls
        return cls

    def payload(self, cls):
        """``cls`` as the single-object payload of a result (TicketInfoResult.Ticket):
        required (minOccurs=1), as SmarterTrack's WSDL declares its own. A WCF
        DataContract proxy ([DataMember(IsRequired=true)]) throws on an answer
        without it, so it is written on failure too, with the .NET default
        values of its members (stws.soap.operation.value_type_defaults)."""
        return cls.customize(min_occurs=1, nillable=False)

    def array_of(self, cls) -> type:
        name = "ArrayOf" + cls.get_type_name()
        if name not in self._types:
            self._types[name] = Array(cls, type_name=name).customize(min_occurs=0, nillable=False)
        return self._types[name]

    def result(self, name: str, **payload) -> type:
        """A ``...Result`` type: the Message/Result/ResultCode trio plus a
        payload, in ordinal alphabetical order as ASMX writes them."""
        fields = dict(TRIO)
        fields.update(payload)
        return self.complex(name, sorted(fields.items(), key=lambda item: item[0]))

    def result_in_order(self, name: str, fields) -> type:
        """A result type whose wire order is not alphabetical (fields appended
        in later product versions); ``fields`` must include the trio."""
        return self.complex(name, fields)

    @functools.cached_property
    def GenericResult(self) -> type:
        return self.result("GenericResult")

    @functools.cached_property
    def StringRequestResult(self) -> type:
        return self.result("StringRequestResult", RequestResult=String)

    @functools.cached_property
    def IntRequestResult(self) -> type:
        return self.result("IntRequestResult", RequestResult=Int)

    @functools.cached_property
    def SettingsRequestResult(self) -> type:
        return self.result("SettingsRequestResult", RequestResults=string_array_of(self.namespace))
