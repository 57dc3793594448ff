"""Downloading mail from the POP accounts (the POP Download thread's job).

One run, in a worker thread, for each enabled account whose import
frequency has elapsed since ``last_check_utc``:

1. Connect (plain, TLS from the start, or STARTTLS), log in, ``UIDL``
   (a server without it: ``LIST`` and ``TOP n 0``, and a fingerprint of
   each message's Message-ID and size stands for its UID; see
   ``message_keys``), with Twisted's POP3 client run in the reactor
   (``blockingCallFromThread``); every command has a timeout and the
   session a hard deadline, so a server that hangs never holds the thread.
2. For each message not seen before (when messages are left on the server,
   ``pop_account_uids`` holds the UIDs already downloaded): ``RETR`` it,
   write it to the email folder as a ``.eml`` file (temporary name, fsync,
   rename, fsync of the folder) and commit its ``spool_incoming`` row
   (``pending``; ``dedupe_key`` the Message-ID, or ``sha256:<hash>`` of the
   content when there is none). A key already in the spool means the
   message was downloaded before: the new file is removed, no row is added.
3. Only after that commit is the message deleted from the server (``DELE``,
   effective at ``QUIT``) or, when it is left there, its UID recorded (in
   the same transaction as the row). A crash or a dropped connection before
   ``QUIT`` leaves the message on the server; the next download gets it
   again and the dedupe key drops it: every message is imported exactly
   once, and none is deleted before it is safely stored.

Every session and its outcome goes to the POP log (``stws.pop``); an
account's failure is kept in its ``last_error`` and the error log.
"""
from __future__ import annotations

import datetime as dt
import email.parser
import email.policy
import hashlib
import logging
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from twisted.internet import defer, protocol
from twisted.mail.pop3 import ServerErrorResponse

from stws.db.models import IncomingMessage, PopAccount, PopAccountUid, Setting, utcnow
from stws.mail import tls

pop_log = logging.getLogger("stws.pop")
error_log = logging.getLogger("stws.error")

DEFAULT_TIMEOUT_SECONDS = 60
DEFAULT_SESSION_SECONDS = 600  # the hard deadline of one account's session
MAX_MESSAGES_PER_SESSION = 500
MAX_LINE = 1024 * 1024


@dataclass(frozen=True)
class AccountSpec:
    id: int
    email_address: str
    server: str
    port: int
    security: str
    username: str
    password: str
    leave_on_server: bool

    def __repr__(self):  # never the password
        return "<POP account %d %s@%s:%d>" % (self.id, self.username, self.server, self.port)


def _setting(session, name: str, default: float) -> float:
    row = session.get(Setting, name)
    try:
        return float(row.value) if row and row.value else default
    except ValueError:
        return default


def due_accounts(session, now: dt.datetime) -> list[AccountSpec]:
    accounts = []
    for a in session.scalars(select(PopAccount).where(PopAccount.is_enabled.is_(True)).order_by(PopAccount.id)):
        last = a.last_check_utc
        if last is not None and last.tzinfo is None:
            last = last.replace(tzinfo=dt.timezone.utc)
        if last is None or now - last >= dt.timedelta(minutes=a.import_frequency_minutes) \
                or last > now + dt.timedelta(minutes=5):  # a clock that went back
            accounts.append(AccountSpec(a.id, a.email_address, a.server, a.port, a.security, a.username,
                                        a.password, a.leave_on_server))
    return accounts


# ---------------------------------------------------------------- storing one message


def message_headers(raw: bytes):
    """(Message-ID, From, Subject) of a raw message, as text ("" when absent or unreadable)."""
    try:
        headers = email.parser.BytesHeaderParser(policy=email.policy.default).parsebytes(raw)
    except Exception:  # noqa: BLE001 - a broken message is still stored; the import judges it
        return "", "", ""

    def get(name):
        try:
            return str(headers.get(name, "") or "").strip()
        except Exception:  # noqa: BLE001
            return ""

    return get("Message-ID"), get("From"), get("Subject")


def dedupe_key(raw: bytes, message_id: str) -> str:
    if message_id and len(message_id) <= 900:
        return message_id
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def fsync_directory(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def write_durably(folder: Path, name: str, raw: bytes) -> Path:
    """``folder/name`` holds ``raw`` (written to a temporary name, fsynced, renamed)."""
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / name
    temporary = folder / (".%s.tmp" % name)
    with open(temporary, "wb") as handle:
        handle.write(raw)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, final)
    fsync_directory(folder)
    return final


def store_message(runtime, account_id: int | None, raw: bytes, uid: str | None = None,
                  now: dt.datetime | None = None) -> int | None:
    """Write ``raw`` to the email folder and commit its spool row; returns
    the row id, or None when the message is already in the spool (then the
    file is removed). ``uid`` (left on the server) is recorded in the same
    transaction."""
    message_id, sender, subject = message_headers(raw)
    key = dedupe_key(raw, message_id)
    now = now or utcnow()
    name = "%s-%s.eml" % (now.strftime("%Y%m%d%H%M%S"), uuid.uuid4().hex)
    folder = runtime.data.email
    path = write_durably(folder, name, raw)
    try:
        with runtime.db.transaction() as session:
            if uid is not None and account_id is not None:
                session.merge(PopAccountUid(account_id=account_id, uid=uid, date_seen_utc=now))
            if session.scalar(select(IncomingMessage.id).where(IncomingMessage.dedupe_key == key)) is not None:
                row_id = None
            else:
                row = IncomingMessage(account_id=account_id, dedupe_key=key, file_name=name,
                                      from_address=sender[:1000], subject=subject[:1000], size=len(raw),
                                      status="pending", date_received_utc=now)
                session.add(row)
                session.flush()
                row_id = row.id
    except IntegrityError:
        # Another node stored the same message between our check and our insert.
        row_id = None
        if uid is not None and account_id is not None:
            with runtime.db.transaction() as session:
                session.merge(PopAccountUid(account_id=account_id, uid=uid, date_seen_utc=now))
    except BaseException:
        _remove(path)
        raise
    if row_id is None:
        _remove(path)
    return row_id


def _remove(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass


# ---------------------------------------------------------------- the POP3 client in the reactor


def _client_class():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from twisted.mail.pop3client import POP3Client
    return POP3Client


def connect(reactor, account: AccountSpec, timeout: float) -> defer.Deferred:
    """Deferred firing with a logged-in POP3Client."""
    from twisted.internet.endpoints import HostnameEndpoint, wrapClientTLS

    POP3Client = _client_class()

    class Client(POP3Client):
        allowInsecureLogin = True
        MAX_LENGTH = MAX_LINE

        def serverGreeting(self, greeting):
            self.factory.greeted.callback(self)

        def connectionLost(self, reason):
            POP3Client.connectionLost(self, reason)
            if not self.factory.greeted.called:
                self.factory.greeted.errback(reason)

    class Factory(protocol.ClientFactory):
        protocol = Client

        def __init__(self):
            self.greeted = defer.Deferred()

    Client.timeout = int(max(1, timeout))
    factory = Factory()
    endpoint = HostnameEndpoint(reactor, account.server, account.port, timeout=timeout)
    if account.security == "ssl":
        endpoint = wrapClientTLS(tls.client_options(account.server), endpoint)
    connecting = endpoint.connect(factory)
    connecting.addTimeout(timeout, reactor)

    @defer.inlineCallbacks
    def session():
        client = yield connecting
        greeted = factory.greeted.addTimeout(timeout, reactor)
        try:
            client = yield greeted
            if account.security == "starttls":
                yield client.startTLS(tls.client_options(account.server))
            # USER/PASS (over TLS when the account says so); never APOP (MD5 of the
            # password) and no opportunistic STLS the account did not ask for.
            yield client.user(account.username.encode("utf-8"))
            yield client.password(account.password.encode("utf-8"))
        except BaseException:
            client.transport.abortConnection()
            raise
        return client

    return session()


def _on_reactor(reactor, timeout, fn, *args):
    """Run ``fn(*args)`` (returning a Deferred) in the reactor from this worker
    thread, at most ``timeout`` seconds."""
    from twisted.internet.threads import blockingCallFromThread

    def start():
        return defer.maybeDeferred(fn, *args).addTimeout(timeout, reactor)

    return blockingCallFromThread(reactor, start)


def _text(value) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def message_keys(reactor, timeout: float, client, account: AccountSpec) -> list:
    """What tells each message of the mailbox apart across sessions: its
    UIDL; on a server without UIDL, ``fp:`` + SHA-256 of its Message-ID and
    size (from LIST and the headers TOP sends), so a message left on the
    server is still downloaded once. None for a message neither gives (no
    Message-ID, or no TOP either): it is downloaded again each session, and
    the spool's dedupe key drops it, so it is still imported once."""
    try:
        return [_text(uid) if uid is not None else None for uid in _on_reactor(reactor, timeout, client.listUID)]
    except ServerErrorResponse as refusal:
        pop_log.info("%r: the server refused UIDL (%s); messages are told apart by Message-ID and size",
                     account, _text(refusal.args[0]) if refusal.args else "")
    sizes = _on_reactor(reactor, timeout, client.listSize)
    keys = []
    for index, size in enumerate(sizes):
        try:
            headers = _on_reactor(reactor, timeout, client.retrieve, index, None, 0)  # TOP index 0
        except ServerErrorResponse:
            pop_log.info("%r: the server refused TOP too; its messages are recognised by content only", account)
            return [None] * len(sizes)
        message_id = message_headers(b"\r\n".join(headers) + b"\r\n\r\n")[0]
        fingerprint = hashlib.sha256(("%s\0%d" % (message_id, size)).encode("utf-8", "replace")).hexdigest()
        keys.append("fp:" + fingerprint if message_id else None)
    return keys


def download_account(runtime, account: AccountSpec, timeout: float, deadline: float,
                     reactor) -> tuple[int, int, bool]:
    """One session with one account: (messages stored, duplicates dropped,
    whether it stopped at MAX_MESSAGES_PER_SESSION with more waiting)."""
    client = _on_reactor(reactor, timeout * 3, connect, reactor, account, timeout)
    stored = duplicates = 0
    cut_short = False
    try:
        uids = message_keys(reactor, timeout, client, account)
        with runtime.db.transaction(writes=False) as session:
            seen = set(session.scalars(select(PopAccountUid.uid).where(PopAccountUid.account_id == account.id)))
        current = set()
        for index, uid in enumerate(uids):
            if uid:
                current.add(uid)
            if account.leave_on_server and uid and uid in seen:
                continue
            if stored + duplicates >= MAX_MESSAGES_PER_SESSION:
                pop_log.info("%r: %d messages this session; the rest at the next run", account, stored + duplicates)
                cut_short = True
                break
            if time.monotonic() > deadline:
                raise TimeoutError("the session ran past its deadline")
            lines = _on_reactor(reactor, timeout, client.retrieve, index)
            raw = b"\r\n".join(line[:-1] if line.endswith(b"\r") else line for line in lines) + b"\r\n"
            row_id = store_message(runtime, account.id, raw, uid if account.leave_on_server and uid else None)
            if row_id is None:
                duplicates += 1
                pop_log.info("%r: message %d (uid %s, %d bytes) was downloaded before; dropped",
                             account, index + 1, uid, len(raw))
            else:
                stored += 1
                pop_log.info("%r: message %d (uid %s, %d bytes) stored as incoming message %d",
                             account, index + 1, uid, len(raw), row_id)
            if not account.leave_on_server:
                _on_reactor(reactor, timeout, client.delete, index)
        _on_reactor(reactor, timeout, client.quit)
        if account.leave_on_server and seen - current:
            # Forget UIDs of messages no longer on the server.
            with runtime.db.transaction() as session:
                for uid in seen - current:
                    row = session.get(PopAccountUid, (account.id, uid))
                    if row is not None:
                        session.delete(row)
    finally:
        def close():
            if client.transport is not None and client.transport.connected:
                client.transport.loseConnection()
        from twisted.internet.threads import blockingCallFromThread
        try:
            blockingCallFromThread(reactor, close)
        except Exception:  # noqa: BLE001
            pass
    return stored, duplicates, cut_short


def _describe(error: BaseException) -> str:
    value = getattr(error, "value", error)
    text = "%s: %s" % (type(value).__name__, _text(value.args[0]) if getattr(value, "args", None) else value)
    return text[:2000]


def download_due(runtime, now: dt.datetime | None = None, reactor=None, on_cut_short=None) -> int:
    """One POP Download run; returns the number of messages stored. An
    account whose session stopped at its cap keeps its last check time, so
    it is still due, and ``on_cut_short()`` is called (the thread runs again
    at once)."""
    if reactor is None:
        from twisted.internet import reactor
    now = now or utcnow()
    with runtime.db.transaction(writes=False) as session:
        accounts = due_accounts(session, now)
        timeout = _setting(session, "mail.pop_timeout_seconds", DEFAULT_TIMEOUT_SECONDS)
        session_seconds = _setting(session, "mail.pop_session_seconds", DEFAULT_SESSION_SECONDS)
    total = 0
    for account in accounts:
        started = time.monotonic()
        pop_log.info("%r: session starts", account)
        error = ""
        cut_short = False
        try:
            stored, duplicates, cut_short = download_account(runtime, account, timeout, started + session_seconds,
                                                             reactor)
            total += stored
            pop_log.info("%r: session done in %.1f s: %d stored, %d duplicates dropped",
                         account, time.monotonic() - started, stored, duplicates)
        except Exception as failure:  # noqa: BLE001 - one account's trouble never stops the others
            error = _describe(failure)
            pop_log.warning("%r: session failed after %.1f s: %s", account, time.monotonic() - started, error)
            error_log.warning("POP account %s (%s:%d): %s", account.email_address, account.server, account.port,
                              error)
        with runtime.db.transaction() as session:
            row = session.get(PopAccount, account.id)
            if row is not None:
                if not cut_short:
                    row.last_check_utc = now
                row.last_error = error
        if cut_short and on_cut_short is not None:
            on_cut_short()
    return total
