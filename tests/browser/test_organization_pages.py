"""Organization > Brands, Departments, Groups and SMTP and POP accounts in a
real browser: what a page changes is what svcOrganization and svcSpool see,
because both run the same operations."""
from __future__ import annotations

import os

from browser.conftest import ARTIFACTS, submit
from conftest import strings

ORG = "/admin/organization"


def accept_confirmations(page):
    page.on("dialog", lambda dialog: dialog.accept())  # "Delete ...?"


def soap_properties(result) -> dict:
    assert result.Result, result.Message
    return dict(item.split("=", 1) for item in result.RequestResults.string)


def screenshots(page, name: str) -> None:
    """The page fits at 1280 px and at phone width (nothing wider than the
    screen); with STWS_TEST_SCREENSHOTS=1 it is kept at both widths, in
    test-artifacts/screenshots, for a person to look at."""
    for width, height, suffix in ((1280, 900, "1280"), (390, 844, "phone")):
        page.set_viewport_size({"width": width, "height": height})
        assert page.evaluate("document.documentElement.scrollWidth") <= width, (name, width)
        if os.environ.get("STWS_TEST_SCREENSHOTS"):
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / ("org-%s-%s.png" % (name, suffix))), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})


async def test_a_brand_created_edited_and_deleted(server, browser):
    page = await browser.signed_in(server, *server.admin)
    org = await server.client("svcOrganization")

    def create():
        accept_confirmations(page)
        page.goto(server.base_url + ORG + "/brands")
        page.fill("#Name", "Second brand")
        page.fill("#HostHeader", "second.example.com")
        submit(page, "text=Create brand")
        return page.text_content("main .notice"), page.text_content("main table")

    notice, table = await browser.do(create)
    assert "Second brand is created" in notice and "second.example.com" in table
    brands = {b.Name: b for b in (await org.GetAllBrands(*server.admin)).Brands.BrandInfo}
    brand_id = brands["Second brand"].ID
    assert brands["Second brand"].HostHeader == "second.example.com"

    def edit():
        page.click("a[aria-label='Edit Second brand']")
        page.fill("#Name", "Renamed brand")
        page.check("#IsDefault")
        submit(page, "main form[action$='/brands/update'] button[type=submit]")
        notice = page.text_content("main .notice")
        screenshots(page, "brand")
        return notice

    assert "Renamed brand is saved" in await browser.do(edit)
    brands = {b.ID: b for b in (await org.GetAllBrands(*server.admin)).Brands.BrandInfo}
    assert brands[brand_id].Name == "Renamed brand" and brands[brand_id].IsDefault

    def delete(label):
        page.goto(server.base_url + ORG + "/brands")
        submit(page, "button[aria-label='Delete brand %s']" % label)
        return page.text_content("main .notice"), page.get_attribute("main .notice", "class")

    # The default brand is refused with the operation's Message.
    notice, kind = await browser.do(delete, "Renamed brand")
    assert "default brand" in notice and "error" in kind
    original = next(b for b in brands.values() if b.ID != brand_id)
    assert (await org.UpdateBrand(*server.admin, original.ID, original.Name, original.HostHeader, True)).Result
    notice, kind = await browser.do(delete, "Renamed brand")
    assert notice == "The brand is deleted." and "error" not in kind
    assert brand_id not in [b.ID for b in (await org.GetAllBrands(*server.admin)).Brands.BrandInfo]


async def test_a_hostile_brand_name_is_shown_as_text(server, browser):
    org = await server.client("svcOrganization")
    hostile = "<script>window.pwned=1</script><b>bold</b>"
    assert (await org.CreateBrand(*server.admin, hostile, "")).Result
    page = await browser.signed_in(server, *server.admin)

    def look():
        page.goto(server.base_url + ORG + "/brands")
        screenshots(page, "brands")
        cell = page.text_content("main table tbody tr:nth-child(2) td:first-child")
        page.click("main table tbody tr:nth-child(2) td:first-child a")
        return cell, page.text_content("h1"), page.evaluate("window.pwned === undefined"), page.content()

    cell, heading, safe, html = await browser.do(look)
    assert cell == hostile and heading == "Brand " + hostile and safe
    assert "<b>bold</b>" not in html and "&lt;script&gt;" in html
    assert page.errors == []  # nothing refused by the CSP, no script error


async def test_a_department_setting_saved_and_a_bad_value_refused_beside_its_field(server, browser):
    page = await browser.signed_in(server, *server.admin)
    org = await server.client("svcOrganization")

    def save(hours, responder_subject):
        page.goto(server.base_url + ORG + "/departments")
        screenshots(page, "departments")
        page.click("main table tbody tr:first-child td:first-child a")
        page.check("#AutoCloseEnabled")
        page.fill("#AutoCloseHours", hours)
        page.fill("#AutoResponderSubject", responder_subject)
        with page.expect_navigation():
            page.click("main form[action$='/departments/update'] button[type=submit]")
        problem = page.locator("#AutoCloseHours-problem")
        return (page.text_content("main .notice"), problem.text_content() if problem.count() else None,
                page.get_attribute("#AutoCloseHours", "aria-invalid"), page.input_value("#AutoCloseHours"),
                page.input_value("#AutoResponderSubject"))

    notice, problem, invalid, shown, _ = await browser.do(save, "36", "We have your ticket")
    assert "is saved" in notice and problem is None and invalid is None and shown == "36"
    props = soap_properties(await org.GetDepartmentProperties(*server.admin, 1, strings()))
    assert props["AutoCloseEnabled"] == "true" and props["AutoCloseHours"] == "36"
    assert props["AutoResponderSubject"] == "We have your ticket"

    notice, problem, invalid, shown, subject = await browser.do(save, "abc", "Changed subject")
    assert "Nothing was changed" in notice and "whole number" in problem and invalid == "true"
    assert shown == "abc" and subject == "Changed subject"  # what was typed stays for correcting
    props = soap_properties(await org.GetDepartmentProperties(*server.admin, 1, strings()))
    assert props["AutoCloseHours"] == "36" and props["AutoResponderSubject"] == "We have your ticket"

    def screens():
        screenshots(page, "department")
    await browser.do(screens)


async def test_a_department_sends_through_its_smtp_account_which_is_then_in_use(server, browser):
    spool = await server.client("svcSpool")
    created = await spool.CreateSmtpAccount(*server.admin, "Support relay", "smtp.example.com", 25, "none", False,
                                            "", "", "", "", False)
    assert created.Result, created.Message
    page = await browser.signed_in(server, *server.admin)

    def choose():
        accept_confirmations(page)
        page.goto(server.base_url + ORG + "/departments/edit?id=1")
        page.select_option("#SmtpAccountID", str(created.RequestResult))
        submit(page, "text=Save SMTP account")
        return page.text_content("main .notice"), page.input_value("#SmtpAccountID")

    notice, chosen = await browser.do(choose)
    assert "SMTP account is saved" in notice and chosen == str(created.RequestResult)

    def delete_account():
        page.goto(server.base_url + ORG + "/mail-accounts")
        submit(page, "button[aria-label='Delete SMTP account Support relay']")
        return page.text_content("main .notice.error"), page.text_content("main table")

    refusal, table = await browser.do(delete_account)
    assert "used by department 'Support'" in refusal and "Support relay" in table


async def test_a_group_created_and_an_agent_added_changed_and_removed(server, browser):
    org = await server.client("svcOrganization")
    agent_id = (await org.CreateUser(*server.admin, "agnes", "agnes-passw0rd", "agnes@example.com", True,
                                     "Agnes Agent")).RequestResult
    assert (await org.SetUsersProperties(*server.admin, agent_id, strings("Roles=Agent"))).Result
    page = await browser.signed_in(server, *server.admin)

    def create_and_add():
        accept_confirmations(page)
        page.goto(server.base_url + ORG + "/groups")
        screenshots(page, "groups")
        page.select_option("#DepartmentID", "1")
        page.fill("#Name", "Escalations")
        page.fill("#Description", "Second level")
        submit(page, "text=Create group")
        created = page.text_content("main .notice")
        page.select_option("#new-agent", str(agent_id))
        page.select_option("#new-mode", "primary")
        page.fill("#new-max", "5")
        submit(page, "text=Add agent")
        return created, page.text_content("main .notice"), page.url

    created, added, url = await browser.do(create_and_add)
    assert "Escalations is created" in created and "membership is saved" in added
    group_id = int(url.rsplit("id=", 1)[1])
    agents = (await org.GetAgentsForGroup(*server.admin, group_id)).Agents.AgentInfo
    assert [(a.UserName, a.DistributionMode, a.MaxTicketsEnabled, a.MaxTickets) for a in agents] == [
        ("agnes", "primary", True, 5)]

    def change():
        page.select_option("select[aria-label='Distribution of agnes']", "queue")
        page.fill("input[aria-label^='Max tickets of agnes']", "")
        submit(page, "button[aria-label='Save agnes']")
        screenshots(page, "group")
        return page.text_content("main .notice")

    assert "membership is saved" in await browser.do(change)
    agents = (await org.GetAgentsForGroup(*server.admin, group_id)).Agents.AgentInfo
    assert [(a.DistributionMode, a.MaxTicketsEnabled) for a in agents] == [("queue", False)]

    def remove():
        submit(page, "button[aria-label='Remove agnes']")
        return page.text_content("main .notice"), page.text_content("main")

    notice, text = await browser.do(remove)
    assert "removed from the group" in notice and "No agent is in this group yet." in text
    assert not (await org.GetAgentsForGroup(*server.admin, group_id)).Agents


async def test_an_smtp_account_password_is_write_only(server, browser):
    page = await browser.signed_in(server, *server.admin)
    spool = await server.client("svcSpool")
    secret = "s3cret-Sm7p-pw"

    async def accounts():
        result = await spool.GetSmtpAccounts(*server.admin)
        return {a.Name: a for a in (result.Accounts.SmtpAccountInfo if result.Accounts else [])}

    def create():
        accept_confirmations(page)
        page.goto(server.base_url + ORG + "/mail-accounts")
        page.click("text=New SMTP account")
        page.fill("#Name", "Relay")
        page.fill("#Server", "smtp.example.com")
        page.fill("#Username", "mailer")
        page.fill("#Password", secret)
        page.fill("#FromAddress", "help@example.com")
        submit(page, "text=Create account")
        notice, listing = page.text_content("main .notice"), page.content()
        page.click("a[aria-label='Edit SMTP account Relay']")
        return notice, listing, page.content(), page.text_content("#Password-help")

    notice, listing, edit_html, help_text = await browser.do(create)
    assert "Relay is created" in notice and "A password is set" in listing
    assert secret not in listing and secret not in edit_html and "A password is set" in help_text
    relay = (await accounts())["Relay"]
    assert relay.HasPassword and relay.Port == 587

    def edit():
        screenshots(page, "smtp-account")
        page.fill("#Port", "2525")
        submit(page, "main form[action$='/smtp/update'] button[type=submit]")
        screenshots(page, "mail-accounts")
        return page.text_content("main .notice")

    assert "Relay is saved" in await browser.do(edit)
    relay = (await accounts())["Relay"]
    assert relay.Port == 2525 and relay.HasPassword  # the password is kept

    def delete():
        submit(page, "button[aria-label='Delete SMTP account Relay']")
        return page.text_content("main .notice")

    assert "deleted" in await browser.do(delete)
    assert await accounts() == {}


async def test_a_pop_account_password_is_write_only(server, browser):
    page = await browser.signed_in(server, *server.admin)
    spool = await server.client("svcSpool")
    secret = "p0p-s3cret-pw"

    async def account():
        result = await spool.GetPopAccounts(*server.admin)
        listed = result.Accounts.PopAccountInfo if result.Accounts else []
        return listed[0] if listed else None

    def create():
        accept_confirmations(page)
        page.goto(server.base_url + ORG + "/mail-accounts")
        page.click("text=New POP account")
        page.select_option("#DepartmentId", "1")
        page.fill("#EmailAddress", "support@helpdesk.example")
        page.fill("#Server", "pop.example.com")
        page.fill("#Username", "support")
        page.fill("#Password", secret)
        page.fill("#ImportFrequencyMinutes", "often")
        submit(page, "text=Create account")
        refused = (page.text_content("#ImportFrequencyMinutes-problem"), page.content(),
                   page.text_content("#Password-help"))
        screenshots(page, "pop-account-refused")
        page.fill("#ImportFrequencyMinutes", "10")
        page.fill("#Password", secret)  # never given back: typed again
        submit(page, "text=Create account")
        listing = page.content()
        page.click("a[aria-label='Edit POP account support@helpdesk.example']")
        return refused, listing, page.content()

    (problem, refused_html, password_help), listing, edit_html = await browser.do(create)
    assert "whole number" in problem and secret not in refused_html and "again" in password_help
    assert "A password is set" in listing and secret not in listing and secret not in edit_html
    created = await account()
    assert created.HasPassword and created.ImportFrequencyMinutes == 10 and created.DepartmentId == 1

    def edit():
        page.uncheck("#LeaveOnServer")
        page.select_option("#NewTicketRestriction", "registered")
        submit(page, "main form[action$='/pop/update'] button[type=submit]")
        return page.text_content("main .notice")

    assert "is saved" in await browser.do(edit)
    edited = await account()
    assert edited.NewTicketRestriction == "registered" and edited.HasPassword  # the password is kept

    def delete():
        submit(page, "button[aria-label='Delete POP account support@helpdesk.example']")
        return page.text_content("main .notice")

    assert "deleted" in await browser.do(delete)
    assert await account() is None


async def test_a_refused_form_keeps_what_was_typed_and_says_why(server, browser):
    page = await browser.signed_in(server, *server.admin)

    def create_twice():
        page.goto(server.base_url + ORG + "/brands")
        page.fill("#Name", "default")  # the seeded brand is "Default": names are unique in any case
        page.fill("#HostHeader", "typed.example.com")
        with page.expect_navigation():
            page.click("text=Create brand")
        return page.text_content("main .notice.error"), page.input_value("#HostHeader")

    message, kept = await browser.do(create_twice)
    assert "exists already" in message and kept == "typed.example.com"


async def test_an_agent_is_refused_the_organization_pages(server, browser):
    org = await server.client("svcOrganization")
    agent_id = (await org.CreateUser(*server.admin, "agnes", "agnes-passw0rd", "agnes@example.com", True,
                                     "Agnes Agent")).RequestResult
    assert (await org.SetUsersProperties(*server.admin, agent_id, strings("Roles=Agent"))).Result
    page = await browser.signed_in(server, "agnes", "agnes-passw0rd")

    def visit(path):
        response = page.goto(server.base_url + ORG + path)
        return response.status, page.text_content("main")

    for path in ("/brands", "/departments/edit?id=1", "/groups", "/mail-accounts"):
        status, text = await browser.do(visit, path)
        assert status == 403 and "for administrators" in text, path
