"""stws.domain.properties: a bag reads every key or the ones asked, and sets
all or nothing, resolving values that need the caller's context before
anything is applied."""
from __future__ import annotations

import pytest

from stws.domain.properties import InvalidProperties, Property, PropertyBag, parse_int


class Rows:
    """A context that knows which ids name a row, and records what it was asked."""

    def __init__(self, ids):
        self.ids = set(ids)
        self.asked = []

    def row(self, value):
        self.asked.append(value)
        if value not in self.ids:
            raise ValueError("%r names no row" % value)
        return "row %d" % value


def _apply(name):
    def apply(context, obj, value):
        obj[name] = value
    return apply


BAG = PropertyBag("Thing", [
    Property("Name", lambda context, obj: obj["name"], str.strip, _apply("name")),
    Property("RowID", lambda context, obj: obj["row"], parse_int, _apply("row"),
             resolve=lambda context, value: context.row(value)),
    Property("Secret", None, str, _apply("secret"), readable=False),
])


def test_reading_every_key_or_the_ones_asked():
    obj = {"name": "Box", "row": None}
    assert BAG.get(Rows([]), obj, None) == (["Name=Box", "RowID="], [])
    assert BAG.get(Rows([]), obj, ["rowid", " ", "Secret", "Colour"]) == (["RowID="], ["Secret", "Colour"])


def test_a_resolved_value_is_what_is_applied():
    context, obj = Rows([7]), {}
    assert BAG.set(context, obj, ["Name= Crate ", "RowID=7"]) == ["Name", "RowID"]
    assert obj == {"name": "Crate", "row": "row 7"} and context.asked == [7]


def test_a_value_its_context_refuses_changes_nothing():
    context, obj = Rows([7]), {}
    with pytest.raises(InvalidProperties) as refused:
        BAG.set(context, obj, ["Name=Crate", "RowID=8"])
    assert obj == {}
    assert refused.value.by_key == {"RowID": "8 names no row"}
    assert "Nothing was changed" in str(refused.value)
