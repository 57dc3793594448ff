"""Calling a peer's SOAP web service: customers' external providers (ASMX
services in any namespace) and other help desk servers (transfers).

``PeerClient.call(url, operation, *args)`` reads the peer's WSDL once
(``url?WSDL``, cached per URL until ``invalidate(url)``), binds its SOAP 1.1
port to ``url`` itself (the address inside a WSDL is often an internal host
name) and calls ``operation`` with zeep. It blocks, so:

* never on the reactor thread (it refuses): code there uses
  ``call_deferred``, which runs the call on this client's own bounded thread
  pool, started and stopped with the server;
* never inside a database transaction: a call can take its whole timeout,
  and a transaction held open that long stalls writers (SQLite's write
  lock) or idles a connection. Callers read what they send first, end their
  unit of work, call, then record the outcome in a new one.

Each call has a timeout; ``budget`` (a TimeBudget) bounds a sequence of
calls. A peer URL that failed FAILURE_THRESHOLD times in a row is not called
for a cool-down (CircuitBreakers). Every call goes to the providers log
(``stws.providers``: peer, operation, duration, outcome), every failure of
the peer also to the error log (and so the error email; calls skipped while
its circuit is open or the budget is spent are not news there). Failures are
RemoteFailure (result code 9, a Message a person can act on, a ``kind``);
errors of our own code (TypeError, AttributeError, zeep refusing the
arguments we give it, ...) propagate unchanged: they are bugs, not outages.
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Callable

import requests
import zeep
import zeep.exceptions
from lxml import etree
from twisted.internet import threads
from twisted.python import threadable
from twisted.python.threadpool import ThreadPool
from zeep.wsdl import Document
from zeep.wsdl.bindings.soap import Soap11Binding

from stws.remote.breaker import CircuitBreakers
from stws.remote.budget import TimeBudget
from stws.remote.errors import FailureKind, RemoteFailure
from stws.remote.transport import MAX_ANSWER_BYTES, BoundedTransport, PeerAnswerError, PeerSession

providers_log = logging.getLogger("stws.providers")
error_log = logging.getLogger("stws.error")

DEFAULT_TIMEOUT_SECONDS = 20.0
POOL_THREADS = 4
# Strict parsing, no DTDs or entities: the answers come from other people's servers.
ZEEP_SETTINGS = zeep.Settings(strict=True, forbid_dtd=True, forbid_entities=True)


class PeerClient:
    def __init__(self, max_threads: int = POOL_THREADS, breakers: CircuitBreakers | None = None,
                 max_answer_bytes: int = MAX_ANSWER_BYTES, reactor=None,
                 transaction_open: Callable[[], bool] | None = None):
        """``transaction_open()`` says whether the calling thread is inside a
        database transaction (the runtime passes Database.in_transaction):
        then ``call`` refuses, as on the reactor thread."""
        self._transaction_open = transaction_open
        self.breakers = breakers or CircuitBreakers()
        self.max_answer_bytes = max_answer_bytes
        self.pool = ThreadPool(minthreads=0, maxthreads=max_threads, name="remote-soap")
        self._reactor = reactor
        self._documents: dict[str, Document] = {}
        self._loading: dict[str, threading.Lock] = {}
        self._cache_lock = threading.Lock()
        # One requests Session per thread (keep-alive without sharing a
        # Session across threads).
        self._local = threading.local()

    # ---- life cycle and the thread pool

    def start(self) -> None:
        self.pool.start()

    def stop(self) -> None:
        """Joins the pool's threads: call it off the reactor thread."""
        self.pool.stop()

    def call_deferred(self, url: str, operation: str, *args, **kwargs):
        """``call`` on this client's pool; a Deferred of its result (for the reactor thread)."""
        if not self.pool.started:  # else the call would wait, unnoticed, for a start that never comes
            raise RuntimeError("PeerClient.call_deferred before start(): the server starts the pool")
        if self._reactor is None:
            from twisted.internet import reactor
            self._reactor = reactor
        return threads.deferToThreadPool(self._reactor, self.pool, self.call, url, operation, *args, **kwargs)

    # ---- the WSDL cache

    def invalidate(self, url: str) -> None:
        """Read the WSDL of ``url`` again on its next call, and forget its
        failures (its settings changed)."""
        self._forget_document(url)
        self.breakers.reset(url)

    def _document(self, url: str, transport: BoundedTransport) -> Document:
        document = self._documents.get(url)
        if document is not None:
            return document
        with self._cache_lock:
            loading = self._loading.setdefault(url, threading.Lock())
        with loading:  # concurrent first calls fetch it once
            document = self._documents.get(url)
            if document is None:
                document = Document(url + "?WSDL", transport, settings=ZEEP_SETTINGS)
                with self._cache_lock:
                    self._documents[url] = document
        return document

    # ---- calling

    def call(self, url: str, operation: str, *args, peer: str | None = None,
             timeout: float = DEFAULT_TIMEOUT_SECONDS, budget: TimeBudget | None = None, **kwargs):
        """``operation(*args, **kwargs)`` on the web service at ``url`` (its
        .asmx address, without ``?WSDL``); zeep's result object. ``peer``
        names the peer in messages and logs (default: the URL)."""
        if threadable.isInIOThread():
            raise RuntimeError("PeerClient.call blocks; on the reactor thread use call_deferred")
        if self._transaction_open is not None and self._transaction_open():
            raise RuntimeError("PeerClient.call inside a database transaction; end the unit of work first")
        peer = peer or url
        started = time.monotonic()
        try:
            seconds = budget.timeout_for(timeout) if budget is not None else timeout
            self.breakers.before_call(url, peer)
        except RemoteFailure as failure:
            self._log_outcome(url, peer, operation, started, failure)
            raise
        try:
            result = self._call_once(url, operation, args, kwargs, peer, seconds, budget)
        except RemoteFailure as failure:
            self._log_outcome(url, peer, operation, started, failure)
            if self.breakers.failed(url):
                error_log.error("%s (%s) is not called for %g seconds after %d failures in a row", peer, url,
                                self.breakers.cool_down, self.breakers.threshold)
            raise
        except BaseException:
            self.breakers.released(url)
            providers_log.error("%s on %s (%s): internal error after %.3f s (see the error log)", operation, peer,
                                url, time.monotonic() - started)
            raise
        self.breakers.succeeded(url)
        self._log_outcome(url, peer, operation, started, None)
        return result

    def _session(self) -> PeerSession:
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = PeerSession()
        return session

    def _call_once(self, url, operation, args, kwargs, peer, seconds, budget):
        transport = BoundedTransport(self._session(), time.monotonic() + seconds, self.max_answer_bytes)
        failing = _Wording(url, peer, operation, seconds, budget, self.max_answer_bytes)
        try:
            document = self._document(url, transport)
        except Exception as error:
            # Only zeep reading the peer's documents runs here: whatever it
            # raises says the WSDL is unusable.
            raise failing.wsdl(error) from None
        binding = self._binding(document, url, peer, operation)
        client = zeep.Client(document, transport=transport, settings=ZEEP_SETTINGS)
        service = client.create_service(binding.name, url)
        transport.request_sent = False  # the WSDL's requests do not count
        try:
            return service[operation](*args, **kwargs)
        except Exception as error:
            failure = failing.call(error, transport.request_sent)
            if failure is None:
                raise
            raise failure from None

    def _binding(self, document: Document, url: str, peer: str, operation: str) -> Soap11Binding:
        soap11 = [binding for binding in document.bindings.values() if isinstance(binding, Soap11Binding)]
        for binding in soap11:
            if operation in binding.all():
                return binding
        # Perhaps the peer was upgraded since its WSDL was read: read it again next time.
        self._forget_document(url)
        offered = sorted({name for binding in soap11 for name in binding.all()})
        raise RemoteFailure("The web service of %s (%s) has no operation %s; its WSDL offers %s." % (
            peer, url, operation, ", ".join(offered) if offered else "no SOAP 1.1 operation at all"),
            FailureKind.MISSING_OPERATION)

    def _forget_document(self, url: str) -> None:
        with self._cache_lock:
            self._documents.pop(url, None)

    def _log_outcome(self, url, peer, operation, started, failure: RemoteFailure | None) -> None:
        seconds = time.monotonic() - started
        if failure is None:
            providers_log.info("%s on %s (%s): ok in %.3f s", operation, peer, url, seconds)
        elif failure.kind in (FailureKind.CIRCUIT_OPEN, FailureKind.BUDGET):
            # Not called at all: no news about the peer for the error log.
            providers_log.warning("%s on %s (%s): not called [%s]: %s", operation, peer, url, failure.kind.value,
                                  failure.message)
        else:
            providers_log.warning("%s on %s (%s): failed in %.3f s [%s]: %s", operation, peer, url, seconds,
                                  failure.kind.value, failure.message)
            # The error email groups records by their template: peer,
            # operation and kind go into it, so each is one entry there with
            # a count, and two peers' outages are never merged into one.
            where = "Remote call %s on %s (%s) failed [%s]" % (operation, peer, url, failure.kind.value)
            error_log.error(where.replace("%", "%%") + ": %s", failure.message)


class _Wording:
    """Words what went wrong in one call as a RemoteFailure."""

    def __init__(self, url, peer, operation, seconds, budget, max_answer_bytes):
        self.url, self.peer, self.operation = url, peer, operation
        self.seconds, self.budget, self.max_answer_bytes = seconds, budget, max_answer_bytes

    def wsdl(self, error: Exception) -> RemoteFailure:
        failure = self._transport(error, "the request for its WSDL (%s?WSDL)" % self.url)
        if failure is not None:
            return failure
        if isinstance(error, zeep.exceptions.XMLSyntaxError):
            return RemoteFailure("The WSDL of %s (%s?WSDL) is not well-formed XML: %s" % (
                self.peer, self.url, _first_line(error)), FailureKind.MALFORMED)
        return RemoteFailure("The WSDL of %s (%s?WSDL) cannot be used: %s" % (
            self.peer, self.url, _first_line(error)), FailureKind.BAD_WSDL)

    def call(self, error: Exception, request_sent: bool) -> RemoteFailure | None:
        """The failure ``error`` stands for; None when it is ours (a bug)."""
        failure = self._transport(error, self.operation)
        if failure is not None:
            return failure
        if isinstance(error, zeep.exceptions.Fault):
            return RemoteFailure("%s answered %s with a SOAP fault: %s" % (
                self.peer, self.operation, error.message or error.code or "no faultstring"), FailureKind.FAULT)
        if isinstance(error, zeep.exceptions.TransportError):
            if error.content:
                return RemoteFailure("%s answered %s with malformed XML (HTTP %s): %s" % (
                    self.peer, self.operation, error.status_code, _xml_problem(error)), FailureKind.MALFORMED)
            return RemoteFailure("%s answered %s with HTTP status %s and no content." % (
                self.peer, self.operation, error.status_code), FailureKind.HTTP_STATUS)
        if request_sent and isinstance(error, (zeep.exceptions.Error, etree.LxmlError, ValueError)):
            # zeep read the answer against the WSDL and it did not fit.
            return RemoteFailure("%s's answer to %s does not match its WSDL: %s" % (
                self.peer, self.operation, _first_line(error)), FailureKind.UNEXPECTED_ANSWER)
        return None

    def _transport(self, error: Exception, what: str) -> RemoteFailure | None:
        if isinstance(error, PeerAnswerError):
            return self._answer(error, what)
        if isinstance(error, requests.Timeout):
            if self.budget is not None and self.budget.expired():
                return self.budget.failure()
            return RemoteFailure("%s (%s) did not answer %s within %g seconds." % (
                self.peer, self.url, what, self.seconds), FailureKind.TIMEOUT)
        if isinstance(error, requests.ConnectionError):
            return RemoteFailure("Cannot connect to %s (%s): %s" % (self.peer, self.url, _reason(error)),
                                 FailureKind.UNREACHABLE)
        if isinstance(error, requests.RequestException):
            return RemoteFailure("Cannot call %s (%s): %s" % (self.peer, self.url, _first_line(error)),
                                 FailureKind.UNREACHABLE)
        return None

    def _answer(self, error: PeerAnswerError, what: str) -> RemoteFailure:
        if error.kind == "html":
            return RemoteFailure("%s answered %s with a web page (HTTP %s%s), not SOAP: is %s the address of its "
                                 ".asmx web service?" % (self.peer, what, error.status,
                                                         ', "%s"' % error.detail if error.detail else "", self.url),
                                 FailureKind.HTML)
        if error.kind == "too-large":
            return RemoteFailure("%s answered %s with more than %d MiB; the answer was dropped." % (
                self.peer, what, self.max_answer_bytes // (1024 * 1024)), FailureKind.TOO_LARGE)
        if error.kind == "http-status":
            return RemoteFailure("%s answered %s with HTTP status %s %s." % (
                self.peer, what, error.status, error.detail), FailureKind.HTTP_STATUS)
        return RemoteFailure("The WSDL of %s (%s?WSDL) cannot be used: %s" % (self.peer, self.url, error.detail),
                             FailureKind.BAD_WSDL)


def _first_line(error: Exception) -> str:
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0][:300]


def _xml_problem(error: zeep.exceptions.TransportError) -> str:
    # zeep's message is "Server returned response (500) with invalid XML: <lxml's>.\nContent: <all of it>".
    text = _first_line(error)
    return text.split("invalid XML: ", 1)[-1].rstrip(".")


def _reason(error) -> str:
    text = str(error)
    for marker in ("Connection refused", "Name or service not known", "No route to host", "Network is unreachable",
                   "Connection reset", "timed out"):
        if marker in text:
            return marker.lower()
    return text[:300]
