"""thread jobs (schema additions of the background threads)

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27
"""
from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401
import stws.db.models  # noqa: F401

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # --- Auto-Purge, Auto-Inactive, Event Processing (ticket counts), Cleaner
    op.create_index("ix_users_deleted", "users", ["is_deleted", "date_deleted_utc"])
    op.create_index("ix_users_active_agent_heartbeat", "users", ["is_active_agent", "last_heartbeat_utc"])
    op.create_index("ix_call_logs_deleted", "call_logs", ["is_deleted", "date_deleted_utc"])
    op.create_table(
        "ticket_counts",
        sa.Column("brand_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("department_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("group_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("agent_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("active", sa.Integer(), nullable=False),
        sa.Column("waiting", sa.Integer(), nullable=False),
        sa.Column("follow_up", sa.Integer(), nullable=False),
        sa.Column("computed_utc", stws.db.models.UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("brand_id", "department_id", "group_id", "agent_id", name=op.f("pk_ticket_counts")),
    )
    op.create_index("ix_ticket_counts_agent", "ticket_counts", ["agent_id"])
    op.create_index("ix_ticket_attachments_file_name_on_disk", "ticket_attachments", ["file_name_on_disk"])


def downgrade() -> None:
    # --- Auto-Purge, Auto-Inactive, Event Processing (ticket counts), Cleaner
    op.drop_index("ix_ticket_attachments_file_name_on_disk", table_name="ticket_attachments")
    op.drop_index("ix_ticket_counts_agent", table_name="ticket_counts")
    op.drop_table("ticket_counts")
    op.drop_index("ix_call_logs_deleted", table_name="call_logs")
    op.drop_index("ix_users_active_agent_heartbeat", table_name="users")
    op.drop_index("ix_users_deleted", table_name="users")
