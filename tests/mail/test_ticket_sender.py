"""Who a ticket's email says it is from: the department's address, shown
under the From Name of the SMTP account the mail goes out through (the
department's, else its brand's, else the default one), and under the
brand's name only when that account has none."""
from __future__ import annotations

import email
import email.policy
from types import SimpleNamespace

from sqlalchemy import update

from mail.conftest import add_account
from stws.db.models import Brand, Department, SmtpAccount
from stws.domain import outgoing_mail as outgoing
from workers import test_framework

runtime = test_framework.runtime  # the fixture: a runtime without a server
TICKET = SimpleNamespace(id=0, ticket_number="123-4567ABCD-0001", department_id=1, subject="Printer")


def sender_of(runtime) -> tuple[str, str]:
    """(display name, address) of the From of a mail of department 1's ticket."""
    with runtime.db.transaction() as session:
        row = outgoing.spool_row(session, TICKET, "", "Hello.", "", ["customer@example.com"], reply=False)
    mail = email.message_from_bytes(row["raw_content"], policy=email.policy.default)
    (address,) = mail["From"].addresses
    return address.display_name, address.addr_spec


def name_accounts(runtime, department=None, brand=None) -> None:
    with runtime.db.transaction() as session:
        session.get(Department, 1).email_address = "support@helpdesk.example"
        session.get(Department, 1).smtp_account_id = department
        session.get(Brand, 1).smtp_account_id = brand


def test_the_smtp_accounts_from_name_wins_over_the_brand_name(runtime):
    name_accounts(runtime)
    assert sender_of(runtime) == ("Default", "support@helpdesk.example")  # no account: the brand's name
    add_account(runtime, 25, name="plain")  # the default account, without a From Name
    assert sender_of(runtime) == ("Default", "support@helpdesk.example")

    brand_account = add_account(runtime, 25, name="brand", is_default=False, from_name="Acme Help")
    department_account = add_account(runtime, 25, name="department", is_default=False, from_name="Acme Billing")
    with runtime.db.transaction() as session:
        session.get(Brand, 1).smtp_account_id = brand_account
    assert sender_of(runtime) == ("Acme Help", "support@helpdesk.example")
    name_accounts(runtime, department=department_account, brand=brand_account)
    assert sender_of(runtime) == ("Acme Billing", "support@helpdesk.example")

    # The default account's From Name, when neither department nor brand names an account.
    name_accounts(runtime)
    with runtime.db.transaction() as session:
        session.execute(update(SmtpAccount).values(is_default=False))
    add_account(runtime, 25, name="default", from_name="Acme Desk")
    assert sender_of(runtime) == ("Acme Desk", "support@helpdesk.example")
