"""tickets: a group's and a department's tickets of one status by priority

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07
"""
import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

# A list sorted by priority ranks tickets by ticket_priorities.sort_order,
# another table's column that no index of tickets can hold. The search reads
# such a page as the priorities' pages in rank order (stws.domain.tickets.
# search, ``_prepared_by_priority``): one index range per priority, in id
# order inside it. Without these indexes every ticket of the group and status
# was read and sorted (20,000 of a front-line group at 1,000,000 tickets:
# 71-94 ms CPU on SQLite). Plain CREATE INDEX: ``tickets`` is not rebuilt,
# so 0017's tally triggers stay.
OWNERS = ("group_id", "department_id")


def _name(owner: str) -> str:
    return "ix_tickets_%s_status_priority" % owner.replace("_id", "")


def upgrade() -> None:
    for owner in OWNERS:
        op.create_index(_name(owner), "tickets", [owner, "status_id", "priority_id", "id"])
    bind = op.get_bind()
    if bind.dialect.name == "sqlite" and bind.execute(sa.text(
            "SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'")).first() and bind.execute(sa.text(
            "SELECT 1 FROM sqlite_stat1 WHERE tbl = 'tickets'")).first():
        # As in 0016: beside statistics of the other indexes, SQLite takes
        # indexes without any for selective ones and chose them for other
        # lists; statistics of them all keep its plans (~20 s at 1,000,000).
        op.execute("ANALYZE tickets")


def downgrade() -> None:
    for owner in OWNERS:
        op.drop_index(_name(owner), table_name="tickets")
