"""The conversation of a ticket: internal notes (comments), messages to and
from the customer, the ordered list of a ticket's parts, message bodies and
the event history. The rules are in stws.domain.tickets.conversation."""
from __future__ import annotations

from stws.db.models import TicketComment
from stws.domain.tickets import conversation as conv
from stws.domain.tickets import core
from stws.operations.runner import operation
from stws.security import roles

# --------------------------------------------------------------- notes


@operation(role=roles.AGENT, writes=False)
def ticket_note(context, comment_id) -> conv.Note:
    """An internal comment of a ticket the caller may see."""
    return conv.get_note(context, comment_id)


@operation(role=roles.AGENT)
def add_ticket_note(context, ticket_number, comment_type, text) -> TicketComment:
    """A plain-text internal comment of the type named ``comment_type`` (empty: General)."""
    ticket = core.get_ticket_by_number(context, ticket_number)
    return conv.add_comment(context, ticket, comment_type, text, False)


@operation(role=roles.AGENT)
def add_ticket_note_html(context, ticket_number, comment_type, text, entered=None) -> TicketComment:
    """add_ticket_note with an HTML text, dated ``entered`` if given."""
    ticket = core.get_ticket_by_number(context, ticket_number)
    return conv.add_comment(context, ticket, comment_type, text, True, entered)


@operation(role=roles.AGENT)
def edit_ticket_note(context, comment_id, ticket_number, comment_type, text) -> TicketComment:
    """A comment's new text (and type, unless ``comment_type`` is empty): its author or a manager."""
    return conv.edit_comment(context, comment_id, ticket_number, comment_type, text)


# --------------------------------------------------------------- reading


@operation(role=roles.AGENT, writes=False)
def ticket_event_history(context, ticket_id) -> list:
    """Everything that happened to the ticket, oldest first (managers: of deleted tickets too)."""
    return conv.event_history(context, ticket_id, include_deleted=core.sees_all_tickets(context))


@operation(role=roles.EVERYONE, writes=False)
def ticket_message_plain_text(context, message_id) -> str:
    message = conv.get_message(context, message_id)
    return conv.message_text(message)


@operation(role=roles.EVERYONE, writes=False)
def ticket_message_html(context, message_id) -> str:
    message = conv.get_message(context, message_id)
    return conv.message_html(message)


@operation(role=roles.EVERYONE, writes=False)
def ticket_conversation_parts(context, ticket_id) -> list[conv.Part]:
    """Messages and, for employees, comments of the ticket, oldest first."""
    return conv.conversation_parts(context, ticket_id)


# --------------------------------------------------------------- messages


@operation(role=roles.AGENT)
def add_message_to_ticket(context, ticket_number, from_address, to_address, cc_address, subject, body, is_html,
                          to_customer, send_email, received=None, user_id=None) -> conv.Part:
    """A reply to the customer (``to_customer``; emailed if ``send_email``) or
    a message from the customer, dated ``received`` if given and attributed
    to ``user_id`` if given; the new message."""
    ticket = core.get_ticket_by_number(context, ticket_number)
    message = conv.add_message(context, ticket, from_address=from_address, to_address=to_address,
                               cc_address=cc_address, subject=subject, body=body, is_html=is_html,
                               to_customer=to_customer, send_email=send_email, received=received,
                               user_id=user_id)
    return conv.message_part(message)


@operation(role=roles.AGENT)
def add_message_to_ticket_from_user(context, ticket_number, from_address, to_address, cc_address, subject, body,
                                    is_html, to_customer, send_email, user_id) -> conv.Part:
    """add_message_to_ticket attributed to ``user_id``, undated (the order of
    svcTickets' AddMessageToTicketFromUser)."""
    return add_message_to_ticket(context, ticket_number, from_address, to_address, cc_address, subject, body,
                                 is_html, to_customer, send_email, None, user_id)
