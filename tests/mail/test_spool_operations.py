"""stws.operations.spool without a server: what the management interface
runs, through the runner (roles, one transaction) or on a Context built
over a test's own session."""
from __future__ import annotations

import datetime as dt
import os

import pytest
from sqlalchemy import select

from mail.conftest import queue, rows, smtp_log
from mail.pop_server import add_pop_account, incoming_rows, make_mail
from stws.db.models import IncomingMessage, User, utcnow
from stws.domain.context import Context
from stws.errors import AlreadyExists, InUse, InvalidArgument, InvalidState, NotFound, PermissionDenied
from stws.mail import pop
from stws.mail.spool import IncomingSummary, OutgoingSummary, Page
from stws.operations import spool as ops
from stws.operations.runner import OperationSpec, run
from stws.security import roles
from stws.security.principals import Principal

EVERY_OPERATION = [spec for spec in vars(ops).values() if isinstance(spec, OperationSpec)]


@pytest.fixture
def runtime(make_config, monkeypatch):
    monkeypatch.setenv("STWS_ADMIN_PASSWORD", "admin-Passw0rd!")
    from stws.runtime import start_runtime

    runtime = start_runtime(make_config())
    yield runtime
    runtime.close()


@pytest.fixture
def admin(runtime):
    with runtime.db.transaction(writes=False) as session:
        admin_id = session.scalar(select(User.id).where(User.username == "admin"))
    return Principal(admin_id, "admin", roles.effective_roles([roles.ADMINISTRATOR]))


@pytest.fixture
def agent():
    return Principal(4242, "agent1", roles.effective_roles([roles.AGENT, roles.MANAGER]))


def test_every_operation_is_for_administrators_only(runtime, admin, agent):
    assert len(EVERY_OPERATION) == 28  # one per svcSpool operation, and five only the pages use
    ids = queue(runtime, 2)
    for spec in EVERY_OPERATION:
        assert spec.role == roles.ADMINISTRATOR, spec.name
        # The role is checked before the body runs: no arguments needed.
        with pytest.raises(PermissionDenied) as refused:
            run(runtime, spec, agent, ())
        assert "agent1" in refused.value.message and roles.ADMINISTRATOR in refused.value.message
    assert [r.id for r in rows(runtime)] == ids  # nothing was deleted by the refused calls

    page = run(runtime, ops.list_outgoing_messages, admin)
    assert isinstance(page, Page) and page.total == 2
    assert all(isinstance(item, OutgoingSummary) for item in page.items)


def test_read_only_operations_say_so():
    readers = {spec.name for spec in EVERY_OPERATION if not spec.writes}
    assert readers == {
        "list_outgoing_messages", "outgoing_message_raw_content", "spool_counts", "list_incoming_messages",
        "incoming_message_raw_content", "incoming_spool_counts", "list_smtp_accounts", "get_smtp_account",
        "list_pop_accounts", "get_pop_account", "get_department_smtp_account"}


def test_a_context_over_the_callers_session(runtime, admin, agent):
    """An operation composed into another one's transaction still checks the role."""
    queue(runtime, 1)
    with runtime.db.transaction() as session:
        assert ops.spool_counts(Context.in_session(session, admin, runtime))["OutgoingQueued"] == 1
        with pytest.raises(PermissionDenied):
            ops.spool_counts(Context.in_session(session, agent, runtime))


def test_outgoing_list_retry_delete(runtime, admin):
    now = utcnow()
    queued = queue(runtime, 2)
    failed = queue(runtime, 2, to="zed@example.com", status="failed", attempts=10, last_error="550 no such user")
    sent = queue(runtime, 1, status="sent", date_sent_utc=now)
    busy = queue(runtime, 1, status="sending", claimed_by="n/1", claim_until_utc=now + dt.timedelta(minutes=5))

    page = run(runtime, ops.list_outgoing_messages, admin, ("to", True, 0, 2))
    assert page.total == 6 and [m.recipients for m in page.items] == ["zed@example.com"] * 2
    assert [m.id for m in page.items] == sorted(failed, reverse=True)
    first = run(runtime, ops.list_outgoing_messages, admin, ("", False, 0, 0)).items[0]
    assert (first.id, first.status, first.subject, first.ticket_id, first.smtp_account_id) == (
        queued[0], "queued", "Message 0", None, None)
    assert first.size > 100 and first.date_sent_utc is None and not first.is_being_sent
    assert [m.is_being_sent for m in run(runtime, ops.list_outgoing_messages, admin).items if m.id in busy] == [True]
    for bad in (("colour", False, 0, 10), ("id", False, -1, 10), ("id", False, 0, 1001)):
        with pytest.raises(InvalidArgument):
            run(runtime, ops.list_outgoing_messages, admin, bad)

    raw = run(runtime, ops.outgoing_message_raw_content, admin, (queued[1],))
    assert isinstance(raw, bytes) and b"Subject: Message 1" in raw
    with pytest.raises(NotFound, match="no outgoing message with id 999"):
        run(runtime, ops.outgoing_message_raw_content, admin, (999,))

    # Ids as ints or as a form's text; all or nothing.
    with pytest.raises(InvalidState, match="already sent") as refused:
        run(runtime, ops.retry_outgoing_messages, admin, ([failed[0], str(sent[0])],))
    assert str(sent[0]) in refused.value.message
    with pytest.raises(InvalidState, match="being sent right now"):
        run(runtime, ops.delete_outgoing_messages, admin, ([busy[0], queued[0]],))
    with pytest.raises(InvalidArgument, match="select at least one"):
        run(runtime, ops.retry_outgoing_messages, admin, ([" ", ""],))
    with pytest.raises(NotFound, match="12345"):
        run(runtime, ops.delete_outgoing_messages, admin, ([queued[0], 12345],))
    assert len(rows(runtime)) == 6 and rows(runtime, failed)[0].status == "failed"

    assert run(runtime, ops.retry_outgoing_messages, admin, ([failed[0], " %d " % queued[0]],)) == 2
    # The count is kept; the SMTP log says who retried it, after how many attempts.
    assert [(r.status, r.attempts) for r in rows(runtime, [failed[0]])] == [("queued", 10)]
    assert ("message %d %s retried by admin (user %d) after 10 attempts (last error: 550 no such user)"
            % (failed[0], rows(runtime, [failed[0]])[0].message_id_header, admin.user_id)) in smtp_log(runtime)
    assert run(runtime, ops.retry_all_failed_outgoing_messages, admin) == 1
    assert run(runtime, ops.spool_counts, admin)["OutgoingFailed"] == 0

    with pytest.raises(InvalidArgument, match="queued, sending, sent, failed"):
        run(runtime, ops.delete_all_outgoing_messages, admin, ("bogus",))
    assert run(runtime, ops.delete_all_outgoing_messages, admin, ("SENT",)) == 1
    assert run(runtime, ops.delete_outgoing_messages, admin, ([str(queued[1])],)) == 1
    # "Select all": everything but what is being sent.
    assert run(runtime, ops.delete_all_outgoing_messages, admin) == 3
    assert [r.id for r in rows(runtime)] == busy
    counts = run(runtime, ops.spool_counts, admin)
    assert (counts["OutgoingSending"], counts["OutgoingTotal"], counts["IncomingTotal"]) == (1, 1, 0)


def test_retry_all_outgoing_takes_failed_and_waiting_messages_but_not_sent_or_busy(runtime, admin):
    now = utcnow()
    later = now + dt.timedelta(hours=1)
    waiting = queue(runtime, 2, attempts=3, last_error="421 try later", next_attempt_utc=later)
    failed = queue(runtime, 1, status="failed", attempts=10, last_error="550 no")
    lapsed = queue(runtime, 1, status="sending", claimed_by="n/1", claim_until_utc=now - dt.timedelta(minutes=1))
    sent = queue(runtime, 1, status="sent", date_sent_utc=now, attempts=1)
    busy = queue(runtime, 1, status="sending", claimed_by="n/2", claim_until_utc=now + dt.timedelta(minutes=5))

    assert run(runtime, ops.retry_all_outgoing_messages, admin) == 4
    by_id = {r.id: r for r in rows(runtime)}
    for message_id in waiting + failed + lapsed:
        row = by_id[message_id]
        assert (row.status, row.last_error, row.claimed_by) == ("queued", "", None)
        assert row.next_attempt_utc <= utcnow()  # due now, not in an hour
    assert [by_id[i].attempts for i in waiting + failed + lapsed] == [3, 3, 10, 0]
    log = smtp_log(runtime)
    for message_id in waiting + failed + lapsed:
        assert "message %d %s retried by admin" % (message_id, by_id[message_id].message_id_header) in log
    assert "message %d %s retried" % (sent[0], by_id[sent[0]].message_id_header) not in log
    assert (by_id[sent[0]].status, by_id[sent[0]].attempts) == ("sent", 1)
    assert (by_id[busy[0]].status, by_id[busy[0]].claimed_by) == ("sending", "n/2")
    assert run(runtime, ops.spool_counts, admin)["OutgoingDue"] == 4


def _incoming(runtime, account_id, status, subject, message_id=True) -> IncomingMessage:
    """An incoming row of ``status`` with its file where that status keeps it."""
    row_id = pop.store_message(runtime, account_id, make_mail(subject=subject, message_id=message_id))
    with runtime.db.transaction() as session:
        row = session.get(IncomingMessage, row_id)
        row.status = status
        folder = {"failed": runtime.data.failed_emails, "imported": runtime.data.raw_content}.get(status)
        if folder is not None:
            row.last_error = "it broke" if status == "failed" else ""
            folder.mkdir(parents=True, exist_ok=True)
            os.replace(runtime.data.email / row.file_name, folder / row.file_name)
    return row


def test_incoming_list_retry_and_select_all(runtime, admin):
    account_id = add_pop_account(runtime, 110)
    pending = _incoming(runtime, account_id, "pending", "Waiting")
    failed = _incoming(runtime, account_id, "failed", "Broken", message_id=False)
    imported = _incoming(runtime, account_id, "imported", "Done")
    other_failed = _incoming(runtime, account_id, "failed", "Broken too")

    page = run(runtime, ops.list_incoming_messages, admin, ("subject", False, 0, 3))
    assert page.total == 4 and all(isinstance(item, IncomingSummary) for item in page.items)
    assert [m.subject for m in page.items] == ["Broken", "Broken too", "Done"]
    assert page.items[0].message_id == "" and page.items[2].message_id.startswith("<")
    assert b"Subject: Broken" in run(runtime, ops.incoming_message_raw_content, admin, (failed.id,))

    with pytest.raises(InvalidState, match="already imported"):
        run(runtime, ops.retry_incoming_messages, admin, ([failed.id, imported.id],))
    assert (runtime.data.failed_emails / failed.file_name).exists()  # nothing moved
    assert run(runtime, ops.retry_incoming_messages, admin, ([str(failed.id)],)) == 1
    assert (runtime.data.email / failed.file_name).exists()
    assert run(runtime, ops.retry_all_failed_incoming_messages, admin) == 1
    assert (runtime.data.email / other_failed.file_name).exists()
    assert run(runtime, ops.incoming_spool_counts, admin) == {
        "IncomingPending": 3, "IncomingImported": 1, "IncomingDuplicate": 0, "IncomingRefused": 0,
        "IncomingFailed": 0,
        "IncomingTotal": 4}

    with pytest.raises(InvalidArgument, match="pending, imported, duplicate, refused, failed"):
        run(runtime, ops.delete_all_incoming_messages, admin, ("lost",))
    assert run(runtime, ops.delete_incoming_messages, admin, ([pending.id],)) == 1
    assert not (runtime.data.email / pending.file_name).exists()
    # "Select all": the rows go, and the files of those not imported (the
    # imported one's file stays with its ticket message).
    assert run(runtime, ops.delete_all_incoming_messages, admin) == 3
    assert incoming_rows(runtime) == []
    assert not (runtime.data.email / failed.file_name).exists()
    assert (runtime.data.raw_content / imported.file_name).exists()
    with pytest.raises(NotFound, match="no incoming message"):
        run(runtime, ops.incoming_message_raw_content, admin, (imported.id,))


def test_smtp_and_pop_accounts(runtime, admin):
    account = run(runtime, ops.create_smtp_account, admin, (
        "Relay", "smtp.example.com", 587, "starttls", True, "mailer", "s3cret", "help@example.com", "Help", True))
    # Rows, readable once their transaction is over.
    assert [a.name for a in run(runtime, ops.list_smtp_accounts, admin)] == ["Relay"]
    assert run(runtime, ops.get_smtp_account, admin, (account.id,)).server == "smtp.example.com"
    with pytest.raises(AlreadyExists):
        run(runtime, ops.create_smtp_account, admin, ("relay", "10.0.0.2", 25, "none", False, "", "", "", "", False))
    assert run(runtime, ops.update_smtp_account, admin, (account.id, ["Port=465", "Security=ssl"])) == [
        "Port", "Security"]
    run(runtime, ops.set_brand_smtp_account, admin, (1, account.id))
    with pytest.raises(InUse, match="brand"):
        run(runtime, ops.delete_smtp_account, admin, (account.id,))
    run(runtime, ops.set_brand_smtp_account, admin, (1, 0))
    assert run(runtime, ops.get_department_smtp_account, admin, (1,)) == 0
    run(runtime, ops.set_department_smtp_account, admin, (1, account.id))
    assert run(runtime, ops.get_department_smtp_account, admin, (1,)) == account.id
    with pytest.raises(NotFound):
        run(runtime, ops.get_department_smtp_account, admin, (999,))
    run(runtime, ops.set_department_smtp_account, admin, (1, 0))
    run(runtime, ops.delete_smtp_account, admin, (account.id,))
    with pytest.raises(NotFound):
        run(runtime, ops.get_smtp_account, admin, (account.id,))

    box = run(runtime, ops.create_pop_account, admin, (
        1, "support@helpdesk.example", "pop.example.com", 995, "ssl", "support", "pw", False, 5, True, "anyone"))
    assert [a.email_address for a in run(runtime, ops.list_pop_accounts, admin)] == ["support@helpdesk.example"]
    with pytest.raises(InvalidArgument):
        run(runtime, ops.update_pop_account, admin, (box.id, ["NewTicketRestriction=some"]))
    run(runtime, ops.delete_pop_account, admin, (box.id,))
    assert run(runtime, ops.list_pop_accounts, admin) == []


def test_an_emptied_spool_never_hands_out_an_old_id_again(runtime, admin):
    """An administrator holding an old id must never retry or delete another
    message with it (SQLite: AUTOINCREMENT, migration 0012)."""
    seen = queue(runtime, 3)
    assert run(runtime, ops.delete_all_outgoing_messages, admin, ("",)) == 3
    (new,) = queue(runtime, 1)
    assert new > max(seen)
    raw = make_mail(subject="incoming")
    first = pop.store_message(runtime, None, raw)
    assert run(runtime, ops.delete_all_incoming_messages, admin, ("",)) == 1
    assert pop.store_message(runtime, None, raw) > first
