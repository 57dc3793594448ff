"""kill -9 in the middle of SMTP delivery: a real ``twistd -n stws`` sends
to a slow SMTP server (another process); it is killed while messages are
in flight and started again. Every message arrives at least once, with the
Message-ID it was queued with, and every row ends 'sent'."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import create_engine, select, text
from twisted.internet.threads import deferToThread

from stws.db.models import OutgoingMessage, Setting, SmtpAccount
from test_server_process import TWISTD, free_port, wait_until_serving
from mail.conftest import compose

MESSAGES = 12
HELPER = Path(__file__).with_name("smtp_server.py")


def start_stws(data: Path, port: int, log) -> subprocess.Popen:
    env = dict(os.environ, STWS_ADMIN_PASSWORD="kill-passw0rd")
    return subprocess.Popen(
        [TWISTD, "-n", "--pidfile=", "stws", "--data-dir", str(data), "--listen",
         "tcp:%d:interface=127.0.0.1" % port, "--thread-intervals", "SMTP Delivery=0.5"],
        stdout=log, stderr=subprocess.STDOUT, env=env, cwd=data.parent)


def records(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def wait_for(check, seconds: float, what: str):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("timed out waiting for %s" % what)


def run_kill_test(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    record = tmp_path / "received.jsonl"
    port_file = tmp_path / "smtp.port"
    helper = subprocess.Popen([sys.executable, str(HELPER), "--port-file", str(port_file), "--record",
                               str(record), "--data-delay", "0.4"], cwd=tmp_path)
    log = open(tmp_path / "stws.out", "wb")
    process = None
    try:
        smtp_port = int(wait_for(lambda: port_file.exists() and port_file.read_text(), 20, "the SMTP server"))
        port = free_port()
        url = "http://127.0.0.1:%d/Services2/svcSpool.asmx?WSDL" % port
        process = start_stws(data, port, log)
        wait_until_serving(url, process)
        engine = create_engine("sqlite:///%s" % (data / "stws.sqlite3"))
        from sqlalchemy.orm import Session

        queued = []
        with Session(engine) as session, session.begin():
            session.execute(text("PRAGMA busy_timeout=30000"))
            for name, value in (("claim_seconds", "4"), ("batch_size", "3"), ("timeout_seconds", "3"),
                                ("retry_base_seconds", "1")):
                session.merge(Setting(name="mail." + name, value=value))
            session.add(SmtpAccount(name="slow", server="127.0.0.1", port=smtp_port, is_default=True))
            for index in range(MESSAGES):
                mail = compose(subject="Kill %d" % index)
                session.add(OutgoingMessage(from_address="support@helpdesk.example",
                                            recipients="customer@example.com", subject="Kill %d" % index,
                                            message_id_header=str(mail["Message-ID"]), raw_content=mail.as_bytes()))
                queued.append(str(mail["Message-ID"]))
        # Mid-delivery: some messages received, more still to go.
        wait_for(lambda: len(records(record)) >= 2, 60, "the first messages")
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
        with engine.connect() as connection:
            states = dict(connection.execute(select(OutgoingMessage.status, text("count(*)"))
                                             .group_by(OutgoingMessage.status)).all())
        assert states.get("sent", 0) < MESSAGES, states
        assert states.get("sending", 0) >= 1, states  # killed holding claims

        process = start_stws(data, port, log)
        wait_until_serving(url, process)

        def all_sent():
            with engine.connect() as connection:
                return connection.execute(select(OutgoingMessage.status)).scalars().all() == ["sent"] * MESSAGES

        wait_for(all_sent, 90, "every message sent")
        received = [r["message_id"] for r in records(record)]
        assert set(received) == set(queued)  # each arrived at least once, with its own Message-ID
        assert len(received) <= MESSAGES + 3 * 2  # re-sent: at most the batches in flight at the kill
        engine.dispose()
    finally:
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
        helper.kill()
        helper.wait(timeout=30)
        log.close()


async def test_kill_9_mid_delivery_then_restart_delivers_everything(tmp_path):
    await deferToThread(run_kill_test, tmp_path)
