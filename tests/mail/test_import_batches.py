"""Email Import in batches (several messages per commit on SQLite): messages
of one run that depend on each other (a reply to a message of the same run,
two messages from one new sender) come out as if imported one by one; a
message that fails leaves the others alone; and a process killed (kill -9)
at any moment of a run leaves every message either imported with its
ticket message or pending without one, never half, never twice."""
from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import func, select
from twisted.internet.threads import deferToThread

from mail.pop_server import add_pop_account, import_all, incoming_rows, make_mail
from stws.db.models import AutoResponse, Department, IncomingMessage, OutgoingMessage, Ticket, TicketMessage, User
from stws.mail import pop

REPO = Path(__file__).resolve().parents[2]
# A child process that runs Email Import until nothing is pending; it says
# "ready" once its runtime is up, so the test kills it during the import.
CHILD = """
import sys
from pathlib import Path
from stws.config import Config
from stws.mail import importer
from stws.runtime import start_runtime

runtime = start_runtime(Config(data_dir=Path(sys.argv[1]), database=sys.argv[2], threads=2))
print("ready", flush=True)
while importer.import_pending(runtime, batch_size=int(sys.argv[3])):
    pass
print("done", flush=True)
"""
# The same, dying (as if killed) when a commit group has committed, before
# its files are moved to the raw-content folder.
CRASH_BEFORE_MOVE = CHILD.replace('print("ready"', 'importer._keep_raw = lambda *_: os._exit(3)\nprint("ready"').replace(
    "import sys\n", "import os\nimport sys\n", 1)


def customer_messages(runtime, message_ids) -> dict:
    """{Message-ID: how many ticket messages carry it} for ``message_ids``."""
    with runtime.db.transaction(writes=False) as session:
        return dict(session.execute(
            select(TicketMessage.message_id_header, func.count()).where(
                TicketMessage.message_id_header.in_(message_ids)).group_by(TicketMessage.message_id_header)).all())


async def test_messages_of_one_run_that_depend_on_each_other(server):
    runtime = server.runtime
    account_id = add_pop_account(runtime, 110)
    first = make_mail(sender="New Person <new.person@example.com>", subject="First", message_id="<first@example.com>")
    reply = make_mail(sender="new.person@example.com", subject="Re: First", message_id="<reply@example.com>",
                      headers={"In-Reply-To": "<first@example.com>"})
    again = make_mail(sender="new.person@example.com", subject="Another question", message_id="<again@example.com>")
    broken = b"not an email\r\n"
    ids = [pop.store_message(runtime, account_id, raw) for raw in (first, reply, broken, again)]

    assert await import_all(runtime) == 4

    rows = {row.id: row for row in incoming_rows(runtime)}
    assert [rows[i].status for i in ids] == ["imported", "imported", "failed", "imported"]
    # The reply found the ticket made earlier in the same commit.
    assert rows[ids[0]].ticket_id == rows[ids[1]].ticket_id != rows[ids[3]].ticket_id
    with runtime.db.transaction(writes=False) as session:
        assert session.scalar(select(func.count()).select_from(Ticket)) == 2
        # One customer account for the new sender, though both new tickets came in one commit.
        users = session.scalars(select(User.username).where(User.email == "new.person@example.com")).all()
        assert users == ["new.person@example.com"]
    assert customer_messages(runtime, ["<first@example.com>", "<reply@example.com>", "<again@example.com>"]) == {
        "<first@example.com>": 1, "<reply@example.com>": 1, "<again@example.com>": 1}
    # Files: the imported ones in raw content (moved after the commit), the broken one in Failed Emails.
    for row_id in (ids[0], ids[1], ids[3]):
        assert (runtime.data.raw_content / rows[row_id].file_name).exists()
        assert not (runtime.data.email / rows[row_id].file_name).exists()
    assert (runtime.data.failed_emails / rows[ids[2]].file_name).exists()
    # A second run finds nothing left to do.
    assert await import_all(runtime) == 0


async def test_a_message_failing_in_its_savepoint_leaves_the_others_of_its_commit(server):
    """A message that fails after its transaction wrote a customer account,
    a ticket and an auto-response (a bad attachment name) is undone alone:
    the messages before and after it in the same commit group are imported
    once, and the next message of the same new sender gets one account (the
    undone one is gone with its savepoint, and nothing points to it)."""
    runtime = server.runtime
    account_id = add_pop_account(runtime, 110)
    with runtime.db.transaction() as session:
        department = session.get(Department, 1)
        department.auto_responder_enabled = True
        department.email_address = "support@helpdesk.example"
    first = make_mail(sender="ann@example.com", subject="First", message_id="<ann.1@example.com>")
    bad = make_mail(sender="Bob <bob@example.com>", subject="Logs", message_id="<bob.1@example.com>",
                    attachments=[("../etc/passwd", b"x" * 10, "text", "plain")])
    again = make_mail(sender="Bob <bob@example.com>", subject="Logs, again", message_id="<bob.2@example.com>")
    reply = make_mail(sender="ann@example.com", subject="Re: First", message_id="<ann.2@example.com>",
                      headers={"In-Reply-To": "<ann.1@example.com>"})
    ids = [pop.store_message(runtime, account_id, raw) for raw in (first, bad, again, reply)]

    assert await import_all(runtime) == 4

    rows = {row.id: row for row in incoming_rows(runtime)}
    assert [rows[i].status for i in ids] == ["imported", "failed", "imported", "imported"]
    assert "file name" in rows[ids[1]].last_error and rows[ids[1]].ticket_id is None
    assert rows[ids[0]].ticket_id == rows[ids[3]].ticket_id
    assert customer_messages(runtime, ["<ann.1@example.com>", "<bob.1@example.com>", "<bob.2@example.com>",
                                       "<ann.2@example.com>"]) == {
        "<ann.1@example.com>": 1, "<bob.2@example.com>": 1, "<ann.2@example.com>": 1}
    with runtime.db.transaction(writes=False) as session:
        assert session.scalar(select(func.count()).select_from(Ticket)) == 2
        bobs = session.scalars(select(User.id).where(User.email == "bob@example.com")).all()
        assert len(bobs) == 1
        assert session.get(Ticket, rows[ids[2]].ticket_id).customer_id == bobs[0]
        # One auto-response per new ticket that stayed: the undone one's went with it.
        assert sorted(session.scalars(select(OutgoingMessage.recipients))) == ["ann@example.com", "bob@example.com"]
        assert sorted(session.scalars(select(AutoResponse.recipient))) == ["ann@example.com", "bob@example.com"]
    for row_id in (ids[0], ids[2], ids[3]):
        assert (runtime.data.raw_content / rows[row_id].file_name).exists()
    assert (runtime.data.email / rows[ids[1]].file_name).exists()  # kept, retryable


def imported_and_stored(runtime, message_ids):
    """(Message-IDs whose rows are imported, {Message-ID: ticket messages carrying it})."""
    with runtime.db.transaction(writes=False) as session:
        imported = set(session.scalars(select(IncomingMessage.dedupe_key).where(
            IncomingMessage.status == "imported", IncomingMessage.dedupe_key.in_(message_ids))))
    return imported, customer_messages(runtime, message_ids)


def kill_runs(runtime, rounds: int, batch_size: int, seed: int) -> int:
    """Start the import in a child process and kill -9 it at a random moment
    after its first commit, ``rounds`` times (or until a child finishes); after each kill the
    database must hold every message once or not at all. Returns how many
    kills left some messages imported and some pending."""
    rng = random.Random(seed)
    database = runtime.db.engine.url.render_as_string(hide_password=False)
    message_ids = [row.dedupe_key for row in incoming_rows(runtime)]
    mid_run = 0
    for _ in range(rounds):
        child = subprocess.Popen([sys.executable, "-c", CHILD, str(runtime.data.root), database, str(batch_size)],
                                 cwd=REPO, stdout=subprocess.PIPE, text=True,
                                 env=dict(os.environ, PYTHONPATH=str(REPO)))
        try:
            assert child.stdout.readline().strip() == "ready"
            # Once the child has committed something, at a random moment soon after.
            before = len(imported_and_stored(runtime, message_ids)[0])
            deadline = time.monotonic() + 60
            while child.poll() is None and len(imported_and_stored(runtime, message_ids)[0]) == before \
                    and time.monotonic() < deadline:
                time.sleep(0.01)
            try:
                child.wait(timeout=rng.uniform(0, 0.15))
            except subprocess.TimeoutExpired:
                child.send_signal(signal.SIGKILL)
            finished = child.wait(timeout=60) == 0
        finally:
            if child.poll() is None:
                child.kill()
            child.stdout.close()
        imported, stored = imported_and_stored(runtime, message_ids)
        # All or nothing per message: imported <=> exactly one ticket message.
        assert set(stored) == imported and set(stored.values()) <= {1}, (imported, stored)
        mid_run += 0 < len(imported) < len(message_ids)
        if finished:
            break
    return mid_run


async def test_kill_9_during_batched_imports_imports_each_message_once(server):
    runtime = server.runtime
    account_id = add_pop_account(runtime, 110)
    raws = []
    for index in range(60):
        if index % 4 == 3:  # a reply to the message before it, likely in the same commit
            raws.append(make_mail(sender="person%d@example.com" % (index - 1), subject="Re: Question %d" % (index - 1),
                                  message_id="<kill.%d@example.com>" % index,
                                  headers={"In-Reply-To": "<kill.%d@example.com>" % (index - 1)}))
        else:
            raws.append(make_mail(sender="person%d@example.com" % index, subject="Question %d" % index,
                                  message_id="<kill.%d@example.com>" % index))
    for raw in raws:
        pop.store_message(runtime, account_id, raw)

    mid_run = await deferToThread(kill_runs, runtime, 8, 10, 14)
    assert mid_run >= 1  # at least one kill hit a run between its first and last commit

    await import_all(runtime, batch_size=100)
    rows = incoming_rows(runtime)
    assert {row.status for row in rows} == {"imported"}
    message_ids = [row.dedupe_key for row in rows]
    assert customer_messages(runtime, message_ids) == {message_id: 1 for message_id in message_ids}
    with runtime.db.transaction(writes=False) as session:
        assert session.scalar(select(func.count()).select_from(Ticket)) == 45  # 15 of the 60 were replies
    # No file lost: each in raw content, or still in the email folder when a kill came between commit and move.
    for row in rows:
        assert (runtime.data.raw_content / row.file_name).exists() or (runtime.data.email / row.file_name).exists()


async def test_a_crash_after_the_commit_and_before_the_move_imports_nothing_twice(server):
    """The files of a committed group move after its commit: a process that
    dies in between leaves them in the email folder with their rows
    imported; the next run imports nothing again, and no file is lost."""
    runtime = server.runtime
    account_id = add_pop_account(runtime, 110)
    raws = [make_mail(sender="person%d@example.com" % index, subject="Question %d" % index,
                      message_id="<moved.%d@example.com>" % index) for index in range(12)]
    for raw in raws:
        pop.store_message(runtime, account_id, raw)
    database = runtime.db.engine.url.render_as_string(hide_password=False)

    child = await deferToThread(subprocess.run, [sys.executable, "-c", CRASH_BEFORE_MOVE, str(runtime.data.root),
                                                 database, "100"],
                                cwd=REPO, capture_output=True, text=True, timeout=120,
                                env=dict(os.environ, PYTHONPATH=str(REPO)))
    assert child.returncode == 3, child.stderr

    rows = incoming_rows(runtime)
    # The first group committed (a group may stop short of all 12 on a slow machine), and nothing moved.
    committed = [row for row in rows if row.status == "imported"]
    assert committed and {row.status for row in rows} <= {"imported", "pending"}
    assert all((runtime.data.email / row.file_name).exists() for row in rows)
    assert await import_all(runtime) == len(rows) - len(committed)
    rows = incoming_rows(runtime)
    assert {row.status for row in rows} == {"imported"}
    message_ids = [row.dedupe_key for row in rows]
    assert customer_messages(runtime, message_ids) == {message_id: 1 for message_id in message_ids}
    with runtime.db.transaction(writes=False) as session:
        assert session.scalar(select(func.count()).select_from(Ticket)) == 12
    # The crashed group's files are still in the email folder (where readers look too), the others moved.
    assert all((runtime.data.email / row.file_name).exists() for row in committed)
