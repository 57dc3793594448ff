"""Time logs of tickets (employees only: time logs are internal)."""
from __future__ import annotations

from stws.domain.tickets import core
from stws.domain.tickets import timelogs
from stws.security import roles
from stws.services.tickets import types as T
from stws.soap.operation import operation
from stws.soap.types import Bool, Int, String, When


def time_log_info(log, category_name: str) -> T.TimeLogInfo:
    return T.TimeLogInfo(
        AgentID=log.user_id or 0, CallLogID=log.call_log_id or 0, CategoryName=category_name, ChatID=0,
        DateEndUTC=log.date_end_utc, DateStartUTC=log.date_start_utc, Description=log.description, ID=log.id,
        IsBillable=log.is_billable, Subject=log.subject, TicketID=log.ticket_id or 0,
        TimeLogCategoryID=log.category_id or 0, IsDeleted=log.is_deleted,
    )


@operation(("ticketId", Int), ("subject", String), ("agentID", Int), ("timeLogCategoryID", Int),
           ("description", String), ("dateStartUTC", When), ("dateEndUTC", When), ("isBillable", Bool),
           returns=T.GenericResult, role=roles.AGENT)
def AddTicketTimeLog(call, ticketId, subject, agentID, timeLogCategoryID, description, dateStartUTC, dateEndUTC,
                     isBillable):
    """Log time spent on a ticket. agentID 0 = the caller; timeLogCategoryID 0 = General;
    an empty subject takes the ticket's. Message carries the new time log's id."""
    ticket = core.get_ticket(call, ticketId)
    log = timelogs.add_time_log(call, ticket, subject=subject, agent_id=agentID, category_id=timeLogCategoryID,
                                description=description, start=dateStartUTC, end=dateEndUTC, billable=isBillable)
    return {"Message": "Time log %d added." % log.id}


@operation(("ticketId", Int), ("timeLogId", Int), returns=T.TimeLogInfoResult, role=roles.AGENT, writes=False)
def GetTicketTimeLog(call, ticketId, timeLogId):
    ticket = core.get_ticket(call, ticketId)
    return {"TimeLog": time_log_info(*timelogs.time_log(call, ticket, timeLogId))}


@operation(("ticketId", Int), returns=T.TimeLogInfoArrayResult, role=roles.AGENT, writes=False)
def GetTicketTimeLogs(call, ticketId):
    """The ticket's time logs, oldest start first."""
    ticket = core.get_ticket(call, ticketId)
    return {"TimeLogs": [time_log_info(log, name) for log, name in timelogs.time_logs(call, ticket)]}
