"""Settings > Tools > Spool in a real browser: the outgoing and incoming
spools listed a page at a time, raw content in a pop-up, retry, sort order
and delete, through the operations svcSpool runs (so SOAP sees the change)."""
from __future__ import annotations

import os

from browser.conftest import ARTIFACTS, submit
from conftest import strings
from mail.conftest import queue, rows
from mail.pop_server import add_pop_account, incoming_rows, make_mail
from stws.db.models import IncomingMessage, OutgoingMessage
from stws.mail import pop

SPOOL = "/admin/settings/spool"
HOSTILE = "<script>window.pwned = 1</script>"


def set_subject(runtime, message_id: int, subject: str) -> None:
    with runtime.db.transaction() as session:
        session.get(OutgoingMessage, message_id).subject = subject


def add_incoming(runtime, status: str, subject: str, sender: str = "Carol Customer <carol@example.com>") -> int:
    """An incoming row of ``status`` with its file where that status keeps it."""
    account_id = add_pop_account(runtime, 110)
    row_id = pop.store_message(runtime, account_id, make_mail(sender=sender, subject=subject))
    folder = {"failed": runtime.data.failed_emails, "imported": runtime.data.raw_content}.get(status)
    with runtime.db.transaction() as session:
        row = session.get(IncomingMessage, row_id)
        row.status = status
        if folder is not None:
            row.last_error = "could not read it" if status == "failed" else ""
            folder.mkdir(parents=True, exist_ok=True)
            os.replace(runtime.data.email / row.file_name, folder / row.file_name)
    return row_id


def open_actions(page) -> None:
    if not page.is_visible("details.menu .menu-panel"):
        page.click("details.menu summary")


def action(page, label: str, confirm: bool | None = None) -> str:
    """Choose ``label`` in the Actions menu (answering its confirmation) and return the notice it leads to."""
    open_actions(page)
    if confirm is not None:
        page.once("dialog", lambda dialog: dialog.accept() if confirm else dialog.dismiss())
    if confirm is False:
        page.click("details.menu button:text-is('%s')" % label)
        return ""
    submit(page, "details.menu button:text-is('%s')" % label)
    return page.text_content("main .notice")


def tab_counts(page) -> dict:
    return {link.text_content().split()[0]: link.query_selector("span.count").text_content()
            for link in page.query_selector_all("nav.tabs a")}


def listed_ids(page) -> list[int]:
    return [int(box.get_attribute("value")) for box in page.query_selector_all("tbody input[name=id]")]


async def test_tabs_count_their_messages_and_the_list_is_paged(server, browser):
    ids = queue(server.runtime, 120)
    add_incoming(server.runtime, "pending", "Waiting")
    page = await browser.signed_in(server, *server.admin)

    def walk():
        page.goto(server.base_url + SPOOL)
        seen = [(tab_counts(page), page.text_content(".pager span"), listed_ids(page))]
        for link in ("Next", "Last", "Previous", "First"):
            page.click("nav.pager a:text-is('%s')" % link)
            page.wait_for_load_state()
            seen.append((page.url, page.text_content(".pager span"), listed_ids(page)))
        return seen

    first, following, last, previous, back_to_first = await browser.do(walk)
    counts, pager, listed = first
    assert counts == {"Outgoing": "120", "Incoming": "1"}
    newest_first = sorted(ids, reverse=True)  # by date, newest first: the default view
    assert pager == "1–50 of 120" and listed == newest_first[:50]
    assert following[1] == "51–100 of 120" and following[2] == newest_first[50:100]
    assert "offset=50" in following[0] and "sort=date" in following[0]
    assert last[1] == "101–120 of 120" and last[2] == newest_first[100:]
    assert previous[1] == "51–100 of 120"
    assert back_to_first[1] == "1–50 of 120" and back_to_first[2] == newest_first[:50]


async def test_view_sets_the_sort_order_and_keeps_it_in_the_url(server, browser):
    for to in ("bea@example.com", "cal@example.com", "abe@example.com"):
        queue(server.runtime, 1, to=to)
    page = await browser.signed_in(server, *server.admin)

    def sort_by(key, order):
        page.goto(server.base_url + SPOOL)
        open_actions(page)
        page.select_option("#view-sort", key)
        page.select_option("#view-order", order)
        submit(page, "details.menu button:text-is('Apply')")
        return page.url, [cell.text_content() for cell in page.query_selector_all("tbody td:nth-child(4)")]

    url, recipients = await browser.do(sort_by, "to", "asc")
    assert "sort=to" in url and "order=asc" in url
    assert recipients == ["abe@example.com", "bea@example.com", "cal@example.com"]
    url, recipients = await browser.do(sort_by, "to", "desc")
    assert "order=desc" in url and recipients == ["cal@example.com", "bea@example.com", "abe@example.com"]

    def reload_kept():
        page.reload()
        return page.input_value("#view-sort"), page.input_value("#view-order")

    assert await browser.do(reload_kept) == ("to", "desc")


async def test_a_failed_outgoing_message_retried_is_queued_again_and_soap_sees_it(server, browser):
    (failed,) = queue(server.runtime, 1, status="failed", attempts=10, last_error="550 no such user")
    (sent,) = queue(server.runtime, 1, status="sent", attempts=1)
    page = await browser.signed_in(server, *server.admin)

    def retry(message_id):
        page.goto(server.base_url + SPOOL)
        page.check("tbody input[name=id][value='%d']" % message_id)
        notice = action(page, "Retry")
        row = page.locator("tr", has=page.locator("input[value='%d']" % message_id))
        return notice, row.locator("td .state").text_content(), page.get_attribute("main .notice", "class")

    notice, status, _ = await browser.do(retry, failed)
    assert notice == "Retried 1 message." and status == "queued"
    spool = await server.client("svcSpool")
    listed = (await spool.GetOutgoingMessages(*server.admin, "id", False, 0, 10)).Messages.OutgoingMessageInfo
    assert [(m.ID, m.Status, m.Attempts) for m in listed if m.ID == failed] == [(failed, "queued", 10)]  # kept

    # The operation's refusal is the page's notice; nothing changes.
    notice, status, kind = await browser.do(retry, sent)
    assert "already sent" in notice and str(sent) in notice and "error" in kind and status == "sent"


async def test_raw_content_in_a_pop_up_by_double_click_enter_and_the_toolbar(server, browser):
    first, second = queue(server.runtime, 2)
    page = await browser.signed_in(server, *server.admin)

    def popup_text():
        page.wait_for_selector("dialog.popup pre.raw")
        text = page.text_content("dialog.popup pre.raw")
        page.click("dialog.popup .popup-bar button")
        return text

    def open_raw():
        page.goto(server.base_url + SPOOL)
        page.dblclick("tr:has(input[value='%d']) td:nth-child(2)" % first)
        by_double_click = popup_text()
        page.focus("tr:has(input[value='%d'])" % second)
        page.keyboard.press("Enter")
        by_enter = popup_text()
        page.check("tbody input[value='%d']" % first)
        page.click("button:text-is('Raw Content')")
        by_toolbar = popup_text()
        return by_double_click, by_enter, by_toolbar, page.url

    by_double_click, by_enter, by_toolbar, url = await browser.do(open_raw)
    for text, number in ((by_double_click, 0), (by_enter, 1), (by_toolbar, 0)):
        assert "Subject: Message %d" % number in text and "Message-ID: <test." in text
        assert "From: support@helpdesk.example" in text and "Hi there." in text
    assert url.endswith(SPOOL)  # pop-ups: the list stayed


async def test_every_action_works_without_javascript(server, browser):
    first, second = queue(server.runtime, 2, status="failed", attempts=10)

    page = await browser.signed_in(server, *server.admin, page=await browser.new_page(javascript=False))

    def without_script():
        page.goto(server.base_url + SPOOL)
        page.check("tbody input[value='%d']" % first)
        submit(page, "button:text-is('Raw Content')")
        raw = page.url, page.text_content("pre.raw")
        page.click("text=Back to the Outgoing spool")
        page.wait_for_load_state()
        page.check("tbody input[value='%d']" % second)
        retried = action(page, "Retry")
        page.check("tbody input[value='%d']" % first)
        deleted = action(page, "Delete")  # no confirmation without script
        return raw, retried, deleted, listed_ids(page)

    (url, raw), retried, deleted, left = await browser.do(without_script)
    assert "/settings/spool/raw" in url and "id=%d" % first in url and "Subject: Message 0" in raw
    assert retried == "Retried 1 message." and deleted == "Deleted 1 message." and left == [second]


async def test_select_all_takes_every_message_of_the_spool_and_delete_asks_first(server, browser):
    queue(server.runtime, 70)
    page = await browser.signed_in(server, *server.admin)

    def select_all_then_delete(confirm):
        page.goto(server.base_url + SPOOL)
        open_actions(page)
        label = page.text_content("label:has(#select-every-message)")
        page.check("#select-every-message")
        page_ticked = all(box.is_checked() for box in page.query_selector_all("tbody input[name=id]"))
        notice = action(page, "Delete", confirm=confirm)
        return label, page_ticked, notice, page.text_content("main")

    label, page_ticked, notice, _ = await browser.do(select_all_then_delete, False)
    assert "70 messages" in label and page_ticked and notice == ""
    assert len(rows(server.runtime)) == 70  # dismissed: nothing deleted

    label, _, notice, text = await browser.do(select_all_then_delete, True)
    assert notice == "Deleted 70 messages." and "spool is empty" in text
    assert rows(server.runtime) == []


async def test_unticking_a_row_narrows_select_all_to_the_rows_ticked(server, browser):
    ids = queue(server.runtime, 3, status="failed")
    page = await browser.signed_in(server, *server.admin)

    def narrowed():
        page.goto(server.base_url + SPOOL)
        open_actions(page)
        page.check("#select-every-message")
        page.uncheck("tbody input[value='%d']" % ids[0])
        return page.is_checked("#select-every-message"), action(page, "Retry")

    still_all, notice = await browser.do(narrowed)
    assert not still_all and notice == "Retried 2 messages."


async def test_select_all_retry_takes_every_failed_and_waiting_message(server, browser):
    queue(server.runtime, 60, status="failed", attempts=10, last_error="550 no")
    queue(server.runtime, 1, status="sent")
    page = await browser.signed_in(server, *server.admin)

    def retry_all():
        page.goto(server.base_url + SPOOL)
        open_actions(page)
        page.check("#select-every-message")
        return action(page, "Retry")

    notice = await browser.do(retry_all)
    assert notice.startswith("Retried 60 messages:")
    assert sorted({r.status for r in rows(server.runtime)}) == ["queued", "sent"]


async def test_incoming_list_raw_content_and_a_failed_import_retried(server, browser):
    runtime = server.runtime
    failed = add_incoming(runtime, "failed", "Broken printer")
    imported = add_incoming(runtime, "imported", "Thanks", sender="Dan <dan@example.com>")
    page = await browser.signed_in(server, *server.admin)

    def incoming():
        page.goto(server.base_url + SPOOL + "?tab=incoming")
        counts = tab_counts(page)
        rows_text = {box: page.text_content("tr:has(input[value='%d'])" % box) for box in listed_ids(page)}
        page.dblclick("tr:has(input[value='%d']) td:nth-child(2)" % failed)
        page.wait_for_selector("dialog.popup pre.raw")
        raw = page.text_content("dialog.popup pre.raw")
        page.click("dialog.popup .popup-bar button")
        page.check("tbody input[value='%d']" % failed)
        notice = action(page, "Retry")
        status = page.text_content("tr:has(input[value='%d']) td .state" % failed)
        return counts, rows_text, raw, notice, status, page.url

    counts, rows_text, raw, notice, status, url = await browser.do(incoming)
    assert counts == {"Outgoing": "0", "Incoming": "2"}
    assert "Broken printer" in rows_text[failed] and "could not read it" in rows_text[failed]
    assert "dan@example.com" in rows_text[imported] and "imported" in rows_text[imported]
    assert "Subject: Broken printer" in raw and "From: Carol Customer <carol@example.com>" in raw
    assert notice == "Retried 1 message." and status == "pending" and "tab=incoming" in url
    (row,) = [r for r in incoming_rows(runtime) if r.id == failed]
    assert row.status == "pending" and (runtime.data.email / row.file_name).exists()


async def test_hostile_text_is_shown_as_text_and_never_run(server, browser):
    (message_id,) = queue(server.runtime, 1, to=HOSTILE)
    set_subject(server.runtime, message_id, HOSTILE)
    add_incoming(server.runtime, "pending", HOSTILE)
    page = await browser.signed_in(server, *server.admin)

    def look():
        shown = []
        for tab in ("outgoing", "incoming"):
            page.goto(server.base_url + SPOOL + "?tab=" + tab)
            shown.append(page.text_content("tbody td.subject"))
            page.dblclick("tbody td.subject")
            page.wait_for_selector("dialog.popup pre.raw")
            shown.append(page.text_content("dialog.popup pre.raw"))
        return shown, page.evaluate("window.pwned === undefined"), page.errors

    shown, safe, errors = await browser.do(look)
    assert shown[0] == HOSTILE and shown[2] == HOSTILE and HOSTILE in shown[1] and HOSTILE in shown[3]
    assert safe and errors == []


async def test_an_action_without_a_selection_asks_for_one_and_changes_nothing(server, browser):
    queue(server.runtime, 2, status="failed")
    page = await browser.signed_in(server, *server.admin)

    def without_selection():
        page.goto(server.base_url + SPOOL)
        notices = [action(page, "Retry"), action(page, "Delete", confirm=True)]
        submit(page, "button:text-is('Raw Content')")
        notices.append(page.text_content("main .notice"))
        return notices, page.get_attribute("main .notice", "class")

    notices, kind = await browser.do(without_selection)
    assert notices == ["Select messages first.", "Select messages first.", "Select a message first."]
    assert "error" in kind
    assert [r.status for r in rows(server.runtime)] == ["failed", "failed"]


async def test_the_spool_is_for_administrators_only(server, browser):
    org = await server.client("svcOrganization")
    created = await org.CreateUser(*server.admin, "agent1", "agent-passw0rd", "a@example.com", True, "")
    assert (await org.SetUsersProperties(*server.admin, created.RequestResult, strings("Roles=Agent"))).Result
    queue(server.runtime, 1)
    page = await browser.signed_in(server, "agent1", "agent-passw0rd")

    def visit():
        response = page.goto(server.base_url + SPOOL)
        return response.status, page.text_content("main"), page.query_selector("nav.side a[href$='/spool']")

    status, text, link = await browser.do(visit)
    assert status == 403 and "Message 0" not in text and link is None


async def test_empty_spools_say_so(server, browser):
    page = await browser.signed_in(server, *server.admin)

    def look():
        texts = []
        for tab in ("outgoing", "incoming"):
            page.goto(server.base_url + SPOOL + "?tab=" + tab)
            texts.append(page.text_content("p.empty"))
        return texts, page.errors

    (outgoing, incoming), errors = await browser.do(look)
    assert "outgoing spool is empty" in outgoing and "incoming spool is empty" in incoming and errors == []


async def test_a_missing_message_shows_the_operations_message(server, browser):
    page = await browser.signed_in(server, *server.admin)

    def missing():
        page.goto(server.base_url + SPOOL + "/raw?tab=outgoing&id=999")
        return page.text_content("main .notice")

    assert await browser.do(missing) == "There is no outgoing message with id 999."


async def test_screenshots_at_desk_and_phone_width(server, browser):
    """Kept in test-artifacts/screenshots/ for a person to look at the layout."""
    ids = queue(server.runtime, 60, to="a.long.recipient.address@customer.example.com")
    queue(server.runtime, 2, status="failed", attempts=10, last_error="550 5.1.1 <x@example.com>: no such user")
    set_subject(server.runtime, ids[-1], "A rather long subject line about the printer that is on fire again")
    add_incoming(server.runtime, "failed", "Broken printer")
    add_incoming(server.runtime, "imported", "Thanks")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for width, height in ((1280, 900), (390, 844)):
        page = await browser.signed_in(server, *server.admin, page=await browser.new_page(width, height))

        def shoot():
            for tab in ("outgoing", "incoming"):
                page.goto(server.base_url + SPOOL + "?tab=" + tab)
                page.screenshot(path=str(ARTIFACTS / ("spool-%s-%d.png" % (tab, width))))
            page.goto(server.base_url + SPOOL)
            open_actions(page)
            page.screenshot(path=str(ARTIFACTS / ("spool-actions-%d.png" % width)))
            page.keyboard.press("Escape")  # the menu closes
            page.dblclick("tbody tr:first-child td:nth-child(2)")
            page.wait_for_selector("dialog.popup pre.raw")
            page.screenshot(path=str(ARTIFACTS / ("spool-raw-%d.png" % width)))
            return page.errors

        assert await browser.do(shoot) == []
