"""svcTickets operations: ticket attachments (chunked upload, listing,
signed download URLs). Bound to stws.operations.tickets.attachments; see
stws.domain.tickets.attachments for storage and consistency.
"""
from __future__ import annotations

from stws.domain.tickets.attachments import Listing
from stws.operations.tickets import attachments as ops
from stws.services.tickets import types as T
from stws.soap.operation import binds
from stws.soap.types import Bytes, Int, Long, String, When


def attachment_info(listed: Listing) -> T.TicketAttachmentInfo:
    attachment = listed.attachment
    return T.TicketAttachmentInfo(
        downloadUrl=listed.download_url, fileDateUtc=attachment.date_created_utc, fileId=attachment.id,
        fileNameOnDisk=attachment.file_name_on_disk, fileNameOriginal=attachment.file_name_original,
        fileSizeInBytes=attachment.length, sender=listed.sender, senderUserId=attachment.user_id or 0,
        ticketMessageId=attachment.message_id or 0,
    )


@binds(ops.append_to_ticket_attachment, ("ticketAttachmentId", Int), ("data", Bytes), returns=T.GenericResult)
def AppendToTicketAttachment(attachment):
    """Append the next chunk of an upload; beyond the declared fileLength is TOO_LARGE."""
    remaining = attachment.expected_length - attachment.length
    return {"Message": "Complete (%d bytes)." % attachment.length if not remaining
            else "%d of %d bytes received." % (attachment.length, attachment.expected_length)}


@binds(ops.add_ticket_attachment, ("ticketNumber", String), ("ticketMessageId", Long), ("fileName", String),
       ("data", Bytes), ("fileLength", Int), ("dateCreatedUTC", When), returns=T.TicketAttachmentInfoResult)
def AddTicketAttachment(listed):
    """Attach a file to a ticket (ticketMessageId 0) or one of its messages. ``data`` is the
    first chunk, ``fileLength`` the total (0 = the data is the whole file); send the rest with
    AppendToTicketAttachment. downloadUrl is empty until the upload is complete."""
    return {"File": attachment_info(listed)}


@binds(ops.ticket_attachments, ("ticketId", Int), returns=T.TicketAttachmentInfoArrayResult)
def GetTicketAttachments(listed):
    """The ticket's complete attachments with download URLs valid for 24 hours."""
    return {"Files": [attachment_info(item) for item in listed]}
