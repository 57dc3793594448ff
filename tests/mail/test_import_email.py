"""Email Import: downloaded messages become tickets, replies thread to their
tickets (by the subject's ticket number, by In-Reply-To/References), with
attachments and both bodies; the auto-responder once per new ticket and
never to automated mail; restrictions; exactly once; malformed files to
Failed Emails."""
from __future__ import annotations

import email.policy
from email.message import EmailMessage

import pytest
from sqlalchemy import select

from mail.pop_server import (PopTestServer, add_pop_account, download, import_all, incoming_rows, make_mail,
                             pop_log)
from stws.db.models import (AutoResponse, Department, IncomingMessage, OutgoingMessage, Ticket, TicketAttachment,
                            TicketMessage, User)
from stws.domain.tickets.attachments import disk_path
from stws.mail import pop


@pytest.fixture
def mailbox(server):
    """(POP test server with mailbox "support", its account id in department 1)."""
    pop_server = PopTestServer()
    pop_server.add_mailbox("support", "pw")
    pop_server.listen()
    account_id = add_pop_account(server.runtime, pop_server.port, import_frequency_minutes=1)
    yield pop_server, account_id
    pop_server.stop()


def store(runtime, account_id, raw: bytes) -> int:
    """A downloaded message straight into the spool (what the POP Download does)."""
    return pop.store_message(runtime, account_id, raw)


def tickets(runtime) -> list[Ticket]:
    with runtime.db.transaction(writes=False) as session:
        return list(session.scalars(select(Ticket).order_by(Ticket.id)))


def messages(runtime, ticket_id) -> list[TicketMessage]:
    with runtime.db.transaction(writes=False) as session:
        return list(session.scalars(select(TicketMessage).where(TicketMessage.ticket_id == ticket_id)
                                    .order_by(TicketMessage.id)))


def spool(runtime) -> list[OutgoingMessage]:
    with runtime.db.transaction(writes=False) as session:
        return list(session.scalars(select(OutgoingMessage).order_by(OutgoingMessage.id)))


def auto_responder(runtime, enabled=True, department_id=1):
    with runtime.db.transaction() as session:
        department = session.get(Department, department_id)
        department.auto_responder_enabled = enabled
        department.email_address = "support@helpdesk.example"


async def test_new_ticket_from_pop_with_both_bodies(server, mailbox):
    pop_server, account_id = mailbox
    raw = make_mail(subject="Printer on fire", body="It is on fire.\n", html="<p>It is <b>on fire</b>.</p>",
                    message_id="<first@example.com>")
    pop_server.deliver("support", raw)
    assert await download(server.runtime) == 1
    assert await import_all(server.runtime) == 1
    (ticket,) = tickets(server.runtime)
    assert ticket.department_id == 1 and ticket.customer_email == "carol@example.com"
    assert ticket.subject == "Printer on fire" and ticket.status_id == 1
    (message,) = messages(server.runtime, ticket.id)
    assert message.direction == 2 and message.is_first_message
    assert message.body_text == "It is on fire.\n"
    assert message.body_html.strip() == "<p>It is <b>on fire</b>.</p>"
    assert message.message_id_header == "<first@example.com>"
    # Imported: the raw message moved from the email folder to raw content.
    assert (server.runtime.data.raw_content / message.raw_content_path).read_bytes() \
        .replace(b"\r\n", b"\n") == raw.replace(b"\r\n", b"\n")
    assert list(server.runtime.data.email.glob("*.eml")) == []
    (row,) = incoming_rows(server.runtime)
    assert row.status == "imported" and row.ticket_id == ticket.id and row.date_imported_utc
    assert "new ticket %s" % ticket.ticket_number in pop_log(server.runtime)
    # Nothing left to import.
    assert await import_all(server.runtime) == 0
    assert len(tickets(server.runtime)) == 1


async def test_replies_thread_by_subject_number_and_by_in_reply_to(server, mailbox):
    _, account_id = mailbox
    auto_responder(server.runtime)
    store(server.runtime, account_id, make_mail(subject="Broken", message_id="<a1@example.com>"))
    await import_all(server.runtime)
    (ticket,) = tickets(server.runtime)
    # By the ticket number in the subject (any sender, no headers).
    store(server.runtime, account_id, make_mail(subject="Re: Broken [#%s]" % ticket.ticket_number,
                                                body="More details.\n", sender="dave@example.com"))
    # By In-Reply-To: the customer's own earlier message.
    store(server.runtime, account_id, make_mail(subject="again", body="Still broken.\n",
                                                headers={"In-Reply-To": "<a1@example.com>"}))
    # By References naming the auto-responder we sent (a spool_outgoing Message-ID).
    (response,) = spool(server.runtime)
    store(server.runtime, account_id, make_mail(subject="thanks", body="Thanks.\n",
                                                headers={"References": "<x@y> %s" % response.message_id_header}))
    assert await import_all(server.runtime) == 3
    assert len(tickets(server.runtime)) == 1
    bodies = [(m.direction, m.body_text) for m in messages(server.runtime, ticket.id)]
    assert (2, "More details.\n") in bodies and (2, "Still broken.\n") in bodies and (2, "Thanks.\n") in bodies
    assert [r.ticket_id for r in incoming_rows(server.runtime)] == [ticket.id] * 4
    # Replies get no auto-responder: still just the one.
    assert len(spool(server.runtime)) == 1


async def test_a_reply_reopens_a_closed_ticket(server, mailbox):
    _, account_id = mailbox
    store(server.runtime, account_id, make_mail(subject="Closed soon"))
    await import_all(server.runtime)
    (ticket,) = tickets(server.runtime)
    with server.runtime.db.transaction() as session:
        session.get(Ticket, ticket.id).status_id = 3  # closed
    store(server.runtime, account_id, make_mail(subject="RE: Closed soon [#%s]" % ticket.ticket_number))
    await import_all(server.runtime)
    (ticket,) = tickets(server.runtime)
    assert ticket.status_id == 1 and len(messages(server.runtime, ticket.id)) == 2


async def test_attachments_keep_their_bytes(server, mailbox):
    _, account_id = mailbox
    blob = bytes(range(256)) * 40
    store(server.runtime, account_id, make_mail(attachments=[
        ("photo.jpg", blob, "image", "jpeg"), ("notes.txt", "Zürich\r\nline two\n".encode("utf-8"), "text", "plain"),
    ]))
    assert await import_all(server.runtime) == 1
    (ticket,) = tickets(server.runtime)
    (message,) = messages(server.runtime, ticket.id)
    assert message.body_text == "It is on fire.\n"
    with server.runtime.db.transaction(writes=False) as session:
        files = {a.file_name_original: a for a in session.scalars(select(TicketAttachment))}
    assert set(files) == {"photo.jpg", "notes.txt"}
    photo = files["photo.jpg"]
    assert photo.message_id == message.id and photo.length == len(blob)
    assert disk_path(server.runtime.data.attachments, photo.file_name_on_disk).read_bytes() == blob
    notes = disk_path(server.runtime.data.attachments, files["notes.txt"].file_name_on_disk).read_bytes()
    assert notes.decode("utf-8").replace("\r\n", "\n") == "Zürich\nline two\n"


async def test_charsets_are_decoded(server, mailbox):
    _, account_id = mailbox
    raw = ("From: =?iso-8859-1?q?Ren=E9?= <rene@example.com>\r\n"
           "To: support@helpdesk.example\r\n"
           "Subject: =?utf-8?b?w4ljb2xlIGZlcm3DqWU=?=\r\n"
           "Message-ID: <latin@example.com>\r\n"
           "MIME-Version: 1.0\r\n"
           "Content-Type: text/plain; charset=iso-8859-1\r\n"
           "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
           "Caf=E9 cr=E8me\r\n").encode("ascii")
    store(server.runtime, account_id, raw)
    assert await import_all(server.runtime) == 1
    (ticket,) = tickets(server.runtime)
    assert ticket.subject == "École fermée" and ticket.customer_email == "rene@example.com"
    (message,) = messages(server.runtime, ticket.id)
    assert message.body_text.strip() == "Café crème"


async def test_auto_responder_once_and_in_reply_to_the_customer(server, mailbox):
    pop_server, account_id = mailbox
    auto_responder(server.runtime)
    pop_server.deliver("support", make_mail(message_id="<hello@example.com>"))
    await download(server.runtime)
    await import_all(server.runtime)
    (response,) = spool(server.runtime)
    (ticket,) = tickets(server.runtime)
    assert response.recipients == "carol@example.com" and response.ticket_id == ticket.id
    mail = email.message_from_bytes(response.raw_content, policy=email.policy.default)
    assert mail["In-Reply-To"] == "<hello@example.com>"
    assert ticket.ticket_number in mail["Subject"]
    # Importing again changes nothing.
    await import_all(server.runtime)
    assert len(spool(server.runtime)) == 1


@pytest.mark.parametrize("sender, headers", [
    ("MAILER-DAEMON@mx.example.com", {}),
    ("postmaster@example.com", {}),
    ("noreply@shop.example", {}),
    ("carol@example.com", {"Auto-Submitted": "auto-replied"}),
    ("carol@example.com", {"Precedence": "bulk"}),
    ("carol@example.com", {"List-Id": "<news.example.com>"}),
    ("carol@example.com", {"X-Stws-Ticket": "001-00000000-0001"}),
    ("carol@example.com", {"Return-Path": "<>"}),
    ("support@helpdesk.example", {}),  # our own department address
])
async def test_no_auto_response_to_automated_mail(server, mailbox, sender, headers):
    _, account_id = mailbox
    auto_responder(server.runtime)
    store(server.runtime, account_id, make_mail(sender=sender, headers=headers))
    assert await import_all(server.runtime) == 1
    assert len(tickets(server.runtime)) == 1  # still a ticket, for an agent to look at
    assert spool(server.runtime) == []
    assert "no auto-responder" in pop_log(server.runtime)


async def test_auto_submitted_no_still_gets_a_response(server, mailbox):
    _, account_id = mailbox
    auto_responder(server.runtime)
    store(server.runtime, account_id, make_mail(headers={"Auto-Submitted": "no"}))
    await import_all(server.runtime)
    assert len(spool(server.runtime)) == 1


async def test_auto_responses_per_sender_are_capped_per_hour(server, mailbox):
    _, account_id = mailbox
    auto_responder(server.runtime)
    for index in range(7):
        store(server.runtime, account_id, make_mail(subject="Loop %d" % index))
    store(server.runtime, account_id, make_mail(sender="other@example.com"))
    assert await import_all(server.runtime) == 8
    assert len(tickets(server.runtime)) == 8
    recipients = [r.recipients for r in spool(server.runtime)]
    assert recipients.count("carol@example.com") == 5 and recipients.count("other@example.com") == 1
    with server.runtime.db.transaction(writes=False) as session:
        assert session.query(AutoResponse).count() == 6
    assert "hourly cap" in pop_log(server.runtime)


async def test_the_same_message_from_two_accounts_gives_one_ticket(server, mailbox):
    pop_server, account_id = mailbox
    pop_server.add_mailbox("sales", "pw2")
    add_pop_account(server.runtime, pop_server.port, username="sales", password="pw2")
    raw = make_mail(message_id="<cc-both@example.com>", to="support@helpdesk.example, sales@helpdesk.example")
    pop_server.deliver("support", raw)
    pop_server.deliver("sales", raw)
    assert await download(server.runtime) == 1
    await import_all(server.runtime)
    assert len(tickets(server.runtime)) == 1
    # Without a Message-ID, the content hash.
    raw = make_mail(message_id=False, subject="no id")
    assert store(server.runtime, account_id, raw) is not None
    assert store(server.runtime, account_id, raw) is None
    assert len(incoming_rows(server.runtime)) == 2
    await import_all(server.runtime)
    assert len(tickets(server.runtime)) == 2


async def test_malformed_message_goes_to_failed_emails(server, mailbox):
    _, account_id = mailbox
    bad = store(server.runtime, account_id, b"this is not\r\nan email at all\r\n")
    no_sender = store(server.runtime, account_id, b"Subject: hi\r\nTo: a@b.c\r\n\r\nbody\r\n")
    good = store(server.runtime, account_id, make_mail())
    assert await import_all(server.runtime) == 3
    rows = {r.id: r for r in incoming_rows(server.runtime)}
    assert rows[good].status == "imported"
    for row_id in (bad, no_sender):
        row = rows[row_id]
        assert row.status == "failed" and row.last_error and row.ticket_id is None
        assert (server.runtime.data.failed_emails / row.file_name).exists()
        assert not (server.runtime.data.email / row.file_name).exists()
    assert "sender" in rows[no_sender].last_error
    assert len(tickets(server.runtime)) == 1
    errors = "".join(p.read_text() for p in server.runtime.data.logs.glob("error-*.log"))
    assert "incoming message %d not imported" % bad in errors


async def test_new_ticket_restrictions(server, mailbox):
    _, account_id = mailbox
    from stws.db.models import PopAccount

    with server.runtime.db.transaction() as session:
        session.get(PopAccount, account_id).new_ticket_restriction = "nobody"
    refused = store(server.runtime, account_id, make_mail(subject="New question"))
    await import_all(server.runtime)
    assert tickets(server.runtime) == []
    row = incoming_rows(server.runtime)[0]
    assert row.id == refused and row.status == "failed" and "replies only" in row.last_error

    with server.runtime.db.transaction() as session:
        session.get(PopAccount, account_id).new_ticket_restriction = "registered"
        admin_email = session.scalar(select(User.email).where(User.is_primary_admin.is_(True)))
        if not admin_email:
            session.scalars(select(User).where(User.is_primary_admin.is_(True))).one().email = "boss@example.com"
            admin_email = "boss@example.com"
    store(server.runtime, account_id, make_mail(sender="stranger@example.com"))
    store(server.runtime, account_id, make_mail(sender=admin_email))
    await import_all(server.runtime)
    (ticket,) = tickets(server.runtime)
    assert ticket.customer_email == admin_email
    statuses = [(r.from_address, r.status) for r in incoming_rows(server.runtime)]
    assert ("stranger@example.com", "failed") in statuses


async def test_a_new_sender_gets_a_customer_account(server, mailbox):
    """With "anyone", a sender without an account gets one (email not
    verified, a password nobody knows); the next mail reuses it."""
    pop_server, account_id = mailbox
    store(server.runtime, account_id, make_mail(sender="New.Person@example.com", subject="First"))
    store(server.runtime, account_id, make_mail(sender="new.person@example.com", subject="Second"))
    await import_all(server.runtime)
    first, second = sorted(tickets(server.runtime), key=lambda t: t.id)
    with server.runtime.db.transaction(writes=False) as session:
        users = session.scalars(select(User).where(User.email.ilike("new.person@example.com"))).all()
        assert len(users) == 1
        (user,) = users
        assert user.username == "new.person@example.com" and not user.is_email_verified
        assert {r.name for r in user.roles} == {"Everyone", "Registered Users"}
    assert first.customer_id == second.customer_id == user.id
