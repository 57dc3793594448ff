"""zeep's HTTP transport, bounded: one deadline per call, a cap on the size of
every answer, only http(s), and answers that are not SOAP recognised before
zeep tries to parse them.

A transport serves one call (its deadline is that call's); the requests
Session underneath is reused across calls for keep-alive.
"""
from __future__ import annotations

import re
import time
from contextlib import closing
from urllib.parse import urlsplit

import requests
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


class BoundedTransport(Transport):
    def __init__(self, session: requests.Session, deadline: float, max_answer_bytes: int = MAX_ANSWER_BYTES):
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
        response = self.session.request(method, url, stream=True, timeout=self._seconds_left(), **kwargs)
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
