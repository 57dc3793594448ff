"""Signing in and out, and changing one's own password.

With the login provider enabled (stws.providers.login) the sign-in page
also: signs in whoever brings a valid single sign-on cookie from another
site; sends everyone else to the Custom Login URL when one is set, except
with ``?local=1`` (the escape hatch for local accounts such as the
administrator's) and right after signing out; links the Forgot Password URL.
"""
from __future__ import annotations

from stws.errors import OperationError, PermissionDenied
from stws.operations import account, runner
from stws.operations.runner import PasswordCredentials, SingleSignOnCookie
from stws.web.admin import ROOT, SESSION_COOKIE, SIGNIN_CSRF_COOKIE, Page, new_signin_csrf, route
from stws.web.http import local_path, redirect

STAFF_ONLY = "This sign-in is for the help desk's agents, managers and administrators."


def _sign_in_form(page: Page, message: str = "", status: int = 200, username: str = "", options=None):
    token = new_signin_csrf()
    options = options or account.sign_in_options(page.runtime)
    response = page.render("admin/signin.html", status=status, title="Sign in", message=message,
                           username=username, signin_csrf=token,
                           next=local_path(page.request.arg("next") or page.request.field("next"), ROOT, ""),
                           forgot_password_url=options.forgot_password_url,
                           local=bool(options.custom_login_url))
    response.set_cookie(SIGNIN_CSRF_COOKIE, token, ROOT, secure=page.public_url_is_https)
    return response


def _open_session(page: Page, credentials, target: str):
    """Sign ``credentials`` in and go to ``target``; an OperationError
    (PermissionDenied for a customer) when they cannot."""
    principal = runner.authenticate(page.runtime, credentials)
    token = runner.run(page.runtime, account.open_web_session, principal, (page.request.client_address,))
    response = redirect(local_path(target, ROOT, ROOT + "/"))
    response.set_cookie(SESSION_COOKIE, token, ROOT, secure=page.public_url_is_https)
    response.set_cookie(SIGNIN_CSRF_COOKIE, "", ROOT, secure=page.public_url_is_https, max_age=0)
    return response


@route("GET", "/signin", public=True)
def sign_in_page(page: Page):
    if page.signed_in is not None:
        return redirect(ROOT + "/")
    request = page.request
    options = account.sign_in_options(page.runtime)
    signed_out = bool(request.arg("signedout"))
    cookie = request.cookies.get(options.sso_cookie) if options.sso_cookie else None
    if cookie and not signed_out:
        try:
            return _open_session(page, SingleSignOnCookie(cookie), request.arg("next"))
        except PermissionDenied:
            return _sign_in_form(page, STAFF_ONLY, 403, options=options)
        except OperationError as failure:  # shown, not sent on to the Custom Login URL: no redirect loop
            return _sign_in_form(page, "Single sign-on did not sign you in: " + failure.message, 401,
                                 options=options)
    if options.custom_login_url and not signed_out and request.arg("local") != "1":
        return redirect(options.custom_login_url)
    message = ""
    if request.arg("ended"):
        message = "Your session has ended; please sign in again."
    elif signed_out:
        message = "You are signed out."
    return _sign_in_form(page, message, options=options)


@route("POST", "/signin", public=True)
def sign_in(page: Page):
    request = page.request
    username = request.field("username").strip()
    try:
        # The same check, lockout and roles as every SOAP call (the login
        # provider's for External accounts and unknown names).
        return _open_session(page, PasswordCredentials(username, request.field("password")), request.field("next"))
    except PermissionDenied:
        return _sign_in_form(page, STAFF_ONLY, 403, username)
    except OperationError as failure:
        return _sign_in_form(page, failure.message, 401, username)


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
