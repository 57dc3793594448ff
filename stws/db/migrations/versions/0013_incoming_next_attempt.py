"""spool_incoming.next_attempt_utc: when a message whose import had to wait
(the ticket provider could not be asked) is tried again

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06
"""
import sqlalchemy as sa
from alembic import op

import stws.db.models

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("spool_incoming", sa.Column("next_attempt_utc", stws.db.models.UtcDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("spool_incoming") as table:
        table.drop_column("next_attempt_utc")
