"""The loopback SMTP sink of the mail benches: tests/mail/smtp_server.py
(twisted.mail's ESMTP server) in a process of its own, so it does not
compete for the measured process's GIL. It writes every mail it accepts
as a line of JSON to ``record``."""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def start(work: Path, seconds: float = 30.0, pipelining: bool = True) -> tuple[subprocess.Popen, int, Path]:
    """(the sink's process, its port, its record) once it listens; its files go in ``work``.
    It offers PIPELINING, as Postfix, Exim and Dovecot's submission do, unless told not to."""
    port_file, record = work / "smtp.port", work / "smtp-received.jsonl"
    command = [sys.executable, str(REPO / "tests" / "mail" / "smtp_server.py"), "--port-file", str(port_file),
               "--record", str(record)] + (["--pipelining"] if pipelining else [])
    sink = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + seconds
    while not port_file.exists() or not port_file.read_text().strip():
        if time.monotonic() > deadline or sink.poll() is not None:
            sink.kill()
            raise SystemExit("the SMTP sink did not start")
        time.sleep(0.05)
    return sink, int(port_file.read_text()), record
