"""tickets: the indexes of follow-ups, deleted, unindexed and closed tickets partial

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-08
"""
import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None

# Each of these indexes served queries for a few tickets (follow-ups due,
# deleted ones to purge, ones not full-text indexed yet, closed ones to lock
# or delete), yet held every ticket: each new ticket was written into all
# four, on the commit path of every creation (25 indexes on tickets). Partial,
# a new ticket goes into none but the unindexed one (until the Indexing
# thread has indexed it), and each holds just what it finds (stws.db.models,
# FOLLOW_UP_SCHEDULED and the others). Each CREATE INDEX reads the table
# once: 25 s on SQLite, 5 s on PostgreSQL at 1,000,000 tickets.
BEFORE = {
    "ix_tickets_follow_up": ["requires_follow_up", "date_follow_up_utc"],
    "ix_tickets_deleted": ["is_deleted", "date_deleted_utc"],
    "ix_tickets_unindexed": ["is_indexed"],
    "ix_tickets_closed_due": ["is_deleted", "status_id", "department_id", "date_closed_utc"],
}


def _after(sqlite: bool) -> dict:
    true, false = ("1", "0") if sqlite else ("true", "false")
    return {
        "ix_tickets_follow_up": (["date_follow_up_utc"], "requires_follow_up IS %s" % true),
        "ix_tickets_deleted": (["date_deleted_utc"], "is_deleted IS %s" % true),
        "ix_tickets_unindexed": (["id"], "is_indexed = %s" % false),
        "ix_tickets_closed_due": (["is_deleted", "status_id", "department_id", "date_closed_utc"],
                                  "date_closed_utc IS NOT NULL"),
    }


def upgrade() -> None:
    bind = op.get_bind()
    sqlite = bind.dialect.name == "sqlite"
    for name, (columns, condition) in _after(sqlite).items():
        op.drop_index(name, table_name="tickets")
        where = sa.text(condition)
        op.create_index(name, "tickets", columns, sqlite_where=where, postgresql_where=where)
    if sqlite and bind.execute(sa.text(
            "SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'")).first() and bind.execute(sa.text(
            "SELECT 1 FROM sqlite_stat1 WHERE tbl = 'tickets'")).first():
        # As in 0016 and 0018: beside statistics of the other indexes SQLite
        # misjudges indexes without any; ANALYZE of just these is quick.
        for name in BEFORE:
            op.execute("ANALYZE %s" % name)


def downgrade() -> None:
    for name, columns in BEFORE.items():
        op.drop_index(name, table_name="tickets")
        op.create_index(name, "tickets", columns)
