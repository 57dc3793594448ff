"""tickets: a group's and a department's tickets of one status by subject, customer, number and id;
on PostgreSQL also newest activity first

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07
"""
import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

# The workspace lists a group's (department's) tickets of one status sorted
# by subject, customer, ticket number or status (the id order, inside one
# status), a page at a time. Without an index
# in that order every ticket of the group and status is read and sorted
# (20,000 of a front-line group at 1,000,000 tickets: 100-130 ms on SQLite);
# with one, a page reads its own rows in index order. The id ends each index:
# the lists break ties by id (on SQLite the rowid ends every index anyway;
# PostgreSQL then needs no sort step either). Subject and customer sort
# without case, so those indexes hold lower(...), as the ORDER BY says.
# Listed by (name, owner column, sort key) in stws/db/models.py too.
OWNERS = ("group_id", "department_id")
KEYS = (("subject", "lower(subject)"), ("customer", "lower(customer_email)"), ("number", "ticket_number"),
        # By status (then id): inside one status, the id order.
        ("id", None))

# PostgreSQL only (stws.db.schema.BACKEND_INDEXES: not in the models): the
# lists' default order is the last reply descending with tickets never
# replied to last (search.newest_first), and PostgreSQL puts NULLs first when
# it reads an ascending index backwards, so 0015's indexes could not give
# that order: it read every ticket of the group and status and sorted them.
# SQLite sorts NULLs last in descending order itself (and cannot declare
# NULLS LAST in an index): 0015's indexes serve it.
NEWEST_FIRST = ("group_id", "agent_id", "department_id")


def newest_first_name(owner: str) -> str:
    return "ix_tickets_%s_status_newest" % owner.replace("_id", "")


def _indexes():
    for owner in OWNERS:
        for name, key in KEYS:
            yield "ix_tickets_%s_status_%s" % (owner.replace("_id", ""), name), owner, key


def upgrade() -> None:
    for name, owner, key in _indexes():
        columns = [owner, "status_id"]
        if key is not None:
            columns.append(sa.text(key) if key.startswith("lower(") else key)
        op.create_index(name, "tickets", columns + ["id"])
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        for owner in NEWEST_FIRST:
            op.create_index(newest_first_name(owner), "tickets",
                            [owner, "status_id", sa.text("last_reply_utc DESC NULLS LAST"), sa.text("id DESC")])
    elif _has_statistics(bind, "tickets"):
        # SQLite takes an index without statistics for a selective one: beside
        # statistics of the older indexes (an ANALYZE run on the database, as
        # bench/seed_tickets.py does), it chose these for the newest-first
        # lists too and sorted the group (0.5 -> 7 ms CPU at 100,000
        # tickets). Statistics of them all restore the plans (~20 s at 1,000,000).
        op.execute("ANALYZE tickets")


def _has_statistics(bind, table: str) -> bool:
    if not bind.execute(sa.text("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'")).first():
        return False
    return bind.execute(sa.text("SELECT 1 FROM sqlite_stat1 WHERE tbl = :table"), {"table": table}).first() is not None


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for owner in NEWEST_FIRST:
            op.drop_index(newest_first_name(owner), table_name="tickets")
    for name, _, _ in _indexes():
        op.drop_index(name, table_name="tickets")
