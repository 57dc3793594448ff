"""The ticket workspace's heartbeat (GET /admin/heartbeat) and lists over
real HTTP (tests/admin_client.py) against a live server: counts, the
Heartbeat Interval, reminders, the agent's heartbeat for Auto-Inactive,
and what it answers without a session."""
from __future__ import annotations

import datetime as dt
import json

import pytest_twisted
from twisted.internet import threads

from admin_client import AdminClient
from conftest import ok, strings
from stws.db.models import User, utcnow
from tickets.conftest import AGENT, BOB
from workspace_office import create, make_office, queued, ticket_ids

HEARTBEAT = "/admin/heartbeat"


async def signed_in(server, credentials) -> AdminClient:
    client = AdminClient(server.base_url)
    status, headers, _ = await threads.deferToThread(client.sign_in, *credentials)
    assert status == 303 and "/signin" not in headers["Location"], "signing in as %s failed" % credentials[0]
    return client


async def get_json(client, path=HEARTBEAT):
    status, headers, body = await threads.deferToThread(client.request, path)
    assert headers["Content-Type"].startswith("application/json"), (status, body[:200])
    return status, json.loads(body)


@pytest_twisted.async_fixture
async def office(server):
    return await make_office(server)


async def test_heartbeat_answers_counts_interval_and_refuses_without_a_session(server, office):
    alice = await signed_in(server, AGENT)
    status, first = await get_json(alice)
    assert status == 200
    assert first["interval_seconds"] == 10
    assert first["counts"]["group-1-active"] == 0 and first["reminders"] == []
    assert not any(key.startswith("group-%d-" % office["group_2"]) for key in first["counts"])  # not her group
    assert not any(key.startswith("department-") for key in first["counts"])  # managers only

    await queued(office, "Queued one")
    await create(office, AGENT, 1, "Mine")
    await create(office, BOB, office["group_2"], "Bob's")
    ok(await (await server.client("svcDiagnostics")).SetDiagnosticOptions(
        *server.admin, strings("HeartbeatIntervalSeconds=3")))
    _, second = await get_json(alice)
    counts = second["counts"]
    assert second["interval_seconds"] == 3
    assert (counts["my-active"], counts["group-1-active"], counts["group-1-queued"]) == (1, 2, 1)

    _, admin_view = await get_json(await signed_in(server, server.admin))
    assert admin_view["counts"]["department-1-active"] == 3  # every group of the department
    assert admin_view["counts"]["department-1-queued"] == 1

    anonymous = AdminClient(server.base_url)
    status, refused = await get_json(anonymous)
    assert status == 401 and "sign in" in refused["error"].lower()
    status, headers, _ = await threads.deferToThread(anonymous.request, "/admin/tickets")
    assert status == 303 and "/admin/signin" in headers["Location"]  # the page itself: to the sign-in form


def heartbeat_of(server, user_id):
    with server.runtime.db.transaction(writes=False) as session:
        return session.get(User, user_id).last_heartbeat_utc


def set_heartbeat(server, user_id, when):
    with server.runtime.db.transaction() as session:
        user = session.get(User, user_id)
        user.is_active_agent = True
        user.last_heartbeat_utc = when


async def test_heartbeat_records_the_agents_heartbeat_as_soap_calls_do(server, office):
    alice = await signed_in(server, AGENT)
    old = utcnow() - dt.timedelta(minutes=5)
    await threads.deferToThread(set_heartbeat, server, office["alice_id"], old)
    before = utcnow()
    status, _ = await get_json(alice)
    assert status == 200
    recorded = await threads.deferToThread(heartbeat_of, server, office["alice_id"])
    assert recorded >= before
    # Within one interval the next call writes nothing (as for SOAP calls).
    await get_json(alice)
    assert await threads.deferToThread(heartbeat_of, server, office["alice_id"]) == recorded


async def test_reminders_are_the_agents_follow_ups_due_by_the_next_heartbeat(server, office):
    number = await create(office, AGENT, 1, "Call back")
    far = await create(office, AGENT, 1, "Next week")
    tickets = office["tickets"]
    ids = await threads.deferToThread(ticket_ids, server, number, far)
    soon = utcnow() + dt.timedelta(seconds=5)
    ok(await tickets.SetFollowUp(*AGENT, ids[number], soon, 0, 0, "", False, ""))
    ok(await tickets.SetFollowUp(*AGENT, ids[far], utcnow() + dt.timedelta(days=7), 0, 0, "", False, ""))
    other = await create(office, AGENT, 1, "No follow-up")
    alice = await signed_in(server, AGENT)
    _, beat = await get_json(alice)
    assert [r["ticket_number"] for r in beat["reminders"]] == [number]
    assert 0 < beat["reminders"][0]["due_in_ms"] <= 5000
    assert beat["counts"]["my-follow-ups"] == 2
    status, _, listed = await threads.deferToThread(alice.request, "/admin/tickets?node=my-follow-ups")
    assert status == 200 and number in listed and far in listed and other not in listed
    _, bobs = await get_json(await signed_in(server, BOB))
    assert bobs["reminders"] == []  # not his ticket


async def test_lists_are_sorted_paged_and_limited_to_the_agents_groups(server, office):
    for n in range(7):
        await queued(office, "Alpha %d" % n)
    await create(office, BOB, office["group_2"], "Hidden from alice")
    alice = await signed_in(server, AGENT)

    def page(query):
        status, _, body = alice.request("/admin/tickets?" + query)
        return status, body

    status, body = await threads.deferToThread(page, "node=group-1-active&sort=subject&order=asc&size=25")
    assert status == 200
    assert [body.index("Alpha %d" % n) for n in range(7)] == sorted(body.index("Alpha %d" % n) for n in range(7))
    assert "Hidden from alice" not in body
    status, body = await threads.deferToThread(page, "text=Hidden")
    assert status == 200 and "Hidden from alice" not in body and "No tickets" in body
    status, body = await threads.deferToThread(page, "node=group-%d-active" % office["group_2"])
    assert "Hidden from alice" not in body  # the node of another group: still only what she may see
    status, body = await threads.deferToThread(page, "criteria=Colour%3Dblue")
    assert status == 400 and "&#39;Colour&#39; is not a search key" in body
    status, body = await threads.deferToThread(page, "node=nonsense")
    assert status == 400 and "is not a list of the ticket tree" in body


async def test_heartbeat_follows_an_open_ticket_and_its_parts_say_what_changed(server, office):
    """?ticket= answers the ticket's version, which every change moves; the
    live parts (what an open page fetches then) list the changes since the
    version it showed. An agent who may not see the ticket learns nothing:
    null and 404, as for a ticket that does not exist or was deleted."""
    number = await queued(office, "Follow me")
    alice = await signed_in(server, AGENT)
    bob = await signed_in(server, BOB)
    path = HEARTBEAT + "?ticket=" + number
    _, first = await get_json(alice, path)
    version = first["ticket"]["version"]
    assert first["ticket"]["number"] == number and version
    _, again = await get_json(alice, path)
    assert again["ticket"]["version"] == version  # nothing changed: the page fetches nothing
    _, plain = await get_json(alice)
    assert "ticket" not in plain

    ok(await office["tickets"].SetTicketProperties(*server.admin, number, strings("Priority=3")))
    _, moved = await get_json(alice, path)
    assert moved["ticket"]["version"] not in (None, version)

    live = "/admin/tickets/view/live?number=%s&since=%s" % (number, version)
    status, _, body = await threads.deferToThread(alice.request, live)
    text = body
    assert status == 200
    assert 'data-version="%s"' % moved["ticket"]["version"] in text
    assert "by admin: Priority changed from Normal to High" in text
    assert 'data-live="conversation"' in text and 'class="tree"' not in text and "<html" not in text
    status, _, body = await threads.deferToThread(alice.request, live.split("&since")[0])
    assert status == 200 and "Changed since" not in body  # nothing to tell without a version

    _, hidden = await get_json(bob, path)
    assert hidden["ticket"] == {"number": number, "version": None}
    status, _, body = await threads.deferToThread(bob.request, live)
    assert status == 404 and "Priority changed" not in body
    _, unknown = await get_json(alice, HEARTBEAT + "?ticket=999-NOPE")
    assert unknown["ticket"]["version"] is None

    ticket_id = (await threads.deferToThread(ticket_ids, server, number))[number]
    ok(await office["tickets"].DeleteTicket(*server.admin, ticket_id))
    _, deleted = await get_json(alice, path)
    assert deleted["ticket"]["version"] is None


async def test_a_ticket_page_heartbeat_answers_reminders_in_order_with_the_version(server, office):
    """The heartbeat's one statement (navigation.pulse): its stamp and
    version columns on every row of the follow-ups due, none of them lost
    or repeated when several are due, in due order; and still one row (the
    version, no reminder) when none is."""
    later = await create(office, AGENT, 1, "Due second")
    sooner = await create(office, AGENT, 1, "Due first")
    ids = await threads.deferToThread(ticket_ids, server, later, sooner)
    tickets = office["tickets"]
    alice = await signed_in(server, AGENT)
    path = HEARTBEAT + "?ticket=" + later
    _, quiet = await get_json(alice, path)
    assert quiet["reminders"] == [] and quiet["ticket"]["version"]
    ok(await tickets.SetFollowUp(*AGENT, ids[later], utcnow() + dt.timedelta(seconds=8), 0, 0, "", False, ""))
    ok(await tickets.SetFollowUp(*AGENT, ids[sooner], utcnow() + dt.timedelta(seconds=4), 0, 0, "", False, ""))
    _, beat = await get_json(alice, path)
    assert [r["ticket_number"] for r in beat["reminders"]] == [sooner, later]
    assert beat["ticket"]["version"] not in (None, quiet["ticket"]["version"])  # the follow-up changed it
    assert beat["counts"]["my-follow-ups"] == 2


def test_the_heartbeats_of_one_second_bind_one_until_rounded_up():
    """navigation._until: the same datetime object for every heartbeat in a
    second (its bound value is converted once), never before the moment asked."""
    from stws.domain.tickets import navigation

    moment = dt.datetime(2026, 12, 7, 13, 0, 5, 250000, tzinfo=dt.timezone.utc)
    until = navigation._until(moment)
    assert until == dt.datetime(2026, 12, 7, 13, 0, 6, tzinfo=dt.timezone.utc)
    assert navigation._until(moment + dt.timedelta(milliseconds=700)) is until
    whole = moment.replace(microsecond=0)
    assert navigation._until(whole) == whole  # a whole second stays as it is
