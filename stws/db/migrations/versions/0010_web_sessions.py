"""web_sessions: signed-in sessions of the management interface

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06
"""
import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "web_sessions",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("security_stamp", sa.String(32), nullable=False),
        sa.Column("csrf_token", sa.String(64), nullable=False),
        sa.Column("date_created_utc", sa.DateTime, nullable=False),
        sa.Column("last_seen_utc", sa.DateTime, nullable=False),
        sa.Column("expires_utc", sa.DateTime, nullable=False),
        sa.Column("flash", sa.Text, nullable=False),
        sa.Column("flash_is_error", sa.Boolean, nullable=False),
        sa.Column("client_address", sa.String(64), nullable=False),
    )
    op.create_index("ix_web_sessions_user_id", "web_sessions", ["user_id"])
    op.create_index("ix_web_sessions_expires_utc", "web_sessions", ["expires_utc"])


def downgrade() -> None:
    op.drop_table("web_sessions")
