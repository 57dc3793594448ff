"""Composing outgoing email into the spool.

Every message a ticket sends (replies, auto-responders, closing notices) is
written here as complete RFC 5322 text into ``spool_outgoing``, in the
caller's transaction: if the operation rolls back, no mail goes out; if it
commits, the mail is durably queued before the client hears "sent". The
SMTP Delivery thread delivers it later (after the delivery delay).

Threading: each message gets a fresh Message-ID; a reply carries
In-Reply-To (the latest message of the ticket that has a Message-ID) and
References (all of them, oldest first), and the ticket number is in the
subject, so replies find their way back to the ticket.
"""
from __future__ import annotations

import datetime as dt
import email.policy
import email.utils
import re
import uuid
from email.headerregistry import Address
from email.message import EmailMessage

from sqlalchemy import select

from stws.db.models import Brand, Department, OutgoingMessage, Setting, TicketMessage, utcnow
from stws.domain.errors import InvalidArgument

DEFAULT_DELIVERY_DELAY_SECONDS = 10
DEFAULT_FROM = "helpdesk@localhost"
_SUBJECT_TAG = re.compile(r"\[#?\d{3}-[0-9A-F]{8}-[0-9A-F]{4}\]", re.IGNORECASE)


def ticket_subject(subject: str, ticket_number: str) -> str:
    """``subject`` tagged with the ticket number (once)."""
    subject = subject or ""
    if ticket_number.lower() in subject.lower():
        return subject
    return ("%s [#%s]" % (subject, ticket_number)).strip()


def sender_address(session, department: Department) -> str:
    if department.email_address:
        return department.email_address
    configured = session.get(Setting, "mail.default_from")
    return configured.value if configured and configured.value else DEFAULT_FROM


def delivery_delay(session) -> dt.timedelta:
    configured = session.get(Setting, "mail.delivery_delay_seconds")
    seconds = int(configured.value) if configured and configured.value.isdigit() else DEFAULT_DELIVERY_DELAY_SECONDS
    return dt.timedelta(seconds=seconds)


def split_addresses(text: str) -> list[str]:
    """Addresses of a To/Cc field (``a@b.c, "Name" <d@e.f>``), validated."""
    result = []
    for name, address in email.utils.getaddresses([text or ""]):
        if not address:
            continue
        if "@" not in address or " " in address:
            raise InvalidArgument("%r is not a valid email address." % address)
        result.append(address)
    return result


def new_message_id(domain_source: str) -> str:
    domain = domain_source.rpartition("@")[2] or "localhost"
    return "<stws.%s@%s>" % (uuid.uuid4().hex, domain)


def queue_ticket_email(session, ticket, message: TicketMessage, to: list[str], cc: list[str] = (),
                       from_address: str | None = None, reply: bool = True,
                       in_reply_to: str | None = None) -> OutgoingMessage:
    """Write ``message`` of ``ticket`` as an email to the spool; returns the spool row.

    Sets ``message.message_id_header`` so a reply to it threads back.
    ``in_reply_to`` (a Message-ID of one of the ticket's messages, e.g. the
    customer's last one) is the message answered; by default the latest
    message of the ticket that has a Message-ID.
    """
    if not to and not cc:
        raise InvalidArgument("The message has no recipient address to send it to.")
    department = session.get(Department, ticket.department_id)
    sender = from_address or sender_address(session, department)
    brand = session.get(Brand, department.brand_id)
    mail = EmailMessage(policy=email.policy.SMTP)
    mail["From"] = Address(display_name=brand.name if brand else "", addr_spec=sender) if "@" in sender else sender
    mail["To"] = ", ".join(to)
    if cc:
        mail["Cc"] = ", ".join(cc)
    mail["Subject"] = ticket_subject(message.subject or ticket.subject, ticket.ticket_number)
    mail["Date"] = email.utils.format_datetime(utcnow())
    message_id = new_message_id(sender)
    mail["Message-ID"] = message_id
    if reply:
        earlier = [m for m in session.scalars(
            select(TicketMessage.message_id_header)
            .where(TicketMessage.ticket_id == ticket.id, TicketMessage.message_id_header.is_not(None),
                   TicketMessage.id != message.id)
            .order_by(TicketMessage.date_received_utc, TicketMessage.id)
        ) if m]
        if earlier:
            mail["In-Reply-To"] = in_reply_to if in_reply_to in earlier else earlier[-1]
            mail["References"] = " ".join(earlier[-20:])
    mail["X-Stws-Ticket"] = ticket.ticket_number
    if message.body_html:
        mail.set_content(message.body_text or "")
        mail.add_alternative(message.body_html, subtype="html")
    else:
        mail.set_content(message.body_text or "")
    message.message_id_header = message_id
    row = OutgoingMessage(
        ticket_id=ticket.id,
        ticket_message_id=message.id,
        from_address=sender,
        recipients=", ".join(list(to) + list(cc)),
        subject=str(mail["Subject"]),
        message_id_header=message_id,
        raw_content=mail.as_bytes(),
        next_attempt_utc=utcnow() + delivery_delay(session),
    )
    session.add(row)
    return row


def strip_subject_tag(subject: str) -> str:
    return _SUBJECT_TAG.sub("", subject or "").strip()
