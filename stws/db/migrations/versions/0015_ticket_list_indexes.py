"""tickets: the group, agent and department indexes also hold the last reply

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06
"""
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

# The management interface lists a group's (agent's, department's) tickets of
# one status newest activity first, a page at a time. With the last reply in
# the index (and the id, which every index of the table ends with on SQLite)
# the page is read from the index in order instead of sorting every ticket of
# the group and status (20,000 of a front-line group at 1,000,000 tickets).
# They serve every query the (column, status) indexes served, which they replace.
COLUMNS = ("group_id", "agent_id", "department_id")


def _names(column: str) -> tuple[str, str]:
    prefix = "ix_tickets_%s" % column.replace("_id", "")
    return prefix + "_status", prefix + "_status_reply"


def upgrade() -> None:
    for column in COLUMNS:
        old, new = _names(column)
        op.create_index(new, "tickets", [column, "status_id", "last_reply_utc"])
        op.drop_index(old, table_name="tickets")


def downgrade() -> None:
    for column in COLUMNS:
        old, new = _names(column)
        op.create_index(old, "tickets", [column, "status_id"])
        op.drop_index(new, table_name="tickets")
