"""A real POP3 server (twisted.mail.pop3.POP3, portal-based) for mail tests, reusable.

    server = PopTestServer()
    server.add_mailbox("support", "pw")
    server.deliver("support", raw_bytes)        # a message into the mailbox
    port = server.listen()                      # 127.0.0.1:0 in the running reactor
    ... server.mailboxes["support"].messages, server.logins, server.deleted ...
    await server.stop()

``tls`` (a PrivateCertificate, e.g. ``smtp_server.make_certificate()[0]``):
STLS offered and required before USER (``mode="starttls"``) or TLS from
the first byte (``mode="ssl"``).

Mailboxes hold messages in memory with stable UIDs (UIDL); DELE marks a
message, and it leaves the mailbox only at QUIT (``sync``), as POP3 says: a
session that ends without QUIT deletes nothing. ``drop_after_retr``: the
connection is cut after that many RETRs (a flaky server). ``without_uidl``:
UIDL is refused, as by servers that lack it (``without_top``: TOP too).
"""
from __future__ import annotations

import hashlib
import io
import itertools

from twisted.cred import checkers, portal
from twisted.mail import pop3
from twisted.internet import protocol
from zope.interface import implementer

from mail.smtp_server import ListeningServer


@implementer(pop3.IMailbox)
class Mailbox:
    def __init__(self):
        self.messages: list[tuple[str, bytes]] = []  # (uid, raw)
        self._uids = itertools.count(1)
        self._deleted: set[int] = set()
        self._view: list[tuple[str, bytes]] = []

    def add(self, raw: bytes) -> str:
        uid = "uid-%d-%s" % (next(self._uids), hashlib.sha1(raw).hexdigest()[:8])
        self.messages.append((uid, raw))
        return uid

    # The session's view: the messages at login.
    def open(self):
        self._view = list(self.messages)
        self._deleted = set()

    def listMessages(self, index=None):
        if index is None:
            return [0 if i in self._deleted else len(raw.replace(b"\r\n", b"\n"))
                    for i, (_, raw) in enumerate(self._view)]
        if index >= len(self._view):
            raise ValueError(index)
        return 0 if index in self._deleted else len(self._view[index][1].replace(b"\r\n", b"\n"))

    def getMessage(self, index):
        if index in self._deleted:
            raise ValueError(index)
        # twisted.mail.pop3 turns "\n" into "\r\n" on the wire (messages are stored with "\n").
        return io.BytesIO(self._view[index][1].replace(b"\r\n", b"\n"))

    def getUidl(self, index):
        return self._view[index][0].encode("ascii")

    def deleteMessage(self, index):
        self._deleted.add(index)

    def undeleteMessages(self):
        self._deleted = set()

    def sync(self):
        gone = {self._view[i][0] for i in self._deleted}
        self.messages = [m for m in self.messages if m[0] not in gone]
        self._deleted = set()


@implementer(portal.IRealm)
class _Realm:
    def __init__(self, server):
        self.server = server

    def requestAvatar(self, avatar_id, mind, *interfaces):
        name = avatar_id.decode() if isinstance(avatar_id, bytes) else avatar_id
        box = self.server.mailboxes[name]
        box.open()
        self.server.logins += 1
        return pop3.IMailbox, box, lambda: None


class _Protocol(pop3.POP3):
    def connectionMade(self):
        self.factory.server.live.add(self)
        self.retrs = 0
        self.tls_started = False
        pop3.POP3.connectionMade(self)

    def connectionLost(self, reason):
        self.factory.server.live.discard(self)
        pop3.POP3.connectionLost(self, reason)

    def do_RETR(self, i):
        self.retrs += 1
        limit = self.factory.server.drop_after_retr
        if limit is not None and self.retrs > limit:
            self.transport.abortConnection()
            return
        return pop3.POP3.do_RETR(self, i)

    def do_UIDL(self, i=None):
        if self.factory.server.without_uidl:
            self.failResponse(b"Unknown command")
            return
        return pop3.POP3.do_UIDL(self, i)

    def do_TOP(self, i, size):
        if self.factory.server.without_top:
            self.failResponse(b"Unknown command")
            return
        return pop3.POP3.do_TOP(self, i, size)

    def listCapabilities(self):
        server = self.factory.server
        caps = [cap for cap in pop3.POP3.listCapabilities(self)
                if not (server.without_uidl and cap.startswith(b"UIDL"))
                and not (server.without_top and cap.startswith(b"TOP"))]
        if server.tls is not None and server.mode == "starttls" and not self.tls_started:
            caps.append(b"STLS")
        return caps

    def processCommand(self, command, *args):
        if command.upper() == b"STLS":  # allowed before authentication
            return self.do_STLS()
        return pop3.POP3.processCommand(self, command, *args)

    def do_STLS(self):
        server = self.factory.server
        if server.tls is None or server.mode != "starttls" or self.tls_started:
            self.failResponse(b"STLS not available")
            return
        self.successResponse(b"Begin TLS negotiation")
        self.transport.startTLS(server.tls.options())
        self.tls_started = True

    def do_USER(self, user):
        server = self.factory.server
        if server.tls is not None and server.mode == "starttls" and not self.tls_started:
            self.failResponse(b"STLS first")
            return
        return pop3.POP3.do_USER(self, user)

    def do_QUIT(self):
        self.factory.server.quits += 1
        return pop3.POP3.do_QUIT(self)


class _Factory(protocol.ServerFactory):
    def __init__(self, server):
        self.server = server

    def buildProtocol(self, addr):
        p = _Protocol()
        p.factory = self
        p.portal = self.server.portal
        p.timeOut = 60
        return p


class PopTestServer(ListeningServer):
    factory_class = _Factory

    def __init__(self, tls=None, mode: str = "starttls", reactor=None):
        if reactor is None:
            from twisted.internet import reactor
        self.reactor = reactor
        self.mailboxes: dict[str, Mailbox] = {}
        self.checker = checkers.InMemoryUsernamePasswordDatabaseDontUse()
        self.portal = portal.Portal(_Realm(self), [self.checker])
        self.live = set()
        self.logins = self.quits = 0
        self.drop_after_retr = None
        self.without_uidl = self.without_top = False
        self.tls, self.mode = tls, mode
        self.listening = None
        self.port = None

    def add_mailbox(self, name: str, password: str) -> Mailbox:
        self.checker.addUser(name.encode(), password.encode())
        self.mailboxes[name] = Mailbox()
        return self.mailboxes[name]

    def deliver(self, name: str, raw: bytes) -> str:
        return self.mailboxes[name].add(raw)


# ---------------------------------------------------------------- helpers for the POP and import tests

_numbers = itertools.count(1)


def make_mail(sender: str = "Carol Customer <carol@example.com>", to: str = "support@helpdesk.example",
              subject: str = "Printer on fire", body: str = "It is on fire.\n", html: str | None = None,
              message_id: str | bool = True, attachments=(), headers=None) -> bytes:
    """A customer's email as bytes; ``message_id`` True = a fresh one, False = none."""
    import email.policy
    import email.utils
    from email.message import EmailMessage

    mail = EmailMessage(policy=email.policy.SMTP)
    mail["From"] = sender
    mail["To"] = to
    mail["Subject"] = subject
    mail["Date"] = email.utils.formatdate()
    if message_id is True:
        message_id = "<customer.%d@example.com>" % next(_numbers)
    if message_id:
        mail["Message-ID"] = message_id
    for name, value in (headers or {}).items():
        mail[name] = value
    mail.set_content(body)
    if html is not None:
        mail.add_alternative(html, subtype="html")
    for name, data, maintype, subtype in attachments:
        mail.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return mail.as_bytes()


def add_pop_account(runtime, port: int, username: str = "support", password: str = "pw", department_id: int = 1,
                    **fields) -> int:
    from stws.db.models import PopAccount

    values = dict(department_id=department_id, email_address="%s@helpdesk.example" % username,
                  server="127.0.0.1", port=port, security="none", username=username, password=password,
                  leave_on_server=False, import_frequency_minutes=5, is_enabled=True,
                  new_ticket_restriction="anyone")
    values.update(fields)
    with runtime.db.transaction() as session:
        account = PopAccount(**values)
        session.add(account)
        session.flush()
        return account.id


async def download(runtime, **kwargs) -> int:
    """One POP Download run in a worker thread (it calls into the reactor)."""
    from twisted.internet import threads

    from stws.mail import pop

    return await threads.deferToThread(pop.download_due, runtime, **kwargs)


async def import_all(runtime, **kwargs) -> int:
    """One Email Import run in a worker thread."""
    from twisted.internet import threads

    from stws.mail import importer

    return await threads.deferToThread(importer.import_pending, runtime, **kwargs)


def incoming_rows(runtime):
    from sqlalchemy import select

    from stws.db.models import IncomingMessage

    with runtime.db.transaction(writes=False) as session:
        return list(session.scalars(select(IncomingMessage).order_by(IncomingMessage.id)))


def pop_log(runtime) -> str:
    return "".join(p.read_text() for p in sorted(runtime.data.logs.glob("pop-*.log")))
