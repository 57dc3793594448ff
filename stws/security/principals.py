"""Who an operation runs for: a signed-in account, or the system itself.

Every front door supplies one: the SOAP adapter from ``authUserName`` and
``authPassword``, the management interface from its signed-in session, the
background threads and the email importer from ``system_principal``.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select

from stws.db.models import User
from stws.security import roles as role_rules

SYSTEM_NAME = "system"


@dataclass(frozen=True)
class Principal:
    """An authenticated account."""

    user_id: int
    username: str
    roles: frozenset  # effective roles, implied ones included
    # As read at authentication, for the heartbeat check (stws.security.heartbeat).
    is_active_agent: bool = False
    last_heartbeat_utc: dt.datetime | None = None

    def has_role(self, role: str) -> bool:
        return role in self.roles


@dataclass(frozen=True)
class SystemPrincipal:
    """The server acting on its own (a background thread, the email
    importer). It may do anything; what it records is attributed to
    ``user_id``, the primary administrator."""

    user_id: int | None
    username: str = SYSTEM_NAME
    roles: frozenset = frozenset({role_rules.ADMINISTRATOR, role_rules.MANAGER, role_rules.AGENT})
    is_active_agent: bool = False
    last_heartbeat_utc: dt.datetime | None = None

    def has_role(self, role: str) -> bool:
        return True


def system_principal(session, name: str = SYSTEM_NAME) -> SystemPrincipal:
    """The system principal named ``name`` (what acts: "Email Import", a
    thread), acting as the primary administrator (else the oldest account)."""
    admin_id = session.scalar(select(User.id).where(User.is_primary_admin.is_(True), User.is_deleted.is_(False))
                              .order_by(User.id).limit(1))
    if admin_id is None:
        admin_id = session.scalar(select(User.id).where(User.is_deleted.is_(False)).order_by(User.id).limit(1))
    return SystemPrincipal(admin_id, name)
