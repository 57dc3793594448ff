"""Folding ``ticket_tallies`` (models.TicketTally): the triggers of migration
0017 append a +1/-1 row per change of a counted ticket column; ``fold``
replaces the rows with one per combination, so that counting reads a few
hundred rows however many changes were made. The sums are the same before
and after, so readers may read at any time; folding only keeps them quick.

On PostgreSQL one statement deletes the rows it sees and inserts their sums:
rows appended by transactions that commit meanwhile are not in its snapshot,
so they are neither deleted nor summed, and two nodes folding at once each
fold different rows (the second skips rows the first deleted). On SQLite the
write transaction excludes every other writer.
"""
from __future__ import annotations

from sqlalchemy import text

_KEY = "brand_id, department_id, group_id, agent_id, status_id, follow_up"
_SUMS = "SELECT %s, SUM(n) AS n FROM %%s GROUP BY %s HAVING SUM(n) <> 0" % (_KEY, _KEY)

_FOLD_POSTGRESQL = text(
    "WITH gone AS (DELETE FROM ticket_tallies RETURNING %s, n) INSERT INTO ticket_tallies (%s, n) %s"
    % (_KEY, _KEY, _SUMS % "gone"))
_ROWS = text("SELECT COUNT(*) FROM ticket_tallies")
_SUMMED = text("SELECT COUNT(*) FROM (SELECT 1 FROM ticket_tallies GROUP BY %s) AS combinations" % _KEY)


def fold(db) -> int:
    """Sum the appended rows, one row per combination; returns how many rows
    were folded away (0 when there was nothing to fold)."""
    with db.transaction(writes=False) as session:
        rows = session.scalar(_ROWS)
        if rows == session.scalar(_SUMMED):
            return 0
    with db.transaction() as session:
        if db.is_sqlite:
            sums = session.execute(text(_SUMS % "ticket_tallies")).all()
            session.execute(text("DELETE FROM ticket_tallies"))
            if sums:
                session.execute(text("INSERT INTO ticket_tallies (%s, n) VALUES (:brand_id, :department_id, "
                                     ":group_id, :agent_id, :status_id, :follow_up, :n)" % _KEY),
                                [row._asdict() for row in sums])
            kept = len(sums)
        else:
            session.execute(_FOLD_POSTGRESQL)
            kept = session.scalar(_ROWS)
    return max(0, rows - kept)
