"""event_outbox: history events waiting for the events provider

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06
"""
import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    big_id = sa.BigInteger().with_variant(sa.Integer, "sqlite")
    op.create_table(
        "event_outbox",
        sa.Column("id", big_id, primary_key=True),
        sa.Column("event_id", sa.String(36), nullable=False),
        sa.Column("ticket_id", big_id, nullable=False),
        sa.Column("ticket_number", sa.String(32), nullable=False),
        sa.Column("event_type", sa.String(50), nullable=False),
        sa.Column("occurred_utc", sa.DateTime, nullable=False),
        sa.Column("user_name", sa.String(200), nullable=False),
        sa.Column("description", sa.String(1000), nullable=False),
        sa.Column("details", sa.Text, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("last_attempt_utc", sa.DateTime, nullable=True),
        sa.Column("last_error", sa.Text, nullable=False),
        sa.Column("next_attempt_utc", sa.DateTime, nullable=True),
        sa.UniqueConstraint("event_id", name="uq_event_outbox_event_id"),
    )
    op.create_index("ix_event_outbox_ticket_id", "event_outbox", ["ticket_id"])
    op.create_index("ix_event_outbox_next_attempt_utc", "event_outbox", ["next_attempt_utc"])


def downgrade() -> None:
    op.drop_table("event_outbox")
