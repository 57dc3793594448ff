"""Settings > Tools > Diagnostics in a real browser: what the page changes is
what svcDiagnostics sees, because both run the same operations."""
from __future__ import annotations

import logging

from browser.conftest import submit
from conftest import strings

DIAGNOSTICS = "/admin/settings/diagnostics"


async def test_an_option_saved_in_the_page_is_in_effect_at_once(server, browser):
    page = await browser.signed_in(server, *server.admin)

    def save_heartbeat(value, errors_to=""):
        page.goto(server.base_url + DIAGNOSTICS)
        page.fill("#HeartbeatIntervalSeconds", value)
        page.fill("#EmailAddressToReceiveErrors", errors_to)
        page.check("#EnableLockTracing")
        submit(page)
        return page.text_content("main"), page.input_value("#HeartbeatIntervalSeconds")

    text, shown = await browser.do(save_heartbeat, "3")
    assert "Saved" in text and shown == "3"
    assert server.runtime.options.get().HeartbeatIntervalSeconds == 3  # applied, no restart
    diag = await server.client("svcDiagnostics")
    soap = (await diag.GetDiagnosticOptions(*server.admin)).RequestResults.string
    assert "HeartbeatIntervalSeconds=3" in soap and "EnableLockTracing=true" in soap


async def test_bad_input_is_shown_beside_its_field_and_nothing_is_saved(server, browser):
    page = await browser.signed_in(server, *server.admin)

    def save_bad():
        page.goto(server.base_url + DIAGNOSTICS)
        page.fill("#HeartbeatIntervalSeconds", "soon")
        page.fill("#EmailAddressToReceiveErrors", "not an address")
        page.check("#EnableCacheTracing")
        with page.expect_navigation():
            page.click("main button[type=submit]")
        return (page.text_content("#HeartbeatIntervalSeconds-problem"),
                page.text_content("#EmailAddressToReceiveErrors-problem"),
                page.get_attribute("#HeartbeatIntervalSeconds", "aria-invalid"),
                page.input_value("#HeartbeatIntervalSeconds"), page.is_checked("#EnableCacheTracing"))

    heartbeat, address, invalid, kept, still_checked = await browser.do(save_bad)
    assert "whole number" in heartbeat and address and invalid == "true"
    assert kept == "soon" and still_checked  # what was typed stays for correcting
    options = server.runtime.options.reload()
    assert options.HeartbeatIntervalSeconds == 10 and options.EnableCacheTracing is False


async def test_self_diagnostic_pop_up(server, browser):
    port = server.web.port.getHost().port
    diag = await server.client("svcDiagnostics")
    # The connectivity check dials the server itself: nothing leaves loopback.
    assert (await diag.SetDiagnosticOptions(*server.admin,
                                            strings("ConnectivityProbeAddress=127.0.0.1:%d" % port))).Result
    page = await browser.signed_in(server, *server.admin)

    def run():
        page.goto(server.base_url + DIAGNOSTICS)
        page.click("text=Self Diagnostic")
        page.wait_for_selector("dialog.popup table")
        return page.is_visible("dialog.popup"), page.text_content("dialog.popup")

    visible, text = await browser.do(run)
    assert visible and "Database" in text and "Connected to 127.0.0.1:%d" % port in text


async def test_a_thread_stopped_and_started(server, browser):
    page = await browser.signed_in(server, *server.admin)
    diag = await server.client("svcDiagnostics")

    async def soap_enabled():
        statuses = (await diag.GetThreadStatuses(*server.admin)).Threads.ThreadStatusInfo
        return next(t for t in statuses if t.Name == "Indexing").IsEnabled

    def press(label):
        page.goto(server.base_url + DIAGNOSTICS + "?tab=threads")
        count = page.text_content("nav.tabs a[aria-current=page] .count")
        submit(page, "button[aria-label='%s Indexing']" % label)
        row = page.locator("tr", has_text="Keeps the full-text search index")
        return count, page.text_content("main .notice"), row.locator("td").nth(1).text_content()

    count, notice, status = await browser.do(press, "Stop")
    assert count == "14" and notice == "Indexing is stopped." and status == "stopped"
    assert await soap_enabled() is False
    count, notice, status = await browser.do(press, "Start")
    assert notice == "Indexing is started." and status == "running"
    assert await soap_enabled() is True


def write_log_lines(server, lines):
    logger = logging.getLogger("stws.error")
    for line in lines:
        logger.error(line)
    for handler in logging.getLogger("stws").handlers + logger.handlers:
        handler.flush()


async def test_a_log_file_opened_by_double_click_and_by_keyboard_then_deleted(server, browser):
    write_log_lines(server, ['a hostile line <script>window.pwned = 1</script>'])
    page = await browser.signed_in(server, *server.admin)
    error_log = next(p.name for p in server.runtime.data.logs.iterdir() if p.name.startswith("error-"))

    def open_by_double_click():
        page.goto(server.base_url + DIAGNOSTICS + "?tab=logs")
        count = page.text_content("nav.tabs a[aria-current=page] .count")
        page.dblclick("tr[data-open*='%s'] td:nth-child(3)" % error_log)
        page.wait_for_selector("dialog.popup pre.raw")
        return count, page.text_content("dialog.popup pre.raw"), page.evaluate("window.pwned === undefined")

    count, content, safe = await browser.do(open_by_double_click)
    assert int(count) >= 1
    assert "<script>window.pwned = 1</script>" in content and safe  # shown as text, never run

    def open_by_keyboard():
        page.goto(server.base_url + DIAGNOSTICS + "?tab=logs")
        page.focus("tr[data-open*='%s']" % error_log)
        page.keyboard.press("Enter")
        page.wait_for_selector("dialog.popup pre.raw")
        return page.text_content("dialog.popup h1")

    assert await browser.do(open_by_keyboard) == error_log

    def delete():
        page.goto(server.base_url + DIAGNOSTICS + "?tab=logs")
        page.check("input[name=file][value='%s']" % error_log)
        page.once("dialog", lambda dialog: dialog.accept())  # "Delete ... permanently?"
        submit(page, "text=Delete")
        return page.text_content("main .notice"), page.content()

    notice, html = await browser.do(delete)
    assert notice == "Deleted 1 log file." and error_log not in html
    assert not (server.runtime.data.logs / error_log).exists()


async def test_a_large_log_file_is_read_in_pages(server, browser):
    name = "system-2026-01-02.log"
    lines = ["line %06d %s" % (n, "x" * 60) for n in range(3000)]  # 73 bytes each
    (server.runtime.data.logs / name).write_text("\n".join(lines) + "\n")
    page = await browser.signed_in(server, *server.admin)

    def read():
        page.goto(server.base_url + DIAGNOSTICS + "/log?name=" + name)
        first = page.text_content("pre.raw")
        page.click("text=Next page")
        page.wait_for_url("**offset=*")
        return first, page.text_content("pre.raw"), page.text_content(".pager")

    first, second, pager = await browser.do(read)
    assert first.startswith("line 000000") and first.endswith("\n")  # pages end at a line break
    assert second.startswith("line %06d" % first.count("\n"))
    assert "of 219,000" in pager


async def test_no_script_errors_on_the_diagnostics_tabs(server, browser):
    page = await browser.signed_in(server, *server.admin)

    def visit_all():
        for tab in ("options", "threads", "logs"):
            page.goto(server.base_url + DIAGNOSTICS + "?tab=" + tab)
        return page.errors

    assert await browser.do(visit_all) == []


async def test_every_diagnostics_action_works_without_javascript(server, browser):
    write_log_lines(server, ["a line to read"])
    page = await browser.signed_in(server, *server.admin, page=await browser.new_page(javascript=False))
    error_log = next(p.name for p in server.runtime.data.logs.iterdir() if p.name.startswith("error-"))

    port = server.web.port.getHost().port

    def without_script():
        page.goto(server.base_url + DIAGNOSTICS)
        page.fill("#HeartbeatIntervalSeconds", "7")
        page.fill("#ConnectivityProbeAddress", "127.0.0.1:%d" % port)  # nothing leaves loopback
        submit(page)
        saved = page.text_content("main .notice")
        page.goto(server.base_url + DIAGNOSTICS + "?tab=threads")
        submit(page, "button[aria-label='Stop Cleaner']")
        stopped = page.text_content("main .notice")
        page.goto(server.base_url + DIAGNOSTICS + "?tab=logs")
        page.click("text=" + error_log)  # the pop-up's page, as a page of its own
        page.wait_for_url("**/log?name=*")
        shown = page.text_content("pre.raw")
        page.goto(server.base_url + DIAGNOSTICS + "?tab=logs")
        page.check("input[name=file][value='%s']" % error_log)
        submit(page, "text=Delete")  # no confirmation without script: the form posts
        deleted = page.text_content("main .notice")
        page.goto(server.base_url + DIAGNOSTICS + "/self-diagnostic")
        return saved, stopped, shown, deleted, page.text_content("h1")

    saved, stopped, shown, deleted, heading = await browser.do(without_script)
    assert "Saved" in saved and server.runtime.options.get().HeartbeatIntervalSeconds == 7
    assert stopped == "Cleaner is stopped." and "a line to read" in shown
    assert deleted == "Deleted 1 log file." and heading == "Self Diagnostic"
