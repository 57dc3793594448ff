"""The ``operation`` decorator: one SOAP operation = auth + role + one transaction.

A service method is written as::

    @operation(("groupId", Int), returns=T.AgentInfoArrayResult, role=roles.AGENT, writes=False)
    def GetAgentsForGroup(call, groupId):
        return {"Agents": organization.agents_of_group(call, groupId)}

The decorator prepends ``authUserName``/``authPassword`` (or the spelling the
contract uses), authenticates the caller, checks the role, runs the body in
one database transaction and turns the outcome into the result type:
a returned dict becomes the payload of a ``Result=true`` result; an
``OperationError`` rolls the transaction back and becomes ``Result=false``
with its ``ResultCode`` and ``Message``. Anything else is a bug: it is
written to the error log with a reference, and the client gets a SOAP
Server fault carrying only that reference.
"""
from __future__ import annotations

import datetime
import functools
import logging
import uuid
from dataclasses import dataclass

from spyne import Boolean, DateTime, Decimal, Fault, rpc

from stws.domain.errors import AuthenticationFailed, OperationError, PermissionDenied, ResultCode
from stws.security import heartbeat
from stws.soap.types import String

error_log = logging.getLogger("stws.error")


class Call:
    """What an operation body gets: the transaction, the caller and the runtime.

    ``session`` is the ORM session of the call's transaction; ``connection``
    the same transaction as a Core connection, for hot read paths that need
    no ORM objects (under ``Database.unit_of_work`` the session is only
    made when a body asks for it).
    """

    def __init__(self, session, principal, runtime, unit=None):
        self._session = session
        self._unit = unit
        self.principal = principal
        self.runtime = runtime
        # Work to run after the transaction committed (e.g. cache invalidation).
        self.after_commit: list = []

    @property
    def session(self):
        if self._session is None:
            self._session = self._unit.session
        return self._session

    @property
    def connection(self):
        if self._unit is not None:
            return self._unit.connection
        return self._session.connection()

    def require(self, role: str) -> None:
        if not self.principal.has_role(role):
            raise PermissionDenied(
                "The account %s needs the %s role for this operation." % (self.principal.username, role)
            )


@dataclass(frozen=True)
class OperationSpec:
    name: str
    body: object
    returns: type
    role: str
    writes: bool
    on_failure: object = None
    prepare: object = None
    slow: bool = False


def operation(*params, returns, role, writes=True, auth_user_param="authUserName", on_failure=None,
              prepare=None, slow=False):
    """Declare a SOAP operation; see the module docstring.

    ``on_failure(error)`` builds the result of a failed call for result types
    without the Result/ResultCode/Message trio (IsAvailableResult).
    ``prepare(args) -> args`` runs before the transaction opens, for slow
    work that needs no database (hashing a new password), so the database
    write lock is not held during it. It may raise an OperationError.
    """

    def decorate(body):
        names = [auth_user_param, "authPassword"] + [name for name, _ in params]
        types = [String, String] + [kind for _, kind in params]
        spec = OperationSpec(body.__name__, body, returns, role, writes, on_failure, prepare, slow)

        def soap_entry(ctx, user, password, *args):
            return invoke(spec, ctx.app.stws_runtime, user, password, args)

        soap_entry.__name__ = body.__name__
        soap_entry.__doc__ = body.__doc__
        soap_entry.stws_spec = spec
        # The <OpResult> element as ASMX declares it: minOccurs=0, not
        # nillable (spyne's default nillable=true makes wsdl.exe proxies carry
        # [return: XmlElement(IsNullable=true)] and svcutil a different DataMember).
        result = returns.customize(min_occurs=0, nillable=False)
        explained = rpc(*types, _args=names, _returns=result)(soap_entry)
        explained.stws_spec = spec
        return explained

    return decorate


def invoke(spec: OperationSpec, runtime, user: str, password: str, args):
    try:
        return _invoke(spec, runtime, user, password, args)
    except (Fault, OperationError):
        raise
    except Exception:
        raise Fault("Server", log_internal_error("operation %s failed" % spec.name))


def log_internal_error(what: str, exc_info=True) -> str:
    """Write the exception being handled (or ``exc_info``) to the error log
    under a new reference, and return what the client is told: the
    reference only, never the details."""
    reference = uuid.uuid4().hex[:12]
    error_log.error("%s (reference %s)", what, reference, exc_info=exc_info)
    return "Internal error (reference %s); the server's error log has the details." % reference


def _invoke(spec: OperationSpec, runtime, user, password, args):
    beat = None  # the agent whose heartbeat this call refreshes (stws.security.heartbeat)
    try:
        prepare_failure = None
        if spec.prepare is not None:
            try:
                args = spec.prepare(args)
            except OperationError as failure:
                prepare_failure = failure  # reported after the credentials are checked
        with runtime.db.unit_of_work(writes=spec.writes) as unit:
            principal = runtime.authenticator.authenticate(unit.connection, user, password)
            if heartbeat.due(principal, runtime):
                beat = principal.user_id
            call = Call(None, principal, runtime, unit)
            call.require(spec.role)
            if prepare_failure is not None:
                raise prepare_failure
            outcome = spec.body(call, *args)
        for action in call.after_commit:
            runtime.db.after_commit(action)
    except AuthenticationFailed as failure:
        if failure.user_id is not None:
            with runtime.db.transaction() as session:
                runtime.authenticator.record_failure(session, failure.user_id)
        return failed_result(spec, failure)
    except OperationError as failure:
        if beat is not None:
            heartbeat.record(runtime, beat)
        return failed_result(spec, failure)
    if beat is not None:
        heartbeat.record(runtime, beat)
    return succeeded_result(spec.returns, outcome)


def succeeded_result(returns: type, outcome):
    if isinstance(outcome, returns):
        return outcome
    payload = dict(value_type_defaults(returns))
    payload.update(outcome or {})
    payload.setdefault("Message", "")
    return returns(Result=True, ResultCode=int(ResultCode.OK), **payload)


def failed_result(spec: OperationSpec, failure: OperationError):
    if spec.on_failure is not None:
        return spec.on_failure(failure)
    return spec.returns(Result=False, ResultCode=int(failure.code), Message=failure.message,
                        **value_type_defaults(spec.returns))


@functools.lru_cache(maxsize=None)
def value_type_defaults(returns: type) -> dict:
    """The required value-type fields of a result type (e.g. RequestResult
    of IntRequestResult) with the .NET default values ASMX writes for them:
    0, false, 0001-01-01T00:00:00.

    spyne writes a missing one as xsi:nil="true" even when the schema says it
    is not nillable; .NET clients then fail on every Result=false answer
    (XmlSerializer: "Input string was not in a correct format"; WCF:
    "ValueType 'System.Int32' cannot be null").
    """
    defaults = {}
    for name, kind in returns.get_flat_type_info(returns).items():
        if name in ("Result", "ResultCode") or kind.Attributes.min_occurs < 1 or kind.Attributes.nillable:
            continue
        if issubclass(kind, Boolean):
            defaults[name] = False
        elif issubclass(kind, Decimal):
            defaults[name] = 0
        elif issubclass(kind, DateTime):
            defaults[name] = datetime.datetime(1, 1, 1, tzinfo=datetime.timezone.utc)
    return defaults


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
            if isinstance(getattr(value, "stws_spec", None), OperationSpec):
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
