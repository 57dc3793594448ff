"""Key=value property bags, the SmarterTrack way of reading and writing many
settings in one call (GetUsersProperties, SetTicketProperties, ...).

A ``PropertyBag`` declares each key once: how to read it from an object and,
if it is settable, how to parse and apply a new value. Keys match case-
insensitively (clients send both ``UserId`` and ``UserID``). Setting is all
or nothing: every item is parsed and checked before anything is applied, and
unknown or read-only keys are reported by name, never silently ignored.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Callable

from stws.errors import InvalidArgument


class InvalidProperties(InvalidArgument):
    """Items of a set that were refused; ``by_key`` holds the reason for each
    property whose value did not parse (a form shows it beside the field)."""

    def __init__(self, message: str, by_key: dict[str, str]):
        super().__init__(message)
        self.by_key = by_key


@dataclass(frozen=True)
class Property:
    key: str
    read: Callable[[Any, Any], Any] | None  # (context, obj) -> value
    parse: Callable[[str], Any] | None = None  # text -> value; None = read-only
    apply: Callable[[Any, Any, Any], None] | None = None  # (context, obj, value)
    readable: bool = True
    # (context, parsed value) -> value, for a value whose check reads the
    # database (an id must name a row); run with the parsing, before anything
    # is applied, so that one refused item still changes nothing.
    resolve: Callable[[Any, Any], Any] | None = None


class PropertyBag:
    def __init__(self, what: str, properties):
        self.what = what
        self.properties = {p.key.lower(): p for p in properties}
        self._readable = [p for p in properties if p.readable]
        self.keys = [p.key for p in self._readable]

    def get(self, context, obj, requested) -> tuple[list[str], list[str]]:
        """``Key=Value`` items for ``requested`` keys (all when empty), and the
        requested keys that do not exist."""
        names = [k.strip() for k in requested or [] if k and k.strip()]
        wanted = [] if names else self._readable  # (filled below only when names were asked)
        unknown = []
        for name in names:
            prop = self.properties.get(name.lower())
            if prop is None or not prop.readable:
                unknown.append(name)
            else:
                wanted.append(prop)
        return ["%s=%s" % (prop.key, format_value(prop.read(context, obj))) for prop in wanted], unknown

    def set(self, context, obj, assignments) -> list[str]:
        """Parse every ``Key=Value`` item, then apply them; returns the keys set."""
        parsed = []
        problems = []
        by_key = {}
        for item in assignments or []:
            if item is None or not item.strip():
                continue
            key, sep, text = item.partition("=")
            key = key.strip()
            prop = self.properties.get(key.lower())
            if not sep:
                problems.append("%r is not of the form Key=Value" % item)
            elif prop is None:
                problems.append("%s has no property %r" % (self.what, key))
            elif prop.parse is None:
                problems.append("%s property %s cannot be changed" % (self.what, prop.key))
            else:
                try:
                    value = prop.parse(text)
                    if prop.resolve is not None:
                        value = prop.resolve(context, value)
                    parsed.append((prop, value))
                except (ValueError, InvalidArgument) as error:
                    by_key[prop.key] = str(getattr(error, "message", error))
                    problems.append("%s: %s" % (prop.key, by_key[prop.key]))
        if problems:
            raise InvalidProperties("Nothing was changed. " + "; ".join(problems) + ".", by_key)
        if not parsed:
            raise InvalidArgument("No Key=Value items were given; nothing was changed.")
        for prop, value in parsed:
            prop.apply(context, obj, value)
        return [prop.key for prop, _ in parsed]


def format_value(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return str(value)


def parse_bool(text: str) -> bool:
    value = text.strip().lower()
    if value in ("true", "1", "yes", "on"):
        return True
    if value in ("false", "0", "no", "off"):
        return False
    raise ValueError("%r is not true or false" % text)


def parse_int(text: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        raise ValueError("%r is not a whole number" % text) from None


def parse_datetime(text: str) -> dt.datetime:
    """ISO 8601; a value without an offset is taken as UTC."""
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise ValueError("%r is not a date and time (use ISO 8601, e.g. 2026-01-31T13:45:00Z)" % text) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.timezone.utc)
    return parsed.astimezone(dt.timezone.utc)


def split_key_values(items) -> dict[str, str]:
    """``["Key=Value", ...]`` as a dict keyed by lower-case key (search criteria)."""
    result = {}
    for item in items or []:
        if item is None or not item.strip():
            continue
        key, sep, value = item.partition("=")
        if not sep:
            raise InvalidArgument("%r is not of the form Key=Value." % item)
        result[key.strip().lower()] = value.strip()
    return result
