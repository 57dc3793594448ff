"""What the user information provider says about a ticket's customer
(stws.providers.user_information), for agents: SOAP's
GetTicketUserInformation and the ticket's Communication tab."""
from __future__ import annotations

from sqlalchemy import bindparam, select

from stws.db.models import User
from stws.domain.context import Context
from stws.domain.tickets import core
from stws.providers.user_information import UserInformation, look_up


def ticket_customer(call, ticket_number: str) -> tuple[str, str]:
    """The user name (empty for a customer without an account) and email
    address of the customer of a ticket the caller may see (NotFound otherwise,
    as GetTicketInfoByTicketNumber)."""
    row = core.ticket_info_row_by_number(call, ticket_number)
    username, email = "", row.customer_email or ""
    if row.customer_id:
        account = call.connection.execute(_ACCOUNT, {"user_id": row.customer_id}).first()
        if account is not None:
            username, email = account.username, email or account.email
    return username, email


_ACCOUNT = select(User.username, User.email).where(User.id == bindparam("user_id"), User.is_deleted.is_(False))


def ticket_user_information(call, ticket_number: str) -> UserInformation:
    """The provider's Key=Value pairs about the ticket's customer. ``call``
    has no transaction: the customer is read in a read-only one that ends
    before the provider is called (stws.remote's rule)."""
    runtime = call.runtime
    # A unit of work, as the runner's: no ORM session unless asked for one.
    with runtime.db.unit_of_work(writes=False) as unit:
        username, email = ticket_customer(Context(call.principal, runtime, unit), ticket_number)
    return look_up(runtime.providers, runtime.user_information, username, email)
