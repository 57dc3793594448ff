"""Email import throughput: N downloaded .eml files -> tickets.

    .venv/bin/python bench/email_import.py [--messages 5000] [--database URL] [--batch 200]

Runs in-process on a temporary data directory (SQLite unless --database
names an empty PostgreSQL database). Phase 1 stores the messages as the POP
Download does after RETR (``stws.mail.pop.store_message``: durable .eml
file + spool row, dedupe check); phase 2 runs the Email Import job
(``stws.mail.importer.import_pending``, batches of --batch) until nothing is
pending. The mix: 65 % new tickets (the department's auto-responder on, so
most of them also queue an outgoing message), 25 % replies threaded by the
ticket number in the subject, 10 % new tickets with a 50 KB attachment;
plain text + HTML bodies. Prints messages/s of each phase (and the CPU
time per message, a figure less dependent on what else runs), on SQLite
the SQL statements per imported message, and the process's
peak RSS (VmHWM) before and after, and checks the outcome (every row
imported, tickets and messages counted).
"""
from __future__ import annotations

import argparse
import os
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import email.policy  # noqa: E402
import email.utils  # noqa: E402
from email.message import EmailMessage  # noqa: E402


def cpu() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def vm(key: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def make(index: int, subject: str, attachment: bytes | None) -> bytes:
    mail = EmailMessage(policy=email.policy.SMTP)
    mail["From"] = "Customer %d <customer%d@example.com>" % (index % 500, index % 500)
    mail["To"] = "support@helpdesk.example"
    mail["Subject"] = subject
    mail["Date"] = email.utils.formatdate()
    mail["Message-ID"] = "<bench.%d@example.com>" % index
    text = "Hello,\n\n" + ("This is line %d of a customer's question.\n" * 20) % tuple(range(20)) + "\nThanks\n"
    mail.set_content(text)
    mail.add_alternative("<html><body><p>%s</p></body></html>" % text.replace("\n", "<br>"), subtype="html")
    if attachment:
        mail.add_attachment(attachment, maintype="application", subtype="octet-stream", filename="log-%d.bin" % index)
    return mail.as_bytes()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--database", default="")
    parser.add_argument("--batch", type=int, default=200)
    parser.add_argument("--keep-data", action="store_true")
    parser.add_argument("--profile", type=int, default=0, metavar="N",
                        help="profile the import phase (cProfile, which slows it) and print the top N functions")
    args = parser.parse_args()

    os.environ.setdefault("STWS_ADMIN_PASSWORD", "bench-Admin-passw0rd")
    from sqlalchemy import func, select

    from stws.config import Config
    from stws.db.models import Department, IncomingMessage, OutgoingMessage, PopAccount, Ticket, TicketMessage
    from stws.mail import importer, pop
    from stws.runtime import start_runtime

    root = Path(tempfile.mkdtemp(prefix="stws-bench-import-"))
    database = args.database or "sqlite:///%s" % (root / "bench.sqlite3")
    config = Config(listen="tcp:0:interface=127.0.0.1", data_dir=root / "data", database=database, threads=4)
    runtime = start_runtime(config)
    try:
        with runtime.db.transaction() as session:
            department = session.get(Department, 1)
            department.auto_responder_enabled = True
            department.email_address = "support@helpdesk.example"
            account = PopAccount(department_id=1, email_address="support@helpdesk.example", server="127.0.0.1",
                                 port=110, username="support", password="x")
            session.add(account)
            session.flush()
            account_id = account.id
        # The cap would stop most auto-responses to 500 senders; the benchmark measures them all.
        from stws.db.models import Setting
        with runtime.db.transaction() as session:
            session.merge(Setting(name="mail.auto_response_cap", value="1000000"))

        rng = random.Random(7)
        blob = rng.randbytes(50 * 1024)
        # Replies need their tickets: first a set of new tickets, then the rest of the mix.
        seeds = max(1, args.messages // 10)
        raws = [make(i, "Question %d" % i, None) for i in range(seeds)]
        print("importing %d seed tickets for the replies ..." % seeds, flush=True)
        for raw in raws:
            pop.store_message(runtime, account_id, raw)
        while importer.import_pending(runtime, batch_size=args.batch):
            pass
        with runtime.db.transaction(writes=False) as session:
            numbers = list(session.scalars(select(Ticket.ticket_number)))

        raws = []
        for i in range(seeds, seeds + args.messages):
            roll = rng.random()
            if roll < 0.25:
                raws.append(make(i, "Re: Question [#%s]" % rng.choice(numbers), None))
            elif roll < 0.35:
                raws.append(make(i, "Logs %d" % i, blob))
            else:
                raws.append(make(i, "Question %d" % i, None))
        size = sum(len(r) for r in raws)
        rss_before = vm("VmHWM")

        started, cpu_started = time.perf_counter(), cpu()
        for raw in raws:
            pop.store_message(runtime, account_id, raw)
        stored, stored_cpu = time.perf_counter() - started, cpu() - cpu_started
        rss_stored = vm("VmHWM")

        # SQL statements the import sends to SQLite (a trace callback on every
        # connection opened from now on; the driver's own statements included).
        statements = [0]
        if runtime.db.is_sqlite:
            from sqlalchemy import event

            def count(_statement):
                statements[0] += 1

            runtime.db.engine.dispose()
            event.listen(runtime.db.engine, "connect",
                         lambda dbapi_connection, _record: dbapi_connection.set_trace_callback(count))

        profiler = None
        if args.profile:
            import cProfile

            # CPU time, not wall time: on a shared machine the waits for a CPU,
            # the fsyncs and the write lock would otherwise fill the profile.
            profiler = cProfile.Profile(time.process_time)
            profiler.enable()
        started, cpu_started = time.perf_counter(), cpu()
        handled = 0
        while True:
            done = importer.import_pending(runtime, batch_size=args.batch)
            if not done:
                break
            handled += done
            if handled % 1000 < args.batch:
                elapsed = time.perf_counter() - started
                print("  ... %d imported, %.0f messages/s so far (%.1f ms CPU each)"
                      % (handled, handled / elapsed, (cpu() - cpu_started) * 1000 / handled), flush=True)
        imported, imported_cpu = time.perf_counter() - started, cpu() - cpu_started
        if profiler is not None:
            import pstats

            profiler.disable()
            stats = pstats.Stats(profiler).sort_stats("cumulative")
            stats.print_stats(args.profile)
            stats.sort_stats("tottime").print_stats(args.profile)
        rss_after = vm("VmHWM")

        with runtime.db.transaction(writes=False) as session:
            statuses = dict(session.execute(select(IncomingMessage.status, func.count())
                                            .group_by(IncomingMessage.status)).all())
            tickets = session.scalar(select(func.count()).select_from(Ticket))
            messages = session.scalar(select(func.count()).select_from(TicketMessage))
            outgoing = session.scalar(select(func.count()).select_from(OutgoingMessage))
        print("database: %s" % runtime.db.engine.url.render_as_string(hide_password=True).split("@")[-1])
        print("messages: %d (%.1f MB of .eml)" % (len(raws), size / 1e6))
        print("store (POP Download after RETR): %.1f s, %.0f messages/s; %.1f ms CPU per message"
              % (stored, len(raws) / stored, stored_cpu * 1000 / len(raws)))
        print("import (Email Import):           %.1f s, %.0f messages/s; %.1f ms CPU per message"
              % (imported, handled / imported, imported_cpu * 1000 / handled))
        if statements[0]:
            print("SQL statements per imported message: %.1f" % (statements[0] / handled))
        print("load average during the run: %s" % " ".join(Path("/proc/loadavg").read_text().split()[:3]))
        print("rows: %s; tickets %d, ticket messages %d, outgoing (auto-responders) %d"
              % (statuses, tickets, messages, outgoing))
        print("peak RSS (VmHWM): %.0f MB before, %.0f MB after storing, %.0f MB after importing"
              % (rss_before / 1024, rss_stored / 1024, rss_after / 1024))
        ok = statuses.get("imported", 0) == len(raws) + seeds and handled == len(raws)
        print("outcome: %s" % ("every message imported once" if ok else "NOT all imported"))
        return 0 if ok else 1
    finally:
        runtime.db.engine.dispose()
        if not args.keep_data:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
