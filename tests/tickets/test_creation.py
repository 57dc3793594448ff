"""Creating tickets and reading them back."""
from __future__ import annotations

import datetime as dt
import email
import email.policy
import re
from types import SimpleNamespace

from sqlalchemy import insert, text

from conftest import failed
from stws.db.engine import Database
from stws.db.models import User
from stws.errors import ResultCode
from stws.domain.tickets import core

NUMBER = re.compile(r"^\d{3}-[0-9A-F]{8}-[0-9A-F]{4}$")


async def test_create_ticket_as_agent_without_email(desk):
    result = await desk.tickets.CreateTicket(*desk.agent, desk.department_id, 0, 0, "someone@example.org",
                                             "Printer on fire", "Please advise.", False, False, False)
    assert result.Result, result.Message
    assert NUMBER.match(result.RequestResult)
    info = (await desk.tickets.GetTicketInfoByTicketNumber(*desk.agent, result.RequestResult)).Ticket
    assert info.Subject == "Printer on fire"
    assert info.CustomerEmailAddress == "someone@example.org"
    assert info.IdAgent == desk.agent_id  # userIdOfAgent=0 means the caller
    assert info.IdGroup == desk.group_id and info.IdDepartment == desk.department_id
    assert info.IsOpen and info.IsActive and not info.IsDeleted
    assert info.ReplyCountOut == 1 and info.ReplyCountIn == 0
    by_id = (await desk.tickets.GetTicketInfo(*desk.agent, info.ID)).Ticket
    assert by_id.TicketNumber == result.RequestResult
    assert desk.spool() == []


async def test_create_ticket_waiting_with_email_goes_to_the_spool(desk):
    result = await desk.tickets.CreateTicket(*desk.agent, desk.department_id, 0, 0, "someone@example.org",
                                             "Your order", "<p>It <b>shipped</b>.</p>", True, True, True)
    assert result.Result, result.Message
    info = (await desk.tickets.GetTicketInfoByTicketNumber(*desk.agent, result.RequestResult)).Ticket
    assert info.IsOpen and not info.IsActive  # Waiting
    (row,) = desk.spool()
    assert row.status == "queued" and row.recipients == "someone@example.org"
    mail = email.message_from_bytes(row.raw_content, policy=email.policy.default)
    assert result.RequestResult in mail["Subject"]
    assert mail["Message-ID"] == row.message_id_header
    assert mail["To"] == "someone@example.org"
    assert "shipped" in mail.get_body(("plain",)).get_content()
    assert "<b>shipped</b>" in mail.get_body(("html",)).get_content()


async def test_create_ticket_from_customer_is_queued_when_nobody_receives(desk):
    result = await desk.tickets.CreateTicketFromCustomer(*desk.agent, desk.department_id, "cust@example.com",
                                                         "Cannot log in", "Help!", False, False)
    assert result.Result, result.Message
    info = (await desk.tickets.GetTicketInfoByTicketNumber(*desk.admin, result.RequestResult)).Ticket
    assert info.IdCustomer == desk.customer_id
    assert info.ReplyCountIn == 1
    # alice is a member but not receiving tickets yet, so the ticket waits in the queue.
    assert info.IdAgent == 0


async def test_customer_sees_only_own_tickets(desk):
    mine = await desk.tickets.CreateTicketFromCustomer(*desk.agent, desk.department_id, "cust@example.com",
                                                       "Mine", "x", False, False)
    other = await desk.tickets.CreateTicketFromCustomer(*desk.agent, desk.department_id, "other@example.com",
                                                        "Other", "x", False, False)
    assert (await desk.tickets.GetTicketInfoByTicketNumber(*desk.customer, mine.RequestResult)).Result
    failed(await desk.tickets.GetTicketInfoByTicketNumber(*desk.customer, other.RequestResult), ResultCode.NOT_FOUND)


async def test_auto_responder(desk):
    assert (await desk.org.SetDepartmentProperties(
        *desk.admin, desk.department_id,
        {"string": ["AutoResponderEnabled=true", "AutoResponderSubject=Got it",
                    "AutoResponderBody=Ticket %TICKETNUMBER% received."]})).Result
    result = await desk.tickets.CreateTicketFromCustomer(*desk.agent, desk.department_id, "cust@example.com",
                                                         "Hello", "x", False, True)
    (row,) = desk.spool()
    mail = email.message_from_bytes(row.raw_content, policy=email.policy.default)
    assert "Ticket %s received." % result.RequestResult in mail.get_content()
    assert result.RequestResult in mail["Subject"]
    # sendAutoResponder=false sends nothing.
    await desk.tickets.CreateTicketFromCustomer(*desk.agent, desk.department_id, "cust@example.com",
                                                "Again", "x", False, False)
    assert len(desk.spool()) == 1


async def test_back_dated_ticket(desk):
    opened = dt.datetime(2020, 5, 1, 12, 0, tzinfo=dt.timezone.utc)
    result = await desk.tickets.CreateTicketFromCustomerWithDate(
        *desk.agent, desk.department_id, 0, desk.customer_id, "", "Old", "x", False, False,
        opened, opened, opened)
    assert result.Result, result.Message
    assert result.RequestResult.split("-")[1] == "%08X" % int((opened - dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc)).total_seconds())
    info = (await desk.tickets.GetTicketInfoByTicketNumber(*desk.agent, result.RequestResult)).Ticket
    assert info.LastReplyDateUtc == opened
    assert info.CustomerEmailAddress == "cust@example.com"
    future = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=2)
    failed(await desk.tickets.CreateTicketWithDate(*desk.agent, desk.department_id, 0, 0, "a@example.org", "s", "b",
                                                   False, False, False, future, future, future),
           ResultCode.INVALID_ARGUMENT)


async def test_create_ticket_bad_input(desk):
    t = desk.tickets
    failed(await t.CreateTicket(*desk.agent, 99, 0, 0, "a@example.org", "s", "b", False, False, False),
           ResultCode.NOT_FOUND)
    failed(await t.CreateTicket(*desk.agent, desk.department_id, 0, 0, "not an address", "s", "b", False, False,
                                False), ResultCode.INVALID_ARGUMENT)
    failed(await t.CreateTicket(*desk.agent, desk.department_id, 77, 0, "a@example.org", "s", "b", False, False,
                                False), ResultCode.NOT_FOUND)
    failed(await t.CreateTicket(*desk.agent, desk.department_id, 0, desk.customer_id, "a@example.org", "s", "b",
                                False, False, False), ResultCode.INVALID_ARGUMENT)
    failed(await t.CreateTicket(*desk.customer, desk.department_id, 0, 0, "a@example.org", "s", "b", False, False,
                                False), ResultCode.PERMISSION_DENIED)
    failed(await t.GetTicketInfo(*desk.agent, 12345), ResultCode.NOT_FOUND)
    failed(await t.GetTicketInfoByTicketNumber(*desk.agent, "000-00000000-0000"), ResultCode.NOT_FOUND)
    failed(await t.GetTicketInfoByTicketNumber(*desk.agent, ""), ResultCode.INVALID_ARGUMENT)


async def test_ping_service(desk):
    assert (await desk.tickets.PingService(*desk.agent, "")) is True
    assert (await desk.tickets.PingService(*desk.agent, "cust")) is True
    assert (await desk.tickets.PingService(*desk.agent, "nobody")) is False
    assert (await desk.tickets.PingService("alice", "wrong", "")) is False


# ---------------------------------------------------------------- customer lookup


def test_the_customer_of_an_address_is_found_through_the_lower_email_index(database_url):
    """CreateTicketFromCustomer and the email import look the customer up by
    address in any case, among 5,000 users: through ix_users_email_lower."""
    db = Database(database_url, pool_size=2)
    try:
        with db.engine.begin() as connection:
            connection.execute(insert(User.__table__), [
                dict(username="user%d" % i, username_key="user%d" % i, email="User%d@Example.COM" % i,
                     security_stamp="%032x" % i) for i in range(5000)])
            if db.engine.dialect.name == "postgresql":
                connection.execute(text("ANALYZE users"))
        with db.transaction(writes=False) as session:
            customer = core.find_customer(SimpleNamespace(session=session), "user4321@example.com")
            assert customer.username == "user4321"
            sql = str(core.customers_with_address("user4321@example.com").limit(2)
                      .compile(db.engine, compile_kwargs={"literal_binds": True}))
            if db.engine.dialect.name == "sqlite":
                plan = " ".join(row[3] for row in session.execute(text("EXPLAIN QUERY PLAN " + sql)))
            else:
                plan = " ".join(row[0] for row in session.execute(text("EXPLAIN " + sql)))
            assert "ix_users_email_lower" in plan, plan
    finally:
        db.dispose()


_NO_RENUMBERING = {
    "sqlite": ["CREATE TRIGGER tr_test_no_renumbering BEFORE UPDATE OF ticket_number ON tickets "
               "BEGIN SELECT RAISE(ABORT, 'a ticket was renumbered'); END"],
    "postgresql": ["CREATE FUNCTION test_no_renumbering() RETURNS trigger LANGUAGE plpgsql AS "
                   "$$ BEGIN RAISE EXCEPTION 'a ticket was renumbered'; END $$",
                   "CREATE TRIGGER tr_test_no_renumbering BEFORE UPDATE OF ticket_number ON tickets "
                   "FOR EACH ROW EXECUTE FUNCTION test_no_renumbering()"],
}
_IDS_FROM = {
    "sqlite": "UPDATE sqlite_sequence SET seq = :last WHERE name = 'tickets'",
    "postgresql": "SELECT setval(pg_get_serial_sequence('tickets', 'id'), :last)",
}


def test_a_new_ticket_is_written_once_with_its_number(tmp_path, database_url, monkeypatch):
    """The INSERT writes the ticket's final number, made from the id it
    takes (no UPDATE of the row after it): the same number as
    core.ticket_number's, the id's last four hex digits, around 0xFFFF too."""
    from stws.config import Config
    from stws.operations import runner
    from stws.operations.tickets import creation
    from stws.runtime import start_runtime

    monkeypatch.setenv("STWS_ADMIN_PASSWORD", "admin-Passw0rd!")
    runtime = start_runtime(Config(data_dir=tmp_path / "data", database=database_url))
    try:
        admin = runner.PasswordCredentials("admin", "admin-Passw0rd!")
        args = (1, "someone@example.com", "Hello", "It broke.", False, False)
        first = runner.call(runtime, creation.create_ticket_from_customer, admin, args)  # sqlite_sequence has a row
        with runtime.db.engine.begin() as connection:
            for statement in _NO_RENUMBERING[connection.dialect.name]:
                connection.exec_driver_sql(statement)
            connection.execute(text(_IDS_FROM[connection.dialect.name]), {"last": 0x1FFFE})
        numbers = [runner.call(runtime, creation.create_ticket_from_customer, admin, args) for _ in range(2)]
        with runtime.db.engine.connect() as connection:
            stored = connection.execute(text("SELECT id, ticket_number FROM tickets ORDER BY id")).all()
        assert [number for _, number in stored] == [first, *numbers]
        assert [ticket_id for ticket_id, _ in stored[1:]] == [0x1FFFF, 0x20000]
        assert [number[-5:] for number in numbers] == ["-FFFF", "-0000"]
        assert all(NUMBER.match(number) for number in numbers)
    finally:
        runtime.close()


def test_a_creation_reads_the_caller_and_writes_on_one_connection(tmp_path, database_url, monkeypatch):
    """CreateTicketFromCustomer (an operation with a ``consult`` step) reads
    the caller's account and runs its transaction on one pooled connection
    when no provider is to be asked (runner.call, Database.one_connection):
    one checkout, on PostgreSQL one pre-ping, not two."""
    from sqlalchemy import event

    from stws.config import Config
    from stws.operations import runner
    from stws.operations.tickets import creation
    from stws.runtime import start_runtime

    monkeypatch.setenv("STWS_ADMIN_PASSWORD", "admin-Passw0rd!")
    runtime = start_runtime(Config(data_dir=tmp_path / "data", database=database_url))
    try:
        admin = runner.PasswordCredentials("admin", "admin-Passw0rd!")
        args = (1, "someone@example.com", "Hello", "It broke.", False, False)
        runner.call(runtime, creation.create_ticket_from_customer, admin, args)  # the settings snapshot, caches
        checkouts = []
        event.listen(runtime.db.engine, "checkout", lambda *_: checkouts.append(1))
        number = runner.call(runtime, creation.create_ticket_from_customer, admin, args)
        assert NUMBER.match(number)
        assert len(checkouts) == 1
    finally:
        runtime.close()
