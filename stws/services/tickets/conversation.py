"""svcTickets operations: the conversation of a ticket.

Internal notes (comments), messages to and from the customer, the ordered
list of a ticket's parts, message bodies, and the event history. The rules
are in stws.domain.tickets.conversation.
"""
from __future__ import annotations

from stws.db.models import CommentType
from stws.domain.tickets import conversation as conv
from stws.domain.tickets import core
from stws.security import roles
from stws.services.tickets import types as T
from stws.soap.operation import operation
from stws.soap.types import Bool, Int, Long, NullableInt, String, When

NOTE = (("ticketNumber", String), ("messageType", String), ("notetext", String))
MESSAGE = (("ticketNumber", String), ("fromAddress", String), ("toAddress", String), ("ccAddress", String),
           ("subject", String), ("body", String), ("isHtml", Bool), ("toCustomer", Bool), ("sendEmail", Bool))


def part_info(part: conv.Part) -> T.TicketPartInfo:
    return T.TicketPartInfo(CreationDateUtc=part.created, Description=part.description, Direction=part.direction,
                            PartId=part.part_id, Recipient=part.recipient, Sender=part.sender,
                            Type=part.part_type, IsDraft=part.is_draft)


def message_part(message) -> conv.Part:
    return conv.Part(conv.PART_MESSAGE, message.id, message.date_received_utc, message.subject,
                     message.direction, message.from_address, message.to_address, bool(message.is_draft))


# --------------------------------------------------------------- notes


@operation(("commentId", Int), returns=T.TicketCommentInfoResult, role=roles.AGENT, writes=False)
def GetTicketNote(call, commentId):
    """An internal comment of a ticket the caller may see."""
    comment, ticket = conv.get_comment(call, commentId)
    kind = call.session.get(CommentType, comment.comment_type_id)
    return {"Comment": T.TicketCommentInfo(
        CommentId=comment.id, CommentText=comment.text, CommentType=kind.english_name,
        DateEnteredUTC=comment.date_entered_utc, TicketId=ticket.id, UserId=comment.user_id or 0,
    )}


def _add_note(call, ticketNumber, messageType, notetext, is_html, entered=None):
    ticket = core.get_ticket_by_number(call, ticketNumber)
    conv.add_comment(call, ticket, messageType, notetext, is_html, entered)
    return {}


@operation(*NOTE, returns=T.GenericResult, role=roles.AGENT)
def AddTicketNote(call, ticketNumber, messageType, notetext):
    """A plain-text internal comment; ``messageType`` is the comment type
    (General, Resolution, Transfer, Follow-Up or Sticky, any case; empty = General)."""
    return _add_note(call, ticketNumber, messageType, notetext, False)


@operation(*NOTE, returns=T.GenericResult, role=roles.AGENT)
def AddTicketNoteHtml(call, ticketNumber, messageType, notetext):
    """AddTicketNote with an HTML text."""
    return _add_note(call, ticketNumber, messageType, notetext, True)


@operation(*NOTE, ("dateEnteredUTC", When), returns=T.GenericResult, role=roles.AGENT)
def AddTicketNoteHtmlWithDate(call, ticketNumber, messageType, notetext, dateEnteredUTC):
    """AddTicketNoteHtml, dated (not in the future, not before the ticket opened)."""
    return _add_note(call, ticketNumber, messageType, notetext, True, dateEnteredUTC)


@operation(("commentId", Int), ("ticketNumber", String), ("messageType", String), ("noteText", String),
           returns=T.GenericResult, role=roles.AGENT, auth_user_param="authUsername")
def EditTicketNote(call, commentId, ticketNumber, messageType, noteText):
    """Change the text (and, unless ``messageType`` is empty, the type) of a
    comment: its author or a manager. The history keeps the previous text."""
    conv.edit_comment(call, commentId, ticketNumber, messageType, noteText)
    return {}


# --------------------------------------------------------------- reading


@operation(("ticketId", Int), returns=T.TicketEventInfoArrayResult, role=roles.AGENT, writes=False)
def GetTicketEventHistory(call, ticketId):
    """Everything that happened to the ticket, oldest first."""
    ticket = core.get_ticket(call, ticketId, include_deleted=core.sees_all_tickets(call))
    return {"Events": [
        T.TicketEventInfo(Description=event.description, Details=event.details, EventDateUtc=event.date_utc,
                          UserTakingAction=event.user_name)
        for event in conv.event_history(call, ticket)
    ]}


@operation(("ticketMessageId", Long), returns=T.TicketMessageBodyResult, role=roles.EVERYONE, writes=False)
def GetTicketMessagePlainText(call, ticketMessageId):
    """The body of a message as plain text (HTML-only bodies converted)."""
    message, _ = conv.get_message(call, ticketMessageId)
    return {"messageBody": conv.message_text(message)}


@operation(("ticketMessageId", Long), returns=T.TicketMessageBodyResult, role=roles.EVERYONE, writes=False)
def GetTicketMessageHtml(call, ticketMessageId):
    """The body of a message as HTML (plain-text bodies escaped and converted)."""
    message, _ = conv.get_message(call, ticketMessageId)
    return {"messageBody": conv.message_html(message)}


@operation(("ticketId", Int), returns=T.TicketPartInfoArrayResult, role=roles.EVERYONE, writes=False)
def GetTicketConversationPartList(call, ticketId):
    """Messages (Type 1) and comments (10 general, 11 transfer, 12 resolution)
    of the ticket, oldest first; customers get their messages only."""
    ticket = core.get_ticket(call, ticketId)
    return {"Parts": [part_info(part) for part in conv.conversation_parts(call, ticket)]}


# --------------------------------------------------------------- messages


def _add_message(call, ticketNumber, fromAddress, toAddress, ccAddress, subject, body, isHtml, toCustomer,
                 sendEmail, received=None, user_id=None):
    ticket = core.get_ticket_by_number(call, ticketNumber)
    return conv.add_message(call, ticket, from_address=fromAddress, to_address=toAddress, cc_address=ccAddress,
                            subject=subject, body=body, is_html=isHtml, to_customer=toCustomer,
                            send_email=sendEmail, received=received, user_id=user_id)


@operation(*MESSAGE, returns=T.GenericResult, role=roles.AGENT)
def AddMessageToTicket(call, ticketNumber, fromAddress, toAddress, ccAddress, subject, body, isHtml, toCustomer,
                       sendEmail):
    """A reply to the customer (``toCustomer``; emailed if ``sendEmail``) or a
    message from the customer (``sendEmail`` does not apply: nothing is mailed)."""
    _add_message(call, ticketNumber, fromAddress, toAddress, ccAddress, subject, body, isHtml, toCustomer,
                 sendEmail)
    return {}


@operation(*MESSAGE, ("userID", NullableInt), returns=T.GenericResult, role=roles.AGENT)
def AddMessageToTicketFromUser(call, ticketNumber, fromAddress, toAddress, ccAddress, subject, body, isHtml,
                               toCustomer, sendEmail, userID):
    """AddMessageToTicket attributed to ``userID`` (an agent for a reply;
    nil = the caller for a reply, the customer for a customer message)."""
    _add_message(call, ticketNumber, fromAddress, toAddress, ccAddress, subject, body, isHtml, toCustomer,
                 sendEmail, user_id=userID)
    return {}


@operation(*MESSAGE, ("dateMessageReceived", When), returns=T.TicketPartInfoResult, role=roles.AGENT)
def AddMessageToTicketWithDate(call, ticketNumber, fromAddress, toAddress, ccAddress, subject, body, isHtml,
                               toCustomer, sendEmail, dateMessageReceived):
    """AddMessageToTicket dated ``dateMessageReceived``; returns the new part."""
    message = _add_message(call, ticketNumber, fromAddress, toAddress, ccAddress, subject, body, isHtml,
                           toCustomer, sendEmail, received=dateMessageReceived)
    return {"Part": part_info(message_part(message))}


@operation(*MESSAGE, ("dateMessageReceived", When), ("userID", NullableInt), returns=T.TicketPartInfoResult,
           role=roles.AGENT)
def AddMessageToTicketWithDateFromUser(call, ticketNumber, fromAddress, toAddress, ccAddress, subject, body,
                                       isHtml, toCustomer, sendEmail, dateMessageReceived, userID):
    """AddMessageToTicketWithDate attributed to ``userID``."""
    message = _add_message(call, ticketNumber, fromAddress, toAddress, ccAddress, subject, body, isHtml,
                           toCustomer, sendEmail, received=dateMessageReceived, user_id=userID)
    return {"Part": part_info(message_part(message))}
