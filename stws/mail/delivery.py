"""Delivering the outgoing spool over SMTP (the SMTP Delivery thread's job).

One run, in a worker thread:

1. **Claim** a bounded batch of due rows atomically: ``queued`` rows whose
   ``next_attempt_utc`` has come (the delivery delay is already in it) and
   ``sending`` rows whose claim lapsed (their node died mid-delivery).
   They become ``sending``, ``claimed_by`` this run, until
   ``claim_until_utc``. On PostgreSQL the candidates are selected
   ``FOR UPDATE SKIP LOCKED``, so nodes never wait for or take each
   other's rows; SQLite writers are serialized anyway (``BEGIN IMMEDIATE``).
2. **Pick the account** of each row: its own, else its ticket's
   department's, else that brand's, else the default account. No account:
   the row goes back to ``queued`` with "no SMTP account configured" and a
   retry time (that is not an attempt; it never fails for it).
3. **Send**, per account up to ``mail.connections_per_server`` connections
   at once (a consecutive share of the messages each, one connection for a
   small batch), the messages in sequence on each (MAIL/RCPT/DATA, in one
   write when the server offers PIPELINING; RSET after a failed one), with Twisted's ESMTP client run in the reactor
   (``blockingCallFromThread``). Every step has a timeout, and
   the whole session a hard deadline before the claim lapses, so a server
   that hangs never holds the thread.
4. **Record** each outcome, only on rows this run still holds: 2xx ->
   ``sent``; 4xx, a refused, dropped or timed-out connection -> retried
   later with exponential backoff until ``mail.max_attempts``, then
   ``failed``; 5xx -> ``failed`` with the server's reply.

A node killed between the server's "250" and step 4 leaves its rows
``sending``; when the claim lapses another run sends them again with the
same Message-ID: delivered at least once, never lost.

Every attempt and outcome goes to the SMTP log (``stws.smtp``).
"""
from __future__ import annotations

import collections
import datetime as dt
import io
import logging
import os
import random
import socket
import uuid
from dataclasses import dataclass

from sqlalchemy import and_, or_, select, update
from twisted.internet import defer, protocol
from twisted.mail import smtp

from stws.db.models import OutgoingMessage, Setting, SmtpAccount, utcnow
from stws.mail import tls
from stws.mail.accounts import AccountSpec, resolve_account_ids

smtp_log = logging.getLogger("stws.smtp")

# Settings (table ``settings``) and their defaults.
DEFAULTS = {
    "mail.max_attempts": 10,  # then a temporary failure becomes "failed"
    "mail.retry_base_seconds": 30,  # backoff: base * 2^(attempts-1), with jitter
    "mail.retry_max_seconds": 3600,
    "mail.batch_size": 200,  # rows claimed per run
    "mail.claim_seconds": 300,  # how long a run holds its rows
    "mail.timeout_seconds": 60,  # connect, and each reply of the server
    "mail.no_account_retry_seconds": 60,
    "mail.connections_per_server": 4,  # at most this many connections to one account at once
}
# A connection of its own only for this many messages or more: a small run
# (and the tests' few messages) goes over one connection, in order.
MESSAGES_PER_CONNECTION = 20
# A message up to this size (after dot-stuffing) is written in one go; a
# larger one is streamed in chunks.
ONE_WRITE_BYTES = 256 * 1024
NO_ACCOUNT = "no SMTP account configured"


@dataclass
class DeliverySettings:
    max_attempts: int = 10
    retry_base_seconds: float = 30
    retry_max_seconds: float = 3600
    batch_size: int = 200
    claim_seconds: float = 300
    timeout_seconds: float = 60
    no_account_retry_seconds: float = 60
    connections_per_server: int = 4


def load_settings(session) -> DeliverySettings:
    values = {}
    for name, default in DEFAULTS.items():
        row = session.get(Setting, name)
        value = default
        if row is not None and row.value.strip():
            try:
                value = float(row.value)
            except ValueError:
                smtp_log.warning("setting %s=%r is not a number; using %s", name, row.value, default)
        values[name.split(".", 1)[1]] = value
    settings = DeliverySettings(**values)
    settings.max_attempts = max(1, int(settings.max_attempts))
    settings.batch_size = max(1, int(settings.batch_size))
    settings.connections_per_server = max(1, int(settings.connections_per_server))
    settings.claim_seconds = max(1.0, settings.claim_seconds)
    settings.timeout_seconds = max(0.1, settings.timeout_seconds)
    return settings


def backoff_seconds(attempts: int, settings: DeliverySettings) -> float:
    """Wait before the next attempt after ``attempts`` failed ones (jitter ±20 %)."""
    delay = settings.retry_base_seconds * (2 ** max(0, min(attempts - 1, 30)))
    delay = min(delay, settings.retry_max_seconds)
    return delay * random.uniform(0.8, 1.2)


# ---------------------------------------------------------------- what is sent


@dataclass
class Outbound:
    id: int
    message_id: str
    sender: str
    recipients: list
    raw: bytes
    attempts: int
    account_id: int | None = None


SENT, RETRY, FAILED = "sent", "retry", "failed"
# Not attempted after all (the server shut down): back to the queue, due
# now, no attempt counted.
RELEASED = "released"


@dataclass(frozen=True)
class Outcome:
    kind: str  # SENT, RETRY, FAILED or RELEASED
    code: int  # the server's reply code; NO_REPLY when it never answered
    text: str
    # Partly delivered: the recipients still owed the message (RETRY: some
    # were refused for now; FAILED: only for good). The row keeps just
    # these, so a retry never sends twice to those who have it.
    remaining: tuple = ()

    @property
    def reply(self) -> str:
        """The server's reply ("451 try later"), or what happened instead
        ("cannot connect to ...") when there was no reply to quote."""
        return ("%d %s" % (self.code, self.text)).strip() if self.code > 0 else self.text

    def __str__(self) -> str:
        return "%s %s" % (self.kind, self.reply) if self.code > 0 else "%s: %s" % (self.kind, self.reply)


# The code of an outcome the server never replied to (refused or lost
# connection, deadline, shutdown): never written out, the text says what happened.
NO_REPLY = -1


def _decode(value) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value or "")


def wire_data(raw: bytes) -> bytes:
    """The message as sent after DATA: CRLF lines, dot-stuffed, ending in CRLF."""
    data = raw.replace(b"\r\n", b"\n").replace(b"\r", b"\n").replace(b"\n", b"\r\n")
    if not data.endswith(b"\r\n"):
        data += b"\r\n"
    if data.startswith(b"."):
        data = b"." + data
    return data.replace(b"\r\n.", b"\r\n..")


def classify(code: int, text: str, addresses) -> Outcome:
    """The outcome of one message from the server's final reply (and the RCPT replies)."""
    accepted = [a for a in addresses if 200 <= a[1] < 300]
    refused = ["%s: %d %s" % (_decode(a[0]), a[1], _decode(a[2]).strip()) for a in addresses
               if not 200 <= a[1] < 300]
    if 200 <= code < 300 and accepted and refused:
        # Partly sent: not "sent", and the refused addresses stay visible in the spool.
        temporary = any(400 <= a[1] < 500 for a in addresses)
        remaining = tuple(_decode(a[0]) for a in addresses if not 200 <= a[1] < 300)
        return Outcome(RETRY if temporary else FAILED, code, "partially sent: delivered to %s; refused: %s" % (
            ", ".join(_decode(a[0]) for a in accepted), "; ".join(refused)), remaining)
    if 200 <= code < 300 and accepted:
        return Outcome(SENT, code, text)
    if refused and not accepted:
        codes = [a[1] for a in addresses]
        worst = code if any(400 <= c < 500 for c in codes) else max(codes)
        kind = RETRY if any(not 500 <= c < 600 for c in codes) else FAILED
        return Outcome(kind, worst, "recipients refused: " + "; ".join(refused))
    if not addresses and (code in (530, 535, 538) or "authenticat" in text.lower()):
        # MAIL FROM refused for want of (valid) authentication: the account's
        # problem, which an administrator fixes; the message must not be lost.
        return Outcome(RETRY, code, text)
    if 500 <= code < 600:
        return Outcome(FAILED, code, text)
    return Outcome(RETRY, code, text)


# ---------------------------------------------------------------- in the reactor


class _Session:
    """One connection's messages and their outcomes."""

    def __init__(self, account: AccountSpec, messages):
        self.account = account
        self.pending = collections.deque(messages)
        self.outcomes: dict[int, Outcome] = {}
        self.error = ""
        self.done = defer.Deferred()
        self.connected = False
        self.released = False  # cut short by a shutdown
        self.cut_short = False  # by the deadline
        self.in_flight = None  # handed to MAIL FROM, outcome not known yet

    def next_message(self):
        self.in_flight = self.pending.popleft() if self.pending else None
        return self.in_flight

    def record(self, message: Outbound, outcome: Outcome) -> None:
        self.outcomes[message.id] = outcome
        smtp_log.info("outcome: message %d %s via %r: %s", message.id, message.message_id,
                      self.account.name, str(outcome).replace("\n", " ")[:500])

    def finish(self, reason: str = "") -> None:
        if self.done.called:
            return
        reason = self.error or reason or "connection closed"
        if self.in_flight is not None and self.in_flight.id not in self.outcomes:
            self.record(self.in_flight, Outcome(RELEASED if self.released else RETRY, NO_REPLY, reason))
        # Messages never started on a connection that was delivering when the
        # deadline cut it short go back without an attempt counted.
        untried = RELEASED if self.released or (self.cut_short and self.outcomes) else RETRY
        for message in self.pending:
            if message.id not in self.outcomes:
                self.record(message, Outcome(untried, NO_REPLY, reason))
        self.pending.clear()
        self.done.callback(self.outcomes)


class BatchSender(smtp.ESMTPClient):
    """Sends the messages of a _Session in sequence on one connection."""

    def __init__(self, session: _Session, context, identity: bytes, timeout: float):
        account = session.account
        smtp.ESMTPClient.__init__(self, account.password.encode("utf-8"), context, identity)
        self.session = session
        self.timeout = timeout
        self.requireTransportSecurity = account.security == "starttls"
        self.requireAuthentication = account.use_authentication
        self.heloFallback = not (self.requireAuthentication or self.requireTransportSecurity)
        self.current: Outbound | None = None
        self.pipelining = False  # the server offered PIPELINING in its (last) EHLO answer
        self._replies_due: collections.deque = collections.deque()  # (command, address) whose reply is awaited
        self._mail_reply = (NO_REPLY, b"")
        if account.use_authentication:
            username = account.username.encode("utf-8")
            self.registerAuthenticator(smtp.CramMD5ClientAuthenticator(username))
            self.registerAuthenticator(smtp.LOGINAuthenticator(username))
            self.registerAuthenticator(smtp.PLAINAuthenticator(username))

    def connectionMade(self):
        self.session.connected = True
        # Small writes (commands, the "." after the data) must not wait for
        # the server's delayed ACK (Nagle): 40 ms per message otherwise.
        transport = getattr(self.transport, "transport", None) or self.transport  # TLS wraps TCP
        if hasattr(transport, "setTcpNoDelay"):
            transport.setTcpNoDelay(True)
        smtp.ESMTPClient.connectionMade(self)

    def esmtpState_serverConfig(self, code, resp):
        # Read again after STARTTLS: the EHLO answer inside TLS is the one that counts.
        self.pipelining = any(line.split(None, 1)[:1] == [b"PIPELINING"] for line in resp.splitlines())
        return smtp.ESMTPClient.esmtpState_serverConfig(self, code, resp)

    def smtpState_from(self, code, resp):
        """Start the next message. With PIPELINING (RFC 2920) its MAIL, RCPT
        and DATA commands go out in one write and their replies are read in
        order: two round trips per message instead of four."""
        if not self.pipelining:
            return smtp.ESMTPClient.smtpState_from(self, code, resp)
        self._from = self.getMailFrom()
        if self._from is None:
            return self._disconnectFromServer()
        recipients = self.getMailTo()
        self.toAddressesResult, self.successAddresses = [], []
        self._replies_due = collections.deque(
            [(b"MAIL", None)] + [(b"RCPT", address) for address in recipients] + [(b"DATA", None)])
        commands = [b"MAIL FROM:" + smtp.quoteaddr(self._from)]
        commands += [b"RCPT TO:" + smtp.quoteaddr(address) for address in recipients]
        self.transport.write(b"\r\n".join(commands + [b"DATA", b""]))
        self._expected = range(0, 1000)
        self._okresponse = self._failresponse = self._pipelined_reply

    def _pipelined_reply(self, code, resp):
        command, address = self._replies_due.popleft()
        if command == b"MAIL":
            self._mail_reply = (code, resp)
            return None
        if command == b"RCPT":
            self.toAddressesResult.append((address, code, resp))
            if code in smtp.SUCCESS:
                self.successAddresses.append(address)
            return None
        # DATA's reply, the last of the group: decide with all of them.
        mail_code, mail_resp = self._mail_reply
        if mail_code not in smtp.SUCCESS:
            # The sender was refused; the 503s to RCPT and DATA only follow from it.
            self.toAddressesResult = []
            return self.smtpState_msgSent(mail_code, mail_resp)
        if not self.successAddresses:
            last_code = self.toAddressesResult[-1][1]
            if code == 354:
                # A server that takes DATA without a recipient: end the empty message, then go on.
                self.transport.write(b".\r\n")
                self._okresponse = self._failresponse = \
                    lambda *_: self.smtpState_msgSent(last_code, b"No recipients accepted")
                return None
            return self.smtpState_msgSent(last_code, b"No recipients accepted")
        if code == 354:
            return self.smtpState_data(code, resp)
        return self.smtpState_msgSent(code, resp)  # DATA refused

    def getMailFrom(self):
        self.current = self.session.next_message()
        if self.current is None:
            return None
        message = self.current
        smtp_log.info("attempt %d: message %d %s via %r (%s:%d, %s) from <%s> to %s", message.attempts + 1,
                      message.id, message.message_id, self.session.account.name, self.session.account.server,
                      self.session.account.port, self.session.account.security, message.sender,
                      ", ".join(message.recipients))
        # The envelope sender: the account's address where it has one (relays
        # often insist on it), else the message's.
        return self.session.account.from_address or message.sender

    def getMailTo(self):
        return list(self.current.recipients)

    def getMailData(self):
        return io.BytesIO(wire_data(self.current.raw))

    def smtpState_data(self, code, resp):
        data = wire_data(self.current.raw)
        if len(data) > ONE_WRITE_BYTES:
            return smtp.ESMTPClient.smtpState_data(self, code, resp)  # streamed, the timeout reset per chunk
        # The message and the "." that ends it in one write: one send (a
        # syscall that also runs the server's side of loopback TCP), where
        # FileSender's chunk and the "." took two.
        self.transport.write(data + b".\r\n")
        self.resetTimeout()
        self._expected = smtp.SUCCESS
        self._okresponse = self.smtpState_msgSent

    def transformChunk(self, chunk):
        self.resetTimeout()
        return chunk  # already CRLF and dot-stuffed (wire_data): chunk borders cannot break it

    def sentMail(self, code, resp, numOk, addresses, log):
        message, self.current = self.current, None
        if message is not None:
            self.session.record(message, classify(code, _decode(resp).strip(), addresses or []))

    def smtpState_msgSent(self, code, resp):
        if code in smtp.SUCCESS and self._from is not None:
            # Delivered: the server ended the transaction itself (RFC 5321
            # 4.1.1.4), so the next MAIL follows without an RSET round trip.
            self.sentMail(code, resp, len(self.successAddresses), self.toAddressesResult, self.log)
            self.toAddressesResult = []
            self._from = None
            return self.smtpState_from(code, resp)
        return smtp.ESMTPClient.smtpState_msgSent(self, code, resp)

    def sendError(self, exc):
        code = getattr(exc, "code", NO_REPLY)
        text = _decode(getattr(exc, "resp", b"")) or str(exc)
        self.session.error = ("%d %s" % (code, text.strip())) if code and code > 0 else text.strip()
        # A session-level failure (EHLO, TLS, AUTH refused) is retried like a
        # temporary one: it is the account's problem, and it can be fixed.
        smtp.ESMTPClient.sendError(self, exc)

    def connectionLost(self, reason=protocol.connectionDone):
        smtp.ESMTPClient.connectionLost(self, reason)
        lost = "" if self.current is None and not self.session.pending else \
            "connection lost: %s" % reason.getErrorMessage()
        self.session.finish(lost)


class _Factory(protocol.Factory):
    def __init__(self, session, context, identity, timeout):
        self.session, self.context, self.identity, self.timeout = session, context, identity, timeout

    def buildProtocol(self, addr):
        sender = BatchSender(self.session, self.context, self.identity, self.timeout)
        sender.factory = self
        return sender


# Sessions in progress in this process: a shutdown cuts them short (their
# messages go back to the queue) instead of waiting for slow servers.
_ACTIVE: dict = {}
_HOOKED: set = set()
_STOPPING = {"now": False}


def _shut_down():
    _STOPPING["now"] = True
    for give_up in list(_ACTIVE.values()):
        give_up("the server is shutting down")


def send_batch(reactor, account: AccountSpec, messages, timeout: float, deadline: float) -> defer.Deferred:
    """In the reactor: one connection to ``account``, ``messages`` in
    sequence; fires with {row id: Outcome} for every message, never errs,
    at the latest after ``deadline`` seconds."""
    from twisted.internet.endpoints import HostnameEndpoint, wrapClientTLS

    session = _Session(account, messages)
    if id(reactor) not in _HOOKED:
        _HOOKED.add(id(reactor))
        reactor.addSystemEventTrigger("before", "shutdown", _shut_down)
    if _STOPPING["now"]:
        session.released = True
        session.finish("the server is shutting down")
        return session.done
    identity = socket.getfqdn().encode("ascii", "replace") or b"localhost"
    endpoint = HostnameEndpoint(reactor, account.server, account.port, timeout=timeout)
    context = None
    try:
        if account.security == "ssl":
            endpoint = wrapClientTLS(tls.client_options(account.server), endpoint)
        elif account.security == "starttls":
            context = tls.client_options(account.server)
    except Exception as error:  # noqa: BLE001 - a bad name for a certificate, ...
        session.error = "TLS set-up failed: %s" % error
        session.finish()
        return session.done
    smtp_log.info("connecting to %r (%s:%d, %s) for %d messages", account.name, account.server, account.port,
                  account.security, len(messages))
    connecting = endpoint.connect(_Factory(session, context, identity, timeout))
    holder = {}

    def connected(sender):
        holder["sender"] = sender

    def not_connected(failure):
        session.error = "cannot connect to %s:%d: %s" % (account.server, account.port, failure.getErrorMessage())
        smtp_log.warning("%r: %s", account.name, session.error)
        session.finish()

    connecting.addCallbacks(connected, not_connected)

    def give_up(shutdown: str = ""):
        if session.done.called:
            return
        if shutdown:
            session.released = True
            session.error = shutdown
        session.cut_short = True
        session.error = session.error or "no answer within the deadline of %.0f s" % deadline
        smtp_log.warning("%r: %s; connection aborted", account.name, session.error)
        sender = holder.get("sender")
        if sender is not None and sender.transport is not None:
            sender.transport.abortConnection()
        else:
            connecting.cancel()
        if not session.done.called:
            session.finish()

    timer = reactor.callLater(deadline, give_up)
    _ACTIVE[session] = give_up

    def over(result):
        _ACTIVE.pop(session, None)
        if timer.active():
            timer.cancel()
        return result

    session.done.addBoth(over)
    return session.done


def send_concurrently(reactor, account: AccountSpec, messages, timeout: float, deadline: float,
                      connections: int) -> defer.Deferred:
    """In the reactor: ``messages`` over up to ``connections`` connections to
    ``account`` at once (send_batch each, a consecutive share of them, at
    least MESSAGES_PER_CONNECTION messages per connection); fires with
    {row id: Outcome} for every message, never errs.

    Why: a message costs four round trips (MAIL, RCPT, DATA, the data), two
    when the server offers PIPELINING, and a round trip waits for both
    processes to be scheduled, so one connection spends most of its time
    waiting; several keep the server busy."""
    count = max(1, min(connections, len(messages) // MESSAGES_PER_CONNECTION))
    size = -(-len(messages) // count)
    shares = [messages[start:start + size] for start in range(0, len(messages), size)]
    sending = defer.gatherResults([send_batch(reactor, account, share, timeout, deadline) for share in shares])
    return sending.addCallback(lambda results: {row: outcome for result in results for row, outcome in result.items()})


# ---------------------------------------------------------------- in the worker thread


def _due(now):
    return or_(
        and_(OutgoingMessage.status == "queued", OutgoingMessage.next_attempt_utc <= now,
             or_(OutgoingMessage.claim_until_utc.is_(None), OutgoingMessage.claim_until_utc < now)),
        and_(OutgoingMessage.status == "sending", OutgoingMessage.claim_until_utc < now),
    )


def claim_due(db, token: str, now: dt.datetime, settings: DeliverySettings) -> tuple[list[Outbound], dt.datetime]:
    """Claim up to batch_size due rows for ``token``; returns them (with their
    account) and when the claim lapses."""
    claim_until = now + dt.timedelta(seconds=settings.claim_seconds)
    with db.transaction() as session:
        ids = list(session.scalars(
            select(OutgoingMessage.id).where(_due(now))
            .order_by(OutgoingMessage.next_attempt_utc, OutgoingMessage.id)
            .limit(settings.batch_size).with_for_update(skip_locked=True)
        ))
        if not ids:
            return [], claim_until
        session.execute(
            update(OutgoingMessage).where(OutgoingMessage.id.in_(ids), _due(now))
            .values(status="sending", claimed_by=token, claim_until_utc=claim_until)
            .execution_options(synchronize_session=False)
        )
        rows = session.execute(
            select(OutgoingMessage.id, OutgoingMessage.message_id_header, OutgoingMessage.from_address,
                   OutgoingMessage.recipients, OutgoingMessage.raw_content, OutgoingMessage.attempts)
            .where(OutgoingMessage.id.in_(ids), OutgoingMessage.claimed_by == token)
            .order_by(OutgoingMessage.id)
        ).all()
        accounts = resolve_account_ids(session, [r.id for r in rows])
    claimed = [Outbound(r.id, r.message_id_header, r.from_address,
                        [a.strip() for a in (r.recipients or "").split(",") if a.strip()],
                        bytes(r.raw_content), r.attempts, accounts.get(r.id)) for r in rows]
    return claimed, claim_until


def record_outcomes(db, token: str, messages, outcomes: dict, settings: DeliverySettings) -> dict:
    """Write each message's outcome (on rows this run still holds); counts per kind."""
    counts = collections.Counter()
    now = utcnow()
    with db.transaction() as session:
        # The usual case in one statement: the delivered ones.
        sent = [m.id for m in messages if outcomes.get(m.id) is not None and outcomes[m.id].kind == SENT]
        for start in range(0, len(sent), 500):
            result = session.execute(
                update(OutgoingMessage)
                .where(OutgoingMessage.id.in_(sent[start:start + 500]), OutgoingMessage.claimed_by == token)
                .values(status="sent", date_sent_utc=now, last_error="", attempts=OutgoingMessage.attempts + 1,
                        last_attempt_utc=now, claimed_by=None, claim_until_utc=None)
                .execution_options(synchronize_session=False)
            )
            counts["sent"] += result.rowcount
        for message in messages:
            outcome = outcomes.get(message.id) or Outcome(RETRY, NO_REPLY, "no outcome was recorded")
            if outcome.kind == SENT:
                continue
            if outcome.kind == RELEASED:
                session.execute(
                    update(OutgoingMessage).where(OutgoingMessage.id == message.id,
                                                  OutgoingMessage.claimed_by == token)
                    .values(status="queued", next_attempt_utc=now, claimed_by=None, claim_until_utc=None,
                            last_error=outcome.text).execution_options(synchronize_session=False))
                counts["released"] += 1
                continue
            attempts = message.attempts + 1
            values = dict(attempts=attempts, last_attempt_utc=now, claimed_by=None, claim_until_utc=None)
            if outcome.remaining:
                values["recipients"] = ", ".join(outcome.remaining)
            reply = outcome.reply
            if outcome.kind == FAILED:
                values.update(status="failed", last_error=reply)
            elif attempts >= settings.max_attempts:
                values.update(status="failed", last_error="gave up after %d attempts: %s" % (attempts, reply))
                smtp_log.warning("message %d %s failed for good after %d attempts", message.id,
                                 message.message_id, attempts)
            else:
                wait = backoff_seconds(attempts, settings)
                values.update(status="queued", last_error=reply,
                              next_attempt_utc=now + dt.timedelta(seconds=wait))
                smtp_log.info("message %d %s: retry in %.0f s", message.id, message.message_id, wait)
            result = session.execute(
                update(OutgoingMessage).where(OutgoingMessage.id == message.id,
                                              OutgoingMessage.claimed_by == token)
                .values(**values).execution_options(synchronize_session=False)
            )
            if result.rowcount:
                counts[values["status"]] += 1
    return counts


def release(db, token: str, messages, error: str, retry_seconds: float) -> None:
    """Give rows back to the queue without counting an attempt."""
    now = utcnow()
    with db.transaction() as session:
        session.execute(
            update(OutgoingMessage)
            .where(OutgoingMessage.id.in_([m.id for m in messages]), OutgoingMessage.claimed_by == token)
            .values(status="queued", claimed_by=None, claim_until_utc=None, last_error=error,
                    next_attempt_utc=now + dt.timedelta(seconds=retry_seconds))
            .execution_options(synchronize_session=False)
        )


def run_token(node: str = "") -> str:
    return "%s/%s" % (node or "%s:%d" % (socket.gethostname(), os.getpid()), uuid.uuid4().hex[:8])


def deliver_due(runtime, now: dt.datetime | None = None, node: str = "", reactor=None) -> int:
    """One run (in a worker thread, never the reactor's): returns the number
    of messages attempted."""
    from twisted.internet.threads import blockingCallFromThread
    from twisted.python.threadable import isInIOThread

    if reactor is None:
        from twisted.internet import reactor
    if isInIOThread():
        raise RuntimeError("deliver_due blocks: run it in a worker thread, not the reactor's")
    db = runtime.db
    now = now or utcnow()
    with db.transaction(writes=False) as session:
        settings = load_settings(session)
    token = run_token(node)
    claimed, claim_until = claim_due(db, token, now, settings)
    if not claimed:
        return 0
    by_account = collections.defaultdict(list)
    for message in claimed:
        by_account[message.account_id].append(message)
    homeless = by_account.pop(None, [])
    if homeless:
        for message in homeless:
            smtp_log.warning("message %d %s: %s; retry in %.0f s", message.id, message.message_id, NO_ACCOUNT,
                             settings.no_account_retry_seconds)
        release(db, token, homeless, NO_ACCOUNT, settings.no_account_retry_seconds)
    with db.transaction(writes=False) as session:
        accounts = {a.id: AccountSpec.of(a) for a in
                    session.scalars(select(SmtpAccount).where(SmtpAccount.id.in_(list(by_account))))}
    attempted = 0
    for account_id, messages in by_account.items():
        account = accounts.get(account_id)
        if account is None:  # deleted meanwhile
            release(db, token, messages, NO_ACCOUNT, 0)
            continue
        # Finish (or give up) well before the claim lapses, so no other run
        # sends these messages while this one still might.
        remaining = (claim_until - utcnow()).total_seconds() - min(5.0, settings.claim_seconds / 5)
        if remaining < 0.5:
            release(db, token, messages, "", 0)
            continue
        outcomes = blockingCallFromThread(reactor, send_concurrently, reactor, account, messages,
                                          settings.timeout_seconds, remaining, settings.connections_per_server)
        record_outcomes(db, token, messages, outcomes, settings)
        attempted += len(messages)
    return attempted
