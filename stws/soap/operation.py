"""SOAP bindings of operations: the SOAP front door of ``stws.operations``.

A binding turns SOAP arguments into a run of an operation and its outcome
into the contract's result type::

    @binds(diagnostics.start_thread, ("threadName", String), returns=T.GenericResult)
    def StartThread(message):
        return {"Message": message}

The decorated function is named as the SOAP operation and maps what the
operation returned to the result's payload (wire names). ``binds`` prepends
``authUserName``/``authPassword`` (or the spelling the contract uses),
authenticates the caller with them (stws.operations.runner), runs the
operation and builds the result: the payload in a ``Result=true`` result; an
``OperationError`` becomes ``Result=false`` with its ``ResultCode`` and
``Message``. Anything else is a bug: it is written to the error log with a
reference, and the client gets a SOAP Server fault carrying only that
reference.
"""
from __future__ import annotations

import datetime
import functools
from dataclasses import dataclass

from spyne import Array, Boolean, ComplexModelBase, DateTime, Decimal, Fault, rpc

from stws.errors import OperationError, ResultCode
from stws.logs import log_internal_error
from stws.operations import runner
from stws.operations.runner import OperationSpec, PasswordCredentials
from stws.soap.types import String

# .NET's DateTime.MinValue: what ASMX writes for a DateTime nobody set.
DOTNET_MIN_DATETIME = datetime.datetime(1, 1, 1, tzinfo=datetime.timezone.utc)

__all__ = ["binds", "invoke", "log_internal_error", "SoapBinding", "assemble_service"]


@dataclass(frozen=True)
class SoapBinding:
    name: str  # the SOAP operation's name
    operation: OperationSpec
    returns: type
    to_payload: object  # what the operation returned -> payload dict (or a result instance)
    on_failure: object = None

    # What the hosting and the reader need to know of the operation.
    @property
    def writes(self) -> bool:
        return self.operation.writes

    @property
    def slow(self) -> bool:
        return self.operation.slow

    @property
    def prepare(self):
        return self.operation.prepare


def binds(spec: OperationSpec, *params, returns, auth_user_param="authUserName", on_failure=None):
    """Bind ``spec`` as the SOAP operation the decorated function names; see
    the module docstring.

    ``on_failure(error)`` builds the result of a failed call for result types
    without the Result/ResultCode/Message trio (IsAvailableResult).
    """

    def decorate(to_payload):
        names = [auth_user_param, "authPassword"] + [name for name, _ in params]
        types = [String, String] + [kind for _, kind in params]
        binding = SoapBinding(to_payload.__name__, spec, returns, to_payload, on_failure)

        def soap_entry(ctx, user, password, *args):
            return invoke(binding, ctx.app.stws_runtime, user, password, args)

        soap_entry.__name__ = to_payload.__name__
        soap_entry.__doc__ = to_payload.__doc__ or spec.body.__doc__
        soap_entry.stws_spec = binding
        # The <OpResult> element as ASMX declares it: minOccurs=0, not
        # nillable (spyne's default nillable=true makes wsdl.exe proxies carry
        # [return: XmlElement(IsNullable=true)] and svcutil a different DataMember).
        result = returns.customize(min_occurs=0, nillable=False)
        explained = rpc(*types, _args=names, _returns=result)(soap_entry)
        explained.stws_spec = binding
        return explained

    return decorate


def invoke(binding: SoapBinding, runtime, user: str, password: str, args):
    """Run the bound operation for the caller whose credentials came with
    the request; its result type."""
    try:
        outcome = runner.call(runtime, binding.operation, PasswordCredentials(user, password), args)
        payload = binding.to_payload(outcome)
    except OperationError as failure:
        return failed_result(binding, failure)
    except Fault:
        raise
    except Exception:
        raise Fault("Server", log_internal_error("operation %s failed" % binding.name))
    return succeeded_result(binding.returns, payload)


def succeeded_result(returns: type, outcome):
    if isinstance(outcome, returns):
        return outcome
    payload = dict(value_type_defaults(returns))
    payload.update(outcome or {})
    payload.setdefault("Message", "")
    return returns(Result=True, ResultCode=int(ResultCode.OK), **payload)


def failed_result(binding: SoapBinding, failure: OperationError):
    if binding.on_failure is not None:
        return binding.on_failure(failure)
    return binding.returns(Result=False, ResultCode=int(failure.code), Message=failure.message,
                           **value_type_defaults(binding.returns))


@functools.lru_cache(maxsize=None)
def value_type_defaults(returns: type) -> dict:
    """The required fields of a result type (RequestResult of
    IntRequestResult, Ticket of TicketInfoResult, ...) with the .NET default
    values ASMX writes for them: 0, false, 0001-01-01T00:00:00, and for a
    required complex member an instance with those defaults in its own
    required members (its strings and arrays stay absent, as null ones are).

    spyne writes a missing one as xsi:nil="true" even when the schema says it
    is not nillable; .NET clients then fail on every Result=false answer
    (XmlSerializer: "Input string was not in a correct format"; WCF:
    "ValueType 'System.Int32' cannot be null", or a SerializationException
    for a DataMember(IsRequired=true) payload). The values are shared by
    every answer, never changed.
    """
    defaults = {}
    for name, kind in returns.get_flat_type_info(returns).items():
        if name in ("Result", "ResultCode"):
            continue
        value = _dotnet_default(kind)
        if value is not None:
            defaults[name] = value
    return defaults


def _dotnet_default(kind):
    """What .NET has in a required member of ``kind`` it was given no value
    for; None for optional or nillable members and for strings and arrays."""
    if kind.Attributes.min_occurs < 1 or kind.Attributes.nillable:
        return None
    if issubclass(kind, Boolean):
        return False
    if issubclass(kind, Decimal):
        return 0
    if issubclass(kind, DateTime):
        return DOTNET_MIN_DATETIME
    if issubclass(kind, ComplexModelBase) and not issubclass(kind, Array):
        return (getattr(kind, "__orig__", None) or kind)(**value_type_defaults(kind))
    return None


def assemble_service(name: str, modules, order=None):
    """One spyne service named ``name`` from the ``@operation`` functions
    defined in ``modules`` (a large service is written in several modules).

    ``order`` lists the operation names in contract order; operations
    outside it are refused. Without it, operations are sorted by name.
    """
    from spyne import ServiceBase

    found = {}
    for module in modules:
        for attribute, value in vars(module).items():
            # isinstance, not hasattr: some imported objects (sqlalchemy.func)
            # answer to any attribute name.
            if isinstance(getattr(value, "stws_spec", None), SoapBinding):
                if attribute in found:
                    raise RuntimeError("operation %s is defined twice" % attribute)
                found[attribute] = value
    if order is None:
        ordered = dict(sorted(found.items()))
    else:
        unknown = set(found) - set(order)
        if unknown:
            raise RuntimeError("operations outside the %s contract: %s" % (name, ", ".join(sorted(unknown))))
        ordered = {op: found[op] for op in order if op in found}
    return type(name[0].upper() + name[1:] + "Service", (ServiceBase,), {
        "__service_name__": name, "__module__": modules[0].__name__, **ordered,
    })
