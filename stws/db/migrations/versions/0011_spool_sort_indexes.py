"""spool_outgoing, spool_incoming: an index per sort order of the lists

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06
"""
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

# The management interface pages through 100,000 messages sorted by any of
# these (then by id); read from an index, a page at any offset is a few
# milliseconds instead of a sort or a walk through every message's text.
OUTGOING = ("id", "date_created_utc", "from_address", "recipients", "subject", "status", "attempts")
INCOMING = ("id", "date_received_utc", "from_address", "subject", "size", "attempts")


def upgrade() -> None:
    for column in OUTGOING:
        op.create_index("ix_spool_outgoing_by_%s" % column, "spool_outgoing", [column])
    for column in INCOMING:
        op.create_index("ix_spool_incoming_by_%s" % column, "spool_incoming", [column])


def downgrade() -> None:
    for column in OUTGOING:
        op.drop_index("ix_spool_outgoing_by_%s" % column, table_name="spool_outgoing")
    for column in INCOMING:
        op.drop_index("ix_spool_incoming_by_%s" % column, table_name="spool_incoming")
