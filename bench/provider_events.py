"""The events provider: events/second delivered from the outbox to the
sample provider on loopback, and the catch-up after a 10-minute outage with
10,000 events queued.

    .venv/bin/python bench/provider_events.py [--events 5000] [--per-ticket 10] [--outage-events 10000]
                                              [--outage-minutes 10] [--database URL]

The provider is examples/providers/python/provider.py in its own process
(as administrators run it), on a fixed loopback port so it can be stopped
and started again at the same URL. This process is the delivering node: a
runtime on a temp SQLite database (or --database), the Events provider
enabled as an external web service, events queued through the code path
actions use (stws.domain.tickets.event_outbox.collect, --per-ticket events
for each of events/per-ticket tickets), then ``runtime.events.run()``
called back to back as the Event Processing thread's woken runs call it
(sleeping when it asks to be woken later), until the outbox is empty.

Figures:

0. the hot path with the provider off: the cost per history event of
   ``event_outbox.collect`` deciding there is nothing to queue;
1. baseline: RecordEvent called directly with zeep, one call after the
   other from one thread (what one client gets from this provider);
2. delivery at CONCURRENCY 1 and at the default (tickets side by side);
   events/second and the ratio to the baseline of the same run;
3. the outage. Simulated honestly: the provider is stopped, the events are
   queued, and the real delivery code runs against the closed port while a
   shifted clock (the delivery's and the circuit breaker's) skips the idle
   waits between its runs, so the backoff, the circuit breaker and the
   rows' failure marks are exactly what --outage-minutes of a real outage
   leave. Then the provider is started and the clock runs for real: the
   catch-up is the time from the provider being up to the outbox being
   empty, which includes the wait for the next retry that the outage left.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import socket
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))


class ShiftedClock:
    """Real time plus a shift that a simulation advances to skip waiting."""

    def __init__(self):
        self.shift = 0.0

    def monotonic(self) -> float:
        return time.monotonic() + self.shift

    def utcnow(self) -> dt.datetime:
        return dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=self.shift)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=5000, help="events per throughput measurement")
    parser.add_argument("--per-ticket", type=int, default=10, help="events per ticket")
    parser.add_argument("--baseline-calls", type=int, default=1000)
    parser.add_argument("--outage-events", type=int, default=10000)
    parser.add_argument("--outage-minutes", type=float, default=10.0)
    parser.add_argument("--database", default="", help="a database URL (default: a temp SQLite file)")
    args = parser.parse_args()

    from sqlalchemy import func, select

    from stws.config import Config
    from stws.db.models import EventOutbox, utcnow
    from stws.domain.context import Context
    from stws.domain.tickets import event_outbox
    from stws.providers import event_delivery, settings as provider_settings
    from stws.remote.breaker import CircuitBreakers
    from stws.runtime import start_runtime
    from stws.security.principals import Principal
    from test_sample_provider import AUTH_PW, Client, RunningProvider, write_config

    work = Path(tempfile.mkdtemp(prefix="stws-bench-events-"))
    (work / "provider").mkdir()
    config_file = write_config(work / "provider")
    listen = "127.0.0.1:%d" % free_port()
    url = "http://%s/provider.asmx" % listen
    provider = RunningProvider(config_file, listen=listen)
    os.environ.setdefault("STWS_ADMIN_PASSWORD", "bench-passw0rd")
    runtime = start_runtime(Config(data_dir=work / "data", database=args.database or None, threads=4))
    clock = ShiftedClock()
    runtime.remote.breakers = CircuitBreakers(clock=clock.monotonic)
    delivery = runtime.events
    delivery._now = clock.utcnow  # the delivery's time: shifted during the simulated outage
    try:
        # 0. the hot path with the provider off: what every history event pays.
        system = Principal(user_id=None, username="bench", roles=frozenset())
        row = {"ticket_id": 1, "event_type": "CommentAdded", "description": "x", "details": "", "user_id": None,
               "user_name": "bench", "date_utc": utcnow()}
        with runtime.db.transaction() as session:
            context = Context.in_session(session, system, runtime)
            event_outbox.collect(context, [row])  # reads the settings snapshot once
            checks = 200_000
            started = time.perf_counter()
            for _ in range(checks):
                event_outbox.collect(context, [row])
            per_check_us = (time.perf_counter() - started) / checks * 1e6
        print("hot path  provider off: %.2f us per history event (event_outbox.collect returning at the enabled "
              "check; a new ticket records 1-2 events)" % per_check_us)

        with runtime.db.transaction() as session:
            provider_settings.change(session, [
                "Events.Enabled=true", "Events.Mode=WebService", "Events.WebServiceUrl=" + url,
                "Events.WebServicePassword=" + AUTH_PW])
        runtime.providers.forget()
        ticket_base = [0]

        def queue(count: int) -> None:
            """``count`` events, --per-ticket per ticket, through event_outbox.collect."""
            with runtime.db.transaction() as session:
                context = Context.in_session(session, system, runtime)
                now = utcnow()
                for start in range(0, count, args.per_ticket):
                    ticket_base[0] += 1
                    ticket = ticket_base[0]
                    rows = [{"ticket_id": ticket, "event_type": "CommentAdded", "description": "comment %d" % n,
                             "details": "", "user_id": None, "user_name": "bench", "date_utc": now}
                            for n in range(min(args.per_ticket, count - start))]
                    event_outbox.collect(context, rows, "001-00000000-%04X" % ticket)

        def pending() -> int:
            with runtime.db.transaction(writes=False) as session:
                return session.scalar(select(func.count()).select_from(EventOutbox))

        def drain(timeout: float = 600) -> tuple[float, int]:
            """Run the delivery as the thread's woken runs do until the outbox
            is empty; (seconds, runs)."""
            started, runs = time.monotonic(), 0
            while pending():
                if time.monotonic() - started > timeout:
                    raise SystemExit("the outbox did not empty within %d s" % timeout)
                _, again = delivery.run()
                runs += 1
                if again and pending():
                    time.sleep(min(again, event_delivery.POLL_SECONDS))
            return time.monotonic() - started, runs

        # 1. baseline: direct RecordEvent calls, one after the other.
        client = Client(url)
        client.call("RecordEvent", "eventId=warm-up", "eventType=Warm")
        started = time.monotonic()
        for n in range(args.baseline_calls):
            client.call("RecordEvent", "eventId=baseline-%d" % n, "eventType=TicketCommentAdded",
                        "ticketNumber=001-00000000-0001", "occurredUtc=2026-12-06T20:00:00Z", "userName=bench",
                        "description=comment")
        baseline = args.baseline_calls / (time.monotonic() - started)
        print("baseline  direct RecordEvent with zeep, sequential: %7.0f calls/s (%d calls)"
              % (baseline, args.baseline_calls))

        # 2. delivery throughput.
        default_concurrency = event_delivery.CONCURRENCY
        for concurrency in sorted({1, default_concurrency}):
            event_delivery.CONCURRENCY = concurrency
            queue(args.events)
            seconds, runs = drain()
            rate = args.events / seconds
            print("delivery  CONCURRENCY=%d: %d events in %.2f s, %d runs: %7.0f events/s (%.2f x baseline)"
                  % (concurrency, args.events, seconds, runs, rate, rate / baseline))
        event_delivery.CONCURRENCY = default_concurrency

        # 3. the outage.
        provider.stop()
        queue(args.outage_events)
        outage = args.outage_minutes * 60
        began, attempts = clock.shift, 0
        while True:
            _, again = delivery.run()
            attempts += 1
            if again is None or clock.shift - began + again >= outage:
                remaining = outage - (clock.shift - began)
                clock.shift += remaining  # the outage ends now
                left_wait = (delivery.provider_retry_utc - clock.utcnow()).total_seconds() \
                    if delivery.provider_retry_utc else 0.0
                break
            clock.shift += again
        with runtime.db.transaction(writes=False) as session:
            counts = event_outbox.counts(session)
        print("outage    simulated: provider stopped, %d events queued (%d per ticket), the real delivery run %d "
              "times against the closed port over %.0f s of shifted clock (delivery and circuit breaker), "
              "skipping only the idle waits between runs; left: %d provider failures in a row, breaker open for "
              "%.1f s more, next try in %.1f s, %d events pending, %d marked failing, last error: %s"
              % (args.outage_events, args.per_ticket, attempts, outage, delivery.provider_failures,
                 runtime.remote.breakers.closed_in(url), left_wait, counts.pending, counts.failing,
                 counts.last_error[:80]))
        provider = RunningProvider(config_file, listen=listen)
        seconds, runs = drain()
        print("catch-up  provider up -> outbox empty: %.1f s (%.1f s waiting for the retry the outage left, "
              "%.1f s delivering %d events: %.0f events/s), %d runs"
              % (seconds, max(left_wait, 0), seconds - max(left_wait, 0), args.outage_events,
                 args.outage_events / max(seconds - max(left_wait, 0), 1e-9), runs))
        log = config_file.parent / "events.log"
        ids = [json.loads(line)["eventId"] for line in log.read_text().splitlines()]
        print("check     events log: %d lines, %d distinct ids (expected %d)"
              % (len(ids), len(set(ids)), 1 + args.baseline_calls + args.events * 2 + args.outage_events))
        return 0
    finally:
        provider.stop()
        runtime.close()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
