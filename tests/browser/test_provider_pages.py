"""Settings > Tools > External Providers in a real browser (with and
without JavaScript): providers switched on in Options, a provider's tab
saved and tested against the sample provider (examples/providers/python,
in its own process on loopback), refusals beside their fields with nothing
saved, write-only secrets, and administrators only."""
from __future__ import annotations

import os

import pytest

from browser.conftest import ARTIFACTS, submit
from conftest import strings
from test_sample_provider import AUTH_PW

PAGE = "/admin/settings/external-providers"


def by_key(key: str) -> str:
    """The selector of the form field of a settings key (ids hold a dot)."""
    return "[id='%s']" % key


async def stored(server) -> dict:
    """The providers' settings as SOAP reads them (the same operations)."""
    providers = await server.client("svcExternalProviders")
    result = await providers.GetProviderSettings(*server.admin)
    assert result.Result, result.Message
    return dict(item.split("=", 1) for item in result.RequestResults.string)


def screenshots(page, name: str) -> None:
    """Nothing wider than the screen at 1280 px and at phone width; with
    STWS_TEST_SCREENSHOTS=1 both are kept in test-artifacts/screenshots."""
    for width, height, suffix in ((1280, 900, "1280"), (390, 844, "phone")):
        page.set_viewport_size({"width": width, "height": height})
        assert page.evaluate("document.documentElement.scrollWidth") <= width, (name, width)
        if os.environ.get("STWS_TEST_SCREENSHOTS"):
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / ("providers-%s-%s.png" % (name, suffix))), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})


def tabs(page) -> list[str]:
    return [link.text_content().strip() for link in page.query_selector_all("nav.tabs a")]


def outcome(page) -> dict:
    """The Test outcome: its verdict and each term of its list."""
    terms = [t.text_content() for t in page.query_selector_all(".test-outcome dt")]
    values = [d.text_content() for d in page.query_selector_all(".test-outcome dd")]
    return {"verdict": page.text_content(".test-outcome .verdict"), **dict(zip(terms, values))}


@pytest.mark.parametrize("javascript", [True, False], ids=["script", "no-script"])
async def test_enable_configure_and_test_a_provider(server, browser, sample_provider, javascript):
    page = await browser.signed_in(server, *server.admin, page=await browser.new_page(javascript=javascript))

    def enable():
        page.goto(server.base_url + PAGE)
        before = tabs(page)
        labels = [label.text_content().strip() for label in page.query_selector_all("main form label.checkbox")]
        page.check(by_key("UserInformation.Enabled"))
        submit(page)
        return before, labels, tabs(page), page.text_content("main .notice")

    before, labels, after, notice = await browser.do(enable)
    assert before == ["Options"]
    assert labels == ["Enable login provider", "Enable registration provider", "Enable custom field provider",
                      "Enable ticket provider", "Enable live chat provider", "Enable user information provider",
                      "Enable events provider"]
    assert after == ["Options", "User Information"] and notice == "Saved the options."

    def configure():
        page.click("nav.tabs a:text-is('User Information')")
        page.wait_for_load_state()
        page.select_option(by_key("UserInformation.Mode"), "WebService")
        page.fill(by_key("UserInformation.WebServiceUrl"), sample_provider.url)
        page.fill(by_key("UserInformation.WebServicePassword"), AUTH_PW)
        page.fill(by_key("UserInformation.TimeoutSeconds"), "15")
        submit(page, "main form.stacked button[type=submit]")
        return (page.text_content("main .notice"), page.text_content("[id='UserInformation.WebServicePassword-help']"),
                page.input_value(by_key("UserInformation.WebServicePassword")), page.content())

    notice, password_note, password_value, html = await browser.do(configure)
    assert notice == "Saved the user information provider's settings."
    assert password_note.startswith("Set; leave this empty to keep it.") and password_value == ""
    assert AUTH_PW not in html
    settings = await stored(server)
    assert settings["UserInformation.Enabled"] == "true" and settings["UserInformation.Mode"] == "WebService"
    assert settings["UserInformation.WebServiceUrl"] == sample_provider.url
    assert settings["UserInformation.HasWebServicePassword"] == "true"
    assert settings["UserInformation.TimeoutSeconds"] == "15"

    def options_say():
        page.goto(server.base_url + PAGE)
        said = {key: page.text_content("[id='%s.Enabled-help']" % key) for key in ("UserInformation", "Events")}
        screenshots(page, "options" if javascript else "options-no-script")
        page.go_back()
        return said

    said = await browser.do(options_say)
    assert said == {"UserInformation": "On: the web service at %s." % sample_provider.url,
                    "Events": "Off: stws's built-in behaviour."}

    def test_it():
        submit(page, "button:text-is('Test')")
        return outcome(page), page.content()

    passed, html = await browser.do(test_it)
    assert passed["verdict"].startswith("Passed: ") and "accepted the Web Service Password" in passed["verdict"]
    assert passed["Reachable"] == "yes" and passed["Password accepted"] == "yes"
    assert passed["Elapsed"].endswith(" ms") and int(passed["Elapsed"].split()[0]) >= 0
    assert "GetUserInformation" in passed["Detail"] and sample_provider.url in passed["Detail"]
    assert AUTH_PW not in html

    def save_again_and_remove_password():
        # An empty password field keeps the password...
        page.goto(server.base_url + PAGE + "?tab=UserInformation")
        page.fill(by_key("UserInformation.TimeoutSeconds"), "20")
        submit(page, "main form.stacked button[type=submit]")
        kept = page.text_content("[id='UserInformation.WebServicePassword-help']")
        # ...and "Remove the password" clears it: the provider refuses the call then.
        page.check(by_key("UserInformation.ClearWebServicePassword"))
        submit(page, "main form.stacked button[type=submit]")
        removed = page.text_content("[id='UserInformation.WebServicePassword-help']")
        submit(page, "button:text-is('Test')")
        screenshots(page, "tested" if javascript else "tested-no-script")
        return kept, removed, outcome(page)

    kept, removed, failed = await browser.do(save_again_and_remove_password)
    assert kept.startswith("Set;") and removed.startswith("Not set.")
    assert failed["verdict"].startswith("Failed: ") and "refused the Web Service Password" in failed["verdict"]
    assert failed["Reachable"] == "yes" and failed["Password accepted"] == "no"
    assert (await stored(server))["UserInformation.TimeoutSeconds"] == "20"
    assert page.errors == []


async def test_a_bad_value_is_shown_beside_its_field_and_nothing_is_saved(server, browser):
    providers = await server.client("svcExternalProviders")
    assert (await providers.SetProviderSettings(*server.admin, strings("Ticket.Enabled=true"))).Result
    before = await stored(server)
    page = await browser.signed_in(server, *server.admin)

    def save_bad():
        page.goto(server.base_url + PAGE + "?tab=Ticket")
        page.select_option(by_key("Ticket.Mode"), "WebService")
        page.fill(by_key("Ticket.WebServiceUrl"), "ftp://files.example.com/provider.asmx")
        page.fill(by_key("Ticket.WebServicePassword"), "typed-secret-pw")
        page.fill(by_key("Ticket.TimeoutSeconds"), "33")  # good, but not saved beside a bad one
        with page.expect_navigation() as navigation:
            page.click("main form.stacked button[type=submit]")
        problem = page.text_content("[id='Ticket.WebServiceUrl-problem']")
        screenshots(page, "refused")
        return (navigation.value.status, problem, page.get_attribute(by_key("Ticket.WebServiceUrl"), "aria-invalid"),
                page.text_content("main p.notice.error"), page.input_value(by_key("Ticket.WebServiceUrl")),
                page.input_value(by_key("Ticket.TimeoutSeconds")), page.content())

    status, problem, invalid, form_error, url, timeout, html = await browser.do(save_bad)
    assert status == 400 and invalid == "true"
    assert "ftp://files.example.com/provider.asmx" in problem and "http://" in problem
    assert form_error.startswith("Nothing was changed.")
    # The form keeps what was typed, except the password.
    assert url == "ftp://files.example.com/provider.asmx" and timeout == "33"
    assert "typed-secret-pw" not in html
    assert await stored(server) == before

    def enable_without_url():
        # Web Service mode with no URL: refused as a whole, beside the URL.
        page.goto(server.base_url + PAGE + "?tab=Ticket")
        page.select_option(by_key("Ticket.Mode"), "WebService")
        submit(page, "main form.stacked button[type=submit]")
        return page.text_content("[id='Ticket.WebServiceUrl-problem']")

    assert "needs a Web Service URL" in await browser.do(enable_without_url)
    assert await stored(server) == before


async def test_the_login_tab_and_its_secret(server, browser):
    page = await browser.signed_in(server, *server.admin)

    def configure_login():
        page.goto(server.base_url + PAGE)
        page.check(by_key("Login.Enabled"))
        submit(page)
        page.goto(server.base_url + PAGE + "?tab=Login")
        labels = [label.text_content().strip() for label in page.query_selector_all("main form.stacked label")]
        page.fill(by_key("Login.ForgotPasswordUrl"), "https://sso.example.com/forgot")
        page.fill(by_key("Login.CustomLoginUrl"), "https://sso.example.com/login")
        page.select_option(by_key("Login.DefaultRole"), label="Anonymous (everyone)")
        page.check(by_key("Login.MarkEmailVerified"))
        page.check(by_key("Login.EnableSingleSignOnCookies"))
        page.fill(by_key("Login.SingleSignOnSecret"), "shared-sso-secret")
        submit(page, "main form.stacked button[type=submit]")
        screenshots(page, "login")
        return labels, page.text_content("[id='Login.SingleSignOnSecret-help']"), page.content()

    labels, secret_note, html = await browser.do(configure_login)
    # No "Remove" box for a secret that is not set.
    assert labels == ["Provider", "Web Service URL", "Web Service Password", "Timeout (seconds)", "Forgot Password URL", "Custom Login URL", "Default Role for Users",
                      "Mark email addresses as verified", "Enable single sign-on cookies from other sites",
                      "Single sign-on shared secret"]
    assert secret_note.startswith("Set; leave this empty to keep it.") and "shared-sso-secret" not in html
    settings = await stored(server)
    assert settings["Login.ForgotPasswordUrl"] == "https://sso.example.com/forgot"
    assert settings["Login.CustomLoginUrl"] == "https://sso.example.com/login"
    assert settings["Login.DefaultRole"] == "Everyone"
    assert settings["Login.MarkEmailVerified"] == "true" and settings["Login.EnableSingleSignOnCookies"] == "true"
    assert settings["Login.HasSingleSignOnSecret"] == "true" and settings["Login.Mode"] == "BuiltIn"

    def test_without_url():
        submit(page, "button:text-is('Test')")
        return page.text_content("main .panel p.notice.error")

    assert "has no Web Service URL" in await browser.do(test_without_url)


async def test_an_agent_cannot_open_or_change_it(server, browser):
    org = await server.client("svcOrganization")
    created = await org.CreateUser(*server.admin, "ada", "ada-passw0rd", "ada@helpdesk.example", True, "Ada")
    assert (await org.SetUsersProperties(*server.admin, created.RequestResult, strings("Roles=Agent,Manager"))).Result
    before = await stored(server)
    page = await browser.signed_in(server, "ada", "ada-passw0rd")

    def visit():
        response = page.goto(server.base_url + PAGE)
        nav = [a.text_content() for a in page.query_selector_all("nav.side a")]
        # A form post with her own session's CSRF token: refused all the same.
        posted = page.evaluate("""async (url) => {
            const body = new URLSearchParams({csrf_token: document.querySelector('input[name=csrf_token]').value,
                                              'Events.Enabled': 'on'});
            const answer = await fetch(url, {method: 'POST', body: body});
            return [answer.status, await answer.text()];
        }""", server.base_url + PAGE + "/options")
        tested = page.evaluate("""async (url) => {
            const body = new URLSearchParams({csrf_token: document.querySelector('input[name=csrf_token]').value,
                                              provider: 'Login'});
            return (await fetch(url, {method: 'POST', body: body})).status;
        }""", server.base_url + PAGE + "/test")
        return response.status, page.text_content("main"), nav, posted, tested

    status, text, nav, (posted_status, posted_body), tested = await browser.do(visit)
    assert status == 403 and "External providers are set by administrators." in text
    assert "External Providers" not in nav
    assert posted_status == 403 and "administrators" in posted_body and tested == 403
    assert await stored(server) == before
