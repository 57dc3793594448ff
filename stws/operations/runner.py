"""Declaring and running operations, for every front door alike.

An operation is a function of a ``Context`` and its arguments, declared once
with the role it needs and whether it writes::

    @operation(role=roles.ADMINISTRATOR, writes=False)
    def thread_statuses(context): ...

A front door runs it in two steps:

1. ``authenticate(runtime, credentials)`` turns what the caller presented
   (a user name and password over SOAP, a signed-in session in the browser,
   the system itself for background work) into a principal. This happens
   before any transaction of the operation opens: a slow password check,
   or an external login provider, never holds SQLite's write lock or a
   commit group. (A SOAP quick write runs whole on the commit-group thread,
   which batches best; there a password must be in the credential cache,
   else CredentialCheckIsSlow sends the request to another thread, which
   verifies it.) A wrong password is counted towards the lockout here.
2. ``run(runtime, spec, principal, args)`` checks the role, runs ``prepare``
   (slow work that needs no database: hashing a new password), then
   ``consult`` (the external providers the operation asks before it acts,
   stws.providers.gateway), then the body in one transaction: committed
   when it returns, rolled back when it raises. On SQLite, a quick write runs on the commit-group thread
   (``runtime.write_groups``, stws.db.group_commit) and returns only once
   its group is committed.

Business failures are ``OperationError``s, raised to the front door, which
words them for its client (SOAP: Result=false; a page: the Message).
Anything else is a bug, for the front door to log under a reference.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from stws.errors import AuthenticationFailed
from stws.domain.context import Context, require_role
from stws.providers import login as login_provider
from stws.security import heartbeat
from stws.security.auth import ProviderCheck


@dataclass(frozen=True)
class OperationSpec:
    name: str
    body: Callable
    role: str
    writes: bool
    # ``prepare(args) -> args``: slow work before the transaction; may raise OperationError.
    prepare: Callable | None = None
    # ``consult(context, args) -> args``: asks the external providers before
    # the transaction (its context has none); may raise OperationError. Quick
    # when no provider is enabled, so the operation stays a quick one; on the
    # commit-group thread a provider call raises LeavesCommitGroup.
    consult: Callable | None = None
    # Waits on other servers or burns CPU (transfers, self-diagnostic): kept
    # off the pools and the commit group that quick calls share.
    slow: bool = False
    # False: the body opens its own transactions (it calls another server
    # between them, which must never happen inside one); its context has none.
    transaction: bool = True

    def __call__(self, context: Context, *args):
        """The body, in a transaction someone else opened (an operation
        composed of others, a test)."""
        context.require(self.role)
        return self.body(context, *args)


def operation(*, role: str, writes: bool = True, prepare=None, consult=None, slow: bool = False,
              name: str | None = None, transaction: bool = True):
    """Declare an operation (see the module docstring)."""

    def declare(body) -> OperationSpec:
        return OperationSpec(name or body.__name__, body, role, writes, prepare, consult, slow, transaction)

    return declare


# ---------------------------------------------------------------- credentials


@dataclass(frozen=True)
class PasswordCredentials:
    """A user name and password, as every SOAP call carries them."""

    username: str | None
    password: str | None

    def principal(self, runtime, may_wait: bool = True):
        # db.read: may run twice if the pooled connection was found dead (a read only).
        found = runtime.db.read(lambda connection: runtime.authenticator.authenticate(
            connection, self.username, self.password, may_wait))
        if isinstance(found, ProviderCheck):  # the connection is returned before the provider is asked
            runtime.db.release_connection()
            return login_provider.check_password(runtime, found, self.password or "")
        return found


@dataclass(frozen=True)
class SingleSignOnCookie:
    """The single sign-on cookie another site set (stws.providers.login)."""

    value: str

    def principal(self, runtime, may_wait: bool = True):
        return login_provider.check_cookie(runtime, self.value)


def authenticate(runtime, credentials):
    """The principal ``credentials`` stand for, or AuthenticationFailed /
    AccountLocked; a failure that names an account counts towards its
    lockout (in a transaction of its own). On the commit-group thread only
    quick checks are made (CredentialCheckIsSlow otherwise)."""
    groups = runtime.write_groups
    try:
        if groups is not None and groups.on_its_thread():
            return credentials.principal(runtime, may_wait=False)
        return credentials.principal(runtime)
    except AuthenticationFailed as failure:
        if failure.user_id is not None:
            with runtime.db.transaction() as session:
                runtime.authenticator.record_failure(session, failure.user_id)
        raise


# ---------------------------------------------------------------- running


def run(runtime, spec: OperationSpec, principal, args=()):
    """Run ``spec`` for ``principal`` in one transaction; its result, or the
    OperationError it raised."""
    beat = principal.user_id if heartbeat.due(principal, runtime) else None
    try:
        require_role(principal, spec.role)
        if spec.prepare is not None:
            args = spec.prepare(tuple(args))
        if spec.consult is not None:
            args = spec.consult(Context(principal, runtime), tuple(args))
        groups = runtime.write_groups
        # Only quick writes' own transactions join a commit group; a body that
        # opens its transactions itself calls other servers between them.
        if (spec.writes and spec.transaction and not spec.slow and groups is not None
                and not groups.on_its_thread()):
            return groups.run(_transaction, runtime, spec, principal, args)
        return _transaction(runtime, spec, principal, args)
    finally:
        if beat is not None:
            heartbeat.record(runtime, beat)


def call(runtime, spec: OperationSpec, credentials, args=()):
    """``authenticate`` then ``run``: one call of a front door that gets
    credentials with every request (SOAP). A quick operation reads the
    caller's account and runs its transaction on one pooled connection
    (``Database.one_connection``); one that hashes a password or calls
    another server first takes its own for each. One that may ask a
    provider (``consult``: a ticket's creation) keeps the one connection,
    as it asks none in most calls: the gateway returns the connection
    before it calls one (stws.providers.gateway)."""
    if spec.prepare is not None or spec.slow or not spec.transaction:
        return run(runtime, spec, authenticate(runtime, credentials), args)
    with runtime.db.one_connection():
        return run(runtime, spec, authenticate(runtime, credentials), args)


def _transaction(runtime, spec: OperationSpec, principal, args):
    if not spec.transaction:
        return spec.body(Context(principal, runtime), *args)
    database = runtime.db
    with database.unit_of_work(writes=spec.writes) as unit:
        context = Context(principal, runtime, unit)
        result = spec.body(context, *args)
    for action in context.after_commit:
        database.after_commit(action)
    return result
