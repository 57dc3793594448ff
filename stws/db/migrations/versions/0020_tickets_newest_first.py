"""tickets: on PostgreSQL, every ticket newest activity first

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-07
"""
from alembic import op
import sqlalchemy as sa

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None

# A Text search of a word common to many tickets walks the list it searches in
# the list's own order and tests each ticket until the page is full
# (stws.domain.tickets.fulltext.ticket_matches). Across all tickets (an
# administrator's search, an agent's over their groups) that order is the last
# reply descending, tickets never replied to last, then the id
# (search.newest_first): PostgreSQL reads ix_tickets_last_reply backwards with
# NULLs first, so it read and sorted every ticket instead (300 ms at 200,000
# tickets before the first one was tested). PostgreSQL only, like 0016's
# newest-first indexes (stws.db.schema.BACKEND_INDEXES): SQLite sorts NULLs
# last in descending order and walks ix_tickets_last_reply backwards.
NAME = "ix_tickets_newest"


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.create_index(NAME, "tickets", [sa.text("last_reply_utc DESC NULLS LAST"), sa.text("id DESC")])


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index(NAME, table_name="tickets")
