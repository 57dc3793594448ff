"""Rows for the background-thread tests, written straight into the database
(the threads act on what is there, whatever created it).

The seeded organisation is brand 1, department 1 "Support", group 1
"Level 1" (the department's front line); ``admin`` is user 1.
"""
from __future__ import annotations

import datetime as dt
import itertools
import uuid

from sqlalchemy import select

from stws.db.models import (
    CallLog, Department, Group, GroupAgent, Role, Ticket, TicketAttachment, TicketComment, TicketEvent,
    TicketLink, TicketMessage, User,
)
from stws.security import roles as role_rules
from stws.security.auth import new_security_stamp, username_key

ACTIVE, WAITING, CLOSED, CLOSED_AND_LOCKED = 1, 2, 3, 4
GENERAL, RESOLUTION = 1, 2
_numbers = itertools.count(1)


def ticket(session, *, status=ACTIVE, group_id=1, department_id=1, brand_id=1, agent_id=None,
           deleted_at: dt.datetime | None = None, follow_up=False, pinned=False, customer_id=None) -> Ticket:
    row = Ticket(
        ticket_number="001-%08X-%04X" % (next(_numbers), uuid.uuid4().int & 0xFFFF),
        brand_id=brand_id, department_id=department_id, group_id=group_id, agent_id=agent_id,
        customer_id=customer_id, customer_email="c@example.com", subject="s", status_id=status,
        priority_id=2, requires_follow_up=follow_up, is_pinned_to_agent=pinned,
        is_deleted=deleted_at is not None, date_deleted_utc=deleted_at,
    )
    session.add(row)
    session.flush()
    return row


def message(session, ticket_row, from_user_id=None) -> TicketMessage:
    row = TicketMessage(ticket_id=ticket_row.id, direction=2, from_user_id=from_user_id, body_text="hello")
    session.add(row)
    session.flush()
    return row


def comment(session, ticket_row, type_id=GENERAL, user_id=None) -> TicketComment:
    row = TicketComment(ticket_id=ticket_row.id, comment_type_id=type_id, user_id=user_id, text="note")
    session.add(row)
    session.flush()
    return row


def event(session, ticket_row, user_id=None) -> TicketEvent:
    row = TicketEvent(ticket_id=ticket_row.id, user_id=user_id, event_type="Test", description="test")
    session.add(row)
    session.flush()
    return row


def attachment(session, ticket_row, disk_name: str, message_row=None) -> TicketAttachment:
    row = TicketAttachment(ticket_id=ticket_row.id, message_id=message_row.id if message_row else None,
                           file_name_original="a.txt", file_name_on_disk=disk_name, expected_length=1, length=1)
    session.add(row)
    session.flush()
    return row


def link(session, ticket_row, linked_ticket=None, linked_call_log=None) -> TicketLink:
    row = TicketLink(ticket_id=ticket_row.id, linked_ticket_id=linked_ticket.id if linked_ticket else None,
                     linked_call_log_id=linked_call_log.id if linked_call_log else None)
    session.add(row)
    session.flush()
    return row


def call_log(session, agent_id=1, group_id=1, department_id=1, deleted_at=None) -> CallLog:
    row = CallLog(call_number="CL-%d-%s" % (next(_numbers), uuid.uuid4().hex[:6]), department_id=department_id,
                  group_id=group_id, agent_id=agent_id, subject="call", is_deleted=deleted_at is not None,
                  date_deleted_utc=deleted_at)
    session.add(row)
    session.flush()
    return row


def user(session, name: str, *, agent=False, deleted_at=None, active_agent=False, heartbeat=None) -> User:
    wanted = [role_rules.EVERYONE] + ([role_rules.AGENT] if agent else [])
    row = User(username=name, username_key=username_key(name), email="%s@example.com" % name,
               security_stamp=new_security_stamp(), is_deleted=deleted_at is not None, date_deleted_utc=deleted_at,
               is_active_agent=active_agent, last_heartbeat_utc=heartbeat,
               roles=list(session.scalars(select(Role).where(Role.name.in_(wanted)))))
    session.add(row)
    session.flush()
    return row


def group(session, name: str, department_id=1, deleted_at=None) -> Group:
    row = Group(department_id=department_id, name=name, is_deleted=deleted_at is not None,
                date_deleted_utc=deleted_at)
    session.add(row)
    session.flush()
    return row


def department(session, name: str, deleted_at=None) -> Department:
    row = Department(brand_id=1, name=name, is_deleted=deleted_at is not None, date_deleted_utc=deleted_at)
    session.add(row)
    session.flush()
    return row


def member(session, group_id: int, user_id: int, mode="primary", receiving=True) -> GroupAgent:
    row = GroupAgent(group_id=group_id, user_id=user_id, distribution_mode=mode, is_receiving=receiving)
    session.add(row)
    session.flush()
    return row
