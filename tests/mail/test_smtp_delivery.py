"""SMTP delivery against a real ESMTP server (twisted.mail) on 127.0.0.1:
several messages per connection, temporary and permanent failures, a
server that goes away and comes back, one that hangs, AUTH, STARTTLS and
TLS, the account chosen per message, and claims. The tests of what a
message's replies mean run twice: in lockstep, and with the server
offering PIPELINING (the commands of a message then go out together)."""
from __future__ import annotations

import datetime as dt
import time

import pytest
from twisted.internet import protocol, reactor

from mail.conftest import add_account, deliver, queue, rows, set_settings, smtp_log
from mail.smtp_server import make_certificate
from stws.db.models import Brand, Department, OutgoingMessage, Ticket, utcnow
from stws.mail import delivery, tls


@pytest.mark.parametrize("pipelining", [False, True], ids=["lockstep", "pipelining"])
async def test_several_messages_go_out_on_one_connection(server, smtp_servers, pipelining):
    sink = smtp_servers(pipelining=pipelining)
    account = add_account(server.runtime, sink.port, name="main")
    ids = queue(server.runtime, 5)
    assert await deliver(server.runtime) == 5
    assert sink.connections == 1
    assert len(sink.messages) == 5 and {m.connection for m in sink.messages} == {1}
    # With PIPELINING each message's MAIL, RCPT and DATA reached the server together.
    assert sink.pipelined_groups == (5 if pipelining else 0)
    sent = rows(server.runtime, ids)
    assert [r.status for r in sent] == ["sent"] * 5
    assert all(r.date_sent_utc and r.attempts == 1 and r.claimed_by is None for r in sent)
    assert {m.message_id for m in sink.messages} == {r.message_id_header for r in sent}
    assert sink.messages[0].recipients == ["customer@example.com"]
    assert sink.messages[0].mail["Subject"] == "Message 0"
    log = smtp_log(server.runtime)
    for row in sent:
        assert "message %d %s via 'main'" % (row.id, row.message_id_header) in log
    assert "outcome: message %d" % ids[0] in log and "sent 250" in log
    assert account
    # Nothing is due any more.
    assert await deliver(server.runtime) == 0
    assert sink.connections == 1


@pytest.mark.parametrize("pipelining", [False, True], ids=["lockstep", "pipelining"])
async def test_dot_lines_and_crlf_survive(server, smtp_servers, pipelining):
    sink = smtp_servers(pipelining=pipelining)
    add_account(server.runtime, sink.port)
    body = "first\n.\n..two dots\n" + ("x" * 16383 + "\n.\n") * 3 + "end\n"
    queue(server.runtime, 1, body=body)
    await deliver(server.runtime)
    (received,) = sink.messages
    assert received.mail.get_content() == body
    assert rows(server.runtime)[0].status == "sent"


@pytest.mark.parametrize("pipelining", [False, True], ids=["lockstep", "pipelining"])
async def test_temporary_failures_are_retried_with_backoff(server, smtp_servers, pipelining):
    sink = smtp_servers(temp_failures=2, pipelining=pipelining)
    add_account(server.runtime, sink.port)
    (row_id,) = queue(server.runtime, 1)
    before = utcnow()
    await deliver(server.runtime)
    (row,) = rows(server.runtime)
    assert row.status == "queued" and row.attempts == 1 and "451" in row.last_error
    # 30 s x 2^0 with jitter
    assert dt.timedelta(seconds=23) < row.next_attempt_utc - before < dt.timedelta(seconds=37)
    assert await deliver(server.runtime) == 0  # not yet due
    set_settings(server.runtime, retry_base_seconds=0)
    with server.runtime.db.transaction() as session:
        session.get(OutgoingMessage, row_id).next_attempt_utc = utcnow()
    await deliver(server.runtime)
    await deliver(server.runtime)
    (row,) = rows(server.runtime)
    assert row.status == "sent" and row.attempts == 3 and row.last_error == ""
    assert len(sink.messages) == 1 and sink.rcpt_replies[:2] == [("customer@example.com", 451)] * 2
    log = smtp_log(server.runtime)
    assert log.count("attempt 1: message %d" % row_id) == 1 and "attempt 3: message %d" % row_id in log
    assert "retry 451" in log


def test_backoff_grows_and_is_capped():
    settings = delivery.DeliverySettings()
    assert 24 <= delivery.backoff_seconds(1, settings) <= 36
    assert 48 <= delivery.backoff_seconds(2, settings) <= 72
    assert 192 <= delivery.backoff_seconds(4, settings) <= 288
    assert delivery.backoff_seconds(20, settings) <= 3600 * 1.2


async def test_gives_up_after_max_attempts(server, smtp_servers):
    sink = smtp_servers(temp_failures=100)
    add_account(server.runtime, sink.port)
    set_settings(server.runtime, retry_base_seconds=0, max_attempts=3)
    queue(server.runtime, 1)
    for _ in range(4):
        await deliver(server.runtime)
    (row,) = rows(server.runtime)
    assert row.status == "failed" and row.attempts == 3
    assert row.last_error.startswith("gave up after 3 attempts") and "451" in row.last_error
    assert len(sink.rcpt_replies) == 3


@pytest.mark.parametrize("pipelining", [False, True], ids=["lockstep", "pipelining"])
async def test_permanent_failure_fails_at_once_and_the_rest_still_go(server, smtp_servers, pipelining):
    sink = smtp_servers(reject={"nobody@example.com"}, pipelining=pipelining)
    add_account(server.runtime, sink.port)
    good = queue(server.runtime, 1)
    bad = queue(server.runtime, 1, to="nobody@example.com")
    good += queue(server.runtime, 1)
    await deliver(server.runtime)
    by_id = {r.id: r for r in rows(server.runtime)}
    assert by_id[bad[0]].status == "failed" and by_id[bad[0]].attempts == 1
    assert "550" in by_id[bad[0]].last_error and "No such user" in by_id[bad[0]].last_error
    assert all(by_id[i].status == "sent" for i in good)
    assert sink.connections == 1 and len(sink.messages) == 2


@pytest.mark.parametrize("pipelining", [False, True], ids=["lockstep", "pipelining"])
async def test_a_partly_refused_message_is_not_sent_and_keeps_the_refused_recipients(server, smtp_servers, pipelining):
    sink = smtp_servers(reject={"nobody@example.com"}, pipelining=pipelining)
    add_account(server.runtime, sink.port)
    (message_id,) = queue(server.runtime, 1, to="carol@example.com, nobody@example.com, dave@example.com")
    await deliver(server.runtime)
    (row,) = rows(server.runtime, [message_id])
    assert [received.recipients for received in sink.messages] == [["carol@example.com", "dave@example.com"]]
    assert row.status == "failed" and row.recipients == "nobody@example.com"
    assert "partially sent: delivered to carol@example.com, dave@example.com" in row.last_error
    assert "nobody@example.com: 550" in row.last_error


@pytest.mark.parametrize("pipelining", [False, True], ids=["lockstep", "pipelining"])
async def test_a_refused_sender_fails_the_message_and_the_next_one_still_goes(server, smtp_servers, pipelining):
    sink = smtp_servers(refuse_senders={"blocked@example.com"}, pipelining=pipelining)
    add_account(server.runtime, sink.port)  # no address of its own: the message's is the envelope sender
    (blocked,) = queue(server.runtime, 1, from_address="blocked@example.com")
    (good,) = queue(server.runtime, 1)
    await deliver(server.runtime)
    by_id = {r.id: r for r in rows(server.runtime)}
    assert by_id[blocked].status == "failed" and "550" in by_id[blocked].last_error
    assert "Sender refused" in by_id[blocked].last_error
    assert by_id[good].status == "sent"
    assert [m.sender for m in sink.messages] == ["support@helpdesk.example"] and sink.connections == 1


@pytest.mark.parametrize("pipelining", [False, True], ids=["lockstep", "pipelining"])
async def test_a_recipient_refused_for_now_is_retried_alone(server, smtp_servers, pipelining):
    sink = smtp_servers(temp_failures=1, pipelining=pipelining)  # the first RCPT gets 451
    add_account(server.runtime, sink.port)
    (message_id,) = queue(server.runtime, 1, to="carol@example.com, dave@example.com")
    await deliver(server.runtime)
    (row,) = rows(server.runtime, [message_id])
    assert row.status == "queued" and row.recipients == "carol@example.com" and row.attempts == 1
    assert "partially sent: delivered to dave@example.com" in row.last_error
    await deliver(server.runtime, now=utcnow() + dt.timedelta(hours=1))
    (row,) = rows(server.runtime, [message_id])
    assert row.status == "sent" and row.attempts == 2
    # Each recipient got the message exactly once.
    assert [received.recipients for received in sink.messages] == [["dave@example.com"], ["carol@example.com"]]


async def test_no_account_keeps_the_message_queued(server):
    (row_id,) = queue(server.runtime, 1)
    assert await deliver(server.runtime) == 0
    (row,) = rows(server.runtime)
    assert row.status == "queued" and row.attempts == 0 and row.claimed_by is None
    assert row.last_error == "no SMTP account configured"
    assert row.next_attempt_utc > utcnow() + dt.timedelta(seconds=30)
    assert "no SMTP account configured" in smtp_log(server.runtime)


async def test_account_of_row_department_brand_or_default(server, smtp_servers):
    runtime = server.runtime
    default, brand_sink, department_sink, own = (smtp_servers() for _ in range(4))
    default_id = add_account(runtime, default.port, name="default")
    brand_id = add_account(runtime, brand_sink.port, name="brand", is_default=False)
    department_id = add_account(runtime, department_sink.port, name="department", is_default=False)
    own_id = add_account(runtime, own.port, name="own", is_default=False)
    with runtime.db.transaction() as session:
        brand = session.get(Brand, 1)
        brand.smtp_account_id = brand_id
        other = Department(name="Sales", brand_id=1)
        session.add(other)
        session.flush()
        session.get(Department, 1).smtp_account_id = department_id
        tickets = []
        for dep in (1, other.id):
            ticket = Ticket(ticket_number="001-%08X-0001" % dep, brand_id=1, department_id=dep, group_id=1,
                            customer_email="c@example.com", subject="s", status_id=1, priority_id=2)
            session.add(ticket)
            session.flush()
            tickets.append(ticket.id)
    queue(runtime, 1, ticket_id=tickets[0])
    queue(runtime, 1, ticket_id=tickets[1])
    queue(runtime, 1)
    queue(runtime, 1, ticket_id=tickets[0], smtp_account_id=own_id)
    await deliver(runtime)
    assert [len(s.messages) for s in (default, brand_sink, department_sink, own)] == [1, 1, 1, 1]
    assert all(r.status == "sent" for r in rows(runtime))
    assert default_id


async def test_server_goes_away_and_comes_back(server, smtp_servers):
    runtime = server.runtime
    sink = smtp_servers()
    port = sink.port
    add_account(runtime, port)
    set_settings(runtime, retry_base_seconds=0)
    first = queue(runtime, 2)
    await deliver(runtime)
    assert len(sink.messages) == 2
    await sink.stop()
    later = queue(runtime, 3)
    await deliver(runtime)
    waiting = rows(runtime, later)
    assert all(r.status == "queued" and r.attempts == 1 for r in waiting)
    assert all("cannot connect" in r.last_error for r in waiting)
    sink.listen(port)  # back, on the same port
    await deliver(runtime)
    assert all(r.status == "sent" for r in rows(runtime, first + later))
    assert sorted(m.message_id for m in sink.messages) == sorted(r.message_id_header
                                                                 for r in rows(runtime, first + later))
    log = smtp_log(runtime)
    assert all("attempt 2: message %d" % i in log for i in later)
    # No reply code where there was no reply: the log says what happened.
    assert " -1 " not in log
    for row in waiting:
        assert "outcome: message %d %s via 'test': retry: cannot connect to 127.0.0.1:%d" % (
            row.id, row.message_id_header, port) in log


class _Silent(protocol.Protocol):
    """Accepts the connection and never says a word."""


async def test_hanging_server_never_blocks_the_thread(server):
    factory = protocol.Factory.forProtocol(_Silent)
    port = reactor.listenTCP(0, factory, interface="127.0.0.1")
    try:
        add_account(server.runtime, port.getHost().port)
        set_settings(server.runtime, timeout_seconds=0.5)
        queue(server.runtime, 2)
        started = time.monotonic()
        await deliver(server.runtime)
        assert time.monotonic() - started < 10
        assert all(r.status == "queued" and r.attempts == 1 for r in rows(server.runtime))
        assert "Timeout" in rows(server.runtime)[0].last_error
    finally:
        await port.stopListening()


async def test_hanging_server_is_cut_off_by_the_claim_deadline(server):
    """Even if the server keeps trickling (each line resets the reply timeout),
    the run ends before its claim lapses."""

    class Trickle(protocol.Protocol):
        def connectionMade(self):
            self.transport.write(b"220-hello\r\n")
            self.call = reactor.callLater(0.2, self.more)

        def more(self):
            self.transport.write(b"220-still here\r\n")
            self.call = reactor.callLater(0.2, self.more)

        def connectionLost(self, reason):
            if self.call.active():
                self.call.cancel()

    port = reactor.listenTCP(0, protocol.Factory.forProtocol(Trickle), interface="127.0.0.1")
    try:
        add_account(server.runtime, port.getHost().port)
        set_settings(server.runtime, timeout_seconds=1, claim_seconds=3)
        queue(server.runtime, 1)
        started = time.monotonic()
        await deliver(server.runtime)
        assert time.monotonic() - started < 4
        (row,) = rows(server.runtime)
        assert row.status == "queued" and row.attempts == 1 and "deadline" in row.last_error
    finally:
        await port.stopListening()


@pytest.mark.parametrize("pipelining", [False, True], ids=["lockstep", "pipelining"])
async def test_authentication(server, smtp_servers, pipelining):
    sink = smtp_servers(credentials=("mailer", "s3cret"), pipelining=pipelining)
    add_account(server.runtime, sink.port, name="good", use_authentication=True, username="mailer",
                password="s3cret")
    queue(server.runtime, 2)
    await deliver(server.runtime)
    assert [r.status for r in rows(server.runtime)] == ["sent", "sent"] and len(sink.messages) == 2


async def test_wrong_password_and_no_authentication_are_retried(server, smtp_servers):
    sink = smtp_servers(credentials=("mailer", "s3cret"))
    wrong = add_account(server.runtime, sink.port, name="wrong", use_authentication=True, username="mailer",
                        password="nope")
    anonymous = add_account(server.runtime, sink.port, name="anonymous", is_default=False)
    queue(server.runtime, 1, smtp_account_id=wrong)
    queue(server.runtime, 1, smtp_account_id=anonymous)
    await deliver(server.runtime)
    first, second = rows(server.runtime)
    assert first.status == "queued" and first.attempts == 1 and "535" in first.last_error
    assert second.status == "queued" and second.attempts == 1 and "Unauthenticated" in second.last_error
    assert sink.messages == []


@pytest.mark.parametrize("pipelining", [False, True], ids=["lockstep", "pipelining"])
async def test_starttls(server, smtp_servers, pipelining):
    certificate, trust = make_certificate()
    tls.TRUST_ROOT = trust
    sink = smtp_servers(tls=certificate, mode="starttls", credentials=("mailer", "s3cret"), pipelining=pipelining)
    add_account(server.runtime, sink.port, security="starttls", use_authentication=True, username="mailer",
                password="s3cret")
    queue(server.runtime, 3)
    await deliver(server.runtime)
    assert [r.status for r in rows(server.runtime)] == ["sent"] * 3
    assert sink.connections == 1 and len(sink.messages) == 3


async def test_starttls_refuses_an_untrusted_certificate(server, smtp_servers):
    certificate, _ = make_certificate()
    sink = smtp_servers(tls=certificate, mode="starttls")
    add_account(server.runtime, sink.port, security="starttls")
    queue(server.runtime, 1)
    await deliver(server.runtime)
    (row,) = rows(server.runtime)
    assert row.status == "queued" and row.attempts == 1 and sink.messages == []


async def test_starttls_required_but_not_offered(server, smtp_servers):
    sink = smtp_servers()
    add_account(server.runtime, sink.port, security="starttls")
    queue(server.runtime, 1)
    await deliver(server.runtime)
    (row,) = rows(server.runtime)
    assert row.status == "queued" and "TLS" in row.last_error and sink.messages == []


async def test_ssl_from_the_start(server, smtp_servers):
    certificate, trust = make_certificate()
    tls.TRUST_ROOT = trust
    sink = smtp_servers(tls=certificate, mode="ssl")
    add_account(server.runtime, sink.port, security="ssl")
    queue(server.runtime, 2)
    await deliver(server.runtime)
    assert [r.status for r in rows(server.runtime)] == ["sent"] * 2 and len(sink.messages) == 2


async def test_claims(server, smtp_servers):
    sink = smtp_servers()
    add_account(server.runtime, sink.port)
    now = utcnow()
    lapsed = queue(server.runtime, 1, status="sending", claimed_by="dead-node/1",
                   claim_until_utc=now - dt.timedelta(seconds=1))
    live = queue(server.runtime, 1, status="sending", claimed_by="other-node/1",
                 claim_until_utc=now + dt.timedelta(minutes=5))
    future = queue(server.runtime, 1, next_attempt_utc=now + dt.timedelta(minutes=5))
    done = queue(server.runtime, 1, status="sent")
    assert await deliver(server.runtime) == 1
    by_id = {r.id: r for r in rows(server.runtime)}
    assert by_id[lapsed[0]].status == "sent"
    assert by_id[live[0]].status == "sending" and by_id[live[0]].claimed_by == "other-node/1"
    assert by_id[future[0]].status == "queued" and by_id[done[0]].status == "sent"
    assert len(sink.messages) == 1


async def test_claims_are_bounded_and_exclusive(server):
    set_settings(server.runtime, batch_size=3)
    queue(server.runtime, 5)
    settings = delivery.DeliverySettings(batch_size=3)
    first, _ = delivery.claim_due(server.runtime.db, "a/1", utcnow(), settings)
    second, _ = delivery.claim_due(server.runtime.db, "b/1", utcnow(), settings)
    third, _ = delivery.claim_due(server.runtime.db, "c/1", utcnow(), settings)
    assert len(first) == 3 and len(second) == 2 and third == []
    assert not {m.id for m in first} & {m.id for m in second}


async def test_thread_delivers(server, smtp_servers):
    from workers.live import eventually, started_workers

    sink = smtp_servers()
    add_account(server.runtime, sink.port)
    queue(server.runtime, 3)
    workers = await started_workers(server.runtime, {"SMTP Delivery": 0.2})
    try:
        await eventually(lambda: all(r.status == "sent" for r in rows(server.runtime)))
    finally:
        await workers.stopService()
    assert sink.connections == 1 and len(sink.messages) == 3


async def test_a_backlog_goes_out_in_runs_back_to_back_not_one_batch_per_interval(server, smtp_servers):
    from workers.live import eventually, started_workers

    sink = smtp_servers(pipelining=True)
    add_account(server.runtime, sink.port)
    set_settings(server.runtime, batch_size=3)
    queue(server.runtime, 10)
    workers = await started_workers(server.runtime, {"SMTP Delivery": 3600})
    try:
        workers.wake("SMTP Delivery")  # one run now; the next tick is an hour away
        await eventually(lambda: all(r.status == "sent" for r in rows(server.runtime)))
    finally:
        await workers.stopService()
    assert len(sink.messages) == 10


async def test_shutdown_cuts_a_slow_session_short_without_counting_an_attempt(server):
    from twisted.internet import task

    port = reactor.listenTCP(0, protocol.Factory.forProtocol(_Silent), interface="127.0.0.1")
    try:
        add_account(server.runtime, port.getHost().port)
        queue(server.runtime, 2)
        running = deliver(server.runtime)
        await task.deferLater(reactor, 0.5, lambda: None)
        started = time.monotonic()
        delivery._shut_down()  # what the reactor's "before shutdown" trigger calls
        await running
        assert time.monotonic() - started < 2
        for row in rows(server.runtime):
            assert row.status == "queued" and row.attempts == 0 and row.claimed_by is None
            assert row.last_error == "the server is shutting down" and row.next_attempt_utc <= utcnow()
        # Nothing new starts while shutting down.
        assert await deliver(server.runtime) == 2
        assert all(r.attempts == 0 for r in rows(server.runtime))
    finally:
        delivery._STOPPING["now"] = False
        await port.stopListening()


async def test_concurrent_claims_never_overlap(server):
    """Several runs claiming at once (several nodes): every row claimed once."""
    from twisted.internet import defer, threads

    queue(server.runtime, 60)
    settings = delivery.DeliverySettings(batch_size=7)

    def claim_all(name):
        mine = []
        while True:
            claimed, _ = delivery.claim_due(server.runtime.db, name, utcnow(), settings)
            if not claimed:
                return mine
            mine += [m.id for m in claimed]

    results = await defer.gatherResults([threads.deferToThread(claim_all, "node%d/1" % i) for i in range(4)])
    every = [i for ids in results for i in ids]
    assert len(every) == 60 and len(set(every)) == 60
    assert all(r.status == "sending" for r in rows(server.runtime))


async def test_deadline_gives_untried_messages_back_without_an_attempt(server, smtp_servers):
    """A slow but working server: what was sent is sent, the message in flight
    counts an attempt, the ones never started go back to the queue as they were."""
    sink = smtp_servers(data_delay=0.3)
    add_account(server.runtime, sink.port)
    set_settings(server.runtime, claim_seconds=2)
    ids = queue(server.runtime, 12)
    await deliver(server.runtime)
    by_status = {}
    for row in rows(server.runtime, ids):
        by_status.setdefault(row.status, []).append(row)
    assert 2 <= len(by_status["sent"]) < 12
    queued = by_status["queued"]
    tried = [r for r in queued if r.attempts == 1]
    untried = [r for r in queued if r.attempts == 0]
    assert len(tried) <= 1 and len(untried) >= 1
    assert all(r.next_attempt_utc <= utcnow() and "deadline" in r.last_error for r in untried)
    set_settings(server.runtime, claim_seconds=300)
    await deliver(server.runtime)
    await deliver(server.runtime)
    assert {r.status for r in rows(server.runtime, [r.id for r in untried])} == {"sent"}
