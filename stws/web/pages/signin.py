"""Signing in and out, and changing one's own password."""
from __future__ import annotations

from stws.domain.errors import OperationError, PermissionDenied
from stws.operations import account, runner
from stws.operations.runner import PasswordCredentials
from stws.web.admin import ROOT, SESSION_COOKIE, SIGNIN_CSRF_COOKIE, Page, new_signin_csrf, route
from stws.web.http import local_path, redirect


def _sign_in_form(page: Page, message: str = "", status: int = 200, username: str = ""):
    token = new_signin_csrf()
    response = page.render("admin/signin.html", status=status, title="Sign in", message=message,
                           username=username, signin_csrf=token,
                           next=local_path(page.request.arg("next"), ROOT, ""))
    response.set_cookie(SIGNIN_CSRF_COOKIE, token, ROOT, secure=page.public_url_is_https)
    return response


@route("GET", "/signin", public=True)
def sign_in_page(page: Page):
    if page.signed_in is not None:
        return redirect(ROOT + "/")
    message = ""
    if page.request.arg("ended"):
        message = "Your session has ended; please sign in again."
    elif page.request.arg("signedout"):
        message = "You are signed out."
    return _sign_in_form(page, message)


@route("POST", "/signin", public=True)
def sign_in(page: Page):
    request = page.request
    username = request.field("username").strip()
    try:
        # The same check, lockout and roles as every SOAP call.
        principal = runner.authenticate(page.runtime, PasswordCredentials(username, request.field("password")))
        token = runner.run(page.runtime, account.open_web_session, principal, (request.client_address,))
    except PermissionDenied:
        return _sign_in_form(page, "This sign-in is for the help desk's agents, managers and administrators.",
                             403, username)
    except OperationError as failure:
        return _sign_in_form(page, failure.message, 401, username)
    response = redirect(local_path(request.field("next"), ROOT, ROOT + "/"))
    response.set_cookie(SESSION_COOKIE, token, ROOT, secure=page.public_url_is_https)
    response.set_cookie(SIGNIN_CSRF_COOKIE, "", ROOT, secure=page.public_url_is_https, max_age=0)
    return response


@route("POST", "/signout")
def sign_out(page: Page):
    page.run(account.close_web_session, page.signed_in.token)
    response = redirect(ROOT + "/signin?signedout=1")
    response.set_cookie(SESSION_COOKIE, "", ROOT, secure=page.public_url_is_https, max_age=0)
    return response


@route("GET", "/password")
def password_page(page: Page):
    return page.render("admin/password.html", title="Change your password", message="")


@route("POST", "/password")
def change_password(page: Page):
    request = page.request
    new = request.field("new_password")
    if new != request.field("confirm_password"):
        return page.render("admin/password.html", status=400, title="Change your password",
                           message="The new password and its confirmation differ.")
    try:
        runner.authenticate(page.runtime, PasswordCredentials(page.principal.username,
                                                              request.field("current_password")))
        page.run(account.change_own_password, new, page.signed_in.token)
    except OperationError as failure:
        return page.render("admin/password.html", status=400, title="Change your password",
                           message=failure.message)
    return page.done(ROOT + "/", "Your password is changed; your other sessions are signed out.")
