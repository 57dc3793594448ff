"""What the Email Import looks up for every message, without the ORM
(``stws.mail.importer``).

Per message this was some ten ORM queries and loads (the POP account, the
department twice, the setting of the auto-response cap, the roles of a new
customer, the sender's account, the auto-responses of the last hour, our
own Message-IDs, the department addresses): about 3 ms of the 12 ms of CPU
a message cost (bench/email_import.py). Now:

- what is the same for every message (the POP accounts, the departments,
  the cap, the role ids) is read once per commit group, in its
  transaction, in four prebuilt queries (``Lookups.load``);
- what depends on the message (the sender's accounts, its auto-responses
  of the last hour, whether its Message-ID is one of ours) is one indexed
  prebuilt query each, run on the driver (stws.db.prepared) in the
  message's own transaction: it sees what the earlier messages of the
  group wrote, and nothing of one that was undone. Reading these for the
  whole group at once was dearer: a group is often a few messages on a
  loaded machine (GROUP_SECONDS), and the IN lists are compiled per
  execution.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import bindparam, func, select

from stws.db.models import AutoResponse, Department, OutgoingMessage, PopAccount, Role, Setting
from stws.db.prepared import PreparedQuery
from stws.domain.tickets import core

DEFAULT_AUTO_RESPONSE_CAP = 5

_ACCOUNTS = PreparedQuery(select(PopAccount.id, PopAccount.department_id, PopAccount.new_ticket_restriction,
                                 PopAccount.email_address))
_DEPARTMENTS = PreparedQuery(select(Department.id, Department.auto_responder_enabled, Department.email_address,
                                    Department.is_deleted))
_CAP = PreparedQuery(select(Setting.value).where(Setting.name == "mail.auto_response_cap"))
_ROLES = PreparedQuery(select(Role.id, Role.name))
_RESPONSES = PreparedQuery(select(func.count().label("count")).select_from(AutoResponse).where(
    AutoResponse.recipient == bindparam("recipient"), AutoResponse.date_sent_utc > bindparam("since")))
_OUR_MESSAGE_ID = PreparedQuery(select(OutgoingMessage.id).where(
    OutgoingMessage.message_id_header == bindparam("message_id")).limit(1))


def setting_int(value: str | None, default: int) -> int:
    return int(value) if value and value.strip().isdigit() else default


@dataclass
class Lookups:
    """One commit group's (or one transaction's) lookups; see the module
    docstring."""

    accounts: dict  # POP account id -> row (department_id, new_ticket_restriction, email_address)
    departments: dict  # department id -> row (auto_responder_enabled, email_address, is_deleted)
    department_addresses: set  # lower case, of live departments
    auto_response_cap: int
    role_ids: dict  # role name -> id
    now: dt.datetime

    @classmethod
    def load(cls, connection, now: dt.datetime) -> "Lookups":
        departments = {row.id: row for row in _DEPARTMENTS.all(connection, {})}
        cap = _CAP.first(connection, {})
        return cls(accounts={row.id: row for row in _ACCOUNTS.all(connection, {})}, departments=departments,
                   department_addresses={row.email_address.lower() for row in departments.values()
                                         if row.email_address and not row.is_deleted},
                   auto_response_cap=setting_int(cap.value if cap else None, DEFAULT_AUTO_RESPONSE_CAP),
                   role_ids={row.name: row.id for row in _ROLES.all(connection, {})}, now=now)

    @staticmethod
    def customer_id(connection, address: str) -> int | None:
        """The account of this address if there is exactly one (as
        ``core.find_customer``)."""
        return core.find_customer_id(connection, address)

    def under_cap(self, connection, address: str) -> bool:
        """Fewer auto-responses than the cap went to ``address`` in the last hour."""
        sent = _RESPONSES.first(connection, {"recipient": address.lower(), "since": self.now - dt.timedelta(hours=1)})
        return sent.count < self.auto_response_cap

    @staticmethod
    def is_our_message_id(connection, message_id: str) -> bool:
        """Whether our spool sent a message with this Message-ID."""
        return _OUR_MESSAGE_ID.first(connection, {"message_id": message_id}) is not None
