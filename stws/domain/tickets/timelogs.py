"""Time logs of tickets: who worked how long on a ticket, in which category,
and whether it is billable.

Category id 0 means the seeded "General" category. An agent id of 0 means
the calling agent. Time logs are internal: only employees read or add them.
"""
from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from stws.db.models import Ticket, TimeLog, TimeLogCategory, utcnow
from stws.domain import organization as org
from stws.domain import validation
from stws.errors import InvalidArgument, NotFound
from stws.domain.tickets import core

GENERAL = "General"
MAX_DESCRIPTION = 100_000
# Longer than any real working session; catches swapped or mistyped dates.
MAX_DURATION = dt.timedelta(days=31)


def category(session, category_id: int) -> TimeLogCategory:
    if category_id == 0:
        row = session.scalars(select(TimeLogCategory).where(TimeLogCategory.name == GENERAL)).first()
    elif category_id > 0:
        row = session.get(TimeLogCategory, category_id)
    else:
        row = None
    if row is None:
        raise NotFound("There is no time log category with id %s (0 = %s)." % (category_id, GENERAL))
    return row


def add_time_log(call, ticket: Ticket, *, subject: str | None, agent_id: int, category_id: int,
                 description: str | None, start: dt.datetime, end: dt.datetime, billable: bool) -> TimeLog:
    core.require_changeable(call, ticket)
    if start is None or end is None or start.year < 1900 or end.year < 1900:
        raise InvalidArgument("dateStartUTC and dateEndUTC are required.")
    if end < start:
        raise InvalidArgument("dateEndUTC (%s) is before dateStartUTC (%s)." % (end.isoformat(), start.isoformat()))
    if end - start > MAX_DURATION:
        raise InvalidArgument("A time log cannot span more than %d days." % MAX_DURATION.days)
    if end > utcnow() + dt.timedelta(days=1):
        raise InvalidArgument("dateEndUTC lies in the future.")
    if agent_id < 0:
        raise InvalidArgument("agentID must be an agent's user id (0 = you), not %s." % agent_id)
    agent = org.get_user(call, agent_id or call.principal.user_id)
    if not org.is_agent(agent):
        raise InvalidArgument("User %s is not an agent." % agent.username)
    kind = category(call.session, category_id)
    subject = validation.name(subject, "subject", 500, required=False) or ticket.subject[:500]
    description = description or ""
    if len(description) > MAX_DESCRIPTION:
        raise InvalidArgument("The description is longer than %d characters." % MAX_DESCRIPTION)
    log = TimeLog(ticket_id=ticket.id, user_id=agent.id, category_id=kind.id, subject=subject,
                  description=description, date_start_utc=start, date_end_utc=end, is_billable=bool(billable))
    call.session.add(log)
    call.session.flush()
    minutes = int((end - start).total_seconds() // 60)
    core.touch(ticket)
    core.record_event(call, ticket, "TimeLogAdded",
                      "Time log %d added: %d min for %s (%s%s)" % (log.id, minutes, agent.username, kind.name,
                                                                 ", billable" if billable else ""),
                      subject)
    return log


def _with_category(call, *conditions):
    return call.session.execute(
        select(TimeLog, TimeLogCategory.name).outerjoin(TimeLogCategory, TimeLogCategory.id == TimeLog.category_id)
        .where(TimeLog.is_deleted.is_(False), *conditions)
        .order_by(TimeLog.date_start_utc, TimeLog.id)
    ).all()


def time_logs(call, ticket: Ticket) -> list[tuple[TimeLog, str]]:
    """(time log, category name) of a ticket, oldest start first."""
    return [(log, name or GENERAL) for log, name in _with_category(call, TimeLog.ticket_id == ticket.id)]


def time_log(call, ticket: Ticket, time_log_id: int) -> tuple[TimeLog, str]:
    rows = _with_category(call, TimeLog.ticket_id == ticket.id, TimeLog.id == time_log_id)
    if not rows:
        raise NotFound("Ticket %s has no time log with id %s." % (ticket.ticket_number, time_log_id))
    log, name = rows[0]
    return log, name or GENERAL
