"""Checking ``authUserName``/``authPassword`` on every call, at full speed.

Passwords are stored as slow scrypt hashes. Verifying one on every SOAP call
would cap the API at a few calls per second per core, so a verified
credential is remembered for a short time, keyed by an HMAC of user name and
password under a per-process secret (the password itself is never kept).
A cache hit is only trusted while the user's ``security_stamp`` is unchanged:
every password, role, lock or deletion change rotates the stamp, and the
user row is read on every call anyway, so changes made on any node take
effect at once. The user's roles are cached with the credential (a role
change rotates the stamp too), so a cache hit costs one indexed
single-row query on the call's connection, with a statement built once.

Brute-force protection: more than 10 failed logins within 5 minutes lock
the account for 5 minutes (SmarterTrack's rule).

Accounts whose Authentication Method is External, and user names no account
has, are checked by the login provider (stws.providers.login), never while
the reading connection is open: ``authenticate`` then answers a
``ProviderCheck`` (unless the credential is in the cache) and its caller
closes the connection before asking the provider.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import os
import time
import uuid
from dataclasses import dataclass

from sqlalchemy import bindparam, select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from stws.db.group_commit import LeavesCommitGroup
from stws.db.models import Role, User, UserRole, utcnow
from stws.db.prepared import PreparedQuery
from stws.tracing import Tracing
from stws.errors import AccountLocked, AuthenticationFailed
from stws.security import roles as role_rules
from stws.security.principals import Principal
from stws.security.passwords import verify_password

MAX_FAILURES = 10
FAILURE_WINDOW = dt.timedelta(minutes=5)
LOCKOUT = dt.timedelta(minutes=5)


def username_key(username: str) -> str:
    return username.strip().casefold()


def new_security_stamp() -> str:
    return uuid.uuid4().hex


class CredentialCheckIsSlow(LeavesCommitGroup):
    """The password must be verified (not in the cache), and the caller said
    it cannot wait for that: it runs on the thread that commits quick writes
    in groups."""


class CredentialCache:
    """Verified credentials: HMAC(user, password) -> (user id, stamp, expiry,
    effective roles)."""

    def __init__(self, ttl_seconds: float, max_entries: int = 10_000, tracing=None):
        self.ttl = ttl_seconds
        self.max_entries = max_entries
        self._secret = os.urandom(32)
        self._entries: dict[bytes, tuple[int, str, float, frozenset]] = {}
        self.tracing = tracing or Tracing()
        self._lock = self.tracing.lock("credential-cache")
        self.hits = self.misses = 0

    def key(self, username: str, password: str) -> bytes:
        message = username_key(username).encode("utf-8") + b"\0" + password.encode("utf-8")
        return hmac.new(self._secret, message, hashlib.sha256).digest()

    def lookup(self, key: bytes, user_id: int, stamp: str) -> frozenset | None:
        """The cached effective roles, or None when the credential must be verified."""
        now = time.monotonic()
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry[2] < now or entry[0] != user_id or entry[1] != stamp:
                if entry is not None:
                    del self._entries[key]
                self.misses += 1
                self.tracing.cache_event("credentials", "miss", "user %d" % user_id)
                return None
            self.hits += 1
            self.tracing.cache_event("credentials", "hit", "user %d" % user_id)
            return entry[3]

    def store(self, key: bytes, user_id: int, stamp: str, roles: frozenset, ttl: float | None = None) -> None:
        """Remember a verified credential for ``ttl`` seconds (default: the
        cache's own lifetime; shorter for credentials the login provider
        vouched for)."""
        lifetime = self.ttl if ttl is None else min(ttl, self.ttl)
        with self._lock:
            if len(self._entries) >= self.max_entries:
                self._evict_expired()
            if len(self._entries) >= self.max_entries:
                self.tracing.cache_event("credentials", "evict", "all %d entries (full)" % len(self._entries))
                self._entries.clear()
            self._entries[key] = (user_id, stamp, time.monotonic() + lifetime, roles)

    def roles_of(self, connection: Connection, user_id: int, stamp: str) -> frozenset:
        """The effective roles of a user whose row says ``stamp``: read once
        per stamp (a role change rotates it) and cached with the credentials,
        for the management interface's sessions (stws.security.sessions),
        which read the user row on every request but no password: every
        open workspace polls its heartbeat every few seconds."""
        key = b"roles:%d:%s" % (user_id, stamp.encode("ascii", "replace"))
        roles = self.lookup(key, user_id, stamp)
        if roles is None:
            roles = effective_roles_of(connection, user_id)
            self.store(key, user_id, stamp, roles)
        return roles

    def forget_user(self, user_id: int) -> None:
        with self._lock:
            for key in [k for k, v in self._entries.items() if v[0] == user_id]:
                del self._entries[key]

    def _evict_expired(self) -> None:
        now = time.monotonic()
        expired = [k for k, v in self._entries.items() if v[2] < now]
        for key in expired:
            del self._entries[key]
        if expired:
            self.tracing.cache_event("credentials", "evict", "%d expired entries" % len(expired))


# Run on every call: compiled once, executed on the driver (stws.db.prepared).
_USER_BY_NAME = PreparedQuery(select(
    User.id, User.username, User.password_hash, User.security_stamp, User.is_locked_out,
    User.lockout_until_utc, User.auth_method, User.is_active_agent, User.last_heartbeat_utc,
).where(User.username_key == bindparam("key"), User.is_deleted.is_(False)))
_ROLE_NAMES = PreparedQuery(select(Role.name).join(UserRole, UserRole.role_id == Role.id)
                            .where(UserRole.user_id == bindparam("id")))


def effective_roles_of(connection: Connection, user_id: int) -> frozenset:
    """The roles of a user, implied ones included."""
    return role_rules.effective_roles(row.name for row in _ROLE_NAMES.all(connection, {"id": user_id}))


INCORRECT = "The user name or password is incorrect."
EXTERNAL = "external"


@dataclass(frozen=True)
class ProviderCheck:
    """``authenticate``'s answer when the login provider must check the
    password (stws.providers.login), after the reading connection is closed."""

    username: str  # as the caller gave it
    user_id: int | None  # the External account of that name; None: no account has it
    cache_key: bytes  # where to remember the credential once the provider vouched for it


class Authenticator:
    def __init__(self, cache: CredentialCache):
        self.cache = cache

    def authenticate(self, connection: Connection, username: str | None, password: str | None,
                     may_verify: bool = True) -> Principal | ProviderCheck:
        """The caller's principal, or AuthenticationFailed / AccountLocked;
        a ProviderCheck for an External account or an unknown name whose
        credential is not in the cache.

        Reads on ``connection`` before the operation's transaction opens, and
        writes nothing; a failed attempt is recorded by ``record_failure`` in
        a transaction of its own. ``may_verify=False``: a password not in the
        cache raises CredentialCheckIsSlow instead of being verified (or
        checked by the provider).
        """
        username = username or ""
        password = password or ""
        if not username.strip():
            raise AuthenticationFailed("authUserName is empty: give the user name of a help desk account.")
        user = self.account(connection, username)
        key = self.cache.key(username, password)
        if user is None:
            if not may_verify:
                raise CredentialCheckIsSlow()
            return ProviderCheck(username, None, key)
        if user.auth_method == EXTERNAL:
            roles = self.cache.lookup(key, user.id, user.security_stamp)
            if roles is None:
                if not may_verify:
                    raise CredentialCheckIsSlow()
                return ProviderCheck(username, user.id, key)
            return _principal(user, roles)
        if user.auth_method != "password":
            raise AuthenticationFailed(
                "The account %s signs in through %s and cannot call web services with a password."
                % (user.username, user.auth_method.replace("_", " "))
            )
        roles = self.cache.lookup(key, user.id, user.security_stamp)
        if roles is None:
            if not may_verify:
                raise CredentialCheckIsSlow()
            if not verify_password(password, user.password_hash):
                raise AuthenticationFailed(INCORRECT, user_id=user.id)
            roles = effective_roles_of(connection, user.id)
            self.cache.store(key, user.id, user.security_stamp, roles)
        return _principal(user, roles)

    @staticmethod
    def account(connection: Connection, username: str):
        """The live account named ``username`` (a row of _USER_BY_NAME), None
        when there is none, or AccountLocked."""
        user = _USER_BY_NAME.first(connection, {"key": username_key(username)})
        if user is None:
            return None
        if user.is_locked_out:
            raise AccountLocked(
                "The account %s is locked by an administrator; ask an administrator to unlock it." % user.username
            )
        now = utcnow()
        if user.lockout_until_utc is not None and user.lockout_until_utc > now:
            seconds = int((user.lockout_until_utc - now).total_seconds()) + 1
            raise AccountLocked(
                "The account %s is locked for %d more seconds after too many failed logins."
                % (user.username, seconds)
            )
        return user

    def record_failure(self, session: Session, user_id: int) -> None:
        """Count one failed login; lock the account past the limit."""
        query = select(User).where(User.id == user_id)
        if session.bind.dialect.name != "sqlite":
            query = query.with_for_update()
        user = session.scalars(query).one_or_none()
        if user is None:
            return
        now = utcnow()
        window_start = user.failed_login_window_start_utc
        if window_start is None or now - window_start > FAILURE_WINDOW:
            user.failed_login_window_start_utc = now
            user.failed_login_count = 1
        else:
            user.failed_login_count += 1
        if user.failed_login_count > MAX_FAILURES:
            user.lockout_until_utc = now + LOCKOUT
            user.failed_login_count = 0
            user.failed_login_window_start_utc = None
            user.security_stamp = new_security_stamp()
            self.cache.forget_user(user.id)


def _principal(user, roles: frozenset) -> Principal:
    return Principal(user_id=user.id, username=user.username, roles=roles,
                     is_active_agent=user.is_active_agent, last_heartbeat_utc=user.last_heartbeat_utc)
