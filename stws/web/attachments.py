"""``GET /Attachments/<id>?expires=<unix time>&token=<HMAC>``: ticket attachment downloads.

The URL is the ``downloadUrl`` svcTickets hands out (see
stws.domain.tickets.attachments): the token is checked first (wrong or
expired: 403), then the attachment (unknown, deleted, incomplete, or its
ticket deleted: 404). The file is always sent as a download
(``Content-Disposition: attachment``, ``application/octet-stream``,
``nosniff``, a sandboxing CSP), never rendered inline: its content is
whatever a customer uploaded.

The database lookup, opening the file and every read run in the reactor's
thread pool; the reactor only writes the chunks, pausing while the client's
connection is backed up.
"""
from __future__ import annotations

import logging
from urllib.parse import quote

from twisted.internet import threads
from twisted.internet.interfaces import IPushProducer
from twisted.python import failure as tw_failure
from twisted.web import http
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET
from zope.interface import implementer

from stws.errors import NotFound
from stws.domain.tickets import attachments
from stws.web.strict_http import DeclaredMethodsOnly

error_log = logging.getLogger("stws.error")
CHUNK = 64 * 1024
# The ids an attachment can have: TicketAttachmentInfo.fileId is an xs:int
# (and PostgreSQL's column an integer); a larger one would fail in the
# database, not be "not found".
MAX_ATTACHMENT_ID = 2 ** 31 - 1


def content_disposition(file_name: str) -> bytes:
    """``attachment`` with an ASCII fallback name and the UTF-8 one (RFC 6266)."""
    fallback = "".join(c if 32 <= ord(c) < 127 and c not in '"\\;' else "_" for c in file_name) or "attachment"
    return ('attachment; filename="%s"; filename*=UTF-8\'\'%s' % (fallback, quote(file_name, safe=""))).encode(
        "ascii")


class AttachmentsResource(DeclaredMethodsOnly, Resource):
    isLeaf = True

    def __init__(self, runtime, reactor):
        super().__init__()
        self.runtime = runtime
        self.reactor = reactor

    def _in_thread(self, function, *args):
        return threads.deferToThreadPool(self.reactor, self.reactor.getThreadPool(), function, *args)

    def render_GET(self, request):
        request.setHeader(b"cache-control", b"no-store")
        request.setHeader(b"referrer-policy", b"no-referrer")
        request.setHeader(b"x-content-type-options", b"nosniff")
        if len(request.postpath) != 1 or not request.postpath[0].isdigit():
            return self._refuse(request, http.NOT_FOUND, b"No such attachment.\n")
        attachment_id = int(request.postpath[0])
        if attachment_id > MAX_ATTACHMENT_ID:
            return self._refuse(request, http.NOT_FOUND, b"No such attachment.\n")
        try:
            expires = int(request.args.get(b"expires", [b""])[0])
            token = request.args.get(b"token", [b""])[0].decode("ascii")
        except (ValueError, UnicodeDecodeError):
            return self._refuse(request, http.FORBIDDEN, b"Invalid or expired download link.\n")
        if not attachments.token_is_valid(self.runtime.data.root, attachment_id, expires, token):
            return self._refuse(request, http.FORBIDDEN, b"Invalid or expired download link.\n")
        found = self._in_thread(self._open, attachment_id)
        found.addCallbacks(self._send, self._lookup_failed, callbackArgs=(request,), errbackArgs=(request,))
        return NOT_DONE_YET

    def _refuse(self, request, code, text: bytes) -> bytes:
        request.setResponseCode(code)
        request.setHeader(b"content-type", b"text/plain; charset=utf-8")
        return text

    def _open(self, attachment_id):
        download = attachments.find_download(self.runtime, attachment_id)
        try:
            handle = open(download.path, "rb")
        except FileNotFoundError:
            error_log.error("attachment %d: file %s is missing", attachment_id, download.path)
            raise NotFound("file missing") from None
        return download, handle

    def _lookup_failed(self, reason: tw_failure.Failure, request):
        if request._disconnected:
            return
        if reason.check(NotFound):
            body = self._refuse(request, http.NOT_FOUND, b"No such attachment.\n")
        else:
            error_log.error("attachment download failed: %s", reason.getTraceback())
            body = self._refuse(request, http.INTERNAL_SERVER_ERROR, b"Internal error.\n")
        request.write(body)
        request.finish()

    def _send(self, found, request):
        download, handle = found
        if request._disconnected:
            handle.close()
            return
        request.setHeader(b"content-type", b"application/octet-stream")
        request.setHeader(b"content-disposition", content_disposition(download.file_name))
        request.setHeader(b"content-security-policy", b"default-src 'none'; sandbox")
        request.setHeader(b"content-length", b"%d" % download.length)
        _Streamer(self, request, handle, download.length).start()


@implementer(IPushProducer)
class _Streamer:
    """Reads ``length`` bytes of ``handle`` in the thread pool, writes them to ``request``."""

    def __init__(self, resource, request, handle, length):
        self.resource = resource
        self.request = request
        self.handle = handle
        self.remaining = length
        self.paused = False
        self.reading = False
        self.done = False

    def start(self):
        self.request.notifyFinish().addErrback(lambda _: self.stopProducing())
        self.request.registerProducer(self, True)
        self._next()

    def pauseProducing(self):
        self.paused = True

    def resumeProducing(self):
        self.paused = False
        self._next()

    def stopProducing(self):
        self._close()

    def _next(self):
        if self.done or self.paused or self.reading:
            return
        if self.remaining <= 0:
            self._close()
            self.request.unregisterProducer()
            self.request.finish()
            return
        self.reading = True
        reading = self.resource._in_thread(self.handle.read, min(CHUNK, self.remaining))
        reading.addCallbacks(self._got, self._failed)

    def _got(self, chunk: bytes):
        self.reading = False
        if self.done:
            self.handle.close()
            return
        if not chunk:
            # The file is shorter than its row says: the client must not take
            # a truncated body for the file.
            error_log.error("attachment file %s ended %d bytes early", self.handle.name, self.remaining)
            self._abort()
            return
        self.remaining -= len(chunk)
        self.request.write(chunk)
        self._next()

    def _failed(self, reason):
        self.reading = False
        if self.done:
            self.handle.close()
        else:
            error_log.error("reading attachment file %s failed: %s", self.handle.name, reason.getTraceback())
            self._abort()

    def _abort(self):
        self._close()
        self.request.unregisterProducer()
        transport = self.request.channel.transport if self.request.channel else None
        if transport is not None:
            transport.abortConnection()

    def _close(self):
        """Stop; the file is closed now, or when a read in progress returns."""
        if not self.done:
            self.done = True
            if not self.reading:
                self.handle.close()
