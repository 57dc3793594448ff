"""Error emails with two nodes on one PostgreSQL (issue 14): the Event
Processing thread runs on one node, yet the errors of the other are mailed
too, each occurrence once, and the once-a-minute limit per distinct error
holds for the cluster (stws.diagnostics.errormail)."""
from __future__ import annotations

import datetime as dt
import email
import email.policy
import logging

import pytest
from sqlalchemy import select
from twisted.internet import reactor, task

from stws.config import Config
from stws.db.models import OutgoingMessage, Setting
from stws.diagnostics import errormail
from stws.runtime import start_runtime
from stws.workers.framework import WorkerService
from workers.live import eventually, started_workers

GAP = dt.timedelta(seconds=3)


@pytest.fixture
def two_runtimes(request, tmp_path, database_url, monkeypatch):
    """Two nodes' runtimes on one database. In one process both collectors
    would hear every logging call; two stws processes hear their own, so
    the test writes each error to one node's collector."""
    if request.config.getoption("--db") != "postgresql":
        pytest.skip("several nodes share a PostgreSQL database (run with --db=postgresql, as scripts/test does)")
    monkeypatch.setenv("STWS_ADMIN_PASSWORD", "x-passw0rd")
    runtimes = [start_runtime(Config(data_dir=tmp_path / name, database=database_url)) for name in ("a", "b")]
    for runtime in runtimes:
        logging.getLogger("stws.error").removeHandler(runtime.error_mail)
    yield runtimes
    for runtime in runtimes:
        runtime.close()


def log_on(runtime, disk: str) -> None:
    """The error "disk ... on fire", written at one place in the code, on this node."""
    record = logging.getLogger("stws.error").makeRecord("stws.error", logging.ERROR, __file__, 42,
                                                        "disk %s on fire", (disk,), None)
    runtime.error_mail.handle(record)


def set_error_address(runtimes) -> None:
    with runtimes[0].db.transaction() as session:
        session.add(Setting(name="diagnostics.EmailAddressToReceiveErrors", value="ops@example.com"))
    for runtime in runtimes:
        runtime.options.reload()


def spooled(runtime) -> list:
    with runtime.db.transaction(writes=False) as session:
        return [(row.date_created_utc, email.message_from_bytes(row.raw_content, policy=email.policy.default))
                for row in session.scalars(select(OutgoingMessage).order_by(OutgoingMessage.id))]


async def test_errors_of_the_node_without_the_thread_are_mailed_once_per_gap_for_the_cluster(
        two_runtimes, monkeypatch):
    a, b = two_runtimes
    monkeypatch.setattr(errormail, "MIN_GAP", GAP)
    monkeypatch.setattr(errormail, "HAND_IN_SECONDS", 0.2)
    set_error_address(two_runtimes)
    # Node a runs Event Processing; node b runs the background threads'
    # service too, but holds no thread.
    mailer = await started_workers(a, {"Event Processing": 0.3})
    other = WorkerService(b, [], reactor)
    other.startService()
    try:
        for _ in range(3):
            log_on(b, "1")
        ((first_at, first),) = await eventually(lambda: spooled(a))
        assert first["Subject"] == "stws error (3 times): disk 1 on fire"
        assert "error log of %s." % other.node in first.get_content()

        # The same error on both nodes within the gap: one email after it, counting both.
        log_on(a, "2")
        log_on(b, "3")
        (_, (second_at, second)) = await eventually(lambda: (lambda mails: mails if len(mails) == 2 else None)(
            spooled(a)))
        assert second_at - first_at >= GAP - dt.timedelta(seconds=0.5)
        assert second["Subject"] in ("stws error (2 times): disk 2 on fire", "stws error (2 times): disk 3 on fire")
        body = second.get_content()
        assert other.node in body and "It occurred 2 times" in body
        # Nothing is mailed twice.
        await task.deferLater(reactor, GAP.total_seconds() + 1, lambda: None)
        assert len(spooled(a)) == 2
        assert errormail.unsent(a) == errormail.unsent(b) == 0
    finally:
        await mailer.stopService()
        await other.stopService()


async def test_a_stopping_node_hands_its_last_errors_in(two_runtimes, monkeypatch):
    a, b = two_runtimes
    set_error_address(two_runtimes)
    other = WorkerService(b, [], reactor)  # the default HAND_IN_SECONDS: no timed hand-in in this test
    other.startService()
    log_on(b, "1")
    await other.stopService()
    assert b.error_mail.pending() == 0 and errormail.unsent(a) == 1
    assert errormail.mail_due(a, dt.datetime.now(dt.timezone.utc)) == 1


def test_an_error_has_one_row_whichever_path_its_node_runs_stws_from():
    def key(path, line=42):
        return errormail.key_hash(("stws.error", "disk %s on fire", "", (path + "/stws/domain/disks.py", line)))

    assert key("/opt/stws/lib/python3.11/site-packages") == key("/srv/venv/lib/python3.11/site-packages")
    assert key("/opt/stws") != key("/opt/stws", line=43)
