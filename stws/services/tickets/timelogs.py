"""svcTickets operations: time logs of tickets (employees only). Bound to
stws.operations.tickets.timelogs."""
from __future__ import annotations

from stws.operations.tickets import timelogs as ops
from stws.services.tickets import types as T
from stws.soap.operation import binds
from stws.soap.types import Bool, Int, String, When


def time_log_info(log, category_name: str) -> T.TimeLogInfo:
    return T.TimeLogInfo(
        AgentID=log.user_id or 0, CallLogID=log.call_log_id or 0, CategoryName=category_name, ChatID=0,
        DateEndUTC=log.date_end_utc, DateStartUTC=log.date_start_utc, Description=log.description, ID=log.id,
        IsBillable=log.is_billable, Subject=log.subject, TicketID=log.ticket_id or 0,
        TimeLogCategoryID=log.category_id or 0, IsDeleted=log.is_deleted,
    )


@binds(ops.add_ticket_time_log, ("ticketId", Int), ("subject", String), ("agentID", Int),
       ("timeLogCategoryID", Int), ("description", String), ("dateStartUTC", When), ("dateEndUTC", When),
       ("isBillable", Bool), returns=T.GenericResult)
def AddTicketTimeLog(log):
    """Log time spent on a ticket. agentID 0 = the caller; timeLogCategoryID 0 = General;
    an empty subject takes the ticket's. Message carries the new time log's id."""
    return {"Message": "Time log %d added." % log.id}


@binds(ops.ticket_time_log, ("ticketId", Int), ("timeLogId", Int), returns=T.TimeLogInfoResult)
def GetTicketTimeLog(log_and_category):
    return {"TimeLog": time_log_info(*log_and_category)}


@binds(ops.ticket_time_logs, ("ticketId", Int), returns=T.TimeLogInfoArrayResult)
def GetTicketTimeLogs(logs_and_categories):
    """The ticket's time logs, oldest start first."""
    return {"TimeLogs": [time_log_info(log, name) for log, name in logs_and_categories]}
