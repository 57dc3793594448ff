"""Time logs of tickets: who worked how long on a ticket, in which category,
and whether it is billable.

Category id 0 means the seeded "General" category. An agent id of 0 means
the calling agent. Time logs are internal: only employees read or add them.
"""
from __future__ import annotations

import datetime as dt

from sqlalchemy import bindparam, select

from stws.db.models import Ticket, TimeLog, TimeLogCategory, utcnow
from stws.db.prepared import PreparedQuery
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


# A ticket's time logs with their category's name, on the driver
# (stws.db.prepared): GetTicketTimeLogs is a read of every ticket view.
_WITH_CATEGORY = (
    select(*TimeLog.__table__.columns, TimeLogCategory.name.label("category_name"))
    .outerjoin(TimeLogCategory, TimeLogCategory.id == TimeLog.category_id)
    .where(TimeLog.is_deleted.is_(False), TimeLog.ticket_id == bindparam("ticket_id"))
    .order_by(TimeLog.date_start_utc, TimeLog.id))
_LOGS_OF_TICKET = PreparedQuery(_WITH_CATEGORY)
_LOG_OF_TICKET = PreparedQuery(_WITH_CATEGORY.where(TimeLog.id == bindparam("time_log_id")))


def time_logs(call, ticket) -> list[tuple]:
    """(time log row, category name) of a ticket (a row with its ``id``), oldest start first."""
    return [(log, log.category_name or GENERAL)
            for log in _LOGS_OF_TICKET.all(call.connection, {"ticket_id": ticket.id})]


def time_log(call, ticket, time_log_id: int) -> tuple:
    """(time log row, category name) of one time log of a ticket (a row with
    its ``id`` and ``ticket_number``)."""
    log = _LOG_OF_TICKET.first(call.connection, {"ticket_id": ticket.id, "time_log_id": time_log_id})
    if log is None:
        raise NotFound("Ticket %s has no time log with id %s." % (ticket.ticket_number, time_log_id))
    return log, log.category_name or GENERAL
