"""Tickets, the agents' workspace, in a real browser: the tree's counts
refreshed at the Heartbeat Interval (a ticket created over SOAP shows in
the counts and the open list within one heartbeat), a follow-up's reminder
shown once, the full-text search, server-side paging and sorting, and an
agent who sees nothing of a group that is not theirs."""
from __future__ import annotations

import datetime as dt

import pytest_twisted
from twisted.internet import threads

from browser.conftest import ARTIFACTS, submit
from conftest import ok, strings
from stws.db.models import utcnow
from tickets.conftest import AGENT, BOB
from workspace_office import create, make_office, queued, ticket_ids

TICKETS = "/admin/tickets"
INTERVAL_S = 1  # the Heartbeat Interval in these tests


@pytest_twisted.async_fixture
async def office(server):
    """workspace_office's desk, with the Heartbeat Interval set to one second over SOAP."""
    office = await make_office(server)
    ok(await (await server.client("svcDiagnostics")).SetDiagnosticOptions(
        *server.admin, strings("HeartbeatIntervalSeconds=%d" % INTERVAL_S)))
    return office


def count(page, key: str) -> str:
    return page.text_content('nav.tree [data-count="%s"]' % key)


def subjects(page) -> list[str]:
    return [cell.text_content().replace(" follow-up", "").strip()
            for cell in page.query_selector_all("table.tickets tbody td[data-label=Subject]")]


async def test_counts_refresh_at_the_heartbeat_and_a_soap_ticket_shows_in_the_open_list(server, browser, office):
    await queued(office, "Existing one")
    page = await browser.signed_in(server, *AGENT)

    def open_queue():
        page.goto(server.base_url + TICKETS + "?node=group-1-queued")
        return count(page, "group-1-queued"), count(page, "my-active"), subjects(page), page.text_content("h1")

    before, mine, listed, title = await browser.do(open_queue)
    assert (before, mine, listed) == ("1", "0", ["Existing one"])
    assert title == "Support · Level 1: Queued"
    await queued(office, "Arrived over SOAP")

    def wait_for_it():
        # Within one heartbeat (+ the request's own time), without a reload.
        page.wait_for_function("() => document.querySelector('[data-count=\"group-1-queued\"]').textContent === '2'",
                               timeout=INTERVAL_S * 1000 + 1500)
        page.wait_for_function("() => document.querySelectorAll('table.tickets tbody tr').length === 2",
                               timeout=2000)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "ticket-workspace.png"), full_page=True)
        return subjects(page), list(page.errors)

    listed, errors = await browser.do(wait_for_it)
    assert set(listed) == {"Existing one", "Arrived over SOAP"}
    assert errors == []


async def test_the_page_polls_at_the_heartbeat_interval(server, browser, office):
    """Three seconds in Diagnostics > Options: a request every three seconds."""
    ok(await (await server.client("svcDiagnostics")).SetDiagnosticOptions(
        *server.admin, strings("HeartbeatIntervalSeconds=3")))
    page = await browser.signed_in(server, *AGENT)

    def polls():
        page.goto(server.base_url + TICKETS)
        page.wait_for_timeout(7_500)
        return page.evaluate("""() => performance.getEntriesByType('resource')
            .filter(e => e.name.endsWith('/admin/heartbeat')).map(e => e.startTime)""")

    times = await browser.do(polls)
    # One at load, then one every 3 s: at about 0, 3 and 6 s.
    assert len(times) == 3, times
    gaps = [later - earlier for earlier, later in zip(times, times[1:])]
    assert all(2_900 <= gap <= 3_600 for gap in gaps), gaps


async def test_a_follow_up_falling_due_shows_a_reminder_once(server, browser, office):
    DUE_IN_S = 10  # signing in takes a few seconds (the password hash) before the page opens
    number = await create(office, AGENT, 1, "Call the customer back")
    ticket_id = (await threads.deferToThread(ticket_ids, server, number))[number]
    ok(await office["tickets"].SetFollowUp(*AGENT, ticket_id, utcnow() + dt.timedelta(seconds=DUE_IN_S), 0, 0, "",
                                           False, ""))
    page = await browser.signed_in(server, *AGENT)

    def reminded():
        page.goto(server.base_url + TICKETS)
        shown_early = page.query_selector_all(".reminders .reminder")
        page.wait_for_selector(".reminders .reminder", timeout=(DUE_IN_S + 5) * 1000)
        notices = page.query_selector_all(".reminders .reminder")
        link = notices[0].query_selector("a").get_attribute("href")
        text = notices[0].text_content()
        # Dismissed, then the page reloaded: the follow-up is still due (no
        # Ticket Watcher here) and the heartbeat still brings it, but it is
        # not shown again.
        page.click(".reminders .reminder button:text-is('Dismiss')")
        after_dismiss = len(page.query_selector_all(".reminders .reminder"))
        page.reload()
        page.wait_for_timeout(INTERVAL_S * 1000 * 3)
        return len(shown_early), len(notices), link, text, after_dismiss, \
            len(page.query_selector_all(".reminders .reminder"))

    early, shown, link, text, after_dismiss, after_reload = await browser.do(reminded)
    assert early == 0  # not before it falls due
    assert shown == 1 and number in text and "Call the customer back" in text
    assert link == "/admin/tickets/view?number=" + number
    assert (after_dismiss, after_reload) == (0, 0)


async def test_search_finds_a_ticket_by_the_words_of_its_message(server, browser, office):
    found = await create(office, AGENT, 1, "Printer trouble")  # its message: "Body of Printer trouble"
    await create(office, AGENT, 1, "Something else")
    page = await browser.signed_in(server, *AGENT)

    def search():
        page.goto(server.base_url + TICKETS)
        page.click("details.ticket-search summary")
        page.fill("#search-text", "body printer")
        submit(page, "form.search button[type=submit]")
        rows = page.query_selector_all("table.tickets tbody tr")
        return page.text_content("h1"), [r.query_selector("td[data-label=Number]").text_content() for r in rows]

    title, numbers = await browser.do(search)
    assert title == "Search results"
    assert numbers == [found]


async def test_lists_are_paged_and_sorted_on_the_server(server, browser, office):
    for n in range(30):
        await queued(office, "Ticket %02d" % n)
    page = await browser.signed_in(server, *AGENT)

    def walk():
        page.goto(server.base_url + TICKETS + "?node=group-1-queued")
        newest_first = subjects(page)
        page.click("nav.pager a:text-is('Next')")
        page.wait_for_load_state()
        second_page = subjects(page)
        page.click("th a:has-text('Subject')")
        page.wait_for_load_state()
        by_subject = subjects(page)
        page.click("th a:has-text('Subject')")
        page.wait_for_load_state()
        by_subject_reversed = subjects(page)
        page.select_option("#page-size", "50")
        submit(page, "form.page-size button")
        return newest_first, second_page, by_subject, by_subject_reversed, subjects(page), page.url

    newest_first, second_page, by_subject, reversed_, all_of_them, url = await browser.do(walk)
    expected = ["Ticket %02d" % n for n in range(30)]
    assert newest_first == expected[::-1][:25]
    assert second_page == expected[::-1][25:]
    assert by_subject == expected[:25]  # sorting starts again at the first page
    assert reversed_ == expected[::-1][:25]
    assert all_of_them == expected[::-1] and "size=50" in url


async def test_an_agent_sees_nothing_of_a_group_not_theirs(server, browser, office):
    await queued(office, "Only for Level 1")
    bob = await browser.signed_in(server, *BOB, page=await browser.new_page(javascript=False))

    def look():
        bob.goto(server.base_url + TICKETS)
        tree = bob.text_content("nav.tree")
        keys = [e.get_attribute("data-count") for e in bob.query_selector_all("nav.tree [data-count]")]
        bob.goto(server.base_url + TICKETS + "?node=group-1-queued")
        by_node = bob.text_content("main")
        bob.goto(server.base_url + TICKETS + "?text=Level")
        by_search = bob.text_content("main")
        return tree, keys, by_node, by_search

    tree, keys, by_node, by_search = await browser.do(look)
    assert "Level 2" in tree and "Level 1" not in tree
    assert not any(key.startswith("group-1-") for key in keys)
    assert "Only for Level 1" not in by_node and "No tickets" in by_node
    assert "Only for Level 1" not in by_search and "No tickets" in by_search
