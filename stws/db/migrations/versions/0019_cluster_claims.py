"""error_reports and ticket_transfer_claims: state that nodes sharing the database must share

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07
"""
import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # One row per distinct error across the cluster: what waits to be mailed
    # and when it was last mailed (stws.diagnostics.errormail).
    op.create_table(
        "error_reports",
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column("level", sa.Integer, nullable=False),
        sa.Column("summary", sa.String(200), nullable=False),
        sa.Column("first_text", sa.Text, nullable=False),
        sa.Column("first_seen_utc", sa.DateTime, nullable=False),
        sa.Column("last_seen_utc", sa.DateTime, nullable=False),
        sa.Column("last_message", sa.Text, nullable=False),
        sa.Column("nodes", sa.String(200), nullable=False),
        sa.Column("pending", sa.Integer, nullable=False),
        sa.Column("dropped_others", sa.Integer, nullable=False),
        sa.Column("last_sent_utc", sa.DateTime, nullable=True),
        sa.PrimaryKeyConstraint("key_hash", name=op.f("pk_error_reports")),
    )
    # A ticket being sent to another instance (stws.domain.tickets.transfer).
    op.create_table(
        "ticket_transfer_claims",
        sa.Column("ticket_id", sa.Integer, autoincrement=False, nullable=False),
        sa.Column("claimed_by", sa.String(200), nullable=False),
        sa.Column("claimed_utc", sa.DateTime, nullable=False),
        sa.Column("expires_utc", sa.DateTime, nullable=False),
        sa.PrimaryKeyConstraint("ticket_id", name=op.f("pk_ticket_transfer_claims")),
    )


def downgrade() -> None:
    op.drop_table("ticket_transfer_claims")
    op.drop_table("error_reports")
