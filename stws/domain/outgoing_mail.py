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

import base64
import datetime as dt
import email.policy
import email.utils
import quopri
import re
import uuid

import sqlalchemy.orm
from sqlalchemy import bindparam, select

from stws.db.models import Brand, Department, OutgoingMessage, Setting, SmtpAccount, TicketMessage, utcnow
from stws.db.prepared import PreparedInsert, PreparedQuery, connection_of
from stws.errors import InvalidArgument

# The default SMTP account's id (NULL when there is none), for use inside a query.
DEFAULT_ACCOUNT_ID = (select(SmtpAccount.id).where(SmtpAccount.is_default.is_(True))
                      .order_by(SmtpAccount.id).limit(1).scalar_subquery())
DEFAULT_DELIVERY_DELAY_SECONDS = 10
DEFAULT_FROM = "helpdesk@localhost"
_SUBJECT_TAG = re.compile(r"\[#?\d{3}-[0-9A-F]{8}-[0-9A-F]{4}\]", re.IGNORECASE)
_POLICY = email.policy.SMTP
# A header value written as it is: printable ASCII (no CR/LF to inject
# headers with); anything else, or a line over 78 characters, goes through
# the email package's folding and RFC 2047 encoding.
_PLAIN_VALUE = re.compile(r"[ -~]*")
_LINE_BREAKS = re.compile(r"[\r\n]+")


def ticket_subject(subject: str, ticket_number: str) -> str:
    """``subject`` tagged with the ticket number (once)."""
    subject = subject or ""
    if ticket_number.lower() in subject.lower():
        return subject
    return ("%s [#%s]" % (subject, ticket_number)).strip()


_DEFAULT_FROM_SETTING = PreparedQuery(select(Setting.value).where(Setting.name == "mail.default_from"))


def sender_address(db, department) -> str:
    """The address mail of ``department`` (anything with its
    ``email_address``) comes from. ``db``: a Session, or a Connection (a
    read that has no Session: GetTicketConversationPartList)."""
    if department.email_address:
        return department.email_address
    configured = _DEFAULT_FROM_SETTING.first(connection_of(db), {})
    return configured.value if configured is not None and configured.value else DEFAULT_FROM


def default_sender(session) -> tuple[str, str]:
    """(display name, address) of mail that belongs to no ticket, such as the
    error emails: it goes out through the default SMTP account, whose relay
    may refuse any other sender. That account's From Name and From Address;
    without an address, its login when that is an address (a relay's usual
    rule: you send as who you log in as); else the ``mail.default_from``
    setting; else DEFAULT_FROM, which only a lenient server accepts."""
    account = session.scalar(select(SmtpAccount).where(SmtpAccount.id == DEFAULT_ACCOUNT_ID))
    name = account.from_name if account is not None else ""
    if account is not None and account.from_address:
        return name, account.from_address
    if account is not None and "@" in account.username:
        return name, account.username
    configured = session.get(Setting, "mail.default_from")
    return name, configured.value if configured and configured.value else DEFAULT_FROM


def _delay(value: str | None) -> dt.timedelta:
    seconds = int(value) if value and value.isdigit() else DEFAULT_DELIVERY_DELAY_SECONDS
    return dt.timedelta(seconds=seconds)


def delivery_delay(session) -> dt.timedelta:
    configured = session.get(Setting, "mail.delivery_delay_seconds")
    return _delay(configured.value if configured else None)


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


# --------------------------------------------------------------- composing


def header(name: str, value: str) -> str:
    """One header field, CRLF-terminated, as EmailMessage with policy.SMTP
    writes it: non-ASCII as RFC 2047 encoded words, long values folded.

    Line breaks in a value (a subject pasted with a newline) become spaces:
    kept, they would end the field and start another (header injection);
    EmailMessage refused them with an error.
    """
    if _LINE_BREAKS.search(value):
        value = _LINE_BREAKS.sub(" ", value)
    if len(name) + len(value) <= 76 and _PLAIN_VALUE.fullmatch(value):
        return "%s: %s\r\n" % (name, value)
    # The header object, not policy.fold(name, str): that writes a short
    # value as it is, non-ASCII included.
    return _POLICY.header_factory(name, value).fold(policy=_POLICY)


def _text_part(content: str, subtype: str) -> str:
    """The Content-Type and Content-Transfer-Encoding fields of one text
    part and, after a blank line, its body: 7bit when it is ASCII in lines
    of at most 78 characters (as the email package decides), else the
    shorter of quoted-printable and base64."""
    data = content.encode("utf-8")
    lines = data.splitlines()
    # Encoded from "\n" lines, then every line end on the wire is CRLF: as
    # EmailMessage does, so a reader decodes the text with "\n" line ends.
    text = b"\n".join(lines) + b"\n"
    if data.isascii() and max(map(len, lines), default=0) <= 78:
        cte, body = "7bit", text
    else:
        quoted, b64 = quopri.encodestring(text), base64.encodebytes(text)
        cte, body = ("base64", b64) if len(quoted) > len(b64) else ("quoted-printable", quoted)
    return ('Content-Type: text/%s; charset="utf-8"\r\nContent-Transfer-Encoding: %s\r\n%%s\r\n%s'
            % (subtype, cte, body.replace(b"\n", b"\r\n").decode("ascii")))


def compose(headers: list[tuple[str, str]], text: str, html: str = "") -> bytes:
    """The RFC 5322 bytes of a mail with these header fields and a text/plain
    body, or a multipart/alternative of text and HTML when ``html`` is given.

    Written directly rather than through EmailMessage: setting each header
    parsed it again into a header object, and the whole took ~1 ms per
    mail, most of an auto-responder's cost. What comes out is what
    EmailMessage(policy=SMTP).as_bytes() wrote for the same mail (header
    values that are not plain short ASCII still go through its folding).
    """
    head = "".join(header(name, value) for name, value in headers)
    if not html:
        return (head + _text_part(text, "plain") % "MIME-Version: 1.0\r\n").encode("ascii")
    # "=_" appears in neither quoted-printable nor base64 text, and the uuid in no 7bit one.
    boundary = "=_stws_" + uuid.uuid4().hex
    return ("%sMIME-Version: 1.0\r\nContent-Type: multipart/alternative;\r\n boundary=\"%s\"\r\n\r\n"
            "--%s\r\n%s\r\n--%s\r\n%s\r\n--%s--\r\n"
            % (head, boundary, boundary, _text_part(text, "plain") % "", boundary, _text_part(html, "html") % "",
               boundary)).encode("ascii")


# --------------------------------------------------------------- queueing


def _setting(name: str):
    return select(Setting.value).where(Setting.name == name).scalar_subquery()


# The account a ticket's mail goes out through, as the SMTP Delivery thread
# picks it (stws.mail.accounts.resolve_account_ids, for a row without its own).
_SENDING_ACCOUNT = sqlalchemy.orm.aliased(SmtpAccount)

# What a ticket's mail needs of the database besides its thread, in one
# query: the department's address, the display name (the sending account's
# From Name, else the brand's name), the default sender and the delivery
# delay (settings rows that may not exist). These statements run on the
# driver (stws.db.prepared): an auto-responder goes with every new ticket
# of a department that has one.
_MAIL_CONTEXT = PreparedQuery(
    select(Department.email_address, Brand.name.label("brand_name"),
           _SENDING_ACCOUNT.from_name.label("account_from_name"),
           _setting("mail.default_from").label("default_from"),
           _setting("mail.delivery_delay_seconds").label("delay"))
    .select_from(Department).outerjoin(Brand, Brand.id == Department.brand_id)
    .outerjoin(_SENDING_ACCOUNT, _SENDING_ACCOUNT.id == sqlalchemy.func.coalesce(
        Department.smtp_account_id, Brand.smtp_account_id, DEFAULT_ACCOUNT_ID))
    .where(Department.id == bindparam("department_id"))
)
# The Message-IDs of a ticket's messages, oldest first, but one.
_THREAD = PreparedQuery(
    select(TicketMessage.message_id_header)
    .where(TicketMessage.ticket_id == bindparam("ticket_id"), TicketMessage.message_id_header.is_not(None),
           TicketMessage.id != bindparam("exclude"))
    .order_by(TicketMessage.date_received_utc, TicketMessage.id)
)
_INSERT_SPOOL = PreparedInsert(OutgoingMessage.__table__)


def spool_row(db, ticket, subject: str, body_text: str, body_html: str, to: list[str], cc: list[str] = (),
              from_address: str | None = None, reply: bool = True, in_reply_to: str | None = None,
              message_id: int | None = None) -> dict:
    """The spool_outgoing values of a mail of ``ticket`` (its id,
    ticket_number and department_id are used); ``message_id`` is the
    ticket message it carries, if it is stored already (not a reference to
    itself). ``db``: the transaction's Session (it flushes first, as a
    query does) or Core connection. See ``queue_ticket_email``."""
    if not to and not cc:
        raise InvalidArgument("The message has no recipient address to send it to.")
    connection = connection_of(db)
    context = _MAIL_CONTEXT.first(connection, {"department_id": ticket.department_id})
    sender = from_address or context.email_address or context.default_from or DEFAULT_FROM
    subject = ticket_subject(subject or ticket.subject, ticket.ticket_number)
    sent_at = utcnow()
    header_id = new_message_id(sender)
    headers = [
        ("From", email.utils.formataddr((context.account_from_name or context.brand_name or "", sender))
         if "@" in sender else sender),
        ("To", ", ".join(to)),
    ]
    if cc:
        headers.append(("Cc", ", ".join(cc)))
    headers += [("Subject", subject), ("Date", email.utils.format_datetime(sent_at)), ("Message-ID", header_id)]
    if reply:
        thread = _THREAD.all(connection, {"ticket_id": ticket.id, "exclude": message_id or 0})
        earlier = [row.message_id_header for row in thread if row.message_id_header]
        if earlier:
            headers.append(("In-Reply-To", in_reply_to if in_reply_to in earlier else earlier[-1]))
            headers.append(("References", " ".join(earlier[-20:])))
    headers.append(("X-Stws-Ticket", ticket.ticket_number))
    return dict(
        ticket_id=ticket.id, ticket_message_id=message_id, from_address=sender,
        recipients=", ".join(list(to) + list(cc)), subject=subject, message_id_header=header_id,
        raw_content=compose(headers, body_text or "", body_html or ""),
        next_attempt_utc=sent_at + _delay(context.delay),
    )


def insert_spool_row(connection, row: dict) -> None:
    _INSERT_SPOOL.insert(connection, row)


def queue_ticket_email(session, ticket, message: TicketMessage, to: list[str], cc: list[str] = (),
                       from_address: str | None = None, reply: bool = True,
                       in_reply_to: str | None = None) -> OutgoingMessage:
    """Write ``message`` of ``ticket`` as an email to the spool; returns the spool row.

    Sets ``message.message_id_header`` so a reply to it threads back.
    ``in_reply_to`` (a Message-ID of one of the ticket's messages, e.g. the
    customer's last one) is the message answered; by default the latest
    message of the ticket that has a Message-ID.
    """
    row = spool_row(session, ticket, message.subject, message.body_text, message.body_html, to, cc,
                    from_address, reply, in_reply_to, message.id)
    message.message_id_header = row["message_id_header"]
    spooled = OutgoingMessage(**row)
    session.add(spooled)
    return spooled


def strip_subject_tag(subject: str) -> str:
    return _SUBJECT_TAG.sub("", subject or "").strip()
