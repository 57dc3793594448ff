"""A real ESMTP server (twisted.mail.smtp.ESMTP) for mail tests, reusable.

    server = SmtpTestServer(temp_failures=2, reject={"bad@example.com"},
                            credentials=("user", "pw"), tls=make_certificate())
    port = server.listen()             # 127.0.0.1:0 in the running reactor
    ... server.messages, server.connections, server.rcpt_replies ...
    await server.stop()                # stop listening and drop connections
    server.listen(port)                # "comes back" on the same port

Behaviour:

* records every accepted message (``Received``: sender, recipients, the raw
  bytes, its Message-ID, the connection number it came on);
* ``temp_failures``: the first N RCPT commands get ``451`` (try later);
* ``reject``: these recipients get ``550`` (permanent);
* ``credentials``: AUTH (LOGIN, PLAIN) required before MAIL;
* ``tls``: a ``twisted.internet.ssl.PrivateCertificate``: STARTTLS offered
  (``mode="starttls"``) or TLS from the first byte (``mode="ssl"``);
* ``data_delay``: seconds before the "250" that ends DATA (a slow server;
  the message is recorded when the data is complete, before the reply);
* ``record_path``: also append each message as a JSON line (for a server
  in another process);
* ``pipelining``: offer PIPELINING (RFC 2920; Twisted's server handles
  commands that arrive together, as long as its checks answer at once,
  which this one's do); ``pipelined_groups`` counts the reads that brought
  a MAIL and a DATA command together;
* ``refuse_senders``: MAIL FROM these addresses gets ``550``.

Run as a script it serves in its own process (the kill -9 test)::

    python tests/mail/smtp_server.py --port-file P --record R [--data-delay S] [--pipelining]
"""
from __future__ import annotations

import datetime as dt
import email
import email.policy
import functools
import json
import re
from dataclasses import dataclass

from twisted.cred import checkers, portal
from twisted.internet import defer, task
from twisted.mail import imap4, smtp
from zope.interface import implementer


@dataclass
class Received:
    sender: str
    recipients: list
    raw: bytes
    connection: int

    @property
    def mail(self):
        return email.message_from_bytes(self.raw, policy=email.policy.default)

    @property
    def message_id(self) -> str:
        return str(self.mail["Message-ID"] or "")


_MESSAGE_ID = re.compile(rb"^message-id:[ \t]*(.*?)\r?$", re.IGNORECASE | re.MULTILINE)


def _message_id(raw: bytes) -> str:
    """The Message-ID header of ``raw`` without parsing the whole message
    (the benches' sink records thousands a second)."""
    found = _MESSAGE_ID.search(raw.split(b"\n\n", 1)[0])
    return found.group(1).decode("ascii", "replace").strip() if found else ""


@implementer(smtp.IMessageDelivery)
class _Delivery:
    def __init__(self, server: "SmtpTestServer"):
        self.server = server

    def receivedHeader(self, helo, origin, recipients):
        return None

    def validateFrom(self, helo, origin):
        if str(origin).lower() in self.server.refuse_senders:
            raise smtp.SMTPBadSender(origin, 550, "5.7.1 Sender refused (test server)")
        return origin

    def validateTo(self, user):
        address = str(user.dest)
        self.server.rcpt_count += 1
        if self.server.rcpt_count <= self.server.temp_failures:
            self.server.rcpt_replies.append((address, 451))
            raise smtp.SMTPServerError(451, "4.3.0 Try again later (test server)")
        if address.lower() in self.server.reject:
            self.server.rcpt_replies.append((address, 550))
            raise smtp.SMTPBadRcpt(user, 550, "5.1.1 No such user here (test server)")
        self.server.rcpt_replies.append((address, 250))
        return lambda: None  # replaced in do_DATA


@implementer(smtp.IMessage)
class _Message:
    def __init__(self, server, transaction, primary: bool):
        self.server, self.transaction, self.primary = server, transaction, primary
        self.lines = []

    def lineReceived(self, line):
        if self.primary:
            self.lines.append(line)

    def eomReceived(self):
        if not self.primary:
            return defer.succeed(None)
        sender, recipients, connection = self.transaction
        self.server.record(Received(sender, recipients, b"\n".join(self.lines) + b"\n", connection))
        if self.server.data_delay:
            return task.deferLater(self.server.reactor, self.server.data_delay, lambda: None)
        return defer.succeed(None)

    def connectionLost(self):
        self.lines = []


@implementer(portal.IRealm)
class _Realm:
    def __init__(self, server):
        self.server = server

    def requestAvatar(self, avatar_id, mind, *interfaces):
        if smtp.IMessageDelivery in interfaces:
            return smtp.IMessageDelivery, _Delivery(self.server), lambda: None
        raise NotImplementedError()


class _Protocol(smtp.ESMTP):
    server: "SmtpTestServer"

    def connectionMade(self):
        self.server.connections += 1
        self.number = self.server.connections
        self.server.live.add(self)
        smtp.ESMTP.connectionMade(self)
        if self.server.mode == "ssl":
            self.startedTLS = True

    def connectionLost(self, reason):
        self.server.live.discard(self)
        smtp.ESMTP.connectionLost(self, reason)

    def extensions(self):
        offered = smtp.ESMTP.extensions(self)
        if self.server.pipelining:
            offered[b"PIPELINING"] = None
        return offered

    def dataReceived(self, data):
        if self.mode == "COMMAND" and b"MAIL FROM:" in data.upper() and b"\r\nDATA\r\n" in data.upper():
            self.server.pipelined_groups += 1
        return smtp.ESMTP.dataReceived(self, data)

    def do_DATA(self, rest):
        if self._from is not None and self._to:
            transaction = (str(self._from), [str(user.dest) for user, _ in self._to], self.number)
            self._to = [(user, functools.partial(_Message, self.server, transaction, index == 0))
                        for index, (user, _) in enumerate(self._to)]
        return smtp.ESMTP.do_DATA(self, rest)


class _Factory(smtp.SMTPFactory):
    def __init__(self, server):
        smtp.SMTPFactory.__init__(self, server.portal)
        self.server = server

    def buildProtocol(self, addr):
        challengers = {b"LOGIN": smtp.LOGINCredentials, b"PLAIN": imap4.PLAINCredentials} \
            if self.server.credentials else {}
        context = self.server.tls.options() if self.server.tls is not None and self.server.mode == "starttls" \
            else None
        p = _Protocol(challengers, context)
        p.server = self.server
        p.factory = self
        p.portal = self.server.portal
        p.host = b"smtp.test"
        if not self.server.credentials:
            p.delivery = _Delivery(self.server)
        return p


class ListeningServer:
    """listen() and stop() of a test mail server (this one and
    pop_server.PopTestServer) in ``self.reactor`` on 127.0.0.1: TLS from the
    first byte when ``mode`` is "ssl" (with ``tls``), plain TCP otherwise.
    A subclass sets ``factory_class`` (built with the server) and keeps its
    open connections in ``live``."""

    factory_class: type

    def listen(self, port: int = 0) -> int:
        factory = self.factory_class(self)
        if self.tls is not None and self.mode == "ssl":
            self.listening = self.reactor.listenSSL(port, factory, self.tls.options(), interface="127.0.0.1")
        else:
            self.listening = self.reactor.listenTCP(port, factory, interface="127.0.0.1")
        self.port = self.listening.getHost().port
        return self.port

    def stop(self) -> defer.Deferred:
        """Stop listening and drop every open connection (the server "goes away")."""
        stopping = defer.maybeDeferred(self.listening.stopListening) if self.listening else defer.succeed(None)
        self.listening = None
        for p in list(self.live):
            p.transport.abortConnection()
        return stopping


class SmtpTestServer(ListeningServer):
    factory_class = _Factory

    def __init__(self, reactor=None, temp_failures: int = 0, reject=(), credentials=None, tls=None,
                 mode: str = "starttls", data_delay: float = 0, record_path=None, pipelining: bool = False,
                 refuse_senders=()):
        if reactor is None:
            from twisted.internet import reactor
        self.reactor = reactor
        self.temp_failures = temp_failures
        self.reject = {r.lower() for r in reject}
        self.credentials = credentials
        self.tls = tls
        self.mode = mode if tls is not None else "plain"
        self.data_delay = data_delay
        self.record_path = record_path
        self._record = None
        self.pipelining = pipelining
        self.pipelined_groups = 0
        self.refuse_senders = {r.lower() for r in refuse_senders}
        self.messages: list[Received] = []
        self.connections = 0
        self.rcpt_count = 0
        self.rcpt_replies: list[tuple[str, int]] = []
        self.live: set = set()
        self.listening = None
        self.port = 0
        self.portal = None
        if credentials:
            checker = checkers.InMemoryUsernamePasswordDatabaseDontUse(
                **{credentials[0]: credentials[1].encode()})
            self.portal = portal.Portal(_Realm(self), [checker])

    def record(self, received: Received) -> None:
        self.messages.append(received)
        if self.record_path:
            if self._record is None:
                self._record = open(self.record_path, "a", buffering=1)  # a line at a time, for the reader
            self._record.write(json.dumps({"sender": received.sender, "recipients": received.recipients,
                                           "message_id": _message_id(received.raw),
                                           "connection": received.connection,
                                           "at": dt.datetime.now(dt.timezone.utc).isoformat()}) + "\n")

    def by_message_id(self) -> dict:
        result = {}
        for message in self.messages:
            result.setdefault(message.message_id, []).append(message)
        return result


def make_certificate(hostname: str = "127.0.0.1"):
    """A self-signed certificate for ``hostname`` (an IP address or a name):
    (PrivateCertificate for the server, Certificate for the client's trust)."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    from twisted.internet import ssl

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname)])
    try:
        alt = x509.IPAddress(ipaddress.ip_address(hostname))
    except ValueError:
        alt = x509.DNSName(hostname)
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=2))
            .add_extension(x509.SubjectAlternativeName([alt]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                serialization.NoEncryption())
    return ssl.PrivateCertificate.loadPEM(cert_pem + key_pem), ssl.Certificate.loadPEM(cert_pem)


def main(argv=None):
    import argparse
    import os

    from twisted.internet import reactor

    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--port-file", required=True)
    parser.add_argument("--record", required=True)
    parser.add_argument("--data-delay", type=float, default=0)
    parser.add_argument("--pipelining", action="store_true")
    args = parser.parse_args(argv)
    server = SmtpTestServer(reactor, data_delay=args.data_delay, record_path=args.record,
                            pipelining=args.pipelining)
    port = server.listen(args.port)
    with open(args.port_file + ".tmp", "w") as stream:
        stream.write(str(port))
    os.replace(args.port_file + ".tmp", args.port_file)
    reactor.run()


if __name__ == "__main__":
    main()
