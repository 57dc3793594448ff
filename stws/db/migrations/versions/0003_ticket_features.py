"""ticket features (schema additions of the svcTickets operations)

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""
from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401
import stws.db.models  # noqa: F401

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # GetTicketsBySearch: case-insensitive EmailAddress (+ IsOpen/Status).
    op.create_index("ix_tickets_customer_email_lower_status", "tickets",
                    [sa.text("lower(customer_email)"), "status_id"])


def downgrade() -> None:
    op.drop_index("ix_tickets_customer_email_lower_status", table_name="tickets")
