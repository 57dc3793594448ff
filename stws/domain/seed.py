"""First start: reference rows, the default organisation and the administrator.

Every step checks what is there first, so running it on an existing
database changes nothing.
"""
from __future__ import annotations

import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from stws.db.models import (
    Brand, CommentType, Department, Group, Role, TicketPriority, TicketStatus, TimeLogCategory, User,
)
from stws.security import roles as role_rules
from stws.security.auth import new_security_stamp, username_key
from stws.security.passwords import hash_password

TICKET_STATUSES = (
    # id, english name, display name, is_open, is_active, is_locked
    (1, "Active", "Active", True, True, False),
    (2, "Waiting", "Waiting", True, False, False),
    (3, "Closed", "Closed", False, False, False),
    (4, "Closed and Locked", "Closed and Locked", False, False, True),
)
TICKET_PRIORITIES = ((1, "Low"), (2, "Normal"), (3, "High"), (4, "Urgent"))
COMMENT_TYPES = ((1, "General"), (2, "Resolution"), (3, "Transfer"), (4, "Follow-Up"), (5, "Sticky"))
ADMIN_USERNAME = "admin"


def seed_reference_data(session: Session) -> None:
    _ensure(session, Role, [
        dict(name=name, category=category, description=description, display_order=order)
        for order, (name, category, description) in enumerate(role_rules.PREDEFINED)
    ], key="name")
    _ensure(session, TicketStatus, [
        dict(id=i, english_name=name, display_name=display, sort_order=i, is_open=is_open,
             is_active=is_active, is_locked=is_locked)
        for i, name, display, is_open, is_active, is_locked in TICKET_STATUSES
    ], key="id")
    _ensure(session, TicketPriority, [dict(id=i, name=name, sort_order=i) for i, name in TICKET_PRIORITIES], key="id")
    _ensure(session, CommentType, [dict(id=i, english_name=n, display_name=n) for i, n in COMMENT_TYPES], key="id")
    _ensure(session, TimeLogCategory, [dict(name="General")], key="name")


def _ensure(session, model, rows, key):
    existing = set(session.scalars(select(getattr(model, key))))
    for row in rows:
        if row[key] not in existing:
            session.add(model(**row))
    session.flush()


def seed_default_organisation(session: Session) -> None:
    if session.scalars(select(Brand.id)).first() is not None:
        return
    brand = Brand(name="Default", is_default=True)
    session.add(brand)
    session.flush()
    department = Department(brand_id=brand.id, name="Support")
    session.add(department)
    session.flush()
    group = Group(department_id=department.id, name="Level 1")
    session.add(group)
    session.flush()
    department.front_line_group_id = group.id


def seed_administrator(session: Session, password: str | None) -> str | None:
    """Create ``admin`` if no account exists; returns a generated password to
    show once, or None when none was generated (or the admin exists)."""
    if session.scalars(select(User.id)).first() is not None:
        return None
    generated = None
    if not password:
        password = generated = secrets.token_urlsafe(15)
    roles = session.scalars(select(Role).where(Role.name.in_(
        [role_rules.EVERYONE, role_rules.AGENT, role_rules.ADMINISTRATOR]))).all()
    session.add(User(
        username=ADMIN_USERNAME, username_key=username_key(ADMIN_USERNAME), display_name="Administrator",
        password_hash=hash_password(password), security_stamp=new_security_stamp(),
        is_primary_admin=True, is_email_verified=True, roles=list(roles),
    ))
    session.flush()
    return generated
