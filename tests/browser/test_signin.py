"""Signing in to the management interface in a real browser: the same
accounts, password check, lockout and roles as SOAP; sessions that end when
they should; CSRF tokens, cookie flags and security headers."""
from __future__ import annotations

import datetime as dt
import urllib.error
import urllib.parse
import urllib.request

import pytest_twisted
from sqlalchemy import update
from twisted.internet import threads

from browser.conftest import submit
from conftest import strings
from stws.db.models import WebSession, utcnow
from stws.errors import ResultCode

AGENT_PASSWORD = "agent-Passw0rd!"


@pytest_twisted.async_fixture
async def org(server):
    return await server.client("svcOrganization")


async def new_user(server, org, name: str, roles: str = "Agent", password: str = AGENT_PASSWORD,
                   display_name: str | None = None) -> int:
    created = await org.CreateUser(*server.admin, name, password, "%s@example.com" % name, True,
                                   display_name or name.title())
    assert created.Result, created.Message
    changed = await org.SetUsersProperties(*server.admin, created.RequestResult, strings("Roles=%s" % roles))
    assert changed.Result, changed.Message
    return created.RequestResult


async def test_signing_in_and_out(server, browser):
    page = await browser.new_page()

    def visit_protected_page():
        page.goto(server.base_url + "/admin/settings/diagnostics?tab=threads")
        return page.url

    # Not signed in: the sign-in page, which comes back to the page asked for.
    assert "/admin/signin?next=" in await browser.do(visit_protected_page)

    def sign_in():
        page.fill("#username", "admin")
        page.fill("#password", server.admin[1])
        submit(page)
        return page.url, page.text_content("h1")

    url, heading = await browser.do(sign_in)
    assert url.endswith("/admin/settings/diagnostics?tab=threads") and heading == "Diagnostics"

    def sign_out():
        submit(page, "text=Sign out")
        after = page.url, page.text_content("main")
        page.goto(server.base_url + "/admin/")
        return after + (page.url,)

    url, text, again = await browser.do(sign_out)
    assert "/admin/signin" in url and "You are signed out." in text
    assert "/admin/signin" in again  # the session is gone on the server, not only the cookie
    assert page.errors == []


async def test_a_wrong_password_is_refused_and_counts_towards_the_lockout_shared_with_soap(server, browser, org):
    await new_user(server, org, "lockme")
    page = await browser.new_page()

    def try_password(password):
        page.goto(server.base_url + "/admin/signin")
        page.fill("#username", "lockme")
        page.fill("#password", password)
        submit(page)
        return page.text_content(".notice.error")

    assert "incorrect" in await browser.do(try_password, "wrong")
    for _ in range(10):  # more than 10 failures within 5 minutes lock the account
        await browser.do(try_password, "wrong")
    # The right password no longer helps, in the browser or over SOAP.
    assert "locked" in await browser.do(try_password, AGENT_PASSWORD)
    refused = await org.GetAllAgents("lockme", AGENT_PASSWORD)
    assert refused.ResultCode == int(ResultCode.ACCOUNT_LOCKED)


async def test_soap_failures_count_towards_the_browser_lockout(server, browser, org):
    await new_user(server, org, "soapfails")
    for _ in range(11):
        await org.GetAllAgents("soapfails", "wrong")
    page = await browser.new_page()

    def sign_in():
        page.goto(server.base_url + "/admin/signin")
        page.fill("#username", "soapfails")
        page.fill("#password", AGENT_PASSWORD)
        submit(page)
        return page.text_content(".notice.error")

    assert "locked" in await browser.do(sign_in)


async def test_an_agent_signs_in_but_settings_are_for_administrators(server, browser, org):
    await new_user(server, org, "agent1")
    page = await browser.signed_in(server, "agent1", AGENT_PASSWORD)

    def look():
        navigation = page.text_content("nav.side")
        response = page.goto(server.base_url + "/admin/settings/diagnostics")
        return navigation, response.status, page.text_content("main")

    navigation, status, text = await browser.do(look)
    assert "Diagnostics" not in navigation and "Change password" in navigation
    assert status == 403 and "Administrator role" in text


async def test_a_customer_cannot_sign_in(server, browser, org):
    await new_user(server, org, "customer1", roles="Registered Users")
    page = await browser.new_page()

    def sign_in():
        page.goto(server.base_url + "/admin/signin")
        page.fill("#username", "customer1")
        page.fill("#password", AGENT_PASSWORD)
        submit(page)
        return page.url, page.text_content(".notice.error")

    url, message = await browser.do(sign_in)
    assert "/admin/signin" in url and "agents, managers and administrators" in message


async def test_force_password_change_then_the_other_sessions_end(server, browser, org):
    user_id = await new_user(server, org, "forced")
    assert (await org.SetUsersProperties(*server.admin, user_id, strings("ForcePasswordChange=true"))).Result
    first = await browser.signed_in(server, "forced", AGENT_PASSWORD)
    second = await browser.new_page()
    await browser.signed_in(server, "forced", AGENT_PASSWORD, page=second)

    def forced_to_change():
        first.goto(server.base_url + "/admin/settings/diagnostics")
        return first.url

    assert (await browser.do(forced_to_change)).endswith("/admin/password")

    def change(new, confirm, current=AGENT_PASSWORD):
        first.fill("#current_password", current)
        first.fill("#new_password", new)
        first.fill("#confirm_password", confirm)
        submit(first)
        return first.url, first.text_content("main")

    url, text = await browser.do(change, "new-Passw0rd-1", "other-Passw0rd-1")
    assert "differ" in text
    url, text = await browser.do(change, "new-Passw0rd-1", "new-Passw0rd-1", "wrong")
    assert "incorrect" in text
    url, text = await browser.do(change, "new-Passw0rd-1", "new-Passw0rd-1")
    assert url.endswith("/admin/") and "Your password is changed" in text

    def both_sessions():
        first.goto(server.base_url + "/admin/")
        second.goto(server.base_url + "/admin/")
        return first.url, second.url, second.text_content("main")

    first_url, second_url, second_text = await browser.do(both_sessions)
    assert first_url.endswith("/admin/")  # the session it was changed in goes on
    assert "/admin/signin" in second_url and "session has ended" in second_text
    assert (await org.GetAllAgents("forced", "new-Passw0rd-1")).Result


async def test_a_lock_by_an_administrator_ends_the_session_at_once(server, browser, org):
    user_id = await new_user(server, org, "tobelocked")
    page = await browser.signed_in(server, "tobelocked", AGENT_PASSWORD)
    assert (await org.SetUsersProperties(*server.admin, user_id, strings("IsLockedOut=true"))).Result

    def reload():
        page.goto(server.base_url + "/admin/")
        return page.url

    assert "/admin/signin" in await browser.do(reload)


async def test_idle_and_absolute_expiry(server, browser):
    page = await browser.signed_in(server, *server.admin)

    def age(**values):
        with server.runtime.db.transaction() as session:
            session.execute(update(WebSession).values(**values))

    def reload():
        page.goto(server.base_url + "/admin/")
        return page.url

    await threads.deferToThread(age, last_seen_utc=utcnow() - dt.timedelta(minutes=29))
    assert (await browser.do(reload)).endswith("/admin/")  # not idle long enough
    await threads.deferToThread(age, last_seen_utc=utcnow() - dt.timedelta(minutes=31))
    assert "/admin/signin" in await browser.do(reload)

    page = await browser.signed_in(server, *server.admin)
    await threads.deferToThread(age, expires_utc=utcnow() - dt.timedelta(seconds=1))
    assert "/admin/signin" in await browser.do(reload)


async def test_a_post_without_the_csrf_token_changes_nothing(server, browser):
    page = await browser.signed_in(server, *server.admin)

    def forge(form):
        # The session cookie goes along, as it would from a forged form.
        response = page.request.post(server.base_url + "/admin/settings/diagnostics/threads", form=form)
        return response.status, response.text()

    status, text = await browser.do(forge, {"name": "Indexing", "action": "stop"})
    assert status == 403 and "nothing was changed" in text
    status, _ = await browser.do(forge, {"name": "Indexing", "action": "stop", "csrf_token": "guessed"})
    assert status == 403
    diag = await server.client("svcDiagnostics")
    threads_now = (await diag.GetThreadStatuses(*server.admin)).Threads.ThreadStatusInfo
    assert next(t for t in threads_now if t.Name == "Indexing").IsEnabled is True

    def sign_in_without_token():
        response = page.request.post(server.base_url + "/admin/signin",
                                     form={"username": "admin", "password": server.admin[1]})
        return response.status

    assert await browser.do(sign_in_without_token) == 403


async def test_cookies_and_security_headers(server, browser):
    page = await browser.new_page()

    def sign_in_and_read():
        signin = page.goto(server.base_url + "/admin/signin")
        page.fill("#username", "admin")
        page.fill("#password", server.admin[1])
        with page.expect_response(lambda r: r.url.endswith("/admin/signin") and r.request.method == "POST") as info:
            submit(page)
        home = page.goto(server.base_url + "/admin/")
        css = page.request.get(server.base_url + page.get_attribute("link[rel=stylesheet]", "href"))
        return signin.headers, info.value.all_headers(), home.headers, css.headers, page.context.cookies()

    signin, posted, home, css, cookies = await browser.do(sign_in_and_read)
    session = next(c for c in cookies if c["name"] == "stws_session")
    assert session["httpOnly"] and session["sameSite"] == "Lax" and session["path"] == "/admin"
    assert not session["secure"]  # the public URL is http here
    for headers in (signin, home):
        csp = headers["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
        assert headers["x-frame-options"] == "DENY" and headers["cache-control"] == "no-store"
    assert "stws_session=" in posted["set-cookie"]
    assert "immutable" in css["cache-control"]  # static files are cached; their URLs change with them


async def test_secure_cookie_when_the_public_url_is_https(make_config, start_server):
    server = await start_server.started(make_config(public_url="https://help.example.com"))

    # Behind a TLS proxy the server itself is reached over http; what
    # matters is the cookie it sets, read from the raw answer.
    def raw_sign_in():
        port = server.web.port.getHost().port
        opener = urllib.request.build_opener(_NoRedirect)
        form_page = opener.open("http://127.0.0.1:%d/admin/signin" % port)
        token = form_page.headers.get("Set-Cookie").split("stws_signin=")[1].split(";")[0]
        body = urllib.parse.urlencode({"username": "admin", "password": server.admin[1],
                                       "csrf_token": token}).encode()
        request = urllib.request.Request("http://127.0.0.1:%d/admin/signin" % port, data=body,
                                         headers={"Cookie": "stws_signin=" + token})
        try:
            opener.open(request)
        except urllib.error.HTTPError as answer:
            return answer.headers.get_all("Set-Cookie")
        raise AssertionError("expected a redirect")

    cookies = await threads.deferToThread(raw_sign_in)
    session = next(c for c in cookies if c.startswith("stws_session="))
    assert "; Secure" in session and "HttpOnly" in session


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


async def test_hostile_names_are_shown_as_text(server, browser, org):
    hostile = '<script>window.pwned = 1</script><img src=x onerror="window.pwned = 2">'
    await new_user(server, org, "hostile", display_name=hostile)
    page = await browser.signed_in(server, "hostile", AGENT_PASSWORD)

    def look():
        return page.text_content(".top .who"), page.evaluate("window.pwned === undefined")

    shown, safe = await browser.do(look)
    assert shown == hostile and safe
