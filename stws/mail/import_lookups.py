"""What the Email Import looks up for every message, read once per commit
group instead of once per message (``stws.mail.importer``).

A commit group's transaction holds SQLite's write lock from its first
statement to its commit, so what it reads at its start (in that
transaction) stays true for the whole group but for what the group itself
writes: the customer accounts it creates and the auto-responses it sends
are added here as each message's transaction (its savepoint) succeeds
(``learned``), never for one that is undone. On PostgreSQL a batch's
transaction reads the same way; a customer account made by another
connection during the batch is missed as it could be between two
statements before.

Read in a handful of queries for the whole group: the POP accounts, the
departments (auto-responder on, their addresses), the auto-response cap,
the role ids, the live accounts of the group's senders, their
auto-responses of the last hour and which of the group's Message-IDs are
our own outgoing mail. Per message this was some ten ORM queries
(bench/email_import.py).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, select

from stws.db.models import AutoResponse, Department, OutgoingMessage, PopAccount, Setting, User
from stws.domain import organization

DEFAULT_AUTO_RESPONSE_CAP = 5
# Bound values per IN list: SQLite's limit is 32,766; a batch has 200 messages.
_CHUNK = 500


def _chunks(values: list):
    for start in range(0, len(values), _CHUNK):
        yield values[start:start + _CHUNK]


def setting_int(value: str | None, default: int) -> int:
    return int(value) if value and value.strip().isdigit() else default


@dataclass
class Lookups:
    """One group's lookups (see the module docstring)."""

    accounts: dict  # POP account id -> row (department_id, new_ticket_restriction, email_address)
    departments: dict  # department id -> row (auto_responder_enabled, email_address)
    department_addresses: set  # lower case, of live departments
    auto_response_cap: int
    role_ids: dict  # role name -> id
    customers: dict  # sender address (lower case) -> ids of the live accounts with it
    responses: dict  # sender address (lower case) -> auto-responses sent to it in the last hour
    own_message_ids: set  # Message-IDs of the group's messages that our spool sent

    @classmethod
    def load(cls, connection, messages: list, now: dt.datetime) -> "Lookups":
        """``messages``: the Parsed messages the group will import."""
        accounts = {row.id: row for row in connection.execute(
            select(PopAccount.id, PopAccount.department_id, PopAccount.new_ticket_restriction,
                   PopAccount.email_address))}
        departments = {row.id: row for row in connection.execute(
            select(Department.id, Department.auto_responder_enabled, Department.email_address,
                   Department.is_deleted))}
        cap = connection.scalar(select(Setting.value).where(Setting.name == "mail.auto_response_cap"))
        senders = sorted({parsed.sender.lower() for parsed in messages})
        customers: dict = {}
        responses: dict = {}
        for chunk in _chunks(senders):
            for user_id, address in connection.execute(
                    select(User.id, func.lower(User.email)).where(func.lower(User.email).in_(chunk),
                                                                  User.is_deleted.is_(False))):
                customers.setdefault(address, []).append(user_id)
            responses.update(connection.execute(
                select(AutoResponse.recipient, func.count()).where(
                    AutoResponse.recipient.in_(chunk), AutoResponse.date_sent_utc > now - dt.timedelta(hours=1))
                .group_by(AutoResponse.recipient)).all())
        message_ids = sorted({parsed.message_id for parsed in messages if parsed.message_id})
        own = set()
        for chunk in _chunks(message_ids):
            own.update(connection.execute(select(OutgoingMessage.message_id_header)
                                          .where(OutgoingMessage.message_id_header.in_(chunk))).scalars())
        return cls(accounts=accounts, departments=departments,
                   department_addresses={row.email_address.lower() for row in departments.values()
                                         if row.email_address and not row.is_deleted},
                   auto_response_cap=setting_int(cap, DEFAULT_AUTO_RESPONSE_CAP),
                   role_ids=organization.role_ids(connection), customers=customers, responses=responses,
                   own_message_ids=own)

    def customer_id(self, address: str) -> int | None:
        """The account of this address if there is exactly one (as
        ``core.find_customer``)."""
        ids = self.customers.get(address.lower(), ())
        return ids[0] if len(ids) == 1 else None

    def under_cap(self, address: str) -> bool:
        return self.responses.get(address.lower(), 0) < self.auto_response_cap

    # What a message's transaction wrote, recorded once it succeeded.

    def learn_customer(self, address: str, user_id: int) -> None:
        self.customers.setdefault(address.lower(), []).append(user_id)

    def learn_response(self, address: str) -> None:
        self.responses[address.lower()] = self.responses.get(address.lower(), 0) + 1
