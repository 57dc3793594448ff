"""Time logs of tickets: AddTicketTimeLog, GetTicketTimeLog, GetTicketTimeLogs."""
from __future__ import annotations

import datetime as dt
import re

from conftest import failed, strings
from stws.db.models import TimeLogCategory
from stws.errors import ResultCode

UTC = dt.timezone.utc
START = dt.datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
END = dt.datetime(2026, 3, 2, 10, 30, tzinfo=UTC)


async def new_ticket(desk, department_id=None) -> tuple[str, int]:
    created = await desk.tickets.CreateTicketFromCustomer(*desk.admin, department_id or desk.department_id,
                                                          "cust@example.com", "Migrate mailbox", "x", False, False)
    assert created.Result, created.Message
    info = (await desk.tickets.GetTicketInfoByTicketNumber(*desk.admin, created.RequestResult)).Ticket
    return created.RequestResult, info.ID


def add_category(desk, name) -> int:
    with desk.server.runtime.db.transaction() as session:
        category = TimeLogCategory(name=name)
        session.add(category)
        session.flush()
        return category.id


async def test_add_and_read_time_logs(desk):
    _, ticket_id = await new_ticket(desk)
    migration = add_category(desk, "Migration")
    first = await desk.tickets.AddTicketTimeLog(*desk.agent, ticket_id, "Copied mail", desk.agent_id, migration,
                                                "IMAP sync of 3 GB", START, END, True)
    assert first.Result, first.Message
    first_id = int(re.search(r"Time log (\d+) added", first.Message).group(1))
    # agentID 0 = the caller, category 0 = General, empty subject = the ticket's.
    earlier = await desk.tickets.AddTicketTimeLog(*desk.agent, ticket_id, "", 0, 0, "",
                                                  START - dt.timedelta(days=1), START - dt.timedelta(hours=23),
                                                  False)
    assert earlier.Result, earlier.Message

    log = (await desk.tickets.GetTicketTimeLog(*desk.agent, ticket_id, first_id)).TimeLog
    assert log.ID == first_id and log.TicketID == ticket_id and log.AgentID == desk.agent_id
    assert log.Subject == "Copied mail" and log.Description == "IMAP sync of 3 GB"
    assert log.TimeLogCategoryID == migration and log.CategoryName == "Migration"
    assert log.DateStartUTC == START and log.DateEndUTC == END
    assert log.IsBillable is True and log.IsDeleted is False and log.CallLogID == 0 and log.ChatID == 0

    logs = (await desk.tickets.GetTicketTimeLogs(*desk.admin, ticket_id)).TimeLogs.TimeLogInfo
    assert [entry.ID for entry in logs][1] == first_id  # oldest start first
    general = logs[0]
    assert general.CategoryName == "General" and general.Subject == "Migrate mailbox"
    assert general.AgentID == desk.agent_id and general.IsBillable is False

    history = desk.sql("SELECT description, user_name FROM ticket_events WHERE ticket_id = :t "
                       "AND event_type = 'TimeLogAdded' ORDER BY id", t=ticket_id)
    assert history[0].description == "Time log %d added: 90 min for alice (Migration, billable)" % first_id
    assert history[0].user_name == "alice" and len(history) == 2


async def test_no_time_logs(desk):
    _, ticket_id = await new_ticket(desk)
    result = await desk.tickets.GetTicketTimeLogs(*desk.agent, ticket_id)
    assert result.Result and not result.TimeLogs


async def test_add_time_log_rejects_bad_input(desk):
    number, ticket_id = await new_ticket(desk)
    add = desk.tickets.AddTicketTimeLog
    assert "before" in failed(await add(*desk.agent, ticket_id, "x", 0, 0, "", END, START, False),
                              ResultCode.INVALID_ARGUMENT)
    failed(await add(*desk.agent, ticket_id, "x", 0, 0, "", START, START + dt.timedelta(days=40), False),
           ResultCode.INVALID_ARGUMENT)
    failed(await add(*desk.agent, ticket_id, "x", 0, 4242, "", START, END, False), ResultCode.NOT_FOUND)
    failed(await add(*desk.agent, ticket_id, "x", 0, -1, "", START, END, False), ResultCode.NOT_FOUND)
    failed(await add(*desk.agent, ticket_id, "x", 999, 0, "", START, END, False), ResultCode.NOT_FOUND)
    assert "not an agent" in failed(await add(*desk.agent, ticket_id, "x", desk.customer_id, 0, "", START, END,
                                              False), ResultCode.INVALID_ARGUMENT)
    failed(await add(*desk.agent, ticket_id, "x" * 501, 0, 0, "", START, END, False), ResultCode.INVALID_ARGUMENT)
    failed(await add(*desk.agent, 98765, "x", 0, 0, "", START, END, False), ResultCode.NOT_FOUND)
    failed(await add(*desk.customer, ticket_id, "x", 0, 0, "", START, END, False), ResultCode.PERMISSION_DENIED)
    assert not (await desk.tickets.GetTicketTimeLogs(*desk.agent, ticket_id)).TimeLogs
    # Closed and locked tickets take no more time logs, but their logs stay readable.
    assert (await add(*desk.agent, ticket_id, "x", 0, 0, "", START, END, False)).Result
    assert (await desk.tickets.SetTicketProperties(*desk.admin, number, strings("TicketStatusID=4"))).Result
    assert "locked" in failed(await add(*desk.agent, ticket_id, "x", 0, 0, "", START, END, False),
                              ResultCode.INVALID_STATE)
    assert len((await desk.tickets.GetTicketTimeLogs(*desk.agent, ticket_id)).TimeLogs.TimeLogInfo) == 1


async def test_time_logs_follow_ticket_access(desk):
    _, ticket_id = await new_ticket(desk)
    _, other_ticket = await new_ticket(desk)
    added = await desk.tickets.AddTicketTimeLog(*desk.agent, ticket_id, "x", 0, 0, "", START, END, False)
    log_id = int(re.search(r"\d+", added.Message).group(0))
    # The log belongs to another ticket; unknown ids; customers have no access.
    failed(await desk.tickets.GetTicketTimeLog(*desk.agent, other_ticket, log_id), ResultCode.NOT_FOUND)
    failed(await desk.tickets.GetTicketTimeLog(*desk.agent, ticket_id, log_id + 100), ResultCode.NOT_FOUND)
    failed(await desk.tickets.GetTicketTimeLog(*desk.customer, ticket_id, log_id), ResultCode.PERMISSION_DENIED)
    failed(await desk.tickets.GetTicketTimeLogs(*desk.customer, ticket_id), ResultCode.PERMISSION_DENIED)
    # A ticket in a group alice is not a member of is not found for her.
    created = await desk.org.CreateDepartment(*desk.admin, 1, "Billing", "", "Billing L1")
    _, foreign = await new_ticket(desk, created.RequestResult)
    failed(await desk.tickets.GetTicketTimeLogs(*desk.agent, foreign), ResultCode.NOT_FOUND)
    failed(await desk.tickets.AddTicketTimeLog(*desk.agent, foreign, "x", 0, 0, "", START, END, False),
           ResultCode.NOT_FOUND)
    assert (await desk.tickets.AddTicketTimeLog(*desk.admin, foreign, "x", desk.agent_id, 0, "", START, END,
                                                False)).Result
