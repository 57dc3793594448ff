"""Fixtures for the mail tests: test SMTP servers in the test reactor, SMTP
accounts and spool rows written straight into the database, and one
delivery run in a worker thread."""
from __future__ import annotations

import email.policy
import email.utils
import itertools
from email.message import EmailMessage

import pytest
import pytest_twisted
from sqlalchemy import select
from twisted.internet import threads

from stws.db.models import OutgoingMessage, Setting, SmtpAccount
from stws.mail import delivery, tls
from mail.pop_server import PopTestServer
from mail.smtp_server import SmtpTestServer

_numbers = itertools.count(1)


def stopped_at_teardown(start):
    """The body of a fixture that yields ``start`` (which returns a listening
    test server) and stops every server it started still listening at teardown."""
    started = []

    def start_and_keep(*args, **options):
        server = start(*args, **options)
        started.append(server)
        return server

    yield start_and_keep
    for server in started:
        if server.listening is not None:
            server.stop()


@pytest.fixture
def smtp_servers():
    """smtp_servers(**options) -> a listening SmtpTestServer; all stopped at teardown."""
    def start(port: int = 0, **options) -> SmtpTestServer:
        server = SmtpTestServer(**options)
        server.listen(port)
        return server

    yield from stopped_at_teardown(start)


@pytest.fixture
def pop_server():
    """pop_server(**options) -> a listening PopTestServer with mailbox support/pw; all stopped at teardown."""
    def start(**options) -> PopTestServer:
        server = PopTestServer(**options)
        server.add_mailbox("support", "pw")
        server.listen()
        return server

    yield from stopped_at_teardown(start)


@pytest_twisted.async_fixture
async def spool(server):
    """A client of svcSpool (the SMTP and POP account and spool operations)."""
    return await server.client("svcSpool")


@pytest.fixture(autouse=True)
def _restore_trust():
    yield
    tls.TRUST_ROOT = None


def add_account(runtime, port: int, name: str = "test", is_default: bool = True, **fields) -> int:
    values = dict(name=name, server="127.0.0.1", port=port, security="none", is_default=is_default)
    values.update(fields)
    with runtime.db.transaction() as session:
        account = SmtpAccount(**values)
        session.add(account)
        session.flush()
        return account.id


def set_settings(runtime, **values) -> None:
    """set_settings(runtime, max_attempts=3) writes mail.max_attempts=3."""
    with runtime.db.transaction() as session:
        for key, value in values.items():
            session.merge(Setting(name="mail." + key, value=str(value)))


def compose(to: str = "customer@example.com", subject: str = "Hello", body: str = "Hi there.\n",
            sender: str = "support@helpdesk.example") -> EmailMessage:
    mail = EmailMessage(policy=email.policy.SMTP)
    mail["From"] = sender
    mail["To"] = to
    mail["Subject"] = subject
    mail["Message-ID"] = "<test.%d.%s@helpdesk.example>" % (next(_numbers), id(mail))
    mail["Date"] = email.utils.formatdate()
    mail.set_content(body)
    return mail


def queue(runtime, count: int = 1, to: str = "customer@example.com", ticket_id=None, smtp_account_id=None,
          body: str = "Hi there.\n", **columns) -> list[int]:
    """``count`` due messages in the spool; their ids."""
    ids = []
    columns.setdefault("from_address", "support@helpdesk.example")
    with runtime.db.transaction() as session:
        for index in range(count):
            mail = compose(to=to, subject="Message %d" % index, body=body)
            row = OutgoingMessage(ticket_id=ticket_id, recipients=to,
                                  subject=str(mail["Subject"]), message_id_header=str(mail["Message-ID"]),
                                  raw_content=mail.as_bytes(), smtp_account_id=smtp_account_id, **columns)
            session.add(row)
            session.flush()
            ids.append(row.id)
    return ids


def rows(runtime, ids=None) -> list[OutgoingMessage]:
    with runtime.db.transaction(writes=False) as session:
        query = select(OutgoingMessage).order_by(OutgoingMessage.id)
        if ids is not None:
            query = query.where(OutgoingMessage.id.in_(ids))
        return list(session.scalars(query))


async def deliver(runtime, **kwargs) -> int:
    """One delivery run, in a worker thread (it calls into the reactor)."""
    return await threads.deferToThread(delivery.deliver_due, runtime, **kwargs)


def smtp_log(runtime) -> str:
    return "".join(p.read_text() for p in sorted(runtime.data.logs.glob("smtp-*.log")))
