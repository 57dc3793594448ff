"""Time logs of tickets (employees only: time logs are internal). See
stws.domain.tickets.timelogs."""
from __future__ import annotations

from stws.db.models import TimeLog
from stws.domain.tickets import core
from stws.domain.tickets import timelogs
from stws.operations.runner import operation
from stws.security import roles


@operation(role=roles.AGENT)
def add_ticket_time_log(context, ticket_id, subject, agent_id, category_id, description, start, end,
                        billable) -> TimeLog:
    """Time spent on a ticket: ``agent_id`` 0 = the caller, ``category_id``
    0 = General, an empty subject takes the ticket's; the new time log."""
    ticket = core.get_ticket(context, ticket_id)
    return timelogs.add_time_log(context, ticket, subject=subject, agent_id=agent_id, category_id=category_id,
                                 description=description, start=start, end=end, billable=billable)


# No docstring: svcTickets' help pages would take it for GetTicketTimeLog,
# which the contract leaves undocumented.
@operation(role=roles.AGENT, writes=False)
def ticket_time_log(context, ticket_id, time_log_id) -> tuple:
    # (time log row, its category's name)
    return timelogs.time_log(context, core.visible_ticket(context, ticket_id), time_log_id)


@operation(role=roles.AGENT, writes=False)
def ticket_time_logs(context, ticket_id) -> list[tuple]:
    """(time log row, its category's name) of the ticket's time logs, oldest start first."""
    return timelogs.time_logs(context, core.visible_ticket(context, ticket_id))
