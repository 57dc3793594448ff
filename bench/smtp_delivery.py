"""SMTP delivery throughput: N messages (5,000 by default) from the outgoing
spool to a loopback SMTP sink.

    .venv/bin/python bench/smtp_delivery.py [--messages 5000] [--batch-size 200] [--size 2000]
                                            [--database URL] [--connections N] [--no-pipelining]

The sink is tests/mail/smtp_server.py (twisted.mail's ESMTP server,
offering PIPELINING unless --no-pipelining) in its own process, so it does
not compete for this process's GIL. This process
is the delivering node: a runtime on a temp SQLite database (or --database),
the spool filled with queued messages (about --size bytes each), then
the SMTP Delivery thread runs as a node runs it (its 5 s interval, woken
once; each run delivers one batch in a worker thread with the ESMTP client
in the reactor, and wakes the thread again while it finds work) until every
row is 'sent'.

Prints messages/second, runs, connections the sink saw, the CPU time per
message of this process and of the sink (steadier than messages/second on
a shared machine), and peak memory (VmHWM) of this process before and
after delivering. ``--connections N`` sets mail.connections_per_server.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import _smtp_sink  # noqa: E402  (bench/, the script's own folder, is on the path)


def vm_hwm_kib(pid="self") -> int:
    for line in Path("/proc/%s/status" % pid).read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def cpu_seconds(pid="self") -> float:
    """User + system CPU time of a process so far (/proc/<pid>/stat)."""
    fields = Path("/proc/%s/stat" % pid).read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--batch-size", type=int, default=200, help="rows claimed per run (mail.batch_size)")
    parser.add_argument("--size", type=int, default=2000, help="approximate message size in bytes")
    parser.add_argument("--database", default="", help="a database URL (default: a temp SQLite file)")
    parser.add_argument("--connections", type=int, default=0,
                        help="mail.connections_per_server (default: the server's default)")
    parser.add_argument("--no-pipelining", action="store_true",
                        help="the sink does not offer PIPELINING (four round trips per message instead of two)")
    parser.add_argument("--keep-data", action="store_true", help="keep the temp directory (logs) and print it")
    args = parser.parse_args()

    import email.policy
    from email.message import EmailMessage

    from sqlalchemy import func, insert, select
    from twisted.internet import reactor, task, threads

    from stws.config import Config
    from stws.db.models import OutgoingMessage, Setting, SmtpAccount, ThreadState, utcnow
    from stws.runtime import start_runtime
    from stws.workers import registry
    from stws.workers.framework import WorkerService

    work = Path(tempfile.mkdtemp(prefix="stws-bench-smtp-"))
    sink, smtp_port, record = _smtp_sink.start(work, pipelining=not args.no_pipelining)
    try:
        os.environ.setdefault("STWS_ADMIN_PASSWORD", "bench-passw0rd")
        config = Config(data_dir=work / "data", database=args.database or None, threads=4)
        runtime = start_runtime(config)
        body = ("All work and no play makes Jack a dull boy.\n" * (args.size // 44 + 1))[:args.size]
        now = utcnow()
        rows = []
        for index in range(args.messages):
            mail = EmailMessage(policy=email.policy.SMTP)
            mail["From"] = "support@helpdesk.example"
            mail["To"] = "customer%d@example.com" % (index % 100)
            mail["Subject"] = "Bench %d" % index
            mail["Message-ID"] = "<bench.%d@helpdesk.example>" % index
            mail.set_content(body)
            rows.append(dict(from_address="support@helpdesk.example", recipients=str(mail["To"]),
                             subject=str(mail["Subject"]), message_id_header=str(mail["Message-ID"]),
                             raw_content=mail.as_bytes(), status="queued", next_attempt_utc=now,
                             date_created_utc=now, attempts=0, last_error=""))
        with runtime.db.transaction() as session:
            session.add(SmtpAccount(name="sink", server="127.0.0.1", port=smtp_port, is_default=True))
            session.merge(Setting(name="mail.batch_size", value=str(args.batch_size)))
            if args.connections:
                session.merge(Setting(name="mail.connections_per_server", value=str(args.connections)))
            session.execute(insert(OutgoingMessage), rows)
        del rows
        hwm_before = vm_hwm_kib()
        outcome = {}

        def count_states():
            with runtime.db.transaction(writes=False) as session:
                return dict(session.execute(
                    select(OutgoingMessage.status, func.count()).group_by(OutgoingMessage.status)).all())

        def delivered() -> bool:
            return count_states().get("sent", 0) >= args.messages

        def start():
            # The SMTP Delivery thread as the server runs it (its 5 s interval,
            # woken once, then waking itself while it finds work), not a loop
            # around deliver_due: what is measured is what a node does.
            workers = WorkerService(runtime, [d for d in registry.definitions() if d.name == "SMTP Delivery"],
                                    reactor)
            outcome["cpu"] = cpu_seconds(), cpu_seconds(sink.pid)
            outcome["started"] = time.monotonic()
            workers.startService()
            workers.wake("SMTP Delivery")

            def poll():
                return threads.deferToThread(delivered).addCallback(
                    lambda done: finish() if done else task.deferLater(reactor, 0.05, poll))

            def finish():
                outcome["seconds"] = time.monotonic() - outcome["started"]
                outcome["cpu"] = cpu_seconds() - outcome["cpu"][0], cpu_seconds(sink.pid) - outcome["cpu"][1]
                with runtime.db.transaction(writes=False) as session:
                    outcome["runs"] = session.get(ThreadState, "SMTP Delivery").total_runs
                return workers.stopService()

            return poll()

        def finished(result):
            reactor.stop()
            return result

        reactor.callWhenRunning(lambda: start().addBoth(finished))
        reactor.run()
        outcome["states"] = count_states()
        runtime.close()
        received = [json.loads(line) for line in record.read_text().splitlines()] if record.exists() else []
        connections = len({r["connection"] for r in received})
        sent = outcome.get("states", {}).get("sent", 0)
        print("database:          %s" % ("SQLite (temp file)" if not args.database else args.database.split("@")[-1]))
        print("messages:          %d of about %d bytes, batch size %d" % (args.messages, args.size, args.batch_size))
        print("sent:              %d (states: %s)" % (sent, outcome.get("states")))
        print("received by sink:  %d (distinct Message-IDs: %d)" % (len(received),
                                                                   len({r["message_id"] for r in received})))
        print("time:              %.2f s in %d runs" % (outcome["seconds"], outcome["runs"]))
        print("throughput:        %.0f messages/s" % (sent / outcome["seconds"] if outcome["seconds"] else 0))
        print("connections used:  %d" % connections)
        if sent:
            print("CPU per message:   %.2f ms delivering (this process), %.2f ms in the sink; one free core "
                  "for the delivering side gives %.0f messages/s"
                  % (outcome["cpu"][0] * 1000 / sent, outcome["cpu"][1] * 1000 / sent, sent / outcome["cpu"][0]))
        print("load average:      %s" % " ".join(Path("/proc/loadavg").read_text().split()[:3]))
        print("peak RSS (VmHWM):  %.1f MiB after filling the spool, %.1f MiB after delivering"
              % (hwm_before / 1024, vm_hwm_kib() / 1024))
        return 0 if sent == args.messages and len(received) >= args.messages else 1
    finally:
        sink.kill()
        sink.wait()
        if args.keep_data:
            print("kept:              %s" % work)
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
