"""svcSpool.asmx through zeep: SMTP accounts and the outgoing spool."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from conftest import failed, strings
from mail.conftest import add_account, deliver, queue, rows, smtp_log
from stws.db.models import Brand, Department, OutgoingMessage, SmtpAccount, utcnow
from stws.errors import ResultCode

ACCOUNT = ("Main relay", "smtp.example.com", 587, "starttls", True, "mailer", "s3cret", "help@example.com",
           "Help Desk", True)


def accounts_of(result) -> dict:
    assert result.Result, result.Message
    return {a.Name: a for a in (result.Accounts.SmtpAccountInfo if result.Accounts else [])}


async def test_create_list_update_delete_smtp_account(server, spool):
    created = await spool.CreateSmtpAccount(*server.admin, *ACCOUNT)
    assert created.Result, created.Message
    account_id = created.RequestResult
    info = accounts_of(await spool.GetSmtpAccounts(*server.admin))["Main relay"]
    assert (info.ID, info.Server, info.Port, info.Security, info.UseAuthentication, info.Username) == (
        account_id, "smtp.example.com", 587, "starttls", True, "mailer")
    assert info.HasPassword is True and info.IsDefault is True
    assert info.FromAddress == "help@example.com" and info.FromName == "Help Desk"
    assert not hasattr(info, "Password")
    raw = await spool.GetSmtpAccounts(*server.admin)
    assert "s3cret" not in str(raw)

    # A second default takes the flag over.
    second = (await spool.CreateSmtpAccount(*server.admin, "Backup", "10.0.0.2", 25, "none", False, "", "", "",
                                            "", True)).RequestResult
    listed = accounts_of(await spool.GetSmtpAccounts(*server.admin))
    assert listed["Backup"].IsDefault and not listed["Main relay"].IsDefault
    assert listed["Backup"].HasPassword is False

    changed = await spool.UpdateSmtpAccount(*server.admin, account_id, strings(
        "Port=465", "Security=SSL", "Password=", "IsDefault=true", "Name=Relay"))
    assert changed.Result, changed.Message
    listed = accounts_of(await spool.GetSmtpAccounts(*server.admin))
    assert listed["Relay"].Port == 465 and listed["Relay"].Security == "ssl"
    assert listed["Relay"].HasPassword is False and listed["Relay"].IsDefault
    assert not listed["Backup"].IsDefault

    # All or nothing.
    failed(await spool.UpdateSmtpAccount(*server.admin, account_id, strings("Port=0", "Colour=blue")),
           ResultCode.INVALID_ARGUMENT)
    failed(await spool.UpdateSmtpAccount(*server.admin, account_id, strings("Name=Backup")),
           ResultCode.ALREADY_EXISTS)
    failed(await spool.UpdateSmtpAccount(*server.admin, account_id, strings("Username=")),
           ResultCode.INVALID_ARGUMENT)  # authentication needs a username
    failed(await spool.UpdateSmtpAccount(*server.admin, 999, strings("Port=25")), ResultCode.NOT_FOUND)
    assert accounts_of(await spool.GetSmtpAccounts(*server.admin))["Relay"].Port == 465

    assert (await spool.DeleteSmtpAccount(*server.admin, second)).Result
    assert list(accounts_of(await spool.GetSmtpAccounts(*server.admin))) == ["Relay"]
    failed(await spool.DeleteSmtpAccount(*server.admin, second), ResultCode.NOT_FOUND)


async def test_create_smtp_account_validation(server, spool):
    def account(**changes):
        values = dict(zip(("name", "server", "port", "security", "useAuthentication", "username", "password",
                           "fromAddress", "fromName", "isDefault"), ACCOUNT))
        values.update(changes)
        return spool.CreateSmtpAccount(*server.admin, **values)

    for changes in ({"name": ""}, {"server": " "}, {"server": "smtp example"}, {"port": 0}, {"port": 70000},
                    {"security": "tls"}, {"useAuthentication": True, "username": ""},
                    {"fromAddress": "not an address"}):
        failed(await account(**changes), ResultCode.INVALID_ARGUMENT)
    assert (await account()).Result
    failed(await account(name="MAIN RELAY"), ResultCode.ALREADY_EXISTS)


async def test_department_and_brand_accounts_and_in_use(server, spool):
    account_id = (await spool.CreateSmtpAccount(*server.admin, *ACCOUNT)).RequestResult
    assert (await spool.SetDepartmentSmtpAccount(*server.admin, 1, account_id)).Result
    assert (await spool.SetBrandSmtpAccount(*server.admin, 1, account_id)).Result
    with server.runtime.db.transaction(writes=False) as session:
        assert session.get(Department, 1).smtp_account_id == account_id
        assert session.get(Brand, 1).smtp_account_id == account_id
    result = await spool.DeleteSmtpAccount(*server.admin, account_id)
    failed(result, ResultCode.IN_USE)
    assert "brand" in result.Message and "department" in result.Message
    assert (await spool.SetDepartmentSmtpAccount(*server.admin, 1, 0)).Result
    failed(await spool.DeleteSmtpAccount(*server.admin, account_id), ResultCode.IN_USE)
    assert (await spool.SetBrandSmtpAccount(*server.admin, 1, 0)).Result
    assert (await spool.DeleteSmtpAccount(*server.admin, account_id)).Result
    failed(await spool.SetDepartmentSmtpAccount(*server.admin, 99, 0), ResultCode.NOT_FOUND)
    failed(await spool.SetBrandSmtpAccount(*server.admin, 99, 0), ResultCode.NOT_FOUND)
    failed(await spool.SetDepartmentSmtpAccount(*server.admin, 1, 1234), ResultCode.NOT_FOUND)


async def test_administrators_only(server, spool):
    org = await server.client("svcOrganization")
    created = await org.CreateUser(*server.admin, "agent1", "agent-passw0rd", "a@example.com", True, "")
    await org.SetUsersProperties(*server.admin, created.RequestResult, strings("Roles=Agent,Manager"))
    agent = ("agent1", "agent-passw0rd")
    for call in (spool.GetSmtpAccounts(*agent), spool.CreateSmtpAccount(*agent, *ACCOUNT),
                 spool.GetOutgoingMessages(*agent, "id", False, 0, 10), spool.GetSpoolCounts(*agent),
                 spool.DeleteAllOutgoingMessages(*agent, "")):
        failed(await call, ResultCode.PERMISSION_DENIED)
    failed(await spool.GetSpoolCounts("admin", "wrong"), ResultCode.AUTHENTICATION_FAILED)


def counts(result) -> dict:
    assert result.Result, result.Message
    return dict(item.split("=", 1) for item in result.RequestResults.string)


async def test_outgoing_list_sort_page_and_raw(server, spool):
    runtime = server.runtime
    ids = queue(runtime, 3)
    queue(runtime, 1, to="zed@example.com", status="failed", attempts=10, last_error="550 no")
    result = await spool.GetOutgoingMessages(*server.admin, "", False, 0, 0)
    assert result.Result and result.TotalCount == 4
    messages = result.Messages.OutgoingMessageInfo
    assert [m.ID for m in messages] == sorted(m.ID for m in messages)
    first = messages[0]
    assert first.Status == "queued" and first.To == "customer@example.com" and first.Subject == "Message 0"
    assert first.From == "support@helpdesk.example" and first.MessageId.startswith("<test.")
    assert first.Size > 100 and first.Attempts == 0 and not first.IsBeingSent
    assert first.DateSentUtc.year == 1
    page = await spool.GetOutgoingMessages(*server.admin, "to", True, 0, 2)
    assert page.TotalCount == 4 and [m.To for m in page.Messages.OutgoingMessageInfo][0] == "zed@example.com"
    assert len(page.Messages.OutgoingMessageInfo) == 2
    page = await spool.GetOutgoingMessages(*server.admin, "Attempts", True, 3, 2)
    assert [m.ID for m in page.Messages.OutgoingMessageInfo] == [ids[0]]
    for field in ("id", "date", "from", "to", "subject", "status", "attempts"):
        assert (await spool.GetOutgoingMessages(*server.admin, field, False, 0, 10)).Result
    failed(await spool.GetOutgoingMessages(*server.admin, "colour", False, 0, 10), ResultCode.INVALID_ARGUMENT)
    failed(await spool.GetOutgoingMessages(*server.admin, "id", False, -1, 10), ResultCode.INVALID_ARGUMENT)
    failed(await spool.GetOutgoingMessages(*server.admin, "id", False, 0, 5000), ResultCode.INVALID_ARGUMENT)

    raw = await spool.GetOutgoingMessageRawContent(*server.admin, ids[1])
    assert raw.Result and "Subject: Message 1" in raw.RequestResult and "Hi there." in raw.RequestResult
    failed(await spool.GetOutgoingMessageRawContent(*server.admin, 999), ResultCode.NOT_FOUND)
    outgoing = {k: v for k, v in counts(await spool.GetSpoolCounts(*server.admin)).items()
                if k.startswith("Outgoing")}
    assert outgoing == {
        "OutgoingQueued": "3", "OutgoingSending": "0", "OutgoingSent": "0", "OutgoingFailed": "1",
        "OutgoingDue": "3", "OutgoingTotal": "4"}


async def test_retry_and_delete(server, spool, smtp_servers):
    runtime = server.runtime
    now = utcnow()
    queued = queue(runtime, 1, next_attempt_utc=now + dt.timedelta(hours=1), attempts=2, last_error="451 later")
    failed_ids = queue(runtime, 2, status="failed", attempts=10, last_error="gave up")
    sent = queue(runtime, 1, status="sent")
    busy = queue(runtime, 1, status="sending", claimed_by="n/1", claim_until_utc=now + dt.timedelta(minutes=5))
    lapsed = queue(runtime, 1, status="sending", claimed_by="n/2", claim_until_utc=now - dt.timedelta(minutes=5))

    failed(await spool.RetryOutgoingMessages(*server.admin, strings(str(queued[0]), str(sent[0]))),
           ResultCode.INVALID_STATE)
    failed(await spool.RetryOutgoingMessages(*server.admin, strings(str(busy[0]))), ResultCode.INVALID_STATE)
    failed(await spool.RetryOutgoingMessages(*server.admin, strings("12345")), ResultCode.NOT_FOUND)
    failed(await spool.RetryOutgoingMessages(*server.admin, strings("x")), ResultCode.INVALID_ARGUMENT)
    failed(await spool.RetryOutgoingMessages(*server.admin, strings()), ResultCode.INVALID_ARGUMENT)
    assert rows(runtime, queued)[0].attempts == 2  # nothing changed

    assert (await spool.RetryOutgoingMessages(*server.admin, strings(str(queued[0]), str(failed_ids[0])))).Result
    for row in rows(runtime, [queued[0], failed_ids[0]]):
        assert row.status == "queued" and row.last_error == ""
        assert row.next_attempt_utc <= utcnow()
    # Attempts are history: kept, and the manual retry is in the SMTP log.
    assert [r.attempts for r in rows(runtime, [queued[0], failed_ids[0]])] == [2, 10]
    assert "message %d %s retried by admin" % (queued[0], rows(runtime, queued)[0].message_id_header) \
        in smtp_log(runtime)
    result = await spool.RetryAllFailedOutgoingMessages(*server.admin)
    assert result.Result and "1 failed" in result.Message
    assert [(r.status, r.attempts) for r in rows(runtime, failed_ids)][1] == ("queued", 10)

    failed(await spool.DeleteOutgoingMessages(*server.admin, strings(str(busy[0]), str(sent[0]))),
           ResultCode.INVALID_STATE)
    assert (await spool.DeleteOutgoingMessages(*server.admin, strings(str(sent[0]), str(lapsed[0])))).Result
    assert {r.id for r in rows(runtime)} == {queued[0], *failed_ids, busy[0]}
    failed(await spool.DeleteAllOutgoingMessages(*server.admin, "bogus"), ResultCode.INVALID_ARGUMENT)
    assert (await spool.DeleteAllOutgoingMessages(*server.admin, "sent")).Result
    assert len(rows(runtime)) == 4
    assert (await spool.DeleteAllOutgoingMessages(*server.admin, "")).Result
    assert [r.id for r in rows(runtime)] == busy  # the one being sent stays

    # A retried message really goes out at the next run.
    sink = smtp_servers()
    add_account(runtime, sink.port)
    again = queue(runtime, 1, status="failed", attempts=10)
    assert (await spool.RetryOutgoingMessages(*server.admin, strings(str(again[0])))).Result
    await deliver(runtime)
    assert [(r.status, r.attempts) for r in rows(runtime, again)] == [("sent", 11)] and len(sink.messages) == 1
    assert counts(await spool.GetSpoolCounts(*server.admin))["OutgoingSent"] == "1"


async def test_ticket_email_goes_out(server, smtp_servers):
    """CreateTicket(sendEmail=true) through svcTickets -> the spool -> the
    SMTP Delivery thread -> the test server, with the right headers."""
    from workers.live import eventually, started_workers

    sink = smtp_servers()
    spool = await server.client("svcSpool")
    tickets = await server.client("svcTickets")
    created = await spool.CreateSmtpAccount(*server.admin, "Loopback", "127.0.0.1", sink.port, "none", False, "",
                                            "", "", "", True)
    assert created.Result, created.Message
    with server.runtime.db.transaction() as session:
        from stws.db.models import Setting

        session.merge(Setting(name="mail.delivery_delay_seconds", value="0"))
        department = session.get(Department, 1)
        department.email_address = "support@helpdesk.example"
    result = await tickets.CreateTicket(*server.admin, 1, 0, 0, "customer@example.org", "Your order",
                                        "It shipped.", True, True, True)
    assert result.Result, result.Message
    number = result.RequestResult
    workers = await started_workers(server.runtime, {"SMTP Delivery": 0.2})
    try:
        await eventually(lambda: len(sink.messages) == 1 and rows(server.runtime)[0].status == "sent")
    finally:
        await workers.stopService()
    (received,) = sink.messages
    (row,) = rows(server.runtime)
    mail = received.mail
    assert received.recipients == ["customer@example.org"]
    assert received.sender == "support@helpdesk.example"
    assert mail["To"] == "customer@example.org"
    assert mail["From"].addresses[0].addr_spec == "support@helpdesk.example"
    assert number in mail["Subject"] and "Your order" in mail["Subject"]
    assert mail["Message-ID"] == row.message_id_header
    assert mail["X-Stws-Ticket"] == number
    assert "It shipped." in mail.get_body(("plain",)).get_content()
    with server.runtime.db.transaction(writes=False) as session:
        assert session.scalar(select(OutgoingMessage.date_sent_utc)) is not None
        assert session.scalar(select(SmtpAccount.name)) == "Loopback"


async def test_self_diagnostic_checks_every_smtp_account(server, spool, smtp_servers):
    from test_server_process import free_port

    sink = smtp_servers()
    assert (await spool.CreateSmtpAccount(*server.admin, "Up", "127.0.0.1", sink.port, "none", False, "", "", "",
                                          "", True)).Result
    assert (await spool.CreateSmtpAccount(*server.admin, "Down", "127.0.0.1", free_port(), "none", False, "", "",
                                          "", "", False)).Result
    diag = await server.client("svcDiagnostics")
    checks = {c.Name: c for c in (await diag.RunSelfDiagnostic(*server.admin)).Checks.SelfDiagnosticCheck}
    assert checks["SMTP account Up"].Status == "pass" and "220" in checks["SMTP account Up"].Message
    assert checks["SMTP account Down"].Status == "failure"


async def test_self_diagnostic_logs_in_to_each_smtp_account_without_sending(server, spool, smtp_servers):
    """EHLO, STARTTLS or SSL as configured, AUTH when configured, QUIT: a
    refused password is a failure with the server's reply."""
    from mail.smtp_server import make_certificate
    from stws.mail import tls

    certificate, trust = make_certificate()
    tls.TRUST_ROOT = trust
    sink = smtp_servers(credentials=("mailer", "s3cret"), tls=certificate, mode="starttls")
    ssl_sink = smtp_servers(credentials=("mailer", "s3cret"), tls=certificate, mode="ssl")
    for name, port, security, password in (("Good", sink.port, "starttls", "s3cret"),
                                           ("Wrong", sink.port, "starttls", "nope"),
                                           ("Wrapped", ssl_sink.port, "ssl", "s3cret")):
        created = await spool.CreateSmtpAccount(*server.admin, name, "127.0.0.1", port, security, True, "mailer",
                                                password, "", "", name == "Good")
        assert created.Result, created.Message
    diag = await server.client("svcDiagnostics")
    checks = {c.Name: c for c in (await diag.RunSelfDiagnostic(*server.admin)).Checks.SelfDiagnosticCheck}

    good = checks["SMTP account Good"]
    assert good.Status == "pass" and "STARTTLS" in good.Message and "logged in as mailer" in good.Message, \
        good.Message
    wrong = checks["SMTP account Wrong"]
    assert wrong.Status == "failure" and "login as mailer refused" in wrong.Message and "535" in wrong.Message, \
        wrong.Message
    wrapped = checks["SMTP account Wrapped"]
    assert wrapped.Status == "pass" and "logged in as mailer" in wrapped.Message, wrapped.Message
    assert sink.messages == [] and ssl_sink.messages == []
