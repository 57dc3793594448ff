"""Organization > Users in a real browser: what the page does is what
svcOrganization sees (both run stws.operations.organization), refusals show
the operation's Message, and every action works without JavaScript."""
from __future__ import annotations

import os
from urllib.parse import urlencode

import pytest_twisted
from twisted.internet import threads

from browser.conftest import ARTIFACTS, submit
from conftest import strings
from stws.errors import ResultCode
from stws.operations import organization as ops
from stws.operations.runner import PasswordCredentials, authenticate, run

USERS = "/admin/organization/users"
PASSWORD = "user-Passw0rd!"
HOSTILE = '<script>window.pwned = 1</script><img src=x onerror="window.pwned = 2">'


@pytest_twisted.async_fixture
async def org(server):
    return await server.client("svcOrganization")


async def new_user(server, org, name: str, roles: str = "Agent", display_name: str | None = None) -> int:
    created = await org.CreateUser(*server.admin, name, PASSWORD, "%s@example.com" % name, True,
                                   display_name or name.title())
    assert created.Result, created.Message
    if roles:
        changed = await org.SetUsersProperties(*server.admin, created.RequestResult, strings("Roles=%s" % roles))
        assert changed.Result, changed.Message
    return created.RequestResult


async def properties(server, org, user_id: int) -> dict:
    items = (await org.GetUsersProperties(*server.admin, user_id, strings())).RequestResults.string
    return dict(item.partition("=")[::2] for item in items)


def edit_url(server, user_id: int) -> str:
    return "%s%s/edit?id=%d" % (server.base_url, USERS, user_id)


def answer_confirm(page, accept: bool) -> list:
    """Answer the next confirm() pop-up; the list gets its question."""
    asked = []

    def on_dialog(dialog):
        asked.append(dialog.message)
        dialog.accept() if accept else dialog.dismiss()
    page.once("dialog", on_dialog)
    return asked


async def page_without_javascript(browser, server):
    """A signed-in admin page in a context that runs no script at all."""

    return await browser.signed_in(server, *server.admin, page=await browser.new_page(javascript=False))


# ------------------------------------------------------------------ create


async def test_a_user_created_with_a_role_is_seen_over_soap_and_signs_in_with_it(server, browser, org):
    page = await browser.signed_in(server, *server.admin)

    def create():
        page.goto(server.base_url + USERS)
        page.click("text=New user")
        page.fill("#UserName", "nora")
        page.fill("#Password", PASSWORD)
        page.fill("#Email", "nora@example.com")
        page.check("#IsEmailVerified")
        page.fill("#DisplayName", "Nora North")
        page.check("input[name=Roles][value=Agent]")
        submit(page, "text=Create user")
        return page.url, page.text_content("main .notice"), page.text_content("h1")

    url, notice, heading = await browser.do(create)
    assert "/organization/users/edit?id=" in url and notice == "The user nora is created." and heading == "nora"
    user_id = int(url.rsplit("=", 1)[1])
    user = (await org.GetUser(*server.admin, user_id)).User
    assert (user.UserName, user.DisplayName, user.EmailAddress, user.IsAgent) == (
        "nora", "Nora North", "nora@example.com", True)
    assert sorted(user.Roles.string) == ["Agent", "Everyone"]
    saved = await properties(server, org, user_id)
    assert saved["IsEmailVerified"] == "true" and saved["Roles"] == "Agent,Everyone"

    # Nora signs in with her role: an agent's navigation, no settings.
    nora = await browser.signed_in(server, "nora", PASSWORD)
    navigation = await browser.do(lambda: nora.text_content("nav.side"))
    assert "Change password" in navigation and "Users" not in navigation
    assert page.errors == [] and nora.errors == []


async def test_bad_input_is_shown_beside_its_field_and_nothing_is_created(server, browser, org):
    page = await browser.signed_in(server, *server.admin)

    def create_bad():
        page.goto(server.base_url + USERS + "/new")
        page.fill("#UserName", "has space")
        page.fill("#Password", "short")
        page.fill("#Email", "not-an-email")
        page.fill("#DisplayName", "Kept As Typed")
        page.check("input[name=Roles][value=Manager]")
        with page.expect_navigation() as navigation:
            page.click("text=Create user")
        return (navigation.value.status, page.text_content("#UserName-problem"),
                page.text_content("#Password-problem"), page.text_content("#Email-problem"),
                page.get_attribute("#UserName", "aria-invalid"), page.get_attribute("#UserName", "aria-describedby"),
                page.input_value("#UserName"), page.input_value("#DisplayName"), page.input_value("#Password"),
                page.is_checked("input[name=Roles][value=Manager]"), page.is_visible("#DisplayName-problem"))

    (status, user_name, password, email, invalid, described, kept_name, kept_display, password_kept, role_kept,
     display_problem) = await browser.do(create_bad)
    assert status == 400
    assert "may only contain" in user_name and "at least 8" in password and "not a valid email" in email
    assert invalid == "true" and "UserName-problem" in described
    assert (kept_name, kept_display, role_kept) == ("has space", "Kept As Typed", True)
    assert password_kept == "" and not display_problem  # a password is never sent back

    # A user name that is taken: told beside the user name, as CreateUser says it over SOAP.
    await new_user(server, org, "taken")

    def create_taken():
        page.fill("#UserName", "TAKEN")
        page.fill("#Password", PASSWORD)
        page.fill("#Email", "t2@example.com")
        submit(page, "text=Create user")
        return page.text_content("#UserName-problem")

    assert "is taken" in await browser.do(create_taken)
    admin = await threads.deferToThread(authenticate, server.runtime, PasswordCredentials(*server.admin))
    for text in ("has space", "Kept As Typed", "t2@example.com"):
        found = await threads.deferToThread(run, server.runtime, ops.list_users, admin, (text, "", 0, 10))
        assert found.total == 0



# ------------------------------------------------------------------ list


async def test_search_role_filter_and_paging(server, browser, org):
    admin = await threads.deferToThread(authenticate, server.runtime, PasswordCredentials(*server.admin))

    def make_sixty():
        for n in range(60):
            user_id = run(server.runtime, ops.create_user, admin, ("pager%02d" % n, PASSWORD, "p%02d@paging.test" % n,
                                                                   True, "Pager Number %02d" % n))
            if n % 20 == 0:
                run(server.runtime, ops.set_user_properties, admin, (user_id, ["Roles=Manager"]))

    await threads.deferToThread(make_sixty)
    page = await browser.signed_in(server, *server.admin)

    def names():
        return page.locator("table.users tbody tr td:first-child").all_text_contents()

    def walk():
        page.goto(server.base_url + USERS)
        seen = [(page.text_content(".pager span"), names())]
        page.click(".pager >> nth=0 >> text=Next")
        page.wait_for_url("**page=2")
        seen.append((page.text_content(".pager span"), names()))
        page.click(".pager >> nth=0 >> text=Next")
        page.wait_for_url("**page=3")
        seen.append((page.text_content(".pager span"), names(), page.locator(".pager >> text=Next").count()))
        page.click(".pager >> nth=0 >> text=Previous")
        page.wait_for_url("**page=2")
        return seen

    first, second, third = await browser.do(walk)
    assert first[0] == "1–25 of 61" and first[1][:2] == ["admin", "pager00"] and len(first[1]) == 25
    assert second[0] == "26–50 of 61" and second[1][0] == "pager24"
    assert third[0] == "51–61 of 61" and third[1][-1] == "pager59" and third[2] == 0

    def search(text, role=""):
        page.goto(server.base_url + USERS)
        page.fill("#q", text)
        page.select_option("#role", role)
        with page.expect_navigation():
            page.press("#q", "Enter")  # the keyboard alone searches
        pager = page.locator(".pager span")
        return (pager.first.text_content() if pager.count() else page.text_content("main .empty")), names()

    assert await browser.do(search, "PAGER1") == ("1–10 of 10", ["pager%02d" % n for n in range(10, 20)])
    assert (await browser.do(search, "number 07"))[1] == ["pager07"]  # display name
    assert (await browser.do(search, "p42@paging"))[1] == ["pager42"]  # email
    assert await browser.do(search, "pager", "Manager") == ("1–3 of 3", ["pager00", "pager20", "pager40"])
    empty, rows = await browser.do(search, "nobody-like-this")
    assert rows == [] and "No user matches “nobody-like-this”" in empty and "Show all users" in empty

    # Search and filter stay in the paging links.
    def filtered_paging():
        page.goto(server.base_url + USERS + "?q=paging.test&role=")
        page.click(".pager >> nth=0 >> text=Next")
        page.wait_for_url("**page=2")
        return page.url, page.input_value("#q"), page.text_content(".pager span")

    url, kept, pager = await browser.do(filtered_paging)
    assert "q=paging.test" in url and kept == "paging.test" and pager == "26–50 of 60"

    assert page.errors == []

    def unknown_role():
        response = page.goto(server.base_url + USERS + "?role=Wizard")
        return response.status, page.text_content("main .notice.error")

    status, message = await browser.do(unknown_role)
    assert status == 400 and "no role named 'Wizard'" in message


# ------------------------------------------------------------------ edit


async def test_properties_edited_in_the_page_are_seen_over_soap_and_the_new_password_signs_in(server, browser, org):
    user_id = await new_user(server, org, "edna")
    page = await browser.signed_in(server, *server.admin)

    def edit():
        page.goto(edit_url(server, user_id))
        facts = page.locator("dl.facts dd").all_text_contents()
        page.fill("#Email", "edna@new.example")
        page.fill("#DisplayName", "Edna Edited")
        page.fill("#TimeZone", "Europe/Berlin")
        page.fill("#AuthenticationDomain", "corp")
        page.fill("#Signature", "Regards,\nEdna")
        page.uncheck("#IsEmailVerified")
        page.fill("#Password", "edna-New-passw0rd")
        page.check("input[name=Roles][value=Manager]")
        submit(page, "text=Save")
        return facts, page.text_content("main .notice"), page.input_value("#Password"), page.input_value("#DisplayName")

    facts, notice, password_shown, display = await browser.do(edit)
    assert facts[0] == str(user_id) and facts[2:] == ["never", "Yes", "Allowed"]  # ID, created, last login, agent, sign-in
    assert notice.startswith("Saved: ") and "Password" in notice and "Roles" in notice
    assert password_shown == "" and display == "Edna Edited"
    saved = await properties(server, org, user_id)
    assert {k: saved[k] for k in ("Email", "DisplayName", "TimeZone", "AuthenticationDomain", "Signature",
                                  "IsEmailVerified", "Roles")} == {
        "Email": "edna@new.example", "DisplayName": "Edna Edited", "TimeZone": "Europe/Berlin",
        "AuthenticationDomain": "corp", "Signature": "Regards,\nEdna", "IsEmailVerified": "false",
        "Roles": "Agent,Everyone,Manager"}
    assert (await org.GetAllAgents("edna", "edna-New-passw0rd")).Result
    assert (await org.GetAllAgents("edna", PASSWORD)).ResultCode == int(ResultCode.AUTHENTICATION_FAILED)
    await browser.signed_in(server, "edna", "edna-New-passw0rd")

    # Saved again unchanged: nothing is sent, nothing changes.
    def save_unchanged():
        page.goto(edit_url(server, user_id))
        submit(page, "text=Save")
        return page.text_content("main .notice")

    assert "Nothing was changed" in await browser.do(save_unchanged)


async def test_a_bad_property_is_shown_beside_its_field_and_nothing_is_saved(server, browser, org):
    user_id = await new_user(server, org, "fred")
    page = await browser.signed_in(server, *server.admin)

    def save_bad():
        page.goto(edit_url(server, user_id))
        page.fill("#DisplayName", "Fred Changed")
        page.fill("#TimeZone", "Mars/Olympus")
        page.fill("#Email", "nope")
        page.fill("#Password", "short")
        with page.expect_navigation() as navigation:
            page.click("text=Save")
        return (navigation.value.status, page.text_content("#TimeZone-problem"), page.text_content("#Email-problem"),
                page.text_content("#Password-problem"), page.text_content("main .notice.error"),
                page.input_value("#DisplayName"), page.input_value("#TimeZone"), page.input_value("#Password"))

    status, zone, email, password, message, display, typed_zone, password_shown = await browser.do(save_bad)
    assert status == 400 and "not a time zone" in zone and "not a valid email" in email and "at least 8" in password
    assert message.startswith("Nothing was changed.")
    assert (display, typed_zone, password_shown) == ("Fred Changed", "Mars/Olympus", "")
    saved = await properties(server, org, user_id)
    assert (saved["DisplayName"], saved["TimeZone"], saved["Email"]) == ("Fred", "UTC", "fred@example.com")
    assert (await org.GetAllAgents("fred", PASSWORD)).Result


async def test_an_administrator_cannot_lock_delete_or_demote_their_own_account(server, browser, org):
    admin_id = (await org.GetUserByUsername(*server.admin, "admin")).User.ID
    page = await browser.signed_in(server, *server.admin)

    def press(selector):
        page.goto(edit_url(server, admin_id))
        answer_confirm(page, accept=True)
        submit(page, selector)
        return page.url, page.text_content("main .notice.error")

    url, message = await browser.do(press, "button[value=lock]")
    assert url == edit_url(server, admin_id) and message == "You cannot lock the account you are calling with."
    url, message = await browser.do(press, "text=Delete user")
    assert url == edit_url(server, admin_id) and message == "You cannot delete the account you are calling with."

    def demote():
        page.goto(edit_url(server, admin_id))
        page.uncheck("input[name=Roles][value=Administrator]")
        with page.expect_navigation():
            page.click("text=Save")
        return page.text_content("main .notice.error"), page.is_checked("input[name=Roles][value=Administrator]")

    message, still_ticked = await browser.do(demote)
    assert "cannot remove the Administrator role" in message and not still_ticked  # as the admin left the form
    admin = (await org.GetUser(*server.admin, admin_id)).User
    assert admin.IsLockedOut is False and "Administrator" in admin.Roles.string


# ------------------------------------------------------------------ lock, delete


async def test_lock_ends_the_users_session_and_soap_calls_until_unlocked(server, browser, org):
    user_id = await new_user(server, org, "lou")
    lou = await browser.signed_in(server, "lou", PASSWORD)
    page = await browser.signed_in(server, *server.admin)

    def press(action):
        page.goto(edit_url(server, user_id))
        asked = answer_confirm(page, accept=True)
        submit(page, "button[value=%s]" % action)
        return page.text_content("main .notice"), page.text_content("dl.facts"), asked

    notice, facts, asked = await browser.do(press, "lock")
    assert notice == "lou is locked: their sessions have ended and they cannot sign in."
    assert "Locked by an administrator" in facts and asked and "Lock lou?" in asked[0]

    def lou_reloads():
        lou.goto(server.base_url + "/admin/")
        return lou.url, lou.text_content("main")

    url, text = await browser.do(lou_reloads)
    assert "/admin/signin" in url and "session has ended" in text
    refused = await org.GetAllAgents("lou", PASSWORD)
    assert refused.Result is False and refused.ResultCode == int(ResultCode.ACCOUNT_LOCKED)

    def listed():
        page.goto(server.base_url + USERS + "?q=lou")
        return page.text_content("table.users tbody td:nth-child(5)")

    assert await browser.do(listed) == "Locked"
    notice, facts, asked = await browser.do(press, "unlock")
    assert notice == "lou is unlocked and can sign in again." and "Allowed" in facts and asked == []
    assert (await org.GetAllAgents("lou", PASSWORD)).Result
    await browser.signed_in(server, "lou", PASSWORD, page=lou)


async def test_delete_asks_first_and_does_nothing_when_dismissed(server, browser, org):
    user_id = await new_user(server, org, "dora")
    page = await browser.signed_in(server, *server.admin)

    def delete(accept):
        page.goto(edit_url(server, user_id))
        asked = answer_confirm(page, accept)
        if accept:
            submit(page, "text=Delete user")
        else:
            page.click("text=Delete user")
        return asked, page.url, page.text_content("main")

    asked, url, _ = await browser.do(delete, False)
    assert "Delete the user dora?" in asked[0] and url == edit_url(server, user_id)
    assert (await org.GetUser(*server.admin, user_id)).Result
    asked, url, text = await browser.do(delete, True)
    assert url == server.base_url + USERS and "The user dora is deleted." in text and "dora@" not in text
    gone = await org.GetUser(*server.admin, user_id)
    assert gone.Result is False and gone.ResultCode == int(ResultCode.NOT_FOUND)


async def test_every_action_works_without_javascript(server, browser, org):
    page = await page_without_javascript(browser, server)

    def create_lock_unlock_delete():
        page.goto(server.base_url + USERS + "/new")
        page.fill("#UserName", "nojs")
        page.fill("#Password", PASSWORD)
        page.fill("#Email", "nojs@example.com")
        page.check("input[name=Roles][value=Agent]")
        submit(page, "text=Create user")
        notices = [page.text_content("main .notice")]
        page.fill("#DisplayName", "No Script")
        submit(page, "text=Save")
        notices.append(page.text_content("main .notice"))
        for selector in ("button[value=lock]", "button[value=unlock]", "text=Delete user"):
            submit(page, selector)  # no confirm() without script: the form posts at once
            notices.append(page.text_content("main .notice"))
        page.goto(server.base_url + USERS + "?q=nojs")
        notices.append(page.text_content("main .empty"))
        return notices

    notices = await browser.do(create_lock_unlock_delete)
    assert notices[:2] == ["The user nojs is created.", "Saved: DisplayName."]
    assert "is locked" in notices[2] and "is unlocked" in notices[3] and notices[4] == "The user nojs is deleted."
    assert "No user matches" in notices[5]


# ------------------------------------------------------------------ safety


async def test_a_hostile_display_name_is_shown_as_text_and_runs_no_script(server, browser, org):
    user_id = await new_user(server, org, "mallory", display_name=HOSTILE)
    page = await browser.signed_in(server, *server.admin)

    def look():
        page.goto(server.base_url + USERS + "?q=mallory")
        listed = page.text_content("table.users tbody td:nth-child(2)")
        page.goto(edit_url(server, user_id))
        in_form = page.input_value("#DisplayName")
        # A hostile search is echoed as text too.
        page.goto(server.base_url + USERS + "?" + urlencode({"q": HOSTILE + " nobody"}))
        echoed = page.text_content("main .empty")
        return listed, in_form, echoed, page.evaluate("window.pwned === undefined"), page.errors

    listed, in_form, echoed, safe, errors = await browser.do(look)
    assert listed == HOSTILE and in_form == HOSTILE and HOSTILE + " nobody" in echoed
    assert safe and errors == []  # nothing ran, and the CSP had nothing to refuse

    # Typed into the new user form and shown back after a refusal: still text.
    def typed():
        page.goto(server.base_url + USERS + "/new")
        page.fill("#UserName", "bad name")
        page.fill("#DisplayName", HOSTILE)
        with page.expect_navigation():
            page.click("text=Create user")
        return page.input_value("#DisplayName"), page.evaluate("window.pwned === undefined")

    assert await browser.do(typed) == (HOSTILE, True)


async def test_an_agent_opening_the_pages_by_url_is_refused(server, browser, org):
    await new_user(server, org, "agnes")
    page = await browser.signed_in(server, "agnes", PASSWORD)

    def visit():
        seen = []
        for path in ("", "/new", "/edit?id=1"):
            response = page.goto(server.base_url + USERS + path)
            seen.append((response.status, page.text_content("main .notice.error")))
        return seen

    for status, message in await browser.do(visit):
        assert status == 403 and "for administrators" in message

    def forge_delete():
        token = page.get_attribute("form[action$='/signout'] input[name=csrf_token]", "value")
        response = page.request.post(server.base_url + USERS + "/delete", form={"id": "1", "csrf_token": token})
        return response.status

    assert await browser.do(forge_delete) == 403
    assert (await org.GetUser(*server.admin, 1)).Result


# ------------------------------------------------------------------ looks


async def test_list_and_forms_fit_a_wide_screen_and_a_phone(server, browser, org):
    """Nothing is wider than the screen at 1280 px or at phone width (a
    table's rows become cards); with STWS_TEST_SCREENSHOTS=1 each page is
    kept, as test-artifacts/screenshots/users-*.png, for a person to look at."""
    user_id = await new_user(server, org, "wendy", "Agent,Manager", display_name="Wendy Wide-Name Whitfield")
    await new_user(server, org, "locked.customer", "", display_name="Lou Locked")
    admin = await threads.deferToThread(authenticate, server.runtime, PasswordCredentials(*server.admin))
    locked = (await org.GetUserByUsername(*server.admin, "locked.customer")).User.ID
    await threads.deferToThread(run, server.runtime, ops.set_user_locked_out, admin, (locked, True))
    for n in range(24):  # a second page, for its paging links
        await threads.deferToThread(run, server.runtime, ops.create_user, admin,
                                    ("filler%02d" % n, PASSWORD, "filler%02d@example.com" % n, False, ""))
    keep = bool(os.environ.get("STWS_TEST_SCREENSHOTS"))
    if keep:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shown = {}
    for name, width, height in (("wide", 1280, 900), ("phone", 390, 844)):
        page = await browser.new_page(width, height)
        await browser.signed_in(server, *server.admin, page=page)

        def shoot():
            sideways = []
            for what, url in (("list", server.base_url + USERS + "?page=2"), ("edit", edit_url(server, user_id)),
                              ("new", server.base_url + USERS + "/new"), ("problems", None)):
                if url:
                    page.goto(url)
                else:  # the new user form refused: a problem beside each field
                    submit(page, "text=Create user")
                if keep:
                    page.screenshot(path=str(ARTIFACTS / ("users-%s-%s.png" % (what, name))), full_page=True)
                sideways.append(page.evaluate("document.documentElement.scrollWidth > window.innerWidth"))
            return sideways, [e for e in page.errors if "400 (Bad Request)" not in e]

        shown[name] = await browser.do(shoot)
    assert shown == {"wide": ([False] * 4, []), "phone": ([False] * 4, [])}
