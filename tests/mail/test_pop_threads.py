"""The POP Download and Email Import (POP) threads through the thread
framework: registered as available, one run each does its job (the
download in a worker thread, calling into the reactor)."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from twisted.internet import defer, reactor, task, threads

from mail.pop_server import PopTestServer, add_pop_account, incoming_rows, make_mail
from stws.db.models import ThreadState, Ticket
from stws.workers import registry
from stws.workers.framework import RunOutcome, ThreadRunner, ensure_rows

EPOCH = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)


def definition(name):
    return next(d for d in registry.definitions() if d.name == name)


def state(runtime, name) -> ThreadState:
    with runtime.db.transaction(writes=False) as session:
        return session.get(ThreadState, name)


async def run_once(runtime, name):
    """One tick of the thread's runner on a Clock; its job in a worker thread."""
    thread = definition(name)
    assert thread.available
    ensure_rows(runtime.db, [thread])
    clock = task.Clock()
    runs = []

    def executor(fn):
        run = threads.deferToThread(fn)
        runs.append(run)
        return run

    runner = ThreadRunner(thread, runtime, "node-a", clock=clock, executor=executor,
                          now=lambda: EPOCH + dt.timedelta(seconds=clock.seconds()))
    runner.start()
    clock.advance(thread.interval)
    await defer.gatherResults(runs)
    for _ in range(50):  # the runner records the outcome after the job's Deferred fired
        if runner.last_outcome:
            break
        await task.deferLater(reactor, 0.05, lambda: None)
    runner.stop()
    return runner.last_outcome


async def test_pop_download_and_email_import_threads(server):
    runtime = server.runtime
    pop_server = PopTestServer()
    pop_server.add_mailbox("support", "pw")
    pop_server.listen()
    try:
        pop_server.deliver("support", make_mail(subject="Via the threads"))
        pop_server.deliver("support", make_mail(subject="Second"))
        add_pop_account(runtime, pop_server.port)
        assert await run_once(runtime, "POP Download") == RunOutcome.RAN
        assert state(runtime, "POP Download").last_items == 2
        assert [r.status for r in incoming_rows(runtime)] == ["pending", "pending"]
        assert await run_once(runtime, "Email Import (POP)") == RunOutcome.RAN
        assert state(runtime, "Email Import (POP)").last_items == 2
        with runtime.db.transaction(writes=False) as session:
            assert sorted(session.scalars(select(Ticket.subject))) == ["Second", "Via the threads"]
    finally:
        await pop_server.stop()


async def test_a_full_mailbox_is_downloaded_and_imported_in_runs_back_to_back(server, monkeypatch):
    """A run stops at its cap (POP: messages per session; import: a batch);
    the rest follows at once, not an interval (here an hour) later."""
    from stws.mail import importer, pop
    from workers.live import eventually, started_workers

    monkeypatch.setattr(pop, "MAX_MESSAGES_PER_SESSION", 3)
    monkeypatch.setattr(importer, "BATCH_SIZE", 3)
    runtime = server.runtime
    pop_server = PopTestServer()
    pop_server.add_mailbox("support", "pw")
    pop_server.listen()
    workers = await started_workers(runtime, {"POP Download": 3600, "Email Import (POP)": 3600})
    try:
        for number in range(8):
            pop_server.deliver("support", make_mail(subject="Backlog %d" % number))
        add_pop_account(runtime, pop_server.port)
        workers.wake("POP Download")
        await eventually(lambda: len(incoming_rows(runtime)) == 8)
        workers.wake("Email Import (POP)")

        def subjects():
            with runtime.db.transaction(writes=False) as session:
                return sorted(session.scalars(select(Ticket.subject)))

        assert await eventually(lambda: len(subjects()) == 8 and subjects()) == \
            ["Backlog %d" % number for number in range(8)]
    finally:
        await workers.stopService()
        await pop_server.stop()
