"""POP Download against a real POP3 server (twisted.mail.pop3) on 127.0.0.1:
messages stored durably before DELE, leave-on-server with UIDL, the same
message twice stored once, due accounts only, a bad password and a server
that goes away recorded on the account."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from mail.pop_server import add_pop_account, download, incoming_rows, make_mail, pop_log
from stws.db.models import PopAccount, PopAccountUid, utcnow


def account_row(runtime, account_id) -> PopAccount:
    with runtime.db.transaction(writes=False) as session:
        return session.get(PopAccount, account_id)


async def test_messages_are_stored_then_deleted_from_the_server(server, pop_server):
    pop = pop_server()
    raws = [make_mail(subject="Message %d" % i) for i in range(3)]
    for raw in raws:
        pop.deliver("support", raw)
    account_id = add_pop_account(server.runtime, pop.port)
    assert await download(server.runtime) == 3
    rows = incoming_rows(server.runtime)
    assert [r.status for r in rows] == ["pending"] * 3
    assert [r.subject for r in rows] == ["Message 0", "Message 1", "Message 2"]
    for row, raw in zip(rows, raws):
        path = server.runtime.data.email / row.file_name
        assert path.read_bytes().replace(b"\r\n", b"\n") == raw.replace(b"\r\n", b"\n")
        assert row.dedupe_key.startswith("<customer.") and row.account_id == account_id
        assert row.size == path.stat().st_size
    assert not list(server.runtime.data.email.glob(".*.tmp"))
    # Deleted at QUIT, after the rows were committed.
    assert pop.mailboxes["support"].messages == [] and pop.quits == 1
    account = account_row(server.runtime, account_id)
    assert account.last_check_utc is not None and account.last_error == ""
    log = pop_log(server.runtime)
    assert "session starts" in log and "3 stored, 0 duplicates dropped" in log
    # Not due again before the import frequency elapsed.
    pop.deliver("support", make_mail())
    assert await download(server.runtime) == 0 and pop.logins == 1
    assert await download(server.runtime, now=utcnow() + dt.timedelta(minutes=6)) == 1


async def test_leave_on_server_downloads_each_message_once(server, pop_server):
    pop = pop_server()
    pop.deliver("support", make_mail(subject="one"))
    pop.deliver("support", make_mail(subject="two", message_id=False))
    account_id = add_pop_account(server.runtime, pop.port, leave_on_server=True, import_frequency_minutes=1)
    assert await download(server.runtime) == 2
    assert len(pop.mailboxes["support"].messages) == 2  # left there
    with server.runtime.db.transaction(writes=False) as session:
        assert session.query(PopAccountUid).filter_by(account_id=account_id).count() == 2
    rows = incoming_rows(server.runtime)
    assert rows[1].dedupe_key.startswith("sha256:")
    later = utcnow() + dt.timedelta(minutes=2)
    assert await download(server.runtime, now=later) == 0
    assert len(incoming_rows(server.runtime)) == 2 and pop.logins == 2
    pop.deliver("support", make_mail(subject="three"))
    assert await download(server.runtime, now=later + dt.timedelta(minutes=2)) == 1
    assert [r.subject for r in incoming_rows(server.runtime)] == ["one", "two", "three"]


@pytest.mark.parametrize("without_top", [False, True], ids=["top", "no-top"])
async def test_leave_on_server_without_uidl_imports_each_message_once(server, pop_server, without_top):
    pop = pop_server()
    pop.without_uidl, pop.without_top = True, without_top
    pop.deliver("support", make_mail(subject="one"))
    pop.deliver("support", make_mail(subject="two", message_id=False))
    account_id = add_pop_account(server.runtime, pop.port, leave_on_server=True, import_frequency_minutes=1)
    assert await download(server.runtime) == 2
    with server.runtime.db.transaction(writes=False) as session:
        remembered = session.scalars(select(PopAccountUid.uid).filter_by(account_id=account_id)).all()
    # With TOP, the message with a Message-ID is remembered by its fingerprint.
    assert remembered == ([] if without_top else [remembered[0]])
    assert all(uid.startswith("fp:") for uid in remembered)
    later = utcnow() + dt.timedelta(minutes=2)
    assert await download(server.runtime, now=later) == 0
    pop.deliver("support", make_mail(subject="three"))
    assert await download(server.runtime, now=later + dt.timedelta(minutes=2)) == 1
    assert [r.subject for r in incoming_rows(server.runtime)] == ["one", "two", "three"]
    assert len(list(server.runtime.data.email.glob("*.eml"))) == 3  # the re-downloads left no file
    assert "refused UIDL" in pop_log(server.runtime)
    # With TOP, "one" (it has a Message-ID) is never fetched again; without
    # it, every message is, and dropped as a duplicate ("two" always is).
    log = pop_log(server.runtime)
    assert ("message 1 (uid fp:" in log) == (not without_top)
    assert log.count("was downloaded before; dropped") == (4 if without_top else 2)


async def test_the_same_message_twice_is_stored_once(server, pop_server):
    pop = pop_server()
    raw = make_mail(message_id="<same@example.com>")
    pop.deliver("support", raw)
    pop.deliver("support", raw)
    add_pop_account(server.runtime, pop.port)
    assert await download(server.runtime) == 1
    rows = incoming_rows(server.runtime)
    assert len(rows) == 1 and rows[0].dedupe_key == "<same@example.com>"
    assert len(list(server.runtime.data.email.glob("*.eml"))) == 1
    assert pop.mailboxes["support"].messages == []  # the duplicate is deleted too
    assert "was downloaded before; dropped" in pop_log(server.runtime)


async def test_a_dropped_connection_deletes_nothing_and_loses_nothing(server, pop_server):
    pop = pop_server()
    for i in range(3):
        pop.deliver("support", make_mail(subject="m%d" % i))
    pop.drop_after_retr = 2
    account_id = add_pop_account(server.runtime, pop.port, import_frequency_minutes=1)
    await download(server.runtime)
    assert len(incoming_rows(server.runtime)) == 2
    # No QUIT: the server deleted nothing.
    assert len(pop.mailboxes["support"].messages) == 3
    assert account_row(server.runtime, account_id).last_error
    pop.drop_after_retr = None
    assert await download(server.runtime, now=utcnow() + dt.timedelta(minutes=2)) == 1
    assert sorted(r.subject for r in incoming_rows(server.runtime)) == ["m0", "m1", "m2"]
    assert pop.mailboxes["support"].messages == []
    assert account_row(server.runtime, account_id).last_error == ""


async def test_a_wrong_password_is_recorded_on_the_account(server, pop_server):
    pop = pop_server()
    pop.deliver("support", make_mail())
    account_id = add_pop_account(server.runtime, pop.port, password="wrong")
    good_id = add_pop_account(server.runtime, pop.port, username="support", email_address="other@helpdesk.example")
    assert await download(server.runtime) == 1  # the other account still runs
    account = account_row(server.runtime, account_id)
    assert account.last_error and account.last_check_utc is not None
    assert account_row(server.runtime, good_id).last_error == ""
    assert "session failed" in pop_log(server.runtime)
    errors = "".join(p.read_text() for p in server.runtime.data.logs.glob("error-*.log"))
    assert "support@helpdesk.example" in errors


async def test_a_server_that_is_gone_is_an_error_not_a_hang(server, pop_server):
    pop = pop_server()
    port = pop.port
    await pop.stop()
    account_id = add_pop_account(server.runtime, port)
    assert await download(server.runtime) == 0
    assert "Refused" in account_row(server.runtime, account_id).last_error or \
        account_row(server.runtime, account_id).last_error


async def test_disabled_accounts_are_not_checked(server, pop_server):
    pop = pop_server()
    pop.deliver("support", make_mail())
    add_pop_account(server.runtime, pop.port, is_enabled=False)
    assert await download(server.runtime) == 0 and pop.logins == 0


@pytest.mark.parametrize("mode", ["ssl", "starttls"])
async def test_tls_modes(server, pop_server, mode):
    from mail.smtp_server import make_certificate
    from stws.mail import tls

    certificate, trust = make_certificate()
    pop = pop_server(tls=certificate, mode=mode)
    pop.deliver("support", make_mail(subject="secret"))
    tls.TRUST_ROOT = trust
    account_id = add_pop_account(server.runtime, pop.port, security=mode)
    assert await download(server.runtime) == 1
    assert [r.subject for r in incoming_rows(server.runtime)] == ["secret"]
    assert account_row(server.runtime, account_id).last_error == ""


async def test_tls_to_an_untrusted_certificate_fails(server, pop_server):
    from mail.smtp_server import make_certificate

    certificate, _trust = make_certificate()
    pop = pop_server(tls=certificate, mode="ssl")
    pop.deliver("support", make_mail())
    account_id = add_pop_account(server.runtime, pop.port, security="ssl")
    assert await download(server.runtime) == 0
    assert account_row(server.runtime, account_id).last_error
    assert len(pop.mailboxes["support"].messages) == 1


async def test_plain_login_to_a_server_requiring_stls_fails(server, pop_server):
    from mail.smtp_server import make_certificate

    certificate, _trust = make_certificate()
    pop = pop_server(tls=certificate, mode="starttls")
    pop.deliver("support", make_mail())
    account_id = add_pop_account(server.runtime, pop.port, security="none")
    assert await download(server.runtime) == 0
    assert "STLS first" in account_row(server.runtime, account_id).last_error


async def test_self_check_probes_each_enabled_account(server, pop_server):
    from twisted.internet import threads

    from stws.diagnostics import selfcheck
    from stws.mail import pop_accounts

    pop = pop_server()
    add_pop_account(server.runtime, pop.port)
    stopped = pop_server()
    stopped_port = stopped.port
    await stopped.stop()
    add_pop_account(server.runtime, stopped_port, email_address="gone@helpdesk.example")
    add_pop_account(server.runtime, stopped_port, email_address="off@helpdesk.example", is_enabled=False)
    checks = {c.name: c for c in await threads.deferToThread(pop_accounts.check_pop_accounts, server.runtime)}
    assert set(checks) == {"POP account support@helpdesk.example", "POP account gone@helpdesk.example"}
    assert checks["POP account support@helpdesk.example"].status == selfcheck.PASS
    assert "+OK" in checks["POP account support@helpdesk.example"].message
    assert checks["POP account gone@helpdesk.example"].status == selfcheck.FAILURE


async def test_self_check_logs_in_and_reports_the_servers_answer(server, pop_server):
    """A server that greets but refuses the password is a failure with its
    reply; a good login is USER/PASS then QUIT: nothing is read or deleted."""
    from twisted.internet import threads

    from mail.smtp_server import make_certificate
    from stws.diagnostics import selfcheck
    from stws.mail import pop_accounts, tls

    pop = pop_server()
    pop.deliver("support", make_mail())
    add_pop_account(server.runtime, pop.port)
    add_pop_account(server.runtime, pop.port, password="wrong", email_address="wrong@helpdesk.example")
    certificate, trust = make_certificate()
    secure = pop_server(tls=certificate, mode="starttls")
    tls.TRUST_ROOT = trust
    add_pop_account(server.runtime, secure.port, security="starttls", email_address="tls@helpdesk.example")
    checks = {c.name: c for c in await threads.deferToThread(pop_accounts.check_pop_accounts, server.runtime)}

    good = checks["POP account support@helpdesk.example"]
    assert good.status == selfcheck.PASS and "logged in as support" in good.message, good.message
    wrong = checks["POP account wrong@helpdesk.example"]
    assert wrong.status == selfcheck.FAILURE, wrong.message
    assert "login as support refused" in wrong.message and "-ERR" in wrong.message, wrong.message
    tls = checks["POP account tls@helpdesk.example"]
    assert tls.status == selfcheck.PASS and "STARTTLS" in tls.message, tls.message
    assert len(pop.mailboxes["support"].messages) == 1  # nothing deleted
    assert pop.logins == 1 and pop.quits >= 1 and secure.logins == 1
    assert incoming_rows(server.runtime) == []


async def test_a_server_that_hangs_times_out(server):
    import time

    from twisted.internet import protocol, reactor

    from stws.db.models import Setting

    class Silent(protocol.Protocol):
        pass

    listening = reactor.listenTCP(0, protocol.Factory.forProtocol(Silent), interface="127.0.0.1")
    try:
        with server.runtime.db.transaction() as session:
            session.merge(Setting(name="mail.pop_timeout_seconds", value="1"))
        account_id = add_pop_account(server.runtime, listening.getHost().port)
        started = time.monotonic()
        assert await download(server.runtime) == 0
        assert time.monotonic() - started < 10
        assert account_row(server.runtime, account_id).last_error
    finally:
        await listening.stopListening()
