"""stws.domain.outgoing_mail.compose writes what EmailMessage (policy SMTP) would:
a reader gets back the same header values and body text, and a header
value cannot smuggle in another field."""
from __future__ import annotations

import email
import email.policy
from email.message import EmailMessage

import pytest

from stws.domain.outgoing_mail import compose

CASES = [
    ("plain ASCII", "Help Desk <help@example.com>", "Printer on fire [#168-24F24A57-000E]",
     "Hello,\nthe printer is on fire.\n\nRegards\n", ""),
    ("non-ASCII subject and name", "Grüße GmbH <help@example.com>", "Grüße aus Köln – Ärger mit dem Drucker",
     "Straße\nnoch eine Zeile\n", ""),
    ("long lines", "help@example.com", "A subject " + "that goes on " * 12,
     "x" * 300 + "\n" + "short\n", ""),
    ("HTML alternative", "Support <support@example.com>", "Re: your ticket",
     "Text part ✓\n", "<p>HTML part &amp; ✓</p>\n<p>" + "long " * 40 + "</p>\n"),
    ("CRLF in the text", "help@example.com", "Windows text", "one\r\ntwo\r\n\r\nthree\r\n", ""),
]


def reference(sender, subject, text, html) -> bytes:
    message = EmailMessage(policy=email.policy.SMTP)
    message["From"], message["To"], message["Subject"] = sender, "customer@example.org", subject
    message.set_content(text)
    if html:
        message.add_alternative(html, subtype="html")
    return message.as_bytes()


def read(raw: bytes):
    message = email.message_from_bytes(raw, policy=email.policy.default)
    parts = {part.get_content_type(): part.get_content() for part in message.walk()
             if not part.is_multipart()}
    return {name: str(message[name]) for name in ("From", "To", "Subject")}, parts, message.get_content_type()


@pytest.mark.parametrize("label, sender, subject, text, html", CASES, ids=[case[0] for case in CASES])
def test_reads_back_like_email_message(label, sender, subject, text, html):
    raw = compose([("From", sender), ("To", "customer@example.org"), ("Subject", subject)], text, html)
    assert raw.isascii()
    assert all(len(line) <= 998 for line in raw.split(b"\r\n"))
    assert b"\n" not in raw.replace(b"\r\n", b"")  # CRLF line ends only
    assert read(raw) == read(reference(sender, subject, text, html))


def test_line_breaks_in_a_header_value_cannot_add_a_field():
    raw = compose([("From", "help@example.com"), ("To", "customer@example.org"),
                   ("Subject", "Hello\r\nBcc: everyone@example.net\nX-Evil: 1")], "Body\n")
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert message["Bcc"] is None and message["X-Evil"] is None
    assert str(message["Subject"]) == "Hello Bcc: everyone@example.net X-Evil: 1"
