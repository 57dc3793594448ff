"""Ticket attachments: chunked upload, listing with signed download URLs.

Every account that can see a ticket may attach files to it (customers:
their own tickets) and list them; only the account that started an upload
(or a manager) may append to it. See stws.domain.tickets.attachments.
"""
from __future__ import annotations

from stws.db.models import TicketAttachment
from stws.domain.tickets import attachments, core
from stws.operations.runner import operation
from stws.security import roles


def _bytes(data) -> bytes:
    """``data`` as bytes: it may come as a sequence of chunks (spyne's
    ByteArray values do) or as nothing."""
    if data is None:
        return b""
    if isinstance(data, (bytes, bytearray)):
        return bytes(data)
    return b"".join(data)


@operation(role=roles.EVERYONE)
def append_to_ticket_attachment(context, attachment_id, data) -> TicketAttachment:
    """The attachment, its length grown by the chunk ``data``."""
    return attachments.append_to_attachment(context, attachment_id, _bytes(data))


@operation(role=roles.EVERYONE)
def add_ticket_attachment(context, ticket_number, message_id, file_name, data, file_length,
                          date_created) -> attachments.Listing:
    """Attach a file to the ticket (message_id 0) or one of its messages;
    ``data`` is its first chunk, ``file_length`` the total (0: data is all of it)."""
    ticket = core.get_ticket_by_number(context, ticket_number)
    attachment = attachments.add_attachment(context, ticket, message_id, file_name, _bytes(data), file_length,
                                            date_created)
    return attachments.listing(context, attachment)


@operation(role=roles.EVERYONE, writes=False)
def ticket_attachments(context, ticket_id) -> list[attachments.Listing]:
    """The ticket's complete attachments."""
    return attachments.listings(context, core.visible_ticket(context, ticket_id))
