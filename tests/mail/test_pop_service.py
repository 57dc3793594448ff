"""svcSpool.asmx through zeep: POP accounts and the incoming spool, and a
customer email end to end (POP -> ticket -> agent reply threaded to it)."""
from __future__ import annotations

import email.policy

from sqlalchemy import select

from conftest import failed, strings
from mail.pop_server import PopTestServer, add_pop_account, download, import_all, incoming_rows, make_mail
from stws.db.models import OutgoingMessage, PopAccount, Ticket
from stws.errors import ResultCode
from stws.mail import pop

ACCOUNT = (1, "support@helpdesk.example", "pop.example.com", 995, "ssl", "support", "s3cret", True, 10, True,
           "registered")


def accounts_of(result) -> dict:
    assert result.Result, result.Message
    return {a.ID: a for a in (result.Accounts.PopAccountInfo if result.Accounts else [])}


def messages_of(result) -> list:
    assert result.Result, result.Message
    return list(result.Messages.IncomingMessageInfo) if result.Messages else []


async def test_create_list_update_delete_pop_account(server, spool):
    created = await spool.CreatePopAccount(*server.admin, *ACCOUNT)
    assert created.Result, created.Message
    account_id = created.RequestResult
    info = accounts_of(await spool.GetPopAccounts(*server.admin))[account_id]
    assert (info.DepartmentId, info.EmailAddress, info.Server, info.Port, info.Security, info.Username) == (
        1, "support@helpdesk.example", "pop.example.com", 995, "ssl", "support")
    assert info.HasPassword is True and info.LeaveOnServer is True and info.IsEnabled is True
    assert info.ImportFrequencyMinutes == 10 and info.NewTicketRestriction == "registered"
    assert not info.LastError and info.LastCheckUtc.year == 1
    assert "s3cret" not in str(await spool.GetPopAccounts(*server.admin))

    changed = await spool.UpdatePopAccount(*server.admin, account_id, strings(
        "Port=110", "Security=STARTTLS", "Password=", "LeaveOnServer=false", "NewTicketRestriction=Nobody",
        "ImportFrequencyMinutes=1"))
    assert changed.Result, changed.Message
    info = accounts_of(await spool.GetPopAccounts(*server.admin))[account_id]
    assert (info.Port, info.Security, info.HasPassword, info.LeaveOnServer, info.NewTicketRestriction,
            info.ImportFrequencyMinutes) == (110, "starttls", False, False, "nobody", 1)

    # All or nothing.
    failed(await spool.UpdatePopAccount(*server.admin, account_id, strings("Port=0", "Colour=blue")),
           ResultCode.INVALID_ARGUMENT)
    failed(await spool.UpdatePopAccount(*server.admin, account_id, strings("NewTicketRestriction=some")),
           ResultCode.INVALID_ARGUMENT)
    failed(await spool.UpdatePopAccount(*server.admin, account_id, strings("DepartmentId=999")),
           ResultCode.NOT_FOUND)
    failed(await spool.UpdatePopAccount(*server.admin, 999, strings("Port=25")), ResultCode.NOT_FOUND)
    assert accounts_of(await spool.GetPopAccounts(*server.admin))[account_id].Port == 110

    assert (await spool.DeletePopAccount(*server.admin, account_id)).Result
    assert accounts_of(await spool.GetPopAccounts(*server.admin)) == {}
    failed(await spool.DeletePopAccount(*server.admin, account_id), ResultCode.NOT_FOUND)


async def test_create_pop_account_validation(server, spool):
    names = ("departmentId", "emailAddress", "server", "port", "security", "username", "password",
             "leaveOnServer", "importFrequencyMinutes", "isEnabled", "newTicketRestriction")

    def account(**changes):
        values = dict(zip(names, ACCOUNT))
        values.update(changes)
        return [values[n] for n in names]

    for changes, code in (({"departmentId": 999}, ResultCode.NOT_FOUND),
                          ({"emailAddress": "not an address"}, ResultCode.INVALID_ARGUMENT),
                          ({"server": ""}, ResultCode.INVALID_ARGUMENT),
                          ({"port": 70000}, ResultCode.INVALID_ARGUMENT),
                          ({"security": "tls13"}, ResultCode.INVALID_ARGUMENT),
                          ({"username": ""}, ResultCode.INVALID_ARGUMENT),
                          ({"importFrequencyMinutes": -1}, ResultCode.INVALID_ARGUMENT),
                          ({"newTicketRestriction": "everyone"}, ResultCode.INVALID_ARGUMENT)):
        failed(await spool.CreatePopAccount(*server.admin, *account(**changes)), code)
    assert accounts_of(await spool.GetPopAccounts(*server.admin)) == {}


async def test_pop_operations_need_an_administrator(server, spool):
    org = await server.client("svcOrganization")
    created = await org.CreateUser(*server.admin, "agent1", "agent1-passw0rd", "agent1@example.com", True, "A")
    assert created.Result, created.Message
    assert (await org.SetUsersProperties(*server.admin, created.RequestResult, strings("Roles=Agent"))).Result
    agent = ("agent1", "agent1-passw0rd")
    failed(await spool.GetPopAccounts(*agent), ResultCode.PERMISSION_DENIED)
    failed(await spool.CreatePopAccount(*agent, *ACCOUNT), ResultCode.PERMISSION_DENIED)
    failed(await spool.GetIncomingMessages(*agent, "", False, 0, 0), ResultCode.PERMISSION_DENIED)
    failed(await spool.DeleteAllIncomingMessages(*agent, ""), ResultCode.PERMISSION_DENIED)


async def test_incoming_spool_list_raw_retry_delete(server, spool):
    runtime = server.runtime
    account_id = add_pop_account(runtime, 110)
    good = pop.store_message(runtime, account_id, make_mail(subject="Good one", message_id="<good@example.com>"))
    bad = pop.store_message(runtime, account_id, b"no headers here\r\n")
    await import_all(runtime)

    listed = await spool.GetIncomingMessages(*server.admin, "id", False, 0, 0)
    assert listed.TotalCount == 2
    first, second = messages_of(listed)
    assert (first.ID, first.Status, first.Subject, first.MessageId) == (good, "imported", "Good one",
                                                                          "<good@example.com>")
    assert first.TicketId and first.AccountId == account_id and first.Size > 0
    assert first.From == "Carol Customer <carol@example.com>"
    assert (second.ID, second.Status, second.MessageId or "", second.TicketId) == (bad, "failed", "", 0)
    assert second.LastError
    page = messages_of(await spool.GetIncomingMessages(*server.admin, "status", True, 1, 1))
    assert [m.ID for m in page] == [bad]  # failed, imported descending: the second is "failed"
    failed(await spool.GetIncomingMessages(*server.admin, "colour", False, 0, 0), ResultCode.INVALID_ARGUMENT)

    raw = await spool.GetIncomingMessageRawContent(*server.admin, good)
    assert raw.Result and "Subject: Good one" in raw.RequestResult
    raw = await spool.GetIncomingMessageRawContent(*server.admin, bad)  # from Failed Emails
    assert raw.Result and "no headers here" in raw.RequestResult
    failed(await spool.GetIncomingMessageRawContent(*server.admin, 999), ResultCode.NOT_FOUND)

    counts = await spool.GetSpoolCounts(*server.admin)
    assert "IncomingFailed=1" in counts.RequestResults.string
    assert "IncomingImported=1" in counts.RequestResults.string
    counts = await spool.GetIncomingSpoolCounts(*server.admin)
    assert "IncomingTotal=2" in counts.RequestResults.string

    # Imported messages are not retried (they would be imported twice).
    failed(await spool.RetryIncomingMessages(*server.admin, strings(str(good))), ResultCode.INVALID_STATE)
    failed(await spool.RetryIncomingMessages(*server.admin, strings("999")), ResultCode.NOT_FOUND)
    # Retry: the file comes back from Failed Emails; fixed by hand, it imports.
    (row,) = [r for r in incoming_rows(runtime) if r.id == bad]
    failed_file = runtime.data.failed_emails / row.file_name
    failed_file.write_bytes(make_mail(subject="Fixed by hand"))
    assert (await spool.RetryIncomingMessages(*server.admin, strings(str(bad)))).Result
    assert (runtime.data.email / row.file_name).exists() and not failed_file.exists()
    assert [r.status for r in incoming_rows(runtime) if r.id == bad] == ["pending"]
    await import_all(runtime)
    assert [r.status for r in incoming_rows(runtime) if r.id == bad] == ["imported"]

    # RetryAllFailed.
    third = pop.store_message(runtime, account_id, b"garbage\r\n")
    await import_all(runtime)
    result = await spool.RetryAllFailedIncomingMessages(*server.admin)
    assert result.Result and result.Message.startswith("1 ")
    (row,) = [r for r in incoming_rows(runtime) if r.id == third]
    assert row.status == "pending" and (runtime.data.email / row.file_name).exists()

    # Delete: the row and the file of a message never imported; all or nothing.
    failed(await spool.DeleteIncomingMessages(*server.admin, strings(str(third), "999")), ResultCode.NOT_FOUND)
    assert (await spool.DeleteIncomingMessages(*server.admin, strings(str(third)))).Result
    assert not (runtime.data.email / row.file_name).exists()
    assert (await spool.GetIncomingMessages(*server.admin, "", False, 0, 0)).TotalCount == 2


async def test_delete_all_incoming_messages_by_status(server, spool):
    """The incoming spool's "select all, delete", as the outgoing one has it."""
    runtime = server.runtime
    account_id = add_pop_account(runtime, 110)
    imported = pop.store_message(runtime, account_id, make_mail(subject="Good", message_id="<good@example.com>"))
    broken = pop.store_message(runtime, account_id, b"no headers here\r\n")
    await import_all(runtime)
    pending = pop.store_message(runtime, account_id, make_mail(subject="Later", message_id="<later@example.com>"))
    files = {r.id: r.file_name for r in incoming_rows(runtime)}

    failed(await spool.DeleteAllIncomingMessages(*server.admin, "colour"), ResultCode.INVALID_ARGUMENT)
    result = await spool.DeleteAllIncomingMessages(*server.admin, "FAILED")
    assert result.Result and result.Message == "Deleted 1 messages.", result.Message
    assert sorted(r.id for r in incoming_rows(runtime)) == [imported, pending]
    assert not (runtime.data.failed_emails / files[broken]).exists()

    result = await spool.DeleteAllIncomingMessages(*server.admin, "")
    assert result.Result and result.Message == "Deleted 2 messages.", result.Message
    assert incoming_rows(runtime) == []
    assert not (runtime.data.email / files[pending]).exists()
    # An imported message's file belongs to its ticket message (raw content): kept.
    assert (runtime.data.raw_content / files[imported]).exists()


async def test_customer_email_to_ticket_to_agent_reply_end_to_end(server, spool):
    runtime = server.runtime
    pop_server = PopTestServer()
    pop_server.add_mailbox("support", "pw")
    pop_server.listen()
    try:
        created = await spool.CreatePopAccount(*server.admin, 1, "support@helpdesk.example", "127.0.0.1",
                                               pop_server.port, "none", "support", "pw", False, 1, True, "anyone")
        assert created.Result, created.Message
        pop_server.deliver("support", make_mail(subject="Cannot log in", message_id="<customer-q@example.com>"))
        assert await download(runtime) == 1
        assert await import_all(runtime) == 1
        info = accounts_of(await spool.GetPopAccounts(*server.admin))[created.RequestResult]
        assert info.LastCheckUtc.year > 2000 and not info.LastError
        with runtime.db.transaction(writes=False) as session:
            (ticket,) = session.scalars(select(Ticket))
            number, ticket_id = ticket.ticket_number, ticket.id
        tickets = await server.client("svcTickets")
        replied = await tickets.AddMessageToTicket(*server.admin, number, "", "", "", "Re: Cannot log in",
                                                   "Try resetting your password.", False, True, True)
        assert replied.Result, replied.Message
        with runtime.db.transaction(writes=False) as session:
            (row,) = session.scalars(select(OutgoingMessage))
            raw = bytes(row.raw_content)
        mail = email.message_from_bytes(raw, policy=email.policy.default)
        assert mail["In-Reply-To"] == "<customer-q@example.com>"
        assert number in mail["Subject"] and mail["To"] == "carol@example.com"
        # The customer answers the agent's mail: back on the same ticket.
        pop_server.deliver("support", make_mail(subject="Re: " + str(mail["Subject"]),
                                                headers={"In-Reply-To": str(mail["Message-ID"])},
                                                body="That worked.\n"))
        with runtime.db.transaction() as session:
            session.get(PopAccount, created.RequestResult).last_check_utc = None
        assert await download(runtime) == 1
        assert await import_all(runtime) == 1
        with runtime.db.transaction(writes=False) as session:
            assert session.query(Ticket).count() == 1
    finally:
        await pop_server.stop()
