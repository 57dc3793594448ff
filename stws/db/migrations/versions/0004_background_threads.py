"""background threads: on/off, lease and last run per thread

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27
"""
from alembic import op
import sqlalchemy as sa
import stws.db.models

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "thread_states",
        sa.Column("name", sa.String(length=50), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("lease_node", sa.String(length=200), nullable=True),
        sa.Column("lease_expires_utc", stws.db.models.UtcDateTime(), nullable=True),
        sa.Column("last_node", sa.String(length=200), nullable=False),
        sa.Column("last_start_utc", stws.db.models.UtcDateTime(), nullable=True),
        sa.Column("last_end_utc", stws.db.models.UtcDateTime(), nullable=True),
        sa.Column("last_duration_ms", sa.Integer(), nullable=False),
        sa.Column("last_items", sa.Integer(), nullable=False),
        sa.Column("total_runs", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.Column("last_error_utc", stws.db.models.UtcDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_thread_states")),
    )


def downgrade() -> None:
    op.drop_table("thread_states")
