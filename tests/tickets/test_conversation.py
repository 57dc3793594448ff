"""The conversation of a ticket: notes, messages, the part list, bodies, history."""
from __future__ import annotations

import datetime as dt
import email
import email.policy

from conftest import failed, ok, strings
from stws.errors import ResultCode

UTC = dt.timezone.utc
DEPARTMENT_ADDRESS = "support@helpdesk.example"


async def make_agent(desk, username, group_id=None) -> tuple:
    password = username + "-passw0rd"
    created = ok(await desk.org.CreateUser(*desk.admin, username, password, username + "@helpdesk.example",
                                           True, username.title()))
    ok(await desk.org.SetUsersProperties(*desk.admin, created.RequestResult, strings("Roles=Agent")))
    if group_id:
        ok(await desk.org.AddAgentToGroup(*desk.admin, group_id, created.RequestResult, "Primary", False, 0))
    return (username, password), created.RequestResult


async def customer_ticket(desk, subject="Cannot log in", body="Help!") -> tuple[str, int]:
    """A ticket the customer wrote in (Active, in alice's group, queued)."""
    number = ok(await desk.tickets.CreateTicketFromCustomer(
        *desk.agent, desk.department_id, "cust@example.com", subject, body, False, False)).RequestResult
    info = ok(await desk.tickets.GetTicketInfoByTicketNumber(*desk.agent, number)).Ticket
    return number, info.ID


async def info(desk, number):
    return ok(await desk.tickets.GetTicketInfoByTicketNumber(*desk.admin, number)).Ticket


async def parts(desk, who, ticket_id) -> list:
    result = ok(await desk.tickets.GetTicketConversationPartList(*who, ticket_id))
    return list(result.Parts.TicketPartInfo) if result.Parts else []


async def events(desk, who, ticket_id) -> list:
    result = ok(await desk.tickets.GetTicketEventHistory(*who, ticket_id))
    return list(result.Events.TicketEventInfo) if result.Events else []


async def set_department_address(desk):
    ok(await desk.org.SetDepartmentProperties(*desk.admin, desk.department_id,
                                              strings("EmailAddress=%s" % DEPARTMENT_ADDRESS)))


def execute(desk, statement, **params):
    """Change rows behind the service's back (desk.sql is for SELECTs)."""
    from sqlalchemy import text

    with desk.server.runtime.db.engine.begin() as connection:
        connection.execute(text(statement), params)


def set_status(desk, ticket_id, status_id):
    execute(desk, "UPDATE tickets SET status_id = :s WHERE id = :i", s=status_id, i=ticket_id)


def mail_of(row):
    return email.message_from_bytes(row.raw_content, policy=email.policy.default)


# ------------------------------------------------------------------ notes


async def test_notes_of_every_type_any_spelling(desk):
    number, ticket_id = await customer_ticket(desk)
    t = desk.tickets
    for spelling in ("general", "RESOLUTION", "Transfer", "followup", "Follow-Up", "sticky", ""):
        ok(await t.AddTicketNote(*desk.agent, number, spelling, "note %s" % spelling))
    notes = [p for p in await parts(desk, desk.agent, ticket_id) if p.Type != 1]
    assert [p.Type for p in notes] == [10, 12, 11, 10, 10, 10, 10]
    assert notes[0].Description == "note general"
    assert notes[3].Description == "Follow-Up: note followup"
    assert notes[5].Description == "Sticky: note sticky"
    assert all(p.Sender == "alice" and p.Direction == 0 and not p.IsDraft for p in notes)
    kinds = []
    for part in notes:
        comment = ok(await t.GetTicketNote(*desk.agent, part.PartId)).Comment
        assert comment.CommentId == part.PartId and comment.TicketId == ticket_id
        assert comment.UserId == desk.agent_id
        kinds.append(comment.CommentType)
    assert kinds == ["General", "Resolution", "Transfer", "Follow-Up", "Follow-Up", "Sticky", "General"]
    assert (await t.GetTicketNote(*desk.agent, notes[1].PartId)).Comment.CommentText == "note RESOLUTION"
    # Notes are internal: never mailed, no reply counted, status untouched.
    assert desk.spool() == []
    ticket = await info(desk, number)
    assert ticket.ReplyCountOut == 0 and ticket.ReplyCountIn == 1 and ticket.IsActive
    history = await events(desk, desk.agent, ticket_id)
    assert [e.Description for e in history].count("General comment added") == 2
    assert "Resolution comment added" in [e.Description for e in history]


async def test_unknown_note_type_lists_the_valid_ones(desk):
    number, ticket_id = await customer_ticket(desk)
    message = failed(await desk.tickets.AddTicketNote(*desk.agent, number, "urgent", "x"),
                     ResultCode.INVALID_ARGUMENT)
    for name in ("General", "Resolution", "Transfer", "Follow-Up", "Sticky"):
        assert name in message
    assert [p.Type for p in await parts(desk, desk.agent, ticket_id)] == [1]


async def test_html_note_and_dated_note(desk):
    number, ticket_id = await customer_ticket(desk)
    t = desk.tickets
    ok(await t.AddTicketNoteHtml(*desk.agent, number, "General", "<p>Checked the <b>logs</b></p>"))
    opened = (await parts(desk, desk.agent, ticket_id))[0].CreationDateUtc
    when = opened + dt.timedelta(microseconds=500)
    ok(await t.AddTicketNoteHtmlWithDate(*desk.agent, number, "resolution", "<i>Fixed</i>", when))
    listed = await parts(desk, desk.agent, ticket_id)
    # The dated note sorts right after the first message, before the later note.
    assert [p.Type for p in listed] == [1, 12, 10]
    assert listed[1].CreationDateUtc == when and listed[1].Description == "Fixed"
    assert listed[2].Description == "Checked the logs"
    comment = ok(await t.GetTicketNote(*desk.agent, listed[2].PartId)).Comment
    assert comment.CommentText == "<p>Checked the <b>logs</b></p>"
    assert ok(await t.GetTicketNote(*desk.agent, listed[1].PartId)).Comment.DateEnteredUTC == when

    future = dt.datetime.now(UTC) + dt.timedelta(hours=1)
    failed(await t.AddTicketNoteHtmlWithDate(*desk.agent, number, "General", "x", future),
           ResultCode.INVALID_ARGUMENT)
    failed(await t.AddTicketNoteHtmlWithDate(*desk.agent, number, "General", "x", opened - dt.timedelta(days=1)),
           ResultCode.INVALID_ARGUMENT)
    assert len(await parts(desk, desk.agent, ticket_id)) == 3


async def test_note_failures(desk):
    number, ticket_id = await customer_ticket(desk)
    t = desk.tickets
    outsider, _ = await make_agent(desk, "olga")  # an agent of no group
    failed(await t.AddTicketNote(*desk.agent, "000-00000000-0000", "General", "x"), ResultCode.NOT_FOUND)
    failed(await t.AddTicketNote(*desk.agent, "", "General", "x"), ResultCode.INVALID_ARGUMENT)
    failed(await t.AddTicketNote(*desk.agent, number, "General", "   "), ResultCode.INVALID_ARGUMENT)
    failed(await t.AddTicketNoteHtml(*desk.agent, number, "General", ""), ResultCode.INVALID_ARGUMENT)
    failed(await t.AddTicketNote(*outsider, number, "General", "x"), ResultCode.NOT_FOUND)
    failed(await t.AddTicketNote(*desk.customer, number, "General", "x"), ResultCode.PERMISSION_DENIED)
    failed(await t.AddTicketNote("alice", "wrong-password", number, "General", "x"),
           ResultCode.AUTHENTICATION_FAILED)
    ok(await t.AddTicketNote(*desk.agent, number, "General", "before the lock"))
    set_status(desk, ticket_id, 4)
    failed(await t.AddTicketNote(*desk.agent, number, "General", "x"), ResultCode.INVALID_STATE)
    failed(await t.AddTicketNoteHtmlWithDate(*desk.admin, number, "General", "x", dt.datetime.now(UTC)),
           ResultCode.INVALID_STATE)
    listed = await parts(desk, desk.admin, ticket_id)
    assert [p.Type for p in listed] == [1, 10]

    note_id = listed[1].PartId
    assert ok(await t.GetTicketNote(*desk.agent, note_id)).Comment.CommentText == "before the lock"
    failed(await t.GetTicketNote(*desk.agent, 9999), ResultCode.NOT_FOUND)
    failed(await t.GetTicketNote(*desk.agent, 0), ResultCode.NOT_FOUND)
    failed(await t.GetTicketNote(*outsider, note_id), ResultCode.NOT_FOUND)
    failed(await t.GetTicketNote(*desk.customer, note_id), ResultCode.PERMISSION_DENIED)


async def test_edit_note(desk):
    number, ticket_id = await customer_ticket(desk)
    t = desk.tickets
    ok(await t.AddTicketNote(*desk.agent, number, "General", "first draft"))
    note_id = [p for p in await parts(desk, desk.agent, ticket_id) if p.Type == 10][0].PartId

    ok(await t.EditTicketNote(*desk.agent, note_id, number, "resolution", "final words"))
    comment = ok(await t.GetTicketNote(*desk.agent, note_id)).Comment
    assert comment.CommentText == "final words" and comment.CommentType == "Resolution"
    assert comment.UserId == desk.agent_id  # still the author's
    (edited,) = [e for e in await events(desk, desk.admin, ticket_id) if e.Description == "Comment %d edited" % note_id]
    assert edited.UserTakingAction == "alice"
    assert "first draft" in edited.Details and "General -> Resolution" in edited.Details
    assert abs(edited.EventDateUtc - dt.datetime.now(UTC)) < dt.timedelta(minutes=1)
    assert [p.Type for p in await parts(desk, desk.agent, ticket_id)] == [1, 12]

    # An empty messageType keeps the type.
    ok(await t.EditTicketNote(*desk.agent, note_id, number, "", "final words, really"))
    comment = ok(await t.GetTicketNote(*desk.agent, note_id)).Comment
    assert comment.CommentType == "Resolution" and comment.CommentText == "final words, really"

    # Another agent of the group may not edit alice's note; an administrator may.
    bob, _ = await make_agent(desk, "bob", desk.group_id)
    failed(await t.EditTicketNote(*bob, note_id, number, "General", "mine now"), ResultCode.PERMISSION_DENIED)
    ok(await t.EditTicketNote(*desk.admin, note_id, number, "General", "admin says"))
    history = await events(desk, desk.admin, ticket_id)
    assert history[-1].UserTakingAction == "admin" and "final words, really" in history[-1].Details

    other_number, _ = await customer_ticket(desk, "Other")
    failed(await t.EditTicketNote(*desk.agent, note_id, other_number, "General", "x"), ResultCode.NOT_FOUND)
    failed(await t.EditTicketNote(*desk.agent, 9999, number, "General", "x"), ResultCode.NOT_FOUND)
    failed(await t.EditTicketNote(*desk.agent, note_id, number, "nonsense", "x"), ResultCode.INVALID_ARGUMENT)
    failed(await t.EditTicketNote(*desk.agent, note_id, number, "General", " "), ResultCode.INVALID_ARGUMENT)
    failed(await t.EditTicketNote(*desk.customer, note_id, number, "General", "x"), ResultCode.PERMISSION_DENIED)
    set_status(desk, ticket_id, 4)
    failed(await t.EditTicketNote(*desk.agent, note_id, number, "General", "x"), ResultCode.INVALID_STATE)
    assert ok(await t.GetTicketNote(*desk.agent, note_id)).Comment.CommentText == "admin says"


# ------------------------------------------------------------------ replies to the customer


async def test_agent_reply_is_emailed_as_a_reply_to_the_customer(desk):
    await set_department_address(desk)
    number, ticket_id = await customer_ticket(desk)
    # The customer's message came by email: it has a Message-ID to answer.
    execute(desk, "UPDATE ticket_messages SET message_id_header = '<first@example.com>' WHERE ticket_id = :i",
             i=ticket_id)
    before = await info(desk, number)
    ok(await desk.tickets.AddMessageToTicket(*desk.agent, number, "", "", "boss@example.com", "", "We are on it.",
                                             False, True, True))
    after = await info(desk, number)
    assert after.ReplyCountOut == before.ReplyCountOut + 1 and after.ReplyCountIn == before.ReplyCountIn
    assert after.IsOpen and not after.IsActive  # Waiting
    assert after.LastReplyDateUtc > before.LastReplyDateUtc
    (row,) = desk.spool()
    mail = mail_of(row)
    assert mail["To"] == "cust@example.com" and mail["Cc"] == "boss@example.com"
    assert DEPARTMENT_ADDRESS in mail["From"]
    assert number in mail["Subject"] and "Cannot log in" in mail["Subject"]
    assert mail["In-Reply-To"] == "<first@example.com>"
    assert "<first@example.com>" in mail["References"]
    assert mail.get_content().strip() == "We are on it."
    assert row.recipients == "cust@example.com, boss@example.com"

    # A second reply from another address to other people still answers the customer's message.
    ok(await desk.tickets.AddMessageToTicket(*desk.agent, number, "billing@helpdesk.example",
                                             'x@example.org; "Why Not" <y@example.org>', "", "Invoice",
                                             "<p>See <b>attached</b></p>", True, True, True))
    second = mail_of(desk.spool()[1])
    assert second["To"] == "x@example.org, y@example.org"
    assert "billing@helpdesk.example" in second["From"] and second["Cc"] is None
    assert second["In-Reply-To"] == "<first@example.com>"
    assert row.message_id_header in second["References"]
    assert "Invoice" in second["Subject"] and number in second["Subject"]
    assert "<b>attached</b>" in second.get_body(("html",)).get_content()
    assert "See attached" in second.get_body(("plain",)).get_content()

    listed = [p for p in await parts(desk, desk.agent, ticket_id) if p.Type == 1]
    assert [p.Direction for p in listed] == [2, 1, 1]
    assert listed[0].Sender == "cust@example.com" and listed[0].Recipient == DEPARTMENT_ADDRESS
    assert listed[1].Sender == DEPARTMENT_ADDRESS and listed[1].Recipient == "cust@example.com"
    assert listed[2].Sender == "billing@helpdesk.example"
    assert listed[2].Recipient == "x@example.org, y@example.org" and listed[2].Description == "Invoice"
    history = await events(desk, desk.agent, ticket_id)
    assert any(e.Description == "Reply sent to cust@example.com, boss@example.com" and e.UserTakingAction == "alice"
               for e in history)
    assert any(e.Description == "Status changed from Active to Waiting" for e in history)


async def test_agent_reply_without_email_and_message_bodies(desk):
    number, ticket_id = await customer_ticket(desk, body="Line one\nx < y & z")
    ok(await desk.tickets.AddMessageToTicket(*desk.agent, number, "", "", "", "Re: login",
                                             "<div>Try <i>again</i></div>", True, True, False))
    assert desk.spool() == []
    assert (await info(desk, number)).ReplyCountOut == 1
    first, reply = await parts(desk, desk.agent, ticket_id)
    t = desk.tickets
    assert ok(await t.GetTicketMessagePlainText(*desk.agent, first.PartId)).messageBody == "Line one\nx < y & z"
    assert ok(await t.GetTicketMessageHtml(*desk.agent, first.PartId)).messageBody == \
        "<p>Line one<br>x &lt; y &amp; z</p>"
    assert ok(await t.GetTicketMessageHtml(*desk.agent, reply.PartId)).messageBody == "<div>Try <i>again</i></div>"
    assert ok(await t.GetTicketMessagePlainText(*desk.agent, reply.PartId)).messageBody == "Try again"
    assert reply.Description == "Re: login"
    assert any(e.Description == "Reply added (not emailed)" for e in await events(desk, desk.agent, ticket_id))


async def test_reply_attributed_to_another_agent(desk):
    number, ticket_id = await customer_ticket(desk)
    bob, bob_id = await make_agent(desk, "bob", desk.group_id)
    t = desk.tickets
    ok(await t.AddMessageToTicketFromUser(*desk.agent, number, "", "", "", "", "From bob", False, True, False,
                                          bob_id))
    ok(await t.AddMessageToTicketFromUser(*desk.agent, number, "", "", "", "", "From alice", False, True, False,
                                          None))
    rows = desk.sql("SELECT from_user_id FROM ticket_messages WHERE ticket_id = :i ORDER BY id", i=ticket_id)
    assert [r[0] for r in rows][1:] == [bob_id, desk.agent_id]
    history = [e.Description for e in await events(desk, desk.agent, ticket_id)]
    assert "Reply added (not emailed) on behalf of bob" in history
    assert (await info(desk, number)).ReplyCountOut == 2
    # A reply can only come from an agent; unknown users are not found.
    failed(await t.AddMessageToTicketFromUser(*desk.agent, number, "", "", "", "", "x", False, True, False,
                                              desk.customer_id), ResultCode.INVALID_ARGUMENT)
    failed(await t.AddMessageToTicketFromUser(*desk.agent, number, "", "", "", "", "x", False, True, False, 9999),
           ResultCode.NOT_FOUND)
    assert (await info(desk, number)).ReplyCountOut == 2


# ------------------------------------------------------------------ messages from the customer


async def test_customer_message_makes_a_waiting_ticket_active(desk):
    number = ok(await desk.tickets.CreateTicket(*desk.agent, desk.department_id, 0, 0, "cust@example.com",
                                                "Renewal", "Your domain expires.", False, True, False)).RequestResult
    before = await info(desk, number)
    assert not before.IsActive
    ok(await desk.tickets.AddMessageToTicket(*desk.agent, number, "", "", "", "", "Please renew it.", False, False,
                                             True))
    after = await info(desk, number)
    assert after.IsActive and after.ReplyCountIn == before.ReplyCountIn + 1
    assert after.ReplyCountOut == before.ReplyCountOut and after.IdAgent == desk.agent_id
    assert desk.spool() == []  # the customer's own message is not mailed to anyone
    listed = await parts(desk, desk.agent, before.ID)
    assert listed[-1].Direction == 2 and listed[-1].Sender == "cust@example.com"
    rows = desk.sql("SELECT from_user_id FROM ticket_messages WHERE ticket_id = :i ORDER BY id", i=before.ID)
    assert rows[-1][0] == desk.customer_id


async def test_customer_message_reopens_a_closed_ticket(desk):
    number, ticket_id = await customer_ticket(desk)
    set_status(desk, ticket_id, 3)
    assert not (await info(desk, number)).IsOpen
    ok(await desk.tickets.AddMessageToTicket(*desk.agent, number, "colleague@example.com", "", "", "",
                                             "It broke again.", False, False, False))
    ticket = await info(desk, number)
    assert ticket.IsOpen and ticket.IsActive
    history = [e.Description for e in await events(desk, desk.agent, ticket_id)]
    assert "Reopened by a message from the customer" in history
    assert "Status changed from Closed to Active" in history
    assert (await parts(desk, desk.agent, ticket_id))[-1].Sender == "colleague@example.com"
    # An agent's reply to a closed ticket reopens it as Waiting.
    set_status(desk, ticket_id, 3)
    ok(await desk.tickets.AddMessageToTicket(*desk.agent, number, "", "", "", "", "One more thing.", False, True,
                                             False))
    ticket = await info(desk, number)
    assert ticket.IsOpen and not ticket.IsActive
    assert "Status changed from Closed to Waiting" in [e.Description for e in await events(desk, desk.agent, ticket_id)]


async def test_subject_cannot_inject_headers(desk):
    number, _ = await customer_ticket(desk)
    ok(await desk.tickets.AddMessageToTicket(*desk.agent, number, "", "", "", "Hello\r\nBcc: evil@example.org",
                                             "x", False, True, True))
    mail = mail_of(desk.spool()[0])
    assert mail["Bcc"] is None and "evil@example.org" not in desk.spool()[0].recipients
    assert mail["Subject"].startswith("Hello Bcc: evil@example.org")


async def test_customer_message_distributes_an_unowned_ticket(desk):
    number, ticket_id = await customer_ticket(desk)
    assert (await info(desk, number)).IdAgent == 0  # queued: nobody receiving
    execute(desk, "UPDATE group_agents SET is_receiving = :t", t=True)
    ok(await desk.tickets.AddMessageToTicket(*desk.admin, number, "", "", "", "", "Anyone?", False, False, False))
    assert (await info(desk, number)).IdAgent == desk.agent_id
    assert "Assigned to alice" in [e.Description for e in await events(desk, desk.agent, ticket_id)]


# ------------------------------------------------------------------ dated messages


async def test_dated_messages_return_their_part(desk):
    opened = dt.datetime(2021, 3, 1, 9, 0, tzinfo=UTC)
    number = ok(await desk.tickets.CreateTicketFromCustomerWithDate(
        *desk.agent, desk.department_id, 0, desk.customer_id, "", "Imported", "Original", False, False,
        opened, opened, opened)).RequestResult
    ticket_id = (await info(desk, number)).ID
    t = desk.tickets
    reply_at = opened + dt.timedelta(hours=2)
    part = ok(await t.AddMessageToTicketWithDate(*desk.agent, number, "", "", "", "Answer", "Done.", False, True,
                                                 False, reply_at)).Part
    assert part.Type == 1 and part.Direction == 1 and part.CreationDateUtc == reply_at
    assert part.Description == "Answer" and part.Recipient == "cust@example.com" and not part.IsDraft
    assert ok(await t.GetTicketMessagePlainText(*desk.agent, part.PartId)).messageBody == "Done."
    ticket = await info(desk, number)
    assert ticket.LastReplyDateUtc == reply_at and not ticket.IsActive

    # A customer message dated between the two: filed in place, the later reply still decides the status.
    earlier = opened + dt.timedelta(hours=1)
    bob, bob_id = await make_agent(desk, "bob", desk.group_id)
    part = ok(await t.AddMessageToTicketWithDateFromUser(*desk.agent, number, "", "", "", "", "Any news?", False,
                                                         False, False, earlier, None)).Part
    assert part.Direction == 2 and part.Sender == "cust@example.com"
    ticket = await info(desk, number)
    assert ticket.LastReplyDateUtc == reply_at and not ticket.IsActive and ticket.ReplyCountIn == 2
    assert [p.CreationDateUtc for p in await parts(desk, desk.agent, ticket_id)] == [opened, earlier, reply_at]

    later = reply_at + dt.timedelta(hours=1)
    part = ok(await t.AddMessageToTicketWithDateFromUser(*desk.agent, number, "", "", "", "", "Follow-up", False,
                                                         True, False, later, bob_id)).Part
    rows = desk.sql("SELECT from_user_id FROM ticket_messages WHERE id = :i", i=part.PartId)
    assert rows[0][0] == bob_id

    future = dt.datetime.now(UTC) + dt.timedelta(hours=1)
    for when in (future, opened - dt.timedelta(seconds=1)):
        failed(await t.AddMessageToTicketWithDate(*desk.agent, number, "", "", "", "", "x", False, True, False,
                                                  when), ResultCode.INVALID_ARGUMENT)
        failed(await t.AddMessageToTicketWithDateFromUser(*desk.agent, number, "", "", "", "", "x", False, True,
                                                          False, when, bob_id), ResultCode.INVALID_ARGUMENT)
    assert len(await parts(desk, desk.agent, ticket_id)) == 4


# ------------------------------------------------------------------ failures


async def test_message_failures_change_nothing(desk):
    number, ticket_id = await customer_ticket(desk)
    t = desk.tickets
    outsider, _ = await make_agent(desk, "olga")
    args = ("", "", "", "", "body", False, True, True)

    def with_(**changes):
        names = ("fromAddress", "toAddress", "ccAddress", "subject", "body", "isHtml", "toCustomer", "sendEmail")
        values = dict(zip(names, args))
        values.update(changes)
        return [values[n] for n in names]

    failed(await t.AddMessageToTicket(*desk.agent, number, *with_(toAddress="not an address")),
           ResultCode.INVALID_ARGUMENT)
    failed(await t.AddMessageToTicket(*desk.agent, number, *with_(ccAddress="ok@example.org, broken@")),
           ResultCode.INVALID_ARGUMENT)
    failed(await t.AddMessageToTicket(*desk.agent, number, *with_(fromAddress="me at example")),
           ResultCode.INVALID_ARGUMENT)
    failed(await t.AddMessageToTicket(*desk.agent, number, *with_(fromAddress="a@example.org, b@example.org")),
           ResultCode.INVALID_ARGUMENT)
    failed(await t.AddMessageToTicket(*desk.agent, number, *with_(body="  ")), ResultCode.INVALID_ARGUMENT)
    failed(await t.AddMessageToTicket(*desk.agent, number, *with_(toCustomer=False, fromAddress="x")),
           ResultCode.INVALID_ARGUMENT)
    failed(await t.AddMessageToTicket(*desk.agent, "000-00000000-0000", *args), ResultCode.NOT_FOUND)
    failed(await t.AddMessageToTicket(*desk.agent, "", *args), ResultCode.INVALID_ARGUMENT)
    failed(await t.AddMessageToTicket(*outsider, number, *args), ResultCode.NOT_FOUND)
    failed(await t.AddMessageToTicket(*desk.customer, number, *args), ResultCode.PERMISSION_DENIED)
    failed(await t.AddMessageToTicketFromUser(*desk.customer, number, *args, None), ResultCode.PERMISSION_DENIED)
    failed(await t.AddMessageToTicketWithDate(*desk.customer, number, *args, dt.datetime.now(UTC)),
           ResultCode.PERMISSION_DENIED)
    set_status(desk, ticket_id, 4)
    failed(await t.AddMessageToTicket(*desk.admin, number, *args), ResultCode.INVALID_STATE)
    failed(await t.AddMessageToTicket(*desk.admin, number, *with_(toCustomer=False)), ResultCode.INVALID_STATE)
    failed(await t.AddMessageToTicketWithDateFromUser(*desk.admin, number, *args, dt.datetime.now(UTC), None),
           ResultCode.INVALID_STATE)
    ticket = await info(desk, number)
    assert ticket.ReplyCountOut == 0 and ticket.ReplyCountIn == 1
    assert len(await parts(desk, desk.admin, ticket_id)) == 1
    assert desk.spool() == []


async def test_reply_to_a_ticket_without_customer_address_needs_to_address(desk):
    number, ticket_id = await customer_ticket(desk)
    execute(desk, "UPDATE tickets SET customer_email = '' WHERE id = :i", i=ticket_id)
    failed(await desk.tickets.AddMessageToTicket(*desk.agent, number, "", "", "", "", "x", False, True, True),
           ResultCode.INVALID_ARGUMENT)
    ok(await desk.tickets.AddMessageToTicket(*desk.agent, number, "", "someone@example.org", "", "", "x", False,
                                             True, True))
    assert mail_of(desk.spool()[0])["To"] == "someone@example.org"


# ------------------------------------------------------------------ reading


async def test_part_list_is_chronological_and_customers_see_only_messages(desk):
    number, ticket_id = await customer_ticket(desk)
    t = desk.tickets
    ok(await t.AddTicketNote(*desk.agent, number, "General", "customer seems upset"))
    ok(await t.AddMessageToTicket(*desk.agent, number, "", "", "", "", "Hello", False, True, False))
    ok(await t.AddTicketNote(*desk.agent, number, "Transfer", "to level 2"))
    ok(await t.AddMessageToTicket(*desk.agent, number, "", "", "", "", "Thanks", False, False, False))
    listed = await parts(desk, desk.agent, ticket_id)
    assert [(p.Type, p.Direction) for p in listed] == [(1, 2), (10, 0), (1, 1), (11, 0), (1, 2)]
    dates = [p.CreationDateUtc for p in listed]
    assert dates == sorted(dates)

    seen = await parts(desk, desk.customer, ticket_id)
    assert [p.PartId for p in seen] == [p.PartId for p in listed if p.Type == 1]
    assert ok(await t.GetTicketMessagePlainText(*desk.customer, seen[1].PartId)).messageBody == "Hello"

    # A draft is listed for agents only.
    execute(desk, "UPDATE ticket_messages SET is_draft = :t WHERE id = :i", t=True, i=seen[1].PartId)
    assert [p.IsDraft for p in await parts(desk, desk.agent, ticket_id)] == [False, False, True, False, False]
    assert len(await parts(desk, desk.customer, ticket_id)) == 2
    failed(await t.GetTicketMessageHtml(*desk.customer, seen[1].PartId), ResultCode.NOT_FOUND)
    assert ok(await t.GetTicketMessageHtml(*desk.agent, seen[1].PartId)).messageBody == "<p>Hello</p>"

    # Other people's tickets and messages are not found.
    other, _ = await make_agent(desk, "olga")
    (_, stranger_id) = await make_agent(desk, "stranger")
    failed(await t.GetTicketConversationPartList(*other, ticket_id), ResultCode.NOT_FOUND)
    failed(await t.GetTicketMessagePlainText(*other, seen[0].PartId), ResultCode.NOT_FOUND)
    failed(await t.GetTicketMessageHtml(*other, seen[0].PartId), ResultCode.NOT_FOUND)
    failed(await t.GetTicketConversationPartList(*desk.agent, 9999), ResultCode.NOT_FOUND)
    failed(await t.GetTicketMessagePlainText(*desk.agent, 99999), ResultCode.NOT_FOUND)
    failed(await t.GetTicketMessageHtml(*desk.agent, 0), ResultCode.NOT_FOUND)
    foreign = ok(await t.CreateTicketFromCustomer(*desk.agent, desk.department_id, "other@example.com", "Theirs",
                                                  "secret", False, False)).RequestResult
    foreign_id = (await info(desk, foreign)).ID
    failed(await t.GetTicketConversationPartList(*desk.customer, foreign_id), ResultCode.NOT_FOUND)
    foreign_message = (await parts(desk, desk.agent, foreign_id))[0].PartId
    failed(await t.GetTicketMessagePlainText(*desk.customer, foreign_message), ResultCode.NOT_FOUND)


async def test_part_list_of_a_ticket_whose_only_message_is_a_draft(desk):
    # The ticket is still found for the customer, with nothing to list;
    # agents see the draft and the notes, named by their types.
    number, ticket_id = await customer_ticket(desk)
    ok(await desk.tickets.AddTicketNote(*desk.agent, number, "Resolution", "reset the password"))
    ok(await desk.tickets.AddTicketNote(*desk.agent, number, "Sticky", "VIP customer"))
    execute(desk, "UPDATE ticket_messages SET is_draft = :t WHERE ticket_id = :i", t=True, i=ticket_id)
    assert await parts(desk, desk.customer, ticket_id) == []
    listed = await parts(desk, desk.agent, ticket_id)
    assert [(p.Type, p.IsDraft) for p in listed] == [(1, True), (12, False), (10, False)]
    assert listed[1].Description == "reset the password"
    assert listed[2].Description == "Sticky: VIP customer"


async def test_event_history(desk):
    number, ticket_id = await customer_ticket(desk)
    t = desk.tickets
    ok(await t.AddTicketNote(*desk.agent, number, "General", "looking"))
    ok(await t.AddMessageToTicket(*desk.agent, number, "", "", "", "", "Fixed", False, True, False))
    history = await events(desk, desk.agent, ticket_id)
    descriptions = [e.Description for e in history]
    assert descriptions[0].startswith("Ticket created")
    assert descriptions[-3:] == ["General comment added", "Reply added (not emailed)",
                                 "Status changed from Active to Waiting"]
    assert [e.UserTakingAction for e in history[-3:]] == ["alice"] * 3
    dates = [e.EventDateUtc for e in history]
    assert dates == sorted(dates)
    assert "looking" in history[-3].Details

    outsider, _ = await make_agent(desk, "olga")
    failed(await t.GetTicketEventHistory(*outsider, ticket_id), ResultCode.NOT_FOUND)
    failed(await t.GetTicketEventHistory(*desk.customer, ticket_id), ResultCode.PERMISSION_DENIED)
    failed(await t.GetTicketEventHistory(*desk.agent, 9999), ResultCode.NOT_FOUND)
    # A deleted ticket keeps its history for administrators only.
    execute(desk, "UPDATE tickets SET is_deleted = :t WHERE id = :i", t=True, i=ticket_id)
    failed(await t.GetTicketEventHistory(*desk.agent, ticket_id), ResultCode.NOT_FOUND)
    assert len(await events(desk, desk.admin, ticket_id)) == len(history)


async def test_every_change_touches_the_ticket(desk):
    number, ticket_id = await customer_ticket(desk)
    t = desk.tickets

    def mark_indexed():
        execute(desk, "UPDATE tickets SET is_indexed = :t WHERE id = :i", t=True, i=ticket_id)

    def indexed():
        return bool(desk.sql("SELECT is_indexed FROM tickets WHERE id = :i", i=ticket_id)[0][0])

    changes = [
        lambda: t.AddTicketNote(*desk.agent, number, "General", "a"),
        lambda: t.AddTicketNoteHtml(*desk.agent, number, "General", "<b>b</b>"),
        lambda: t.AddTicketNoteHtmlWithDate(*desk.agent, number, "General", "c", dt.datetime.now(UTC)),
        lambda: t.AddMessageToTicket(*desk.agent, number, "", "", "", "", "d", False, True, False),
        lambda: t.AddMessageToTicketFromUser(*desk.agent, number, "", "", "", "", "e", False, False, False, None),
        lambda: t.AddMessageToTicketWithDate(*desk.agent, number, "", "", "", "", "f", False, True, False,
                                             dt.datetime.now(UTC)),
        lambda: t.AddMessageToTicketWithDateFromUser(*desk.agent, number, "", "", "", "", "g", False, False, False,
                                                     dt.datetime.now(UTC), None),
    ]
    count = len(await events(desk, desk.agent, ticket_id))
    for change in changes:
        mark_indexed()
        ok(await change())
        assert not indexed()
        now = len(await events(desk, desk.agent, ticket_id))
        assert now > count
        count = now
    note_id = [p for p in await parts(desk, desk.agent, ticket_id) if p.Type == 10][0].PartId
    mark_indexed()
    ok(await t.EditTicketNote(*desk.agent, note_id, number, "General", "edited"))
    assert not indexed()
    assert len(await events(desk, desk.agent, ticket_id)) == count + 1
    # Reading changes nothing.
    mark_indexed()
    await parts(desk, desk.agent, ticket_id)
    await t.GetTicketNote(*desk.agent, note_id)
    assert indexed()
