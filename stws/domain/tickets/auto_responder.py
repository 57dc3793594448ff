"""The department's auto-responder: the acknowledgement a new customer
ticket gets by email.

Whether one is sent is the caller's decision: a ticket created through
svcTickets asks for it (``sendAutoResponder``); the email importer
(``stws.mail.importer``) sends it unless the mail was automated or the
sender's hourly cap is reached.
"""
from __future__ import annotations

from stws.domain.tickets import core
from stws.domain.outgoing_mail import insert_spool_row, spool_row

DEFAULT_SUBJECT = "We received your request"
DEFAULT_BODY = "Thank you for contacting %s. Your ticket number is %s; we will reply as soon as we can."


def send_auto_responder(call, ticket, department) -> None:
    """Queue the department's automatic acknowledgement of a new customer ticket.

    ``ticket``: a Ticket or the ``core.NewTicket`` just made; ``department``:
    a Department or the row of ``core.department_and_group``. The message,
    its spool row and the history event are written on the call's Core
    connection, the message with its Message-ID already set (no UPDATE).
    ``%TICKETNUMBER%`` and ``%SUBJECT%`` in the department's text are
    replaced by the ticket's.
    """
    subject = department.auto_responder_subject or DEFAULT_SUBJECT
    body = department.auto_responder_body or DEFAULT_BODY % (department.name, ticket.ticket_number)
    body = body.replace("%TICKETNUMBER%", ticket.ticket_number).replace("%SUBJECT%", ticket.subject)
    connection = call.connection
    row = spool_row(connection, ticket, subject, body, "", [ticket.customer_email])
    row["ticket_message_id"] = core.insert_message(
        connection, ticket_id=ticket.id, direction=core.OUTGOING, subject=subject, body_text=body,
        to_address=ticket.customer_email, from_address=department.email_address,
        message_id_header=row["message_id_header"])
    insert_spool_row(connection, row)
    core.insert_events(call, [core.event_row(call, ticket.id, "AutoResponderSent",
                                             "Auto-responder sent to %s" % ticket.customer_email)])
