"""Checks on text that users give us, with messages a person can act on."""
from __future__ import annotations

import re
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from stws.errors import InvalidArgument

USERNAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+\-]*$")
# Deliberately simple: one @, something on each side, a dot in the domain,
# no spaces or angle brackets. Full RFC 5322 validation rejects real addresses.
EMAIL_RE = re.compile(r"^[^@\s<>,;]+@[^@\s<>,;]+\.[^@\s<>,;.]+$")
MIN_PASSWORD_LENGTH = 8
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def username(value: str | None) -> str:
    value = (value or "").strip()
    if not value:
        raise InvalidArgument("The user name is empty.")
    if len(value) > 100:
        raise InvalidArgument("The user name is longer than 100 characters.")
    if not USERNAME_RE.match(value):
        raise InvalidArgument(
            "The user name %r may only contain letters, digits and . _ @ + - and must start "
            "with a letter or digit." % value
        )
    return value


def email(value: str | None, required: bool = True) -> str:
    value = (value or "").strip()
    if not value:
        if required:
            raise InvalidArgument("The email address is empty.")
        return ""
    if len(value) > 320 or not EMAIL_RE.match(value):
        raise InvalidArgument("%r is not a valid email address." % value)
    return value


def password(value: str | None) -> str:
    value = value or ""
    if len(value) < MIN_PASSWORD_LENGTH:
        raise InvalidArgument("The password must have at least %d characters." % MIN_PASSWORD_LENGTH)
    if len(value) > 1024:
        raise InvalidArgument("The password is longer than 1024 characters.")
    return value


def name(value: str | None, what: str, max_length: int = 200, required: bool = True) -> str:
    value = (value or "").strip()
    if not value and required:
        raise InvalidArgument("The %s is empty." % what)
    if len(value) > max_length:
        raise InvalidArgument("The %s is longer than %d characters." % (what, max_length))
    if _CONTROL.search(value):
        raise InvalidArgument("The %s contains control characters." % what)
    return value


def positive_id(value: int | None, what: str) -> int:
    if value is None or value <= 0:
        raise InvalidArgument("%s must be a positive id, not %r." % (what, value))
    return value


def time_zone(value: str) -> str:
    value = value.strip()
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidArgument("%r is not a time zone name such as Europe/Berlin or UTC." % value) from None
    return value
