"""Forms of the management interface declared once: the fields a page shows
(rendered by the ``field`` macro of templates/admin/forms.html) and how what
was entered becomes the ``Key=Value`` items of a property bag
(stws.domain.properties), whose field keys they share, so that a refused
value's reason (``InvalidProperties.by_key``) lands beside its field.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

from stws.domain.properties import format_value


@dataclass(frozen=True)
class Field:
    key: str  # the form field's name and id, and the property bag's key
    label: str
    # text, email, number (typed as text: a wrong value is shown, not blocked),
    # password (never filled in), checkbox, select, textarea
    kind: str = "text"
    help: str = ""
    choices: tuple = ()  # (value, label) pairs of a select

    def with_choices(self, choices) -> "Field":
        return replace(self, choices=tuple((str(value), label) for value, label in choices))


def entered(request, fields) -> dict:
    """What the form holds for ``fields``: text (trimmed, except a textarea's)
    or, for a checkbox, whether it is ticked."""
    values = {}
    for field in fields:
        if field.kind == "checkbox":
            values[field.key] = request.field(field.key) == "on"
        elif field.kind in ("textarea", "password"):
            values[field.key] = request.field(field.key)
        else:
            values[field.key] = request.field(field.key).strip()
    return values


def as_items(values: dict) -> list[str]:
    """``values`` as ``Key=Value`` items."""
    return ["%s=%s" % (key, format_value(value)) for key, value in values.items()]


def from_items(items, fields) -> dict:
    """``Key=Value`` items read from a property bag as form values (a
    checkbox's as a bool)."""
    checkboxes = {field.key for field in fields if field.kind == "checkbox"}
    values = {}
    for item in items:
        key, _, text = item.partition("=")
        values[key] = text == "true" if key in checkboxes else text
    return values


def whole_number(values: dict, key: str, problems: dict) -> int | None:
    """``values[key]`` as an int, or None with the reason in ``problems``."""
    try:
        return int(values[key])
    except ValueError:
        problems[key] = "%r is not a whole number" % values[key]
        return None


def form_id(request, name: str = "id") -> int:
    """The id a form posts (0 when it is missing or not a number: the
    operation then answers NotFound)."""
    try:
        return int(request.field(name))
    except ValueError:
        return 0


def query_id(request, name: str = "id") -> int:
    try:
        return int(request.arg(name))
    except ValueError:
        return 0
