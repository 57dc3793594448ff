"""Signed-in sessions of the management interface, stored in the database so
that every node behind a load balancer knows them.

The browser holds a random token (an ``HttpOnly`` cookie); the table holds
its SHA-256. A session ends:
- when the user signs out;
- after ``idle`` without a request, or ``lifetime`` after sign-in, whatever
  the activity;
- at once when the user's security stamp changes (password change, lock by
  an administrator or by too many failed sign-ins, role change, deletion):
  the stamp at sign-in is stored with the session and compared on every
  request. Changing one's own password re-stamps the session it was done
  in, so only the *other* sessions end.

``SessionCredentials`` are a front door's credentials for the operation
runner (stws.operations.runner), as ``PasswordCredentials`` are SOAP's.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import bindparam, delete, select, update

from stws.db.models import User, WebSession, utcnow
from stws.db.prepared import PreparedQuery
from stws.errors import AuthenticationFailed
from stws.security.principals import Principal

IDLE = dt.timedelta(minutes=30)
LIFETIME = dt.timedelta(hours=12)
# last_seen_utc is written at most this often (not on every request).
TOUCH_EVERY = dt.timedelta(minutes=1)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class SignedIn:
    """What a request's session says: who, its CSRF token, and the notice
    left for this page."""

    principal: Principal
    token: str
    csrf_token: str
    must_change_password: bool
    display_name: str
    flash: str = ""
    flash_is_error: bool = False


def open_session(session, user_id: int, client_address: str = "", now: dt.datetime | None = None) -> str:
    """A new session for ``user_id``; returns the token for the cookie."""
    now = now or utcnow()
    user = session.get(User, user_id)
    token = secrets.token_urlsafe(32)
    session.add(WebSession(token_hash=token_hash(token), user_id=user_id, security_stamp=user.security_stamp,
                           csrf_token=secrets.token_urlsafe(32), date_created_utc=now, last_seen_utc=now,
                           expires_utc=now + LIFETIME, client_address=client_address[:64]))
    user.date_last_login_utc = now
    # Sessions past their time go when someone signs in: no thread needed.
    session.execute(delete(WebSession).where(WebSession.expires_utc < now))
    return token


def close_session(session, token: str) -> None:
    session.execute(delete(WebSession).where(WebSession.token_hash == token_hash(token)))


def restamp(session, token: str, stamp: str) -> None:
    """Keep the session ``token`` valid under the user's new stamp (after
    changing their own password in it)."""
    session.execute(update(WebSession).where(WebSession.token_hash == token_hash(token))
                    .values(security_stamp=stamp))


def set_flash(session, token: str, text: str, is_error: bool = False) -> None:
    session.execute(update(WebSession).where(WebSession.token_hash == token_hash(token))
                    .values(flash=text[:2000], flash_is_error=is_error))


_SESSION = select(
    WebSession.token_hash, WebSession.security_stamp.label("session_stamp"), WebSession.csrf_token,
    WebSession.last_seen_utc, WebSession.expires_utc, WebSession.flash, WebSession.flash_is_error,
    User.id, User.username, User.display_name, User.security_stamp, User.is_locked_out, User.lockout_until_utc,
    User.force_password_change, User.is_active_agent, User.last_heartbeat_utc,
).join(User, User.id == WebSession.user_id).where(User.is_deleted.is_(False))
# Every request of the interface reads it (the workspace's heartbeat comes
# every few seconds from every open browser): compiled once, run on the
# driver (stws.db.prepared), without an ORM session.
_SESSION_BY_HASH = PreparedQuery(_SESSION.where(WebSession.token_hash == bindparam("token_hash")))


ENDED = "Your session has ended; please sign in again."


def resolve(runtime, token: str | None, now: dt.datetime | None = None) -> SignedIn:
    """The signed-in session of ``token``, or AuthenticationFailed. Takes the
    page's one-time notice, and notes the activity (at most once a minute)."""
    if not token:
        raise AuthenticationFailed("Please sign in.")
    now = now or utcnow()
    hashed = token_hash(token)
    # Read as SOAP reads credentials (runner.PasswordCredentials): no
    # transaction of its own, only the operation's transaction follows.
    with runtime.db.reading() as connection:
        row = _SESSION_BY_HASH.first(connection, {"token_hash": hashed})
        if row is None:
            raise AuthenticationFailed(ENDED)
        locked = row.is_locked_out or (row.lockout_until_utc is not None and row.lockout_until_utc > now)
        if (row.session_stamp != row.security_stamp or locked or row.expires_utc <= now
                or now - row.last_seen_utc > IDLE):
            ended = True
        else:
            ended = False
            roles = runtime.authenticator.cache.roles_of(connection, row.id, row.security_stamp)
    if ended:
        with runtime.db.transaction() as session:
            session.execute(delete(WebSession).where(WebSession.token_hash == hashed))
        raise AuthenticationFailed(ENDED)
    if row.flash or now - row.last_seen_utc >= TOUCH_EVERY:
        with runtime.db.transaction() as session:
            session.execute(update(WebSession).where(WebSession.token_hash == hashed)
                            .values(last_seen_utc=now, flash="", flash_is_error=False))
    principal = Principal(user_id=row.id, username=row.username, roles=roles, is_active_agent=row.is_active_agent,
                          last_heartbeat_utc=row.last_heartbeat_utc)
    return SignedIn(principal, token, row.csrf_token, row.force_password_change, row.display_name or row.username,
                    row.flash, row.flash_is_error)


@dataclass(frozen=True)
class SessionCredentials:
    """A browser's session token, as credentials for the operation runner."""

    token: str | None

    def principal(self, runtime, may_wait: bool = True) -> Principal:
        return resolve(runtime, self.token).principal
