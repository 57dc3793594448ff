"""A ticket in the agents' workspace, in a real browser: tickets made over
SOAP are opened by URL, answered (the mail reaches a loopback SMTP server),
noted, transferred and closed through the operations SOAP runs, so SOAP
sees every change; a customer's reply imported by POP shows up; hostile
HTML stays inert and remote images wait for the agent; uploads keep to the
size limit; a change made meanwhile by someone else is never overwritten.
"""
from __future__ import annotations

import datetime as dt

import pytest_twisted
from sqlalchemy import select
from twisted.internet import reactor
from twisted.web import resource, server as web_server

from browser.conftest import ARTIFACTS, submit
from browser.test_every_page import AUDIT
from conftest import ok, strings
from mail.conftest import add_account, deliver
from mail.pop_server import PopTestServer, add_pop_account, download, import_all, make_mail
from mail.smtp_server import SmtpTestServer
from stws.db.models import TicketAttachment, TicketComment, utcnow
from tickets.conftest import AGENT, make_user, second_group_with_bob

VIEW = "/admin/tickets/view?number="


class Workspace:
    """An administrator, agent alice in group 1 (and in Level 2's queue), agent
    bob in Level 2 only, and a client of svcTickets."""

    def __init__(self, server, tickets, org, level2, bob, bob_id, alice_id):
        self.server, self.tickets, self.org = server, tickets, org
        self.level2, self.bob, self.bob_id, self.alice_id = level2, bob, bob_id, alice_id

    async def ticket(self, subject="Printer on fire", body="It is on fire.\nReally.", is_html=False,
                     customer="carol@example.com") -> str:
        created = ok(await self.tickets.CreateTicketFromCustomer(*self.server.admin, 1, customer, subject, body,
                                                                 is_html, False))
        return created.RequestResult

    async def info(self, number):
        return ok(await self.tickets.GetTicketInfoByTicketNumber(*self.server.admin, number)).Ticket

    def url(self, number: str) -> str:
        return self.server.base_url + VIEW + number


@pytest_twisted.async_fixture
async def desk(server):
    org = await server.client("svcOrganization")
    tickets = await server.client("svcTickets")
    alice_id = await make_user(org, server.admin, *AGENT, "alice@helpdesk.example", roles="Agent")
    assert (await org.AddAgentToGroup(*server.admin, 1, alice_id, "Primary", False, 0)).Result

    class Desk:
        pass
    holder = Desk()
    holder.org, holder.admin, holder.department_id = org, server.admin, 1
    level2, bob, bob_id = await second_group_with_bob(holder)
    assert (await org.AddAgentToGroup(*server.admin, level2, alice_id, "Queue", False, 0)).Result
    return Workspace(server, tickets, org, level2, bob, bob_id, alice_id)


def notice(page) -> str:
    return page.text_content("main .notice")


def entries(page) -> list[str]:
    return [e.inner_text() for e in page.query_selector_all("article.entry")]


async def test_agent_answers_notes_transfers_and_closes_a_soap_ticket(server, browser, desk):
    smtp = SmtpTestServer()
    smtp.listen(0)
    try:
        add_account(server.runtime, smtp.port)
        number = await desk.ticket()
        page = await browser.signed_in(server, *AGENT)

        def reply_and_note():
            page.goto(desk.url(number))
            seen = (page.text_content("h1"), page.text_content(".ticket-status"), entries(page))
            page.fill("#reply-body", "We are on it.\nStand back from the printer.")
            submit(page, "#reply-form button[type=submit]")
            replied = notice(page)
            page.select_option("#note-type", "Resolution")
            page.fill("#note-text", "Told them to unplug it.")
            submit(page, "#note-form button[type=submit]")
            return seen, replied, notice(page), entries(page), page.text_content(".ticket-status")

        seen, replied, noted, after, status = await browser.do(reply_and_note)
        assert seen[0] == "Printer on fire" and seen[1] == "Active"
        assert len(seen[2]) == 1 and "It is on fire.\nReally." in seen[2][0]
        assert replied == "Reply sent: it is in the outgoing spool."
        assert noted == "Note added."
        assert len(after) == 3 and "Stand back from the printer." in after[1] and "Resolution note" in after[2]
        assert status == "Waiting"  # a reply waits for the customer, as over SOAP

        # Replies wait the department's send delay (a chance to take them back): deliver as if it had passed.
        assert await deliver(server.runtime, now=utcnow() + dt.timedelta(hours=1)) == 1
        (mail,) = smtp.messages
        assert mail.recipients == ["carol@example.com"]
        assert "Stand back from the printer." in mail.mail.get_body(("plain",)).get_content()
        assert number in mail.mail["Subject"]
        parts = ok(await desk.tickets.GetTicketConversationPartList(*server.admin, (await desk.info(number)).ID))
        assert [p.Type for p in parts.Parts.TicketPartInfo] == [1, 1, 12]

        def transfer_and_close():
            page.click("summary:text-is('Transfer')")
            page.select_option("#transfer-group", str(desk.level2))
            page.fill("#transfer-comment", "Level 2 knows printers.")
            submit(page, "#transfer-form button[type=submit]")
            transferred = notice(page), page.text_content(".ticket-group")
            page.click("summary:text-is('Close')")
            page.fill("#closing-comment", "Unplugged; fire out.")
            submit(page, "#close-form button[type=submit]")
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(ARTIFACTS.parent / "ticket-view.png"), full_page=True)
            page.goto(desk.url(number) + "&tab=history")
            history = page.inner_text("table.history")
            return transferred, notice_or_none(page), page.text_content(".ticket-status"), history, \
                page.evaluate(AUDIT), page.errors

        transferred, _, status, history, audit, errors = await browser.do(transfer_and_close)
        assert transferred[0] == "Ticket transferred." and "Level 2" in transferred[1]
        assert status == "Closed"
        assert "Transferred from" in history and "Status changed from Waiting to Closed" in history
        assert audit["unnamed"] == [] and audit["overflow"] <= 0
        assert errors == []
        info = await desk.info(number)
        assert info.IdGroup == desk.level2 and info.IsOpen is False
    finally:
        smtp.stop()


def notice_or_none(page):
    found = page.query_selector("main .notice")
    return found.text_content() if found else None


INTERVAL_S = 1  # the Heartbeat Interval of the tests where the page follows its ticket
# Within a heartbeat, the fetch of the changed parts, and a slow shared machine's slack.
FOLLOW_MS = INTERVAL_S * 1000 + 4000


async def short_heartbeat(server) -> None:
    ok(await (await server.client("svcDiagnostics")).SetDiagnosticOptions(
        *server.admin, strings("HeartbeatIntervalSeconds=%d" % INTERVAL_S)))


def form_version(page, form: str) -> str:
    return page.input_value("#%s input[name=version]" % form)


async def test_a_customer_reply_imported_by_pop_appears_in_the_view(server, browser, desk):
    """The open page follows its ticket at the heartbeat, without a reload:
    the customer's reply imported by POP shows, marked, and so does a second
    agent's change over SOAP; the reply the agent was typing stays in its
    box, and, begun before those changes, sending it shows the agent the
    ticket as it is first (refused, kept), then goes out."""
    await short_heartbeat(server)
    number = await desk.ticket()
    pop = PopTestServer()
    pop.add_mailbox("support", "pw")
    pop.listen()
    try:
        add_pop_account(server.runtime, pop.port)
        page = await browser.signed_in(server, *AGENT)

        def open_and_write():
            page.goto(desk.url(number))
            page.evaluate("() => { window.notReloaded = true; }")
            page.fill("#reply-body", "Please unplug it")
            return entries(page), form_version(page, "reply-form")

        before, first_version = await browser.do(open_and_write)
        assert len(before) == 1
        pop.deliver("support", make_mail(sender="carol@example.com", subject="Re: [#%s] Printer on fire" % number,
                                         body="It is still smoking.\n"))
        assert await download(server.runtime) == 1
        assert await import_all(server.runtime) == 1

        def followed():
            page.wait_for_function("() => document.querySelectorAll('article.entry').length === 2", timeout=FOLLOW_MS)
            return (entries(page), page.text_content("article.entry.entry-new .entry-new-marker"),
                    page.text_content('[data-live="changes"]'), page.input_value("#reply-body"),
                    form_version(page, "reply-form"), form_version(page, "note-form"),
                    page.text_content("#reply-form .stale-note"), page.evaluate("() => window.notReloaded"))

        after, marker, changes, draft, reply_version, note_version, stale, not_reloaded = await browser.do(followed)
        assert not_reloaded is True
        assert "It is still smoking." in after[1] and "From the customer" in after[1]
        assert marker == "New reply from the customer"
        assert "Message from carol@example.com added" in changes
        assert draft == "Please unplug it"
        # The draft's form keeps the version it was begun at; the untouched note form is current.
        assert reply_version == first_version and note_version != first_version
        assert "The ticket changed after you began this" in stale

        ok(await desk.tickets.SetTicketProperties(*server.admin, number, strings("Priority=3")))

        def second_agent():
            page.wait_for_function("() => document.querySelector('.ticket-facts').textContent.includes('High')",
                                   timeout=FOLLOW_MS)
            page.type("#reply-body", ", and wait.")
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(ARTIFACTS.parent / "ticket-view-live.png"), full_page=True)
            return (page.text_content('[data-live="changes"]'), page.input_value("#reply-body"),
                    page.eval_on_selector("#priority_id", "s => s.selectedOptions[0].textContent"),
                    page.evaluate("() => window.notReloaded"), page.errors)

        changes, draft, priority_shown, not_reloaded, errors = await browser.do(second_agent)
        assert "by admin: Priority changed from Normal to High" in changes
        assert draft == "Please unplug it, and wait." and priority_shown == "High" and not_reloaded is True
        assert errors == []

        def send(button="#reply-form button[type=submit]"):
            with page.expect_navigation() as navigation:
                page.click(button)
            error = page.query_selector("#action-error")
            return (navigation.value.status, error.text_content() if error else notice(page),
                    page.input_value("#reply-body"))

        status, message, kept = await browser.do(send)
        assert status == 409 and message.startswith("Ticket %s was changed by admin meanwhile" % number)
        assert kept == "Please unplug it, and wait."
        # What the refused page keeps is the agent's entry: another change leaves it in its box too.
        ok(await desk.tickets.SetTicketProperties(*server.admin, number, strings("Priority=2")))

        def kept_again():
            page.wait_for_function("() => document.querySelector('.ticket-facts').textContent.includes('Normal')",
                                   timeout=FOLLOW_MS)
            return page.input_value("#reply-body")

        assert await browser.do(kept_again) == "Please unplug it, and wait."
        status, message, _ = await browser.do(send)
        assert status == 409 and "Priority changed from High to Normal" in message
        status, sent, _ = await browser.do(send)
        assert status == 200 and sent == "Reply sent: it is in the outgoing spool."
        after = await browser.do(entries, page)
        assert len(after) == 3 and "Please unplug it, and wait." in after[2]
    finally:
        pop.stop()


async def test_untouched_forms_follow_the_ticket_and_a_deleted_one_says_so(server, browser, desk):
    """A form the agent has not touched is replaced by the ticket's current
    state and version, so saving it keeps the other agent's change (no
    overwrite with what the page showed before); a panel the agent opened
    stays open; a ticket deleted meanwhile is announced."""
    await short_heartbeat(server)
    number = await desk.ticket()
    page = await browser.signed_in(server, *AGENT)

    def open_panel_first():
        page.goto(desk.url(number))
        open_panel(page, "Status, priority and agent")
        return form_version(page, "properties-form")

    first_version = await browser.do(open_panel_first)
    ok(await desk.tickets.SetTicketProperties(*server.admin, number, strings("Priority=3")))

    def save_status():
        page.wait_for_function("() => document.querySelector('#properties-form input[name=version]').value !== %r"
                               % first_version, timeout=FOLLOW_MS)
        still_open = page.is_visible("#status_id")
        shown = page.eval_on_selector("#priority_id", "s => s.selectedOptions[0].textContent")
        page.select_option("#status_id", label="Waiting")
        submit(page, "#properties-form button[type=submit]")
        return still_open, shown, notice(page)

    still_open, shown, saved = await browser.do(save_status)
    assert still_open is True and shown == "High"
    assert saved == "Status and priority saved."
    info = await desk.info(number)
    assert info.Priority == 3 and info.IsActive is False  # admin's priority kept, alice's status saved

    ok(await desk.tickets.DeleteTicket(*server.admin, info.ID))

    def gone():
        page.wait_for_selector('[data-live="changes"] .notice.error', timeout=FOLLOW_MS)
        return page.text_content('[data-live="changes"]'), page.errors

    told, errors = await browser.do(gone)
    assert "This ticket was deleted, or moved where you cannot see it." in told
    assert errors == []


async def test_the_tree_is_beside_the_ticket_and_the_new_ticket_form(server, browser, desk):
    """Both pages are on the workspace base: the tree of lists with its
    counts, refreshed at the heartbeat, beside the page (below it on a phone)."""
    await short_heartbeat(server)
    number = await desk.ticket()
    page = await browser.signed_in(server, *AGENT)
    phone = await browser.signed_in(server, *AGENT, page=await browser.new_page(390, 844))

    def look():
        page.goto(desk.url(number))
        tree, main = page.locator("nav.tree").bounding_box(), page.locator(".workspace-main").bounding_box()
        active = page.text_content('nav.tree [data-count="group-1-active"]')
        page.goto(server.base_url + "/admin/tickets/new")
        on_new = page.is_visible("nav.tree") and page.is_visible("#new-ticket-form")
        phone.goto(desk.url(number))
        phone_tree = phone.locator("nav.tree").bounding_box()
        phone_subject = phone.locator("h1.ticket-subject").bounding_box()
        return tree, main, active, on_new, phone_tree, phone_subject

    tree, main, active, on_new, phone_tree, phone_subject = await browser.do(look)
    assert tree["x"] + tree["width"] <= main["x"]  # beside the ticket
    assert active == "1" and on_new is True
    assert phone_tree["y"] > phone_subject["y"]  # on a phone: the ticket first, then the tree
    await browser.do(lambda: page.goto(desk.url(number)))
    await desk.ticket(subject="Another one")

    def counted():
        # The open ticket's page counts the new ticket within a heartbeat.
        page.wait_for_function("() => document.querySelector('nav.tree [data-count=\"group-1-active\"]')"
                               ".textContent === '2'", timeout=FOLLOW_MS)
        return page.errors

    assert await browser.do(counted) == []


async def test_an_agent_outside_the_group_cannot_open_or_change_the_ticket(server, browser, desk):
    number = await desk.ticket()
    alice = await browser.signed_in(server, *AGENT)
    bob = await browser.signed_in(server, *desk.bob)

    def try_both():
        alice.goto(desk.url(number))
        form = alice.eval_on_selector("#note-form", "f => new FormData(f)")  # noqa: F841 - keeps the form shown
        csrf = bob.goto(server.base_url + "/admin/tickets/new") and bob.input_value("input[name=csrf_token]")
        response = bob.goto(desk.url(number))
        shown = response.status, bob.text_content("main")
        # A note posted straight to the action, with bob's own valid token.
        posted = bob.request.post(server.base_url + "/admin/tickets/note", form={
            "csrf_token": csrf, "number": number, "version": "", "note_type": "General", "note": "bob was here"})
        return shown, posted.status, posted.text()

    (status, text), post_status, post_text = await browser.do(try_both)
    assert status == 404 and "There is no ticket numbered %s that you can see." % number in text
    assert post_status == 404 and "that you can see" in post_text
    with server.runtime.db.transaction(writes=False) as session:
        assert session.scalars(select(TicketComment)).all() == []


HOSTILE = """<p>Hello <b>agent</b></p>
<script>window.pwned = 1</script>
<img src="x" onerror="window.pwned = 2">
<a id="evil" href="javascript:window.pwned = 3">click me</a>
<svg onload="window.pwned = 4"></svg>
<iframe srcdoc="<script>parent.pwned = 5</script>"></iframe>
<div onmouseover="window.pwned = 6" id="hover">hover me</div>
<img id="tracker" src="http://127.0.0.1:%d/pixel.png" alt="tracker">
"""


class Pixel(resource.Resource):
    """A loopback image server that counts who asked for the image."""

    isLeaf = True

    def __init__(self):
        super().__init__()
        self.requests = 0

    def render_GET(self, request):
        self.requests += 1
        request.setHeader(b"content-type", b"image/gif")
        return b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00" \
               b"\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"


async def test_hostile_html_is_inert_and_remote_images_wait_for_consent(server, browser, desk):
    pixel = Pixel()
    listening = reactor.listenTCP(0, web_server.Site(pixel), interface="127.0.0.1")
    pop = PopTestServer()
    pop.add_mailbox("support", "pw")
    pop.listen()
    try:
        add_pop_account(server.runtime, pop.port)
        pop.deliver("support", make_mail(sender="mallory@example.com", subject="Look at this",
                                         body="plain part", html=HOSTILE % listening.getHost().port))
        assert await download(server.runtime) == 1
        assert await import_all(server.runtime) == 1
        found = ok(await desk.tickets.GetTicketsBySearch(*server.admin, strings("EmailAddress=mallory@example.com")))
        number = found.Tickets.TicketInfo[0].TicketNumber
        page = await browser.signed_in(server, *AGENT)

        def look():
            page.goto(desk.url(number))
            page.wait_for_load_state("networkidle")
            page.click(".body-html a:text('click me')")
            page.hover(".body-html div:text('hover me')")
            page.wait_for_timeout(200)
            body = page.inner_html("article.entry .body-html")
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(ARTIFACTS.parent / "ticket-view-hostile.png"), full_page=True)
            return (page.evaluate("() => window.pwned === undefined && window.parent.pwned === undefined"), body,
                    page.text_content(".images-blocked"))

        inert, body, blocked = await browser.do(look)
        assert inert is True
        assert "Hello <b>agent</b>" in body and "<script" not in body and "onerror" not in body
        assert "javascript:" not in body and "iframe" not in body
        assert "1 remote image not loaded" in blocked
        assert pixel.requests == 0

        def consent():
            with page.expect_navigation():
                page.click(".images-blocked a")
            page.wait_for_load_state("networkidle")
            return page.evaluate("() => document.querySelector('.body-html img[alt=tracker]').naturalWidth"), \
                page.evaluate("() => window.pwned === undefined")

        width, still_inert = await browser.do(consent)
        assert pixel.requests == 1 and width == 1 and still_inert is True
    finally:
        pop.stop()
        await listening.stopListening()


async def test_uploads_keep_to_the_size_limit(make_config, start_server, browser):
    server = await start_server.started(make_config(max_attachment_size=2000))
    tickets = await server.client("svcTickets")
    number = ok(await tickets.CreateTicketFromCustomer(*server.admin, 1, "carol@example.com", "Logs", "See logs",
                                                       False, False)).RequestResult
    page = await browser.signed_in(server, *server.admin)
    bare = await browser.signed_in(server, *server.admin, page=await browser.new_page(javascript=False))

    # Every byte value, and what delimits a multipart body's parts: the file must come through unchanged.
    small = (b"\r\n--" + bytes(range(256)) + b"\r\n\r\n") * 5 + b"\r\n"

    def upload(target, name, size, data=None):
        target.goto(server.base_url + VIEW + number)
        if not target.is_visible("#attachment-file"):
            target.click("#attachments summary")
        target.set_input_files("#attachment-file", files=[{"name": name, "mimeType": "application/octet-stream",
                                                           "buffer": data or b"x" * size}])
        return target

    def within():
        upload(page, "small.log", 0, small)
        submit(page, "#attachment-form button[type=submit]")
        link = page.query_selector("#attachments ul.files a")
        download = page.request.get(server.base_url + link.get_attribute("href"))
        return notice(page), link.text_content(), download.status, download.body()

    done, name, status, data = await browser.do(within)
    assert done == "small.log uploaded (1,322 bytes)." and name == "small.log"
    assert status == 200 and data == small

    def over_in_browser():
        upload(page, "big.log", 2500)
        page.click("#attachment-form button[type=submit]")
        page.wait_for_timeout(200)
        return page.url, page.eval_on_selector("#attachment-file", "i => i.validationMessage")

    url, message = await browser.do(over_in_browser)
    assert url.endswith(VIEW + number)  # not sent
    assert message == "The file is 2,500 bytes; attachments may have at most 2,000 bytes."

    def over_without_javascript():
        upload(bare, "big.log", 2500)
        response = None
        with bare.expect_navigation() as navigation:
            bare.click("#attachment-form button[type=submit]")
        response = navigation.value
        return response.status, bare.text_content("#action-error"), bare.get_attribute("#attachments", "open")

    status, message, panel_open = await browser.do(over_without_javascript)
    assert status == 400
    assert message == "The file (2500 bytes) is larger than the largest attachment allowed (2000 bytes)."
    assert panel_open is not None
    with server.runtime.db.transaction(writes=False) as session:
        assert [a.file_name_original for a in session.scalars(select(TicketAttachment))] == ["small.log"]


async def test_a_change_made_meanwhile_is_not_overwritten(server, browser, desk):
    number = await desk.ticket()
    alice = await browser.signed_in(server, *AGENT)
    admin = await browser.signed_in(server, *server.admin)

    def race():
        alice.goto(desk.url(number))
        admin.goto(desk.url(number))
        admin.click("summary:text-is('Status, priority and agent')")
        admin.select_option("#priority_id", label="High")
        submit(admin, "#properties-form button[type=submit]")
        # Alice's page still shows the old ticket: her note is refused, and kept.
        alice.fill("#note-text", "Checked the toner.")
        with alice.expect_navigation() as navigation:
            alice.click("#note-form button[type=submit]")
        refused = (navigation.value.status, alice.text_content("#action-error"), alice.input_value("#note-text"),
                   alice.text_content(".ticket-facts"))
        # The page she now sees is current: the same note goes through.
        submit(alice, "#note-form button[type=submit]")
        return refused, notice(alice), entries(alice)

    refused, noted, after = await browser.do(race)
    status, message, kept, facts = refused
    assert status == 409
    assert message.startswith("Ticket %s was changed by admin meanwhile: Priority changed from Normal to High."
                              % number)
    assert kept == "Checked the toner."
    assert "High" in facts
    assert noted == "Note added." and "Checked the toner." in after[-1]
    with server.runtime.db.transaction(writes=False) as session:
        assert len(session.scalars(select(TicketComment)).all()) == 1


async def test_new_ticket_on_behalf_of_a_customer(server, browser, desk):
    page = await browser.signed_in(server, *AGENT)

    def create(email):
        page.goto(server.base_url + "/admin/tickets/new")
        page.fill("#email", email)
        page.fill("#subject", "Called about invoices")
        page.fill("#body", "Invoice 42 is twice in the mail.")
        page.eval_on_selector("#new-ticket-form", "f => { f.noValidate = true; }")  # the server's check, not the browser's
        with page.expect_navigation() as navigation:
            page.click("#new-ticket-form button.primary")
        error = page.query_selector("#create-error")
        return navigation.value.status, error.text_content() if error else notice(page), page.url, \
            page.input_value("#body") if error else ""

    status, message, _, kept = await browser.do(create, "not an address")
    assert status == 400 and "not an address" in message and kept == "Invoice 42 is twice in the mail."
    status, message, url, _ = await browser.do(create, "dave@example.com")
    number = url.rsplit("=", 1)[1]
    assert message == "Ticket %s created." % number
    info = await desk.info(number)
    assert info.Subject == "Called about invoices" and info.CustomerEmailAddress == "dave@example.com"


def define_fields(runtime) -> None:
    """Plan (a list) and Notes (required by agents to close) on the Support department's template."""
    from stws.domain.tickets import fields

    with runtime.db.transaction() as session:
        template = fields.create_template(session, "Support tickets")
        plan = fields.create_field(session, "Plan", "list", "Basic", ("Basic", "Pro"))
        notes = fields.create_field(session, "Notes", "textarea", "")
        fields.put_field_on_template(session, template.id, plan.id, 1)
        fields.put_field_on_template(session, template.id, notes.id, 2, required_by_agents_to_close=True)
        fields.set_department_template(session, 1, template.id)


def open_panel(page, title: str) -> None:
    summary = page.locator("aside summary", has_text=title)
    if summary.locator("xpath=..").get_attribute("open") is None:
        summary.click()


async def test_every_other_action_goes_through_the_soap_operations(server, browser, desk):
    from stws.db.models import TicketCustomValue, TimeLog

    define_fields(server.runtime)
    number = await desk.ticket()
    earlier = await desk.ticket(subject="Printer smells")
    ok(await desk.tickets.SetTicketProperties(*server.admin, number, strings("AgentID=0")))
    page = await browser.signed_in(server, *AGENT)

    def act(panel, fill, button):
        if panel:
            open_panel(page, panel)
        fill()
        submit(page, button)
        error = page.query_selector("#action-error")
        return error.text_content() if error else notice(page)

    def first_steps():
        page.goto(desk.url(number))
        seen = {"delete button": page.query_selector("button:text('Delete ticket')") is not None}
        seen["take"] = act("", lambda: None, "#take-form button")
        seen["agent"] = page.text_content(".ticket-agent")
        seen["properties"] = act("Status, priority and agent", lambda: (
            page.select_option("#status_id", label="Waiting"), page.select_option("#priority_id", label="High")),
            "#properties-form button")
        seen["close refused"] = act("Close", lambda: page.fill("#closing-comment", "Done."), "#close-form button")
        seen["close kept"] = page.input_value("#closing-comment")
        seen["fields"] = act("Custom fields", lambda: (page.select_option("label:text('Plan') + select", "Pro"),
                                                       page.fill("label:text('Notes') + textarea", "Replaced fuser.")),
                             "#custom-fields-form button")
        seen["follow-up"] = act("Follow-up", lambda: page.fill("#follow-up-comment", "Ask if it works."),
                                "#follow-up-form button")
        seen["follow-up shown"] = page.text_content(".ticket-follow-up")
        seen["time log"] = act("Time logs", lambda: page.check("input[name=billable]"), "#time-log-form button")
        seen["related"] = act("Related items", lambda: page.fill("#related-number", earlier), "#related-form button")
        seen["related shown"] = page.text_content("ul.related")
        # No delete button for agents, and the action itself refuses them.
        form = {name: page.input_value("#take-form input[name=%s]" % name) for name in ("csrf_token", "number",
                                                                                     "version", "id")}
        refused = page.request.post(server.base_url + "/admin/tickets/delete", form=form)
        seen["delete refused"] = refused.status, refused.text()
        page.goto(desk.url(number) + "&tab=communication")
        seen["others"] = page.inner_text("table.other-tickets")
        return seen

    seen = await browser.do(first_steps)
    assert seen["delete button"] is False  # agents do not delete
    assert seen["take"] == "Ticket assigned." and seen["agent"] == "Alice"
    assert seen["properties"] == "Status and priority saved."
    assert "Notes" in seen["close refused"] and seen["close kept"] == "Done."
    assert seen["fields"] == "Custom fields saved."
    assert seen["follow-up"].startswith("Follow-up set for ") and seen["follow-up shown"]
    assert seen["time log"] == "Time log added."
    assert seen["related"] == "Related item added." and earlier in seen["related shown"]
    assert earlier in seen["others"] and number not in seen["others"]
    assert seen["delete refused"][0] == 403 and "Manager" in seen["delete refused"][1]
    info = await desk.info(number)
    assert info.IdAgent == desk.alice_id and info.Priority == 3 and info.IsActive is False
    assert info.RequiresFollowUp is True and info.IsOpen is True
    with server.runtime.db.transaction(writes=False) as session:
        values = {row.field_id: row.value for row in session.scalars(select(TicketCustomValue))}
        assert sorted(values.values()) == ["Pro", "Replaced fuser."]
        (log,) = session.scalars(select(TimeLog)).all()
        assert log.is_billable and log.user_id == desk.alice_id
        assert (log.date_end_utc - log.date_start_utc).total_seconds() == 15 * 60

    admin = await browser.signed_in(server, *server.admin)

    def delete():
        admin.goto(desk.url(number))
        admin.once("dialog", lambda dialog: dialog.accept())
        submit(admin, "button:text('Delete ticket')")
        return notice(admin), admin.goto(desk.url(number)).status

    deleted, status_after = await browser.do(delete)
    assert deleted == "Ticket %s deleted." % number and status_after == 404
    assert (await desk.tickets.GetTicketInfoByTicketNumber(*server.admin, number)).Result is False


WIDE = ("<p>" + "unbroken" * 40 + "</p><table><tr>" + "<td>a wide cell of a table</td>" * 12 + "</tr></table>"
        "<pre>" + "a long preformatted line " * 12 + "</pre>")


async def test_the_page_fits_a_phone_and_every_control_is_named(server, browser, desk):
    number = await desk.ticket(subject="A mail wider than a phone", body=WIDE, is_html=True)
    page = await browser.signed_in(server, *AGENT, page=await browser.new_page(390, 844))

    def look():
        findings = {}
        for tab in ("conversation", "communication", "history"):
            page.goto(desk.url(number) + "&tab=" + tab)
            page.evaluate("() => document.querySelectorAll('details').forEach(d => d.open = true)")
            findings[tab] = page.evaluate(AUDIT)
        page.goto(desk.url(number))
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS.parent / "ticket-view-phone.png"), full_page=True)
        return findings, page.errors

    findings, errors = await browser.do(look)
    for tab, audit in findings.items():
        assert audit["unnamed"] == [], (tab, audit["unnamed"])
        assert audit["overflow"] <= 0, (tab, audit["overflow"])
    assert errors == []


async def test_communication_tab_shows_the_user_information_providers_answer(server, browser, desk, tmp_path):
    from test_external_providers import external
    from test_sample_provider import RunningProvider, write_config

    provider = RunningProvider(write_config(tmp_path))
    try:
        number = await desk.ticket(customer="alice@example.com")  # a customer the sample provider knows
        plain = await desk.ticket(customer="nobody@example.net")
        later = await desk.ticket(customer="mallory@spam.example")
        providers = await server.client("svcExternalProviders")
        ok(await providers.SetProviderSettings(*server.admin, strings(*external("UserInformation", provider.url))))
        page = await browser.signed_in(server, *AGENT)

        def communication(ticket):
            page.goto(desk.url(ticket) + "&tab=communication")
            table = page.query_selector("table.provider-pairs")
            return table.inner_text() if table else page.inner_text("main")

        known = await browser.do(lambda: communication(number))
        unknown = await browser.do(lambda: communication(plain))
        provider.stop()  # the provider goes away: the tab says so, the page still works
        gone = await browser.do(lambda: communication(number))
        failed = await browser.do(lambda: communication(later))
    finally:
        provider.stop()
    assert "Plan" in known and "Gold" in known and "Alice Example" in known
    assert "knows nothing about this customer" in unknown
    # Answers are kept a minute per customer: the cached one is still shown;
    # one not asked before shows why there is nothing, and the page works.
    assert "Gold" in gone
    assert "Provider" in failed and "Cannot connect to the user information provider" in failed
