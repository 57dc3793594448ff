"""What a page handler sees of HTTP: a plain request and response, made and
sent on the reactor thread, so that handlers run on a thread pool without
touching Twisted's request object.

Also the headers every page of the management interface carries: a
Content-Security-Policy that allows no inline script or style, no remote
image and no framing (a response may bring its own, e.g. a ticket whose
agent asked to see its remote images), and no caching of pages that show
signed-in data.

Forms arrive URL-encoded or, when they upload a file, as
multipart/form-data: the file's bytes are in ``WebRequest.files``; the
whole body is bounded by the site's max-request-size (stws.soap.hosting's
BoundedRequest), the file by the operation that stores it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from email.message import Message
from urllib.parse import parse_qs, quote

# Larger form bodies are refused (413): no form of the interface comes near.
MAX_FORM_BYTES = 1024 * 1024

CSP = "Content-Security-Policy"
CONTENT_SECURITY_POLICY = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                           "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
SECURITY_HEADERS = (
    (CSP, CONTENT_SECURITY_POLICY),
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
    files: dict = field(default_factory=dict)  # name -> [Upload] of a multipart/form-data POST

    def arg(self, name: str, default: str = "") -> str:
        values = self.query.get(name)
        return values[0] if values else default

    def field(self, name: str, default: str = "") -> str:
        values = self.form.get(name)
        return values[0] if values else default

    def fields(self, name: str) -> list[str]:
        return list(self.form.get(name, []))


@dataclass(frozen=True)
class Upload:
    """A file of a multipart form (an empty file input sends one with no name)."""

    file_name: str
    data: bytes


def _multipart(body: bytes, content_type: str) -> tuple[dict, dict]:
    """(fields, files) of a multipart/form-data body (RFC 7578); ValueError if it is malformed."""
    header = Message()
    header["content-type"] = content_type
    boundary = header.get_param("boundary")
    if not boundary or not isinstance(boundary, str):
        raise ValueError("multipart body without a boundary")
    delimiter = b"\r\n--" + boundary.encode("latin-1")
    sections = (b"\r\n" + body).split(delimiter)
    form, files = {}, {}
    for section in sections[1:]:
        if section.startswith(b"--"):
            return form, files
        head, separator, content = section.partition(b"\r\n\r\n")
        if not separator:
            raise ValueError("multipart section without headers")
        part = Message()
        for line in head.split(b"\r\n")[1:]:
            name, colon, value = line.decode("utf-8", "replace").partition(":")
            if colon:
                part[name.strip()] = value.strip()
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        file_name = part.get_param("filename", header="content-disposition")
        if file_name is None:
            form.setdefault(name, []).append(content.decode("utf-8", "replace"))
        else:
            files.setdefault(name, []).append(Upload(str(file_name), content))
    raise ValueError("multipart body without its closing delimiter")


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
    form, files = {}, {}
    raw_type = (twisted_request.getHeader(b"content-type") or b"").decode("latin-1")
    content_type = raw_type.lower()
    if twisted_request.method == b"POST" and content_type.startswith("application/x-www-form-urlencoded"):
        twisted_request.content.seek(0)
        body = twisted_request.content.read(MAX_FORM_BYTES + 1)
        if len(body) > MAX_FORM_BYTES:
            raise ValueError("form too large")
        form = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True, max_num_fields=100_000)
    elif twisted_request.method == b"POST" and content_type.startswith("multipart/form-data"):
        twisted_request.content.seek(0)
        try:
            form, files = _multipart(twisted_request.content.read(), raw_type)
        except ValueError:
            form, files = {}, {}  # no CSRF token either: refused as a form from elsewhere
    header = twisted_request.getHeader(b"cookie")
    cookies = parse_cookies(header.decode("latin-1")) if header else {}
    headers = {name.decode("latin-1").lower(): values[-1].decode("latin-1")
               for name, values in twisted_request.requestHeaders.getAllRawHeaders()}
    client = twisted_request.getClientAddress()
    return WebRequest(twisted_request.method.decode("latin-1"), below or "/", query, form, cookies, headers,
                      getattr(client, "host", ""), twisted_request.isSecure(), files)


def parse_cookies(header: str) -> dict:
    """The name -> value pairs of a Cookie header (RFC 6265: ``a=1; b="2"``).
    Parts without a name or ``=`` are skipped, so one odd cookie of another
    application on the host costs nothing else; of a name sent twice the
    last counts. Read on the reactor for every request of the interface
    (every heartbeat): http.cookies.SimpleCookie took ~50 us for a
    one-cookie header, this ~2 us."""
    cookies = {}
    for part in header.split(";"):
        name, equals, value = part.partition("=")
        name, value = name.strip(), value.strip()
        if not equals or not name:
            continue
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1]
        cookies[name] = value
    return cookies


# Set on every response (reactor thread): encoded once.
_SECURITY_HEADERS = tuple((name.lower(), name.encode("latin-1"), value.encode("latin-1"))
                          for name, value in SECURITY_HEADERS)


def send(twisted_request, response: Response) -> None:
    twisted_request.setResponseCode(response.status)
    twisted_request.setHeader(b"content-type", response.content_type.encode("latin-1"))
    own = {name.lower() for name, _ in response.headers} if response.headers else ()
    for lower, name, value in _SECURITY_HEADERS:
        if lower not in own:
            twisted_request.setHeader(name, value)
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
