"""The events provider: actions over SOAP reach the sample provider's
RecordEvent (examples/providers/python, its own process on loopback)
through the outbox and the Event Processing thread, in order per ticket,
each event once; they wait while the provider is down, survive a restart of
stws, and nothing is queued while the provider is disabled. The outbox's
state is read through svcExternalProviders.GetEventsOutboxStatus and the
Diagnostics page."""
from __future__ import annotations

import datetime as dt
import json
import socket
import uuid

import pytest
from sqlalchemy import insert, select
from twisted.internet import threads

from admin_client import AdminClient
from conftest import ok
from stws.db.models import EventOutbox, Ticket, TicketEvent
from stws.domain.tickets import event_outbox
from stws.providers import event_delivery
from test_external_providers import configure, external
from test_sample_provider import RunningProvider, write_config
from workers.live import eventually, started_workers

# Only woken runs deliver in these tests: the thread's own interval is far
# longer than any of them waits.
INTERVALS = {"Event Processing": 600}
NEVER = dt.datetime(1, 1, 1, tzinfo=dt.timezone.utc)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Provider:
    """The sample provider at a fixed loopback port, started and stopped at will."""

    def __init__(self, directory):
        self.config = write_config(directory)
        self.listen = "127.0.0.1:%d" % free_port()
        self.url = "http://%s/provider.asmx" % self.listen
        self.running: RunningProvider | None = None

    def start(self):
        self.running = RunningProvider(self.config, listen=self.listen)
        assert self.running.url == self.url

    def stop(self):
        if self.running is not None:
            self.running.stop()
            self.running = None

    def events(self) -> list[dict]:
        log = self.config.parent / "events.log"
        return [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()] if log.exists() else []


@pytest.fixture
def provider(tmp_path):
    directory = tmp_path / "provider"
    directory.mkdir()
    sample = Provider(directory)
    yield sample
    sample.stop()


async def run_workers(runtime):
    """The Event Processing thread of ``runtime``'s node, wired as
    stws.server.make_application_service wires it (commits wake it)."""
    runtime.workers = await started_workers(runtime, INTERVALS)
    return runtime.workers


async def enable(server, url):
    providers = await server.client("svcExternalProviders")
    await configure(server, providers, *external("Events", url))
    return providers


async def create_ticket(tickets, server, subject) -> tuple[int, str]:
    number = ok(await tickets.CreateTicket(*server.admin, 1, 0, 0, "cust@example.com", subject, "Body", False,
                                           False, "Active")).RequestResult
    info = ok(await tickets.GetTicketInfoByTicketNumber(*server.admin, number)).Ticket
    return info.ID, number


async def act(server, tickets_count=2) -> list[str]:
    """Actions over SOAP, interleaved between tickets: created, a comment,
    a time log, a follow-up, closed. Their ticket numbers."""
    tickets = await server.client("svcTickets")
    made = [await create_ticket(tickets, server, "Ticket %d" % n) for n in range(tickets_count)]
    for ticket_id, number in made:
        ok(await tickets.AddTicketNote(*server.admin, number, "General", "A comment on %s" % number))
    for ticket_id, number in made:
        start = dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=1)
        ok(await tickets.AddTicketTimeLog(*server.admin, ticket_id, "Call", 0, 0, "Phoned", start,
                                          start + dt.timedelta(minutes=5), False))
        ok(await tickets.SetFollowUp(*server.admin, ticket_id, start + dt.timedelta(days=2), 0, 0, "", False, ""))
    for ticket_id, number in made:
        ok(await tickets.CloseTicket(*server.admin, number, ""))
    return [number for _, number in made]


def history(runtime) -> dict[str, list[str]]:
    """Each ticket's history event types, in order, as the provider names them."""
    with runtime.db.transaction(writes=False) as session:
        rows = session.execute(select(Ticket.ticket_number, TicketEvent.event_type)
                               .join(Ticket, Ticket.id == TicketEvent.ticket_id).order_by(TicketEvent.id)).all()
    by_ticket: dict[str, list[str]] = {}
    for number, event_type in rows:
        by_ticket.setdefault(number, []).append("Ticket" + event_type)
    return by_ticket


def delivered(provider) -> dict[str, list[str]]:
    by_ticket: dict[str, list[str]] = {}
    for event in provider.events():
        by_ticket.setdefault(event["ticketNumber"], []).append(event["eventType"])
    return by_ticket


def outbox_rows(runtime) -> int:
    with runtime.db.transaction(writes=False) as session:
        return len(session.scalars(select(EventOutbox.id)).all())


async def status(server):
    providers = await server.client("svcExternalProviders")
    return ok(await providers.GetEventsOutboxStatus(*server.admin))


async def test_actions_reach_the_provider_in_order_per_ticket_each_once(server, provider, monkeypatch):
    # No poll and no tick within the test: the commits of the actions wake the delivery.
    monkeypatch.setattr(event_delivery, "POLL_SECONDS", 3600)
    provider.start()
    await enable(server, provider.url)
    workers = await run_workers(server.runtime)
    try:
        numbers = await act(server)
        expected = history(server.runtime)
        await eventually(lambda: sum(map(len, delivered(provider).values())) >= sum(map(len, expected.values()))
                         and outbox_rows(server.runtime) == 0)
    finally:
        await workers.stopService()
    assert delivered(provider) == expected
    for number in numbers:
        assert expected[number][0] == "TicketCreated" and expected[number][-1] == "TicketStatusChanged"
        assert {"TicketCommentAdded", "TicketTimeLogAdded", "TicketFollowUpSet"} <= set(expected[number])
    events = provider.events()
    assert len({event["eventId"] for event in events}) == len(events)
    for event in events:
        uuid.UUID(event["eventId"])
        when = dt.datetime.fromisoformat(event["occurredUtc"].replace("Z", "+00:00"))
        assert abs(dt.datetime.now(dt.timezone.utc) - when) < dt.timedelta(minutes=5)
        assert event["details"]["userName"] == "admin" and event["details"]["description"]
    done = await status(server)
    assert (done.PendingCount, done.FailingCount, done.OldestPendingUtc) == (0, 0, NEVER)
    assert done.DeliveredSinceStart == len(events) and done.IsProviderEnabled is True


async def test_events_wait_while_the_provider_is_down_then_all_arrive(server, provider):
    await enable(server, provider.url)  # nothing listens there yet
    workers = await run_workers(server.runtime)
    try:
        await act(server)
        expected = history(server.runtime)
        pending = sum(map(len, expected.values()))
        down = await eventually(lambda: _failing(server.runtime))
        assert down
        queued = await status(server)
        assert queued.PendingCount == pending and queued.FailingCount >= 1
        assert queued.LastError and queued.LastErrorUtc > NEVER and queued.ProviderRetryUtc > NEVER
        assert queued.OldestPendingUtc > NEVER and queued.OldestPendingAgeSeconds >= 0
        assert queued.DeliveredSinceStart == 0
        page = await threads.deferToThread(diagnostics_page, server)
        assert 'id="outbox-pending">%d<' % pending in page and "connection" in page.lower()
        await threads.deferToThread(provider.start)
        await eventually(lambda: outbox_rows(server.runtime) == 0, timeout=60)
    finally:
        await workers.stopService()
    assert delivered(provider) == expected
    after = await status(server)
    assert (after.PendingCount, after.FailingCount, after.DeliveredSinceStart) == (0, 0, pending)
    assert after.ProviderRetryUtc == NEVER


def _failing(runtime) -> bool:
    with runtime.db.transaction(writes=False) as session:
        return bool(event_outbox.counts(session).failing)


def diagnostics_page(server) -> str:
    client = AdminClient(server.base_url)
    client.sign_in(*server.admin)
    status, _, page = client.request("/admin/settings/diagnostics?tab=threads")
    assert status == 200
    return page


async def test_a_restarted_server_delivers_what_the_last_one_queued(make_config, start_server, provider, tmp_path):
    first = await start_server.started(make_config())
    await enable(first, provider.url)  # down
    workers = await run_workers(first.runtime)
    await act(first, tickets_count=3)
    expected = history(first.runtime)
    await workers.stopService()
    await first.web.stopService()
    assert outbox_rows(first.runtime) == sum(map(len, expected.values()))

    await threads.deferToThread(provider.start)
    second = await start_server.started(make_config(data_dir=tmp_path / "second"))
    workers = await run_workers(second.runtime)
    try:
        # No action wakes it: its run at start finds the old events.
        await eventually(lambda: outbox_rows(second.runtime) == 0, timeout=60)
    finally:
        await workers.stopService()
    assert delivered(provider) == expected


async def test_an_event_delivered_twice_is_acknowledged_and_recorded_once(server, provider):
    """A lost acknowledgement (the provider recorded the event, stws did not
    hear it) sends the event again: the provider says DUPLICATE, stws drops it."""
    provider.start()
    await enable(server, provider.url)
    workers = await run_workers(server.runtime)
    try:
        await act(server, tickets_count=1)
        await eventually(lambda: outbox_rows(server.runtime) == 0 and provider.events())
        first = provider.events()[0]
        before = (await status(server)).DeliveredSinceStart
        with server.runtime.db.transaction() as session:
            ticket_id = session.scalar(select(TicketEvent.ticket_id).limit(1))
            session.execute(insert(EventOutbox).values(
                event_id=first["eventId"], ticket_id=ticket_id, ticket_number=first["ticketNumber"],
                event_type="Created", occurred_utc=dt.datetime.now(dt.timezone.utc), user_name="admin",
                description="again", details="", attempts=0, last_error=""))
        server.runtime.events.wake()
        await eventually(lambda: outbox_rows(server.runtime) == 0)
    finally:
        await workers.stopService()
    assert [e["eventId"] for e in provider.events()].count(first["eventId"]) == 1
    assert (await status(server)).DeliveredSinceStart == before + 1


async def test_an_event_committed_late_with_a_smaller_id_is_delivered(server, provider):
    """On PostgreSQL a transaction that took an id early can commit after
    rows with larger ids were delivered: delivery keeps no id cursor."""
    provider.start()
    await enable(server, provider.url)
    workers = await run_workers(server.runtime)
    try:
        await act(server, tickets_count=1)
        await eventually(lambda: outbox_rows(server.runtime) == 0 and provider.events())
        late = str(uuid.uuid4())
        with server.runtime.db.transaction() as session:
            ticket_id, number = session.execute(select(TicketEvent.ticket_id, Ticket.ticket_number).join(
                Ticket, Ticket.id == TicketEvent.ticket_id).limit(1)).one()
            session.execute(insert(EventOutbox).values(
                id=1, event_id=late, ticket_id=ticket_id, ticket_number=number, event_type="CommentAdded",
                occurred_utc=dt.datetime.now(dt.timezone.utc), user_name="admin", description="late",
                details="", attempts=0, last_error=""))
        server.runtime.events.wake()
        await eventually(lambda: outbox_rows(server.runtime) == 0)
    finally:
        await workers.stopService()
    assert late in [e["eventId"] for e in provider.events()]


async def test_a_refused_event_waits_alone(server, provider):
    """The provider refuses (a wrong Web Service Password): that is the
    event's failure, retried later, not an outage."""
    provider.start()
    providers = await server.client("svcExternalProviders")
    await configure(server, providers, *external("Events", provider.url, password="not-the-password"))
    workers = await run_workers(server.runtime)
    try:
        await act(server, tickets_count=1)
        await eventually(lambda: _failing(server.runtime))
    finally:
        await workers.stopService()
    refused = await status(server)
    assert refused.FailingCount == 1 and "Permission Denied" in refused.LastError
    assert refused.ProviderRetryUtc == NEVER
    with server.runtime.db.transaction(writes=False) as session:
        waiting = session.scalars(select(EventOutbox).where(EventOutbox.attempts > 0)).one()
    assert waiting.next_attempt_utc > dt.datetime.now(dt.timezone.utc)
    assert provider.events() == []


async def test_nothing_is_queued_while_the_provider_is_disabled(server, provider):
    provider.start()
    providers = await server.client("svcExternalProviders")
    # Configured but not enabled; then enabled in BuiltIn mode: neither calls out.
    await configure(server, providers, "Events.Mode=WebService", "Events.WebServiceUrl=" + provider.url)
    await act(server, tickets_count=1)
    await configure(server, providers, "Events.Enabled=true", "Events.Mode=BuiltIn")
    await act(server, tickets_count=1)
    assert outbox_rows(server.runtime) == 0
    idle = await status(server)
    assert (idle.PendingCount, idle.IsProviderEnabled) == (0, False)
    assert history(server.runtime)  # the history itself was written


async def test_events_queued_while_enabled_stay_when_it_is_disabled(server, provider):
    """Disabling the provider does not drop what it has not received yet."""
    await enable(server, provider.url)  # down, no workers
    await act(server, tickets_count=1)
    providers = await server.client("svcExternalProviders")
    await configure(server, providers, "Events.Enabled=false")
    queued = outbox_rows(server.runtime)
    assert queued > 0
    workers = await run_workers(server.runtime)
    try:
        server.runtime.workers.wake("Event Processing")
        await eventually(lambda: server.runtime.workers.runners["Event Processing"].last_outcome == "ran")
    finally:
        await workers.stopService()
    assert outbox_rows(server.runtime) == queued
    assert (await status(server)).PendingCount == queued


async def test_enabling_the_provider_again_delivers_what_waited_at_once(server, provider, monkeypatch):
    # Neither the 5-second look nor a tick in the test: saving the settings wakes the delivery.
    monkeypatch.setattr(event_delivery, "POLL_SECONDS", 3600)
    provider.start()
    providers = await enable(server, provider.url)
    await configure(server, providers, "Events.Enabled=false")
    # Queued before it was disabled (as by another node): enqueue while enabled, without workers.
    await configure(server, providers, "Events.Enabled=true")
    await act(server, tickets_count=1)
    await configure(server, providers, "Events.Enabled=false")
    workers = await run_workers(server.runtime)
    try:
        server.runtime.workers.wake("Event Processing")
        await eventually(lambda: server.runtime.workers.runners["Event Processing"].last_outcome == "ran")
        assert outbox_rows(server.runtime) > 0 and provider.events() == []
        await configure(server, providers, "Events.Enabled=true")
        await eventually(lambda: outbox_rows(server.runtime) == 0)
    finally:
        await workers.stopService()
    assert delivered(provider) == history(server.runtime)
