"""The emails of the error log (stws.diagnostics.errormail) as a mail server
with sender checks sees them: every entry of the error log is mailed,
warnings included, from an address the SMTP account may send as."""
from __future__ import annotations

import email
import email.policy
import logging

from sqlalchemy import select

from mail.conftest import add_account
from mail.pop_server import add_pop_account, download
from workers import test_framework
from stws.db.models import OutgoingMessage, Setting, utcnow
from stws.diagnostics import errormail
from stws.domain import outgoing_mail as outgoing

ADDRESS = "admin@helpdesk.example"
runtime = test_framework.runtime  # the fixture: a runtime without a server


def set_error_address(runtime, address=ADDRESS):
    with runtime.db.transaction() as session:
        session.merge(Setting(name="diagnostics.EmailAddressToReceiveErrors", value=address))
    runtime.options.reload()


def spooled(runtime) -> list:
    with runtime.db.transaction(writes=False) as session:
        return [(row, email.message_from_bytes(row.raw_content, policy=email.policy.default))
                for row in session.scalars(select(OutgoingMessage).order_by(OutgoingMessage.id))]


def flush(runtime) -> int:
    return errormail.flush(runtime, runtime.error_mail, utcnow())


# ---------------------------------------------------------------- warnings are mailed too


async def test_a_pop_account_that_cannot_log_in_is_mailed(server, pop_server):
    runtime = server.runtime
    set_error_address(runtime)
    pop = pop_server()
    add_pop_account(runtime, pop.port, password="wrong")
    await download(runtime)
    assert flush(runtime) == 1
    ((row, mail),) = spooled(runtime)
    assert mail["To"] == ADDRESS
    assert mail["Subject"].startswith("stws warning: POP account support@helpdesk.example")
    assert "A warning was written to the error log" in mail.get_content()


def test_warnings_share_the_rate_limit_of_errors(runtime):
    set_error_address(runtime)
    log = logging.getLogger("stws.error")

    def unreadable(name):  # one place in the code that logs the warning
        log.warning("Email import: could not read %s", name)

    for name in ("a.eml", "b.eml", "c.eml"):
        unreadable(name)
    log.error("disk on fire")
    assert flush(runtime) == 2  # one email per distinct entry
    subjects = sorted(mail["Subject"] for _, mail in spooled(runtime))
    assert subjects == ["stws error: disk on fire", "stws warning (3 times): Email import: could not read a.eml"]
    unreadable("d.eml")
    assert flush(runtime) == 0  # within the minute: counted for the next email
    assert errormail.unsent(runtime) == 1
# ---------------------------------------------------------------- the sender


def test_error_mail_comes_from_the_default_smtp_account(runtime):
    set_error_address(runtime)
    add_account(runtime, 25, name="other", is_default=False, from_address="other@helpdesk.example")
    add_account(runtime, 25, name="relay", from_address="desk@helpdesk.example", from_name="Help Desk")
    logging.getLogger("stws.error").error("disk on fire")
    assert flush(runtime) == 1
    ((row, mail),) = spooled(runtime)
    assert row.from_address == "desk@helpdesk.example"
    assert mail["From"].addresses[0].addr_spec == "desk@helpdesk.example"
    assert mail["From"].addresses[0].display_name == "Help Desk"
    assert mail["Message-ID"].endswith("@helpdesk.example>")


def test_error_mail_sender_falls_back_to_the_login_then_the_setting(runtime):
    set_error_address(runtime)
    log = logging.getLogger("stws.error")
    with runtime.db.transaction() as session:
        assert outgoing.default_sender(session) == ("", outgoing.DEFAULT_FROM)  # nothing configured at all
        session.merge(Setting(name="mail.default_from", value="noreply@helpdesk.example"))
    with runtime.db.transaction() as session:
        assert outgoing.default_sender(session) == ("", "noreply@helpdesk.example")
    # The default account without a From Address: its login, when that is an address.
    add_account(runtime, 25, name="relay", use_authentication=True, username="mailer@helpdesk.example")
    log.error("disk on fire")
    assert flush(runtime) == 1
    ((row, mail),) = spooled(runtime)
    assert row.from_address == "mailer@helpdesk.example"
    assert mail["From"].addresses[0].addr_spec == "mailer@helpdesk.example"
