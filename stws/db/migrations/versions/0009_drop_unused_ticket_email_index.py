"""tickets: drop ix_tickets_customer_email_status, which no query uses

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-27
"""
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Every lookup by a ticket's address compares lower(customer_email)
    # (ix_tickets_customer_email_lower_status, 0003). This index on the
    # address as given served none, and every new ticket wrote one more
    # page of it, at a random place.
    op.drop_index("ix_tickets_customer_email_status", table_name="tickets")


def downgrade() -> None:
    op.create_index("ix_tickets_customer_email_status", "tickets", ["customer_email", "status_id"])
