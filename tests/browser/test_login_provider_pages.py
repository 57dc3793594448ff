"""The login and registration providers in the management interface, in a
real browser, against the sample provider on loopback: an External user
signs in with the provider's password, a single sign-on cookie from another
site signs its user in (and a forged or expired one does not), the Custom
Login URL takes the sign-in page's place (``?local=1`` excepted), the
Forgot Password URL is linked, and the New user form shows the
registration provider's refusal."""
from __future__ import annotations

import time

import pytest_twisted

from browser.conftest import submit
from conftest import ok, strings
from stws.providers import login
from test_external_providers import configure, external

SECRET = "sso-shared-secret-of-both-sites"
LOCAL_PASSWORD = "local-Passw0rd!"


@pytest_twisted.async_fixture
async def providers(server):
    return await server.client("svcExternalProviders")


@pytest_twisted.async_fixture
async def org(server):
    return await server.client("svcOrganization")


async def external_agent(server, org, name: str) -> int:
    """An External account with the Agent role (the provider creates
    customers; an administrator makes one an agent)."""
    user_id = ok(await org.CreateUser(*server.admin, name, LOCAL_PASSWORD, "%s@old.example" % name, False,
                                      "")).RequestResult
    ok(await org.SetUsersProperties(*server.admin, user_id, strings("AuthenticationMethod=External", "Roles=Agent")))
    return user_id


def try_sign_in(page, server, username, password):
    page.goto(server.base_url + "/admin/signin?local=1")
    page.fill("#username", username)
    page.fill("#password", password)
    submit(page)
    return page.url, page.text_content("main")


async def test_an_external_user_signs_in_with_the_providers_password(server, browser, org, providers,
                                                                    sample_provider):
    await configure(server, providers, *external("Login", sample_provider.url))
    page = await browser.new_page()
    # New to the help desk: the provider vouches for her and the account is
    # made, as a customer, who has no business in the management interface.
    url, text = await browser.do(try_sign_in, page, server, "alice", "alice-pw")
    assert "/admin/signin" in url and "for the help desk's agents" in text
    user = ok(await org.GetUserByUsername(*server.admin, "alice")).User
    assert (user.EmailAddress, user.DisplayName) == ("alice@example.com", "Alice Example")

    ok(await org.SetUsersProperties(*server.admin, user.ID, strings("Roles=Agent")))
    url, text = await browser.do(try_sign_in, page, server, "alice", "wrong")
    assert "/admin/signin" in url and "user name or password is incorrect" in text
    url, text = await browser.do(try_sign_in, page, server, "alice", "alice-pw")
    assert url.endswith("/admin/") and "Alice Example" in text


def sso_cookie(server, value: str) -> dict:
    return {"name": login.SSO_COOKIE, "value": value, "url": server.base_url + "/"}


async def sso_visit(browser, server, value: str):
    """A new browser that brings the other site's cookie ``value`` and opens
    a page of the interface: where it ends and what it says."""
    page = await browser.new_page()

    def visit():
        page.context.add_cookies([sso_cookie(server, value)])
        page.goto(server.base_url + "/admin/password")
        return page.url, page.text_content("body")

    return await browser.do(visit)


async def test_single_sign_on_cookies(server, browser, org, providers, sample_provider):
    await external_agent(server, org, "alice")
    await configure(server, providers, *external("Login", sample_provider.url),
                    "Login.EnableSingleSignOnCookies=true", "Login.SingleSignOnSecret=" + SECRET)
    soon = int(time.time()) + 300

    url, text = await sso_visit(browser, server, login.sso_cookie_value(SECRET, "alice", soon))
    assert url.endswith("/admin/password") and "Alice Example" in text  # signed in as her, where she was going
    user = ok(await org.GetUserByUsername(*server.admin, "alice")).User
    assert user.EmailAddress == "alice@example.com"  # linked: GetSignInCookieInfo's answer stored

    for value, says in ((login.sso_cookie_value("another-secret", "alice", soon), "signature is wrong"),
                        (login.sso_cookie_value(SECRET, "alice", int(time.time()) - 5), "has expired"),
                        (login.sso_cookie_value(SECRET, "admin", soon), "signs in with a password"),
                        (login.sso_cookie_value(SECRET, "stranger", soon), "does not know the user stranger")):
        url, text = await sso_visit(browser, server, value)
        assert "/admin/signin" in url and "Single sign-on did not sign you in" in text and says in text, text


async def test_custom_login_url_with_a_local_escape_hatch_and_forgot_password_link(server, browser, providers,
                                                                                   sample_provider):
    elsewhere = server.base_url + "/Services2/"  # stands for the organisation's own sign-in page
    forgot = "http://127.0.0.1:9/forgot-password"
    await configure(server, providers, *external("Login", sample_provider.url), "Login.CustomLoginUrl=" + elsewhere,
                    "Login.ForgotPasswordUrl=" + forgot)
    page = await browser.new_page()

    def visit_protected_page():
        page.goto(server.base_url + "/admin/")
        return page.url

    assert await browser.do(visit_protected_page) == elsewhere

    def local_sign_in():
        page.goto(server.base_url + "/admin/signin?local=1")
        link = page.get_attribute("#forgot-password", "href")
        page.fill("#username", "admin")
        page.fill("#password", server.admin[1])
        submit(page)
        return link, page.url

    link, url = await browser.do(local_sign_in)
    assert link == forgot and url.endswith("/admin/")

    def sign_out():
        submit(page, "text=Sign out")
        return page.url, page.text_content("main")

    url, text = await browser.do(sign_out)
    assert "signedout=1" in url and "You are signed out." in text  # not sent away at once


async def test_the_new_user_form_shows_the_registration_providers_refusal(server, browser, org, providers,
                                                                         sample_provider):
    await configure(server, providers, *external("Registration", sample_provider.url))
    page = await browser.signed_in(server, *server.admin)

    def create(name, email):
        page.goto(server.base_url + "/admin/organization/users/new")
        page.fill("#UserName", name)
        page.fill("#Password", LOCAL_PASSWORD)
        page.fill("#Email", email)
        submit(page, "text=Create user")
        return page.url, page.text_content("main")

    url, text = await browser.do(create, "outsider", "o@elsewhere.example")
    assert "/users/new" in url and "registration provider refused the account outsider: Customers only." in text
    found = await org.GetUserByUsername(*server.admin, "outsider")
    assert found.Result is False

    url, text = await browser.do(create, "alice", "alice@example.com")
    assert "/users/edit?id=" in url
    assert ok(await org.GetUserByUsername(*server.admin, "alice")).User.DisplayName == "Alice Example"
