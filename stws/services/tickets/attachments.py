"""Ticket attachments: chunked upload, listing, signed download URLs.

See stws.domain.tickets.attachments for storage and consistency. Every
account that can see a ticket may attach files to it (customers: their own
tickets) and list them; only the account that started an upload (or a
manager) may append to it.
"""
from __future__ import annotations

from stws.domain.tickets import attachments, core
from stws.security import roles
from stws.services.tickets import types as T
from stws.soap.operation import operation
from stws.soap.types import Bytes, Int, Long, String, When


def attachment_info(call, attachment) -> T.TicketAttachmentInfo:
    complete = attachments.is_complete(attachment)
    return T.TicketAttachmentInfo(
        downloadUrl=attachments.download_url(call.runtime.data.root, attachment.id) if complete else "",
        fileDateUtc=attachment.date_created_utc, fileId=attachment.id,
        fileNameOnDisk=attachment.file_name_on_disk, fileNameOriginal=attachment.file_name_original,
        fileSizeInBytes=attachment.length, sender=attachments.sender_of(call.session, attachment),
        senderUserId=attachment.user_id or 0, ticketMessageId=attachment.message_id or 0,
    )


@operation(("ticketAttachmentId", Int), ("data", Bytes), returns=T.GenericResult, role=roles.EVERYONE)
def AppendToTicketAttachment(call, ticketAttachmentId, data):
    """Append the next chunk of an upload; beyond the declared fileLength is TOO_LARGE."""
    attachment = attachments.append_to_attachment(call, ticketAttachmentId, _bytes(data))
    remaining = attachment.expected_length - attachment.length
    return {"Message": "Complete (%d bytes)." % attachment.length if not remaining
            else "%d of %d bytes received." % (attachment.length, attachment.expected_length)}


@operation(("ticketNumber", String), ("ticketMessageId", Long), ("fileName", String), ("data", Bytes),
           ("fileLength", Int), ("dateCreatedUTC", When), returns=T.TicketAttachmentInfoResult,
           role=roles.EVERYONE)
def AddTicketAttachment(call, ticketNumber, ticketMessageId, fileName, data, fileLength, dateCreatedUTC):
    """Attach a file to a ticket (ticketMessageId 0) or one of its messages. ``data`` is the
    first chunk, ``fileLength`` the total (0 = the data is the whole file); send the rest with
    AppendToTicketAttachment. downloadUrl is empty until the upload is complete."""
    ticket = core.get_ticket_by_number(call, ticketNumber)
    attachment = attachments.add_attachment(call, ticket, ticketMessageId, fileName, _bytes(data), fileLength,
                                            dateCreatedUTC)
    return {"File": attachment_info(call, attachment)}


@operation(("ticketId", Int), returns=T.TicketAttachmentInfoArrayResult, role=roles.EVERYONE, writes=False)
def GetTicketAttachments(call, ticketId):
    """The ticket's complete attachments with download URLs valid for 24 hours."""
    ticket = core.get_ticket(call, ticketId)
    return {"Files": [attachment_info(call, row) for row in attachments.ticket_attachments(call, ticket)]}


def _bytes(data) -> bytes:
    """spyne gives ByteArray values as a sequence of chunks."""
    if data is None:
        return b""
    if isinstance(data, (bytes, bytearray)):
        return bytes(data)
    return b"".join(data)
