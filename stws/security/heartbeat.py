"""Agent heartbeats: every authenticated call by an active agent counts as a
sign of life, recorded in ``users.last_heartbeat_utc``.

SmarterTrack's management interface pings the server every Heartbeat
Interval (a Diagnostics option, default 10 s); here the SOAP calls an
agent's client makes are that ping. The Auto-Inactive thread sets agents
whose heartbeat is older than three intervals inactive.

Cost per call: ``due`` looks at what authentication has just read of the
caller's user row (carried by the principal; no query) and compares a time.
Only when the stored heartbeat is older than one interval does the call
write, in a transaction of its own after the call's transaction: one
UPDATE per agent per Heartbeat Interval per node, however many calls the
agent makes. Calls that only read stay read-only transactions (on SQLite
they never take the write lock for a heartbeat inside them).
"""
from __future__ import annotations

import datetime as dt

from sqlalchemy import or_, update

from stws.db.models import User, utcnow


def interval(runtime) -> dt.timedelta:
    options = runtime.options.get() if runtime.options is not None else None
    return dt.timedelta(seconds=options.HeartbeatIntervalSeconds if options else 10)


def due(principal, runtime, now: dt.datetime | None = None) -> bool:
    """Whether this call should refresh the caller's heartbeat: the caller is
    an active agent whose last heartbeat is at least one interval old."""
    if not principal.is_active_agent:
        return False
    last = principal.last_heartbeat_utc
    return last is None or (now or utcnow()) - last >= interval(runtime)


def record(runtime, user_id: int, now: dt.datetime | None = None) -> bool:
    """Store the heartbeat (only while the agent is active, and never moving
    it back); returns whether a row changed."""
    now = now or utcnow()
    with runtime.db.transaction() as session:
        return session.execute(
            update(User)
            .where(User.id == user_id, User.is_active_agent.is_(True),
                   or_(User.last_heartbeat_utc.is_(None), User.last_heartbeat_utc < now))
            .values(last_heartbeat_utc=now)
            .execution_options(synchronize_session=False)
        ).rowcount == 1
