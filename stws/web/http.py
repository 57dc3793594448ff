"""What a page handler sees of HTTP: a plain request and response, made and
sent on the reactor thread, so that handlers run on a thread pool without
touching Twisted's request object.

Also the headers every page of the management interface carries: a
Content-Security-Policy that allows no inline script or style and no
framing, and no caching of pages that show signed-in data.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from urllib.parse import parse_qs, quote

# Larger form bodies are refused (413): no form of the interface comes near.
MAX_FORM_BYTES = 1024 * 1024

SECURITY_HEADERS = (
    ("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                                "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"),
    ("X-Frame-Options", "DENY"),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "same-origin"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
)


@dataclass(frozen=True)
class WebRequest:
    method: str
    path: str  # below the interface's root, e.g. "/settings/diagnostics"
    query: dict  # name -> [values]
    form: dict  # name -> [values] of an application/x-www-form-urlencoded POST
    cookies: dict  # name -> value
    headers: dict  # lower-case name -> value
    client_address: str
    secure: bool

    def arg(self, name: str, default: str = "") -> str:
        values = self.query.get(name)
        return values[0] if values else default

    def field(self, name: str, default: str = "") -> str:
        values = self.form.get(name)
        return values[0] if values else default

    def fields(self, name: str) -> list[str]:
        return list(self.form.get(name, []))


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    content_type: str = "text/html; charset=utf-8"
    headers: list = field(default_factory=list)  # (name, value)
    cache: str = "no-store"

    def set_cookie(self, name: str, value: str, path: str, *, secure: bool, max_age: int | None = None) -> None:
        cookie = "%s=%s; Path=%s; HttpOnly; SameSite=Lax" % (name, value, path)
        if max_age is not None:
            cookie += "; Max-Age=%d" % max_age
        if secure:
            cookie += "; Secure"
        self.headers.append(("Set-Cookie", cookie))


def redirect(location: str, status: int = 303) -> Response:
    """See Other: after a form post the browser GETs ``location``."""
    return Response(status=status, headers=[("Location", location)], body=b"")


def read_request(twisted_request, root: str) -> WebRequest:
    """The WebRequest of a Twisted request for a path under ``root``."""
    path = twisted_request.path.decode("latin-1")
    below = path[len(root):] if path.startswith(root) else path
    query = parse_qs(twisted_request.uri.partition(b"?")[2].decode("latin-1"), keep_blank_values=True)
    form = {}
    content_type = (twisted_request.getHeader(b"content-type") or b"").decode("latin-1").lower()
    if twisted_request.method == b"POST" and content_type.startswith("application/x-www-form-urlencoded"):
        twisted_request.content.seek(0)
        body = twisted_request.content.read(MAX_FORM_BYTES + 1)
        if len(body) > MAX_FORM_BYTES:
            raise ValueError("form too large")
        form = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True, max_num_fields=100_000)
    cookies = {}
    header = twisted_request.getHeader(b"cookie")
    if header:
        jar = SimpleCookie()
        try:
            jar.load(header.decode("latin-1"))
        except Exception:  # noqa: BLE001 - a malformed cookie header is ignored as browsers do
            jar = {}
        cookies = {name: morsel.value for name, morsel in jar.items()}
    headers = {name.decode("latin-1").lower(): values[-1].decode("latin-1")
               for name, values in twisted_request.requestHeaders.getAllRawHeaders()}
    client = twisted_request.getClientAddress()
    return WebRequest(twisted_request.method.decode("latin-1"), below or "/", query, form, cookies, headers,
                      getattr(client, "host", ""), twisted_request.isSecure())


def send(twisted_request, response: Response) -> None:
    twisted_request.setResponseCode(response.status)
    twisted_request.setHeader(b"content-type", response.content_type.encode("latin-1"))
    for name, value in SECURITY_HEADERS:
        twisted_request.setHeader(name.encode("latin-1"), value.encode("latin-1"))
    twisted_request.setHeader(b"cache-control", response.cache.encode("latin-1"))
    for name, value in response.headers:
        twisted_request.responseHeaders.addRawHeader(name.encode("latin-1"), value.encode("latin-1"))
    twisted_request.setHeader(b"content-length", b"%d" % len(response.body))
    if twisted_request.method != b"HEAD":
        twisted_request.write(response.body)
    twisted_request.finish()


def local_path(text: str, root: str, default: str) -> str:
    """``text`` if it is a path of this interface (where to go after signing
    in), else ``default``: never a redirect to another site."""
    if text.startswith(root + "/") and not text.startswith("//") and "\\" not in text and "://" not in text:
        return quote(text, safe="/?&=%-_.~")
    return default
