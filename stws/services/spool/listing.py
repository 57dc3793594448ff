"""What the incoming and outgoing spools (``incoming``, ``outgoing``) list and
change alike, given the spool's table: a sorted page with its TotalCount,
the rows of a list of message ids (all or nothing), and the count per status.
"""
from __future__ import annotations

import datetime as dt

import sqlalchemy
from sqlalchemy import select

from stws.domain.errors import InvalidArgument, NotFound

MAX_PAGE = 1000
# .NET's DateTime.MinValue: a time that never happened.
NEVER = dt.datetime(1, 1, 1, tzinfo=dt.timezone.utc)


def page(session, model, sort_fields: dict, sort_field, sort_descending, offset, count, statement=None):
    """(TotalCount of ``model``, ``statement`` (default: its whole rows) sorted
    by ``sort_fields[sort_field]`` then id, cut to the page). sort_field empty
    = id; offset >= 0; count 1..MAX_PAGE (0 = 100)."""
    key = (sort_field or "id").strip().lower()
    if key not in sort_fields:
        raise InvalidArgument("sortField must be one of %s, not %r." % (", ".join(sort_fields), sort_field))
    offset = offset or 0
    count = count or 100
    if offset < 0:
        raise InvalidArgument("offset must not be negative.")
    if not 1 <= count <= MAX_PAGE:
        raise InvalidArgument("count must be between 1 and %d." % MAX_PAGE)
    column = sort_fields[key]
    order = [column.desc(), model.id.desc()] if sort_descending else [column, model.id]
    total = session.scalar(select(sqlalchemy.func.count()).select_from(model))
    if statement is None:
        statement = select(model)
    return total, statement.order_by(*order).offset(offset).limit(count)


def message_ids(items) -> list[int]:
    """The ids of a ``messageIds`` argument, sorted, each once; blanks skipped."""
    ids = []
    for item in items or []:
        text = (item or "").strip()
        if not text:
            continue
        try:
            ids.append(int(text))
        except ValueError:
            raise InvalidArgument("%r is not a message id." % item) from None
    if not ids:
        raise InvalidArgument("No message ids were given.")
    return sorted(set(ids))


def locked_rows(session, model, items, spool: str, verb: str) -> list:
    """The rows of the ``messageIds`` argument ``items``, locked for update;
    NotFound names any missing one (``verb``: what would have been done)."""
    ids = message_ids(items)
    rows = list(session.scalars(select(model).where(model.id.in_(ids)).with_for_update()))
    missing = sorted(set(ids) - {r.id for r in rows})
    if missing:
        raise NotFound("There is no %s message with id %s; nothing was %s."
                       % (spool, ", ".join(map(str, missing)), verb))
    return rows


def status_counts(session, model, statuses) -> dict:
    """{status: number of rows}, 0 for a status without rows."""
    counts = dict.fromkeys(statuses, 0)
    for status, number in session.execute(select(model.status, sqlalchemy.func.count()).group_by(model.status)):
        counts[status] = number
    return counts
