"""The management interface under ``/admin/``: the browser's front door to
the same operations the SOAP services run (stws.operations).

A page handler is a function of a ``Page`` registered for a method and path
(``route``). It runs on the interface's own thread pool; it reads the
request, runs operations for the signed-in user (``page.run``) and returns
a rendered template or a redirect. Handlers never touch the database.

Every request:
- is signed in through its session cookie (stws.security.sessions), else
  sent to the sign-in page (pages marked ``public`` excepted);
- that changes anything is a POST carrying the session's CSRF token in the
  form field ``csrf_token`` (the sign-in form: the token of its cookie),
  and, where the browser sends one, an Origin of this site; anything else
  is refused with 403 and changes nothing;
- is answered with the security headers of stws.web.http, and with
  ``no-store`` (pages show signed-in data);
- that fails with an OperationError shows its Message in the page; any
  other failure shows a reference to the error log, never a traceback.

Routes that answer JSON to the page's script (``answers_json``: the
workspace heartbeat) answer the same failures as JSON ``{"error": ...}``
with their status, and 401 without a session instead of a redirect.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import mimetypes
import secrets
from dataclasses import dataclass
from importlib import resources
from urllib.parse import quote, urlencode, urlsplit

from twisted.internet.threads import deferToThreadPool
from twisted.web import server
from twisted.web.resource import Resource

from stws.errors import AuthenticationFailed, OperationError, PermissionDenied
from stws.logs import log_internal_error
from stws.operations import account, runner
from stws.security import roles
from stws.security.sessions import SignedIn, resolve
from stws.web import render_page
from stws.web.http import Response, WebRequest, local_path, read_request, redirect, send

ROOT = "/admin"
SESSION_COOKIE = "stws_session"
SIGNIN_CSRF_COOKIE = "stws_signin"


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    handler: object
    public: bool = False  # reachable without signing in
    answers_json: bool = False  # a script's endpoint: failures as JSON, never a page


ROUTES: dict[tuple[str, str], Route] = {}


def route(method: str, path: str, *, public: bool = False, answers_json: bool = False):
    """Register a page handler for ``method`` and ``path`` (below /admin)."""

    def register(handler):
        key = (method, path)
        if key in ROUTES:
            raise RuntimeError("%s %s is routed twice" % key)
        ROUTES[key] = Route(method, path, handler, public, answers_json)
        return handler

    return register


@dataclass
class Page:
    """One request of a page handler: the request, who is signed in, and
    how to run operations and answer."""

    request: WebRequest
    runtime: object
    signed_in: SignedIn | None
    public_url_is_https: bool = False
    # Set by handlers for the layout: which navigation entry is current.
    section: str = ""

    @property
    def principal(self):
        return self.signed_in.principal

    def run(self, spec, *args):
        """Run an operation for the signed-in user (stws.operations.runner)."""
        return runner.run(self.runtime, spec, self.principal, args)

    def may(self, role: str) -> bool:
        return self.signed_in is not None and self.principal.has_role(role)

    def render(self, template: str, status: int = 200, **context) -> Response:
        signed_in = self.signed_in
        body = render_page(template, page=self, root=ROOT, signed_in=signed_in, roles=roles,
                           csrf_token=signed_in.csrf_token if signed_in else "",
                           notice=signed_in.flash if signed_in else "",
                           notice_is_error=signed_in.flash_is_error if signed_in else False,
                           url=self.url, static=static_url, **context)
        return Response(status=status, body=body)

    def url(self, path: str, **query) -> str:
        """A link to ``path`` of the interface with ``query`` (empty values left out)."""
        query = {k: v for k, v in query.items() if v not in (None, "")}
        return ROOT + path + ("?" + urlencode(query) if query else "")

    def done(self, location: str, notice: str = "", error: bool = False) -> Response:
        """Redirect after an action (POST/redirect/GET), leaving ``notice``
        for the page it leads to."""
        if notice and self.signed_in is not None:
            self.run(account.leave_notice, self.signed_in.token, notice, error)
        return redirect(location)

    def failed(self, location: str, failure: OperationError) -> Response:
        return self.done(location, failure.message, error=True)

    def act(self, location: str, notice, spec, *args) -> Response:
        """An action's POST: run ``spec``, then redirect to ``location`` with
        ``notice`` (text, or a function of what the operation returned), or
        with the operation's Message if it refused."""
        try:
            result = self.run(spec, *args)
        except OperationError as failure:
            return self.failed(location, failure)
        return self.done(location, notice(result) if callable(notice) else notice)

    def back(self, default: str) -> str:
        """Where the form came from (its ``back`` field), if it is a page of this interface."""
        return local_path(self.request.field("back"), ROOT, ROOT + default)


# ---------------------------------------------------------------- static files

_STATIC: dict[str, tuple[bytes, str]] = {}


def _load_static() -> None:
    folder = resources.files("stws.web") / "static"
    for item in folder.iterdir():
        if item.is_file():
            kind = mimetypes.guess_type(item.name)[0] or "application/octet-stream"
            if kind.startswith("text/") or kind.endswith("javascript"):
                kind += "; charset=utf-8"
            _STATIC[item.name] = (item.read_bytes(), kind)


def _asset_version() -> str:
    digest = hashlib.sha256()
    for name in sorted(_STATIC):
        digest.update(name.encode() + _STATIC[name][0])
    return digest.hexdigest()[:12]


_load_static()
ASSET_VERSION = _asset_version()


def static_url(name: str) -> str:
    # The version changes with the files, so browsers may keep them a year.
    return "%s/static/%s?v=%s" % (ROOT, name, ASSET_VERSION)


def _static(request: WebRequest) -> Response:
    name = request.path[len("/static/"):]
    found = _STATIC.get(name)
    if found is None:
        return Response(status=404, body=b"Not found.\n", content_type="text/plain; charset=utf-8")
    body, kind = found
    return Response(body=body, content_type=kind, cache="public, max-age=31536000, immutable")


# ---------------------------------------------------------------- dispatch


def handle(runtime, request: WebRequest, public_url_is_https: bool) -> Response:
    """Answer one request (on the interface's thread pool): its session and
    its read-only operations on one pooled connection (``one_connection``)."""
    with runtime.db.one_connection():
        return _handle(runtime, request, public_url_is_https)


def _handle(runtime, request: WebRequest, public_url_is_https: bool) -> Response:
    if request.path.startswith("/static/"):
        return _static(request) if request.method in ("GET", "HEAD") else _not_allowed("GET, HEAD")
    method = "GET" if request.method == "HEAD" else request.method
    found = ROUTES.get((method, request.path))
    if found is None:
        allowed = sorted(m for (m, p) in ROUTES if p == request.path)
        if allowed:
            return _not_allowed(", ".join(allowed))
        return _error_page(runtime, request, 404, "There is no page %s here." % (ROOT + request.path))
    failed = _json_error if found.answers_json else _error_page
    try:
        signed_in = None
        try:
            signed_in = resolve(runtime, request.cookies.get(SESSION_COOKIE))
        except AuthenticationFailed as failure:
            if found.answers_json:
                return json_response({"error": failure.message}, 401)
            if not found.public:
                return _to_sign_in(request, failure, public_url_is_https)
        page = Page(request, runtime, signed_in, public_url_is_https)
        if method == "POST" and not _csrf_ok(page):
            return page.render("admin/refused.html", status=403, title="Refused",
                               message="The form was out of date or came from another site, so nothing was "
                                       "changed. Reload the page and try again.")
        if (signed_in is not None and signed_in.must_change_password and not found.public
                and request.path != "/password"):
            if found.answers_json:
                return json_response({"error": "Choose a new password first."}, 403)
            return redirect(ROOT + "/password")
        return found.handler(page)
    except PermissionDenied as failure:
        return failed(runtime, request, 403, failure.message, signed_in)
    except OperationError as failure:
        return failed(runtime, request, 400, failure.message, signed_in)
    except Exception:
        told = log_internal_error("page %s %s failed" % (request.method, ROOT + request.path))
        return failed(runtime, request, 500, told, signed_in)


def _csrf_ok(page: Page) -> bool:
    request = page.request
    origin = request.headers.get("origin")
    if origin and origin != "null":
        host = request.headers.get("host", "")
        if urlsplit(origin).netloc != host:
            return False
    sent = request.field("csrf_token")
    if page.signed_in is not None:
        expected = page.signed_in.csrf_token
    else:
        expected = request.cookies.get(SIGNIN_CSRF_COOKIE, "")
    return bool(sent) and bool(expected) and hmac.compare_digest(sent.encode(), expected.encode())


def _to_sign_in(request: WebRequest, failure: AuthenticationFailed, secure: bool) -> Response:
    target = ROOT + request.path
    if request.query:
        target += "?" + urlencode(request.query, doseq=True)
    location = "%s/signin?next=%s" % (ROOT, quote(target, safe=""))
    if request.cookies.get(SESSION_COOKIE):
        location += "&ended=1"  # it had a session: say why it must sign in again
    response = redirect(location)
    if request.cookies.get(SESSION_COOKIE):
        response.set_cookie(SESSION_COOKIE, "", ROOT, secure=secure, max_age=0)
    return response


def _not_allowed(allowed: str) -> Response:
    return Response(status=405, body=b"Method not allowed.\n", content_type="text/plain; charset=utf-8",
                    headers=[("Allow", allowed)])


def _error_page(runtime, request, status: int, message: str, signed_in=None) -> Response:
    page = Page(request, runtime, signed_in)
    titles = {400: "Not done", 403: "Not allowed", 404: "Not found", 500: "Something went wrong"}
    return page.render("admin/refused.html", status=status, title=titles.get(status, "Error"), message=message)


def json_response(body, status: int = 200) -> Response:
    return Response(status=status, body=json.dumps(body, separators=(",", ":")).encode("utf-8"),
                    content_type="application/json")


def _json_error(runtime, request, status: int, message: str, signed_in=None) -> Response:
    return json_response({"error": message}, status)


def new_signin_csrf() -> str:
    return secrets.token_urlsafe(24)


class AdminResource(Resource):
    """``/admin/...`` on the Site: reads the request on the reactor, answers it
    on the interface's thread pool, writes the response on the reactor."""

    isLeaf = True

    def __init__(self, runtime, reactor, pool, public_url_is_https: bool):
        super().__init__()
        self.runtime = runtime
        self.reactor = reactor
        self.pool = pool
        self.https = public_url_is_https

    def render(self, request):
        if request.path.rstrip(b"/").lower() == ROOT.encode():
            request.path = (ROOT + "/").encode()
        try:
            web_request = read_request(request, ROOT)
        except ValueError:
            send(request, Response(status=413, body=b"Form too large.\n", content_type="text/plain; charset=utf-8"))
            return server.NOT_DONE_YET
        gone = []
        request.notifyFinish().addErrback(gone.append)
        answer = deferToThreadPool(self.reactor, self.pool, handle, self.runtime, web_request, self.https)
        answer.addCallback(lambda response: None if gone else send(request, response))
        answer.addErrback(self._failed, request, gone)
        return server.NOT_DONE_YET

    def _failed(self, failure, request, gone):
        told = log_internal_error("admin request failed", (failure.type, failure.value, failure.getTracebackObject()))
        if not gone:
            send(request, Response(status=500, body=told.encode() + b"\n", content_type="text/plain; charset=utf-8"))
