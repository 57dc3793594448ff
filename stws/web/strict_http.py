"""HTTP answers Twisted leaves out or gets wrong, for every URL of the site.

- A method a resource has no ``render_<METHOD>`` for: Twisted answers 405
  only to GET, HEAD and POST, and its "501 Huh?" page to any other (PUT,
  DELETE, OPTIONS, PATCH...). ``DeclaredMethodsOnly`` answers 405 with the
  ``Allow`` header HTTP requires (RFC 9110, 15.5.6) whatever the method.
- Requests over the header limits: Twisted closes the connection without a
  word when one line exceeds ``MAX_LENGTH`` (16 KiB), and answers a bare
  400 when all header lines together exceed ``totalHeadersSize`` (16 KiB)
  or there are more than ``maxHeaders`` (500). ``LimitedHTTPChannel``
  keeps these limits and says which one was hit: 414 for the request line,
  431 for the header lines (RFC 6585, 5).
"""
from __future__ import annotations

from twisted.web import http
from twisted.web.resource import UnsupportedMethod

REQUEST_HEADER_FIELDS_TOO_LARGE = 431


def refuse_method(request, allowed) -> bytes:
    """A 405 answer naming the ``allowed`` methods (bytes); its body."""
    allowed = b", ".join(allowed)
    request.setResponseCode(http.NOT_ALLOWED)
    request.setHeader(b"allow", allowed)
    request.setHeader(b"content-type", b"text/plain; charset=utf-8")
    return b"Method not allowed here. Allowed: %s.\n" % allowed


class DeclaredMethodsOnly:
    """Mixed into a ``Resource`` before it: the methods it has ``render_X``
    for are answered, any other gets ``refuse_method``."""

    def render(self, request):
        try:
            return super().render(request)
        except UnsupportedMethod as refused:
            if request.method == b"HEAD" and b"GET" in refused.allowedMethods:
                raise  # Twisted answers HEAD with GET's headers
            return refuse_method(request, refused.allowedMethods)


class LimitedHTTPChannel(http.HTTPChannel):
    """``HTTPChannel`` answering requests over its header limits with 414 or
    431 (see the module docstring) before it closes the connection."""

    def lineLengthExceeded(self, line):
        self._refuse_over_limit()

    def lineReceived(self, line):
        if self._receivedHeaderSize + len(line) > self.totalHeadersSize:
            self._refuse_over_limit()
            return
        super().lineReceived(line)

    def headerReceived(self, line):
        if self._receivedHeaderCount >= self.maxHeaders:
            self._refuse(REQUEST_HEADER_FIELDS_TOO_LARGE, b"Request Header Fields Too Large",
                         b"More than %d header lines." % self.maxHeaders)
            return False
        return super().headerReceived(line)

    def _refuse_over_limit(self):
        # Nothing of this request counted yet: the line is its request line.
        if self._receivedHeaderSize == 0:
            self._refuse(http.REQUEST_URI_TOO_LONG, b"URI Too Long",
                         b"The request line is longer than %d bytes." % self.MAX_LENGTH)
        else:
            self._refuse(REQUEST_HEADER_FIELDS_TOO_LARGE, b"Request Header Fields Too Large",
                         b"The request's header lines are larger than %d bytes." % self.totalHeadersSize)

    def _refuse(self, code: int, reason: bytes, text: bytes):
        """Answer and close, as Twisted's own _respondToBadRequestAndDisconnect
        does for a malformed request (no Request object exists yet)."""
        body = text + b"\n"
        self.transport.write(b"HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\n"
                             b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (code, reason, len(body), body))
        self.loseConnection()
