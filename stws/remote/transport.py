"""zeep's HTTP transport, bounded: one deadline per call, a cap on the size of
every answer, only http(s), and answers that are not SOAP recognised before
zeep tries to parse them.

A transport serves one call (its deadline is that call's); the requests
Session underneath (a ``PeerSession``) is reused across calls for keep-alive.
"""
from __future__ import annotations

import os
import re
import time
from contextlib import closing
from urllib.parse import urlsplit

import requests
from requests.utils import get_environ_proxies
from zeep.transports import Transport
from zeep.utils import get_media_type

MAX_ANSWER_BYTES = 10 * 1024 * 1024
_CHUNK = 64 * 1024
_TITLE = re.compile(rb"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)


class PeerAnswerError(Exception):
    """The peer answered, but not with something zeep should parse. The
    client words it (it knows the peer's name and the operation)."""

    def __init__(self, kind, status: int, detail: str = ""):
        super().__init__(kind, status, detail)
        self.kind, self.status, self.detail = kind, status, detail


class DeadlinePassed(requests.Timeout):
    """The answer was still arriving when the call's time was up."""


def _looks_like_html(media_type: str, content: bytes) -> bool:
    if media_type in ("text/html", "application/xhtml+xml"):
        return True
    head = content[:512].lstrip().lower()
    return head.startswith(b"<!doctype html") or head.startswith(b"<html")


def _page_title(content: bytes) -> str:
    match = _TITLE.search(content[:65536])
    if not match:
        return ""
    return " ".join(match.group(1).decode("utf-8", "replace").split())[:200]


_ORIGINS_REMEMBERED = 256


class PeerSession(requests.Session):
    """A requests Session that reads the environment's proxy and CA settings
    once per peer address instead of on every request.

    With ``trust_env`` requests walks ``os.environ`` for proxies and looks
    for a ``.netrc`` on each request: about a third of the client's CPU
    time of a provider call. Here ``HTTP(S)_PROXY``/``NO_PROXY`` are decided
    (with requests' own rules) the first time a session meets an address,
    and ``REQUESTS_CA_BUNDLE``/``CURL_CA_BUNDLE`` when it is made, so they
    must be set before the server starts. ``.netrc`` is not read: a
    provider is authenticated by its ``authPW``, not by HTTP credentials.
    """

    def __init__(self):
        super().__init__()
        self.trust_env = False
        self.headers["User-Agent"] = "stws"
        bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
        if bundle:
            self.verify = bundle
        self._proxies_by_origin: dict[tuple[str, str], dict] = {}

    def proxies_for(self, url: str) -> dict:
        parts = urlsplit(url)
        origin = (parts.scheme, parts.netloc)
        proxies = self._proxies_by_origin.get(origin)
        if proxies is None:
            # Peers are a handful of configured addresses; the bound only
            # guards against WSDLs that keep naming new ones.
            if len(self._proxies_by_origin) >= _ORIGINS_REMEMBERED:
                self._proxies_by_origin.clear()
            proxies = self._proxies_by_origin[origin] = get_environ_proxies(url)
        return proxies


class BoundedTransport(Transport):
    def __init__(self, session: PeerSession, deadline: float, max_answer_bytes: int = MAX_ANSWER_BYTES):
        # Not Transport.__init__: it mounts a file:// adapter on the session
        # (a peer's WSDL must not make us read local files). Its timeouts
        # are unused: every request here gets what is left of ``deadline``.
        self.session = session
        self.cache = None
        self._close_session = False
        self.deadline = deadline
        self.max_answer_bytes = max_answer_bytes
        # Set once the request has left: errors before that come from the
        # arguments given to zeep (ours), errors after it from the answer.
        self.request_sent = False
        self.status = 0

    def _seconds_left(self) -> float:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise DeadlinePassed("the call's time is up")
        return left

    def _exchange(self, method: str, url: str, **kwargs) -> requests.Response:
        self.request_sent = True
        response = self.session.request(method, url, stream=True, timeout=self._seconds_left(),
                                        proxies=self.session.proxies_for(url), **kwargs)
        with closing(response):
            self.status = response.status_code
            declared = response.headers.get("Content-Length", "")
            if declared.isdigit() and int(declared) > self.max_answer_bytes:
                raise PeerAnswerError("too-large", response.status_code, declared)
            body = bytearray()
            # read1, not iter_content: that waits for a whole chunk, and a
            # peer dripping a byte at a time would never reach a socket timeout.
            while chunk := response.raw.read1(_CHUNK, decode_content=True):
                body += chunk
                if len(body) > self.max_answer_bytes:
                    raise PeerAnswerError("too-large", response.status_code)
                if time.monotonic() > self.deadline:
                    raise DeadlinePassed("the answer was still arriving")
            # What zeep reads (requests keeps a streamed body here once read).
            response._content = bytes(body)
        return response

    def _check(self, response: requests.Response, soap_expected: bool) -> None:
        media_type = get_media_type(response.headers.get("Content-Type", "text/xml"))
        if _looks_like_html(media_type, response.content):
            raise PeerAnswerError("html", response.status_code, _page_title(response.content))
        # An ASMX service answers a fault with 500 and a SOAP body: zeep reads that.
        has_xml_body = response.content and "xml" in media_type
        if response.status_code >= 400 and not (soap_expected and has_xml_body):
            raise PeerAnswerError("http-status", response.status_code, response.reason or "")

    # ---- zeep's entry points

    def load(self, url):
        if urlsplit(url).scheme not in ("http", "https"):
            raise PeerAnswerError("bad-wsdl", 0, "it refers to %s, which is not an http(s) address" % url)
        response = self._exchange("GET", url)
        self._check(response, soap_expected=False)
        return response.content

    def get(self, address, params, headers):
        response = self._exchange("GET", address, params=params, headers=headers)
        self._check(response, soap_expected=True)
        return response

    def post(self, address, message, headers):
        response = self._exchange("POST", address, data=message, headers=headers)
        self._check(response, soap_expected=True)
        return response
