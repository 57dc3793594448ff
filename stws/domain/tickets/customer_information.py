"""Who a ticket's customer is, as the user information provider is asked
about them (stws.operations.providers.ticket_user_information)."""
from __future__ import annotations

from sqlalchemy import bindparam, select

from stws.db.models import User
from stws.domain.tickets import core


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
