"""svcTickets operations: the conversation of a ticket.

Internal notes (comments), messages to and from the customer, the ordered
list of a ticket's parts, message bodies, and the event history. Bound to
stws.operations.tickets.conversation; the rules are in
stws.domain.tickets.conversation.
"""
from __future__ import annotations

from stws.domain.tickets import conversation as conv
from stws.operations.tickets import conversation as ops
from stws.services.tickets import types as T
from stws.soap.operation import binds
from stws.soap.types import Bool, Int, Long, NullableInt, String, When

NOTE = (("ticketNumber", String), ("messageType", String), ("notetext", String))
MESSAGE = (("ticketNumber", String), ("fromAddress", String), ("toAddress", String), ("ccAddress", String),
           ("subject", String), ("body", String), ("isHtml", Bool), ("toCustomer", Bool), ("sendEmail", Bool))


def part_info(part: conv.Part) -> T.TicketPartInfo:
    return T.TicketPartInfo(CreationDateUtc=part.created, Description=part.description, Direction=part.direction,
                            PartId=part.part_id, Recipient=part.recipient, Sender=part.sender,
                            Type=part.part_type, IsDraft=part.is_draft)


def _new_part(part: conv.Part):
    return {"Part": part_info(part)}


# --------------------------------------------------------------- notes


@binds(ops.ticket_note, ("commentId", Int), returns=T.TicketCommentInfoResult)
def GetTicketNote(note: conv.Note):
    """An internal comment of a ticket the caller may see."""
    comment = note.comment
    return {"Comment": T.TicketCommentInfo(
        CommentId=comment.id, CommentText=comment.text, CommentType=note.type_name,
        DateEnteredUTC=comment.date_entered_utc, TicketId=comment.ticket_id, UserId=comment.user_id or 0,
    )}


@binds(ops.add_ticket_note, *NOTE, returns=T.GenericResult)
def AddTicketNote(comment):
    """A plain-text internal comment; ``messageType`` is the comment type
    (General, Resolution, Transfer, Follow-Up or Sticky, any case; empty = General)."""
    return {}


@binds(ops.add_ticket_note_html, *NOTE, returns=T.GenericResult)
def AddTicketNoteHtml(comment):
    """AddTicketNote with an HTML text."""
    return {}


@binds(ops.add_ticket_note_html, *NOTE, ("dateEnteredUTC", When), returns=T.GenericResult)
def AddTicketNoteHtmlWithDate(comment):
    """AddTicketNoteHtml, dated (not in the future, not before the ticket opened)."""
    return {}


@binds(ops.edit_ticket_note, ("commentId", Int), ("ticketNumber", String), ("messageType", String),
       ("noteText", String), returns=T.GenericResult, auth_user_param="authUsername")
def EditTicketNote(comment):
    """Change the text (and, unless ``messageType`` is empty, the type) of a
    comment: its author or a manager. The history keeps the previous text."""
    return {}


# --------------------------------------------------------------- reading


@binds(ops.ticket_event_history, ("ticketId", Int), returns=T.TicketEventInfoArrayResult)
def GetTicketEventHistory(events):
    """Everything that happened to the ticket, oldest first."""
    return {"Events": [
        T.TicketEventInfo(Description=event.description, Details=event.details, EventDateUtc=event.date_utc,
                          UserTakingAction=event.user_name)
        for event in events
    ]}


@binds(ops.ticket_message_plain_text, ("ticketMessageId", Long), returns=T.TicketMessageBodyResult)
def GetTicketMessagePlainText(text):
    """The body of a message as plain text (HTML-only bodies converted)."""
    return {"messageBody": text}


@binds(ops.ticket_message_html, ("ticketMessageId", Long), returns=T.TicketMessageBodyResult)
def GetTicketMessageHtml(markup):
    """The body of a message as HTML (plain-text bodies escaped and converted)."""
    return {"messageBody": markup}


@binds(ops.ticket_conversation_parts, ("ticketId", Int), returns=T.TicketPartInfoArrayResult)
def GetTicketConversationPartList(parts):
    """Messages (Type 1) and comments (10 general, 11 transfer, 12 resolution)
    of the ticket, oldest first; customers get their messages only."""
    return {"Parts": [part_info(part) for part in parts]}


# --------------------------------------------------------------- messages


@binds(ops.add_message_to_ticket, *MESSAGE, returns=T.GenericResult)
def AddMessageToTicket(part):
    """A reply to the customer (``toCustomer``; emailed if ``sendEmail``) or a
    message from the customer (``sendEmail`` does not apply: nothing is mailed)."""
    return {}


@binds(ops.add_message_to_ticket_from_user, *MESSAGE, ("userID", NullableInt), returns=T.GenericResult)
def AddMessageToTicketFromUser(part):
    """AddMessageToTicket attributed to ``userID`` (an agent for a reply;
    nil = the caller for a reply, the customer for a customer message)."""
    return {}


@binds(ops.add_message_to_ticket, *MESSAGE, ("dateMessageReceived", When), returns=T.TicketPartInfoResult)
def AddMessageToTicketWithDate(part):
    """AddMessageToTicket dated ``dateMessageReceived``; returns the new part."""
    return _new_part(part)


@binds(ops.add_message_to_ticket, *MESSAGE, ("dateMessageReceived", When), ("userID", NullableInt),
       returns=T.TicketPartInfoResult)
def AddMessageToTicketWithDateFromUser(part):
    """AddMessageToTicketWithDate attributed to ``userID``."""
    return _new_part(part)
