"""ticket_tallies: exact ticket counts kept by triggers in the writing transaction

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07
"""
import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

# GetTicketCount counted the open tickets live on every call (100,000 rows at
# 1,000,000 tickets, 126 calls/s). The triggers append +1/-1 rows per change
# of a counted column (see models.TicketTally); stws.db.tallies.fold keeps the
# table short. A migration that rebuilds ``tickets`` (SQLite batch mode) drops
# the triggers with the old table and must make them again.
KEY = ("brand_id", "department_id", "group_id", "agent_id", "status_id", "follow_up")
TRACKED = ("brand_id", "department_id", "group_id", "agent_id", "status_id", "requires_follow_up", "is_deleted")


def _values(row: str, n: int) -> str:
    return "%s.brand_id, %s.department_id, %s.group_id, COALESCE(%s.agent_id, 0), %s.status_id, " \
           "%s.requires_follow_up, %d" % (row, row, row, row, row, row, n)


def _changed(old: str = "OLD", new: str = "NEW", distinct: str = "IS NOT") -> str:
    return " OR ".join("%s.%s %s %s.%s" % (old, c, distinct, new, c) for c in TRACKED)


def upgrade() -> None:
    op.create_table(
        "ticket_tallies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("brand_id", sa.Integer(), nullable=False),
        sa.Column("department_id", sa.Integer(), nullable=False),
        sa.Column("group_id", sa.Integer(), nullable=False),
        sa.Column("agent_id", sa.Integer(), nullable=False),
        sa.Column("status_id", sa.Integer(), nullable=False),
        sa.Column("follow_up", sa.Boolean(), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ticket_tallies")),
    )
    insert = "INSERT INTO ticket_tallies (%s, n)" % ", ".join(KEY)
    if op.get_bind().dialect.name == "sqlite":
        op.execute("CREATE TRIGGER tr_tickets_tally_insert AFTER INSERT ON tickets WHEN NOT NEW.is_deleted "
                   "BEGIN %s VALUES (%s); END" % (insert, _values("NEW", 1)))
        op.execute("CREATE TRIGGER tr_tickets_tally_delete AFTER DELETE ON tickets WHEN NOT OLD.is_deleted "
                   "BEGIN %s VALUES (%s); END" % (insert, _values("OLD", -1)))
        op.execute("CREATE TRIGGER tr_tickets_tally_update AFTER UPDATE OF %s ON tickets WHEN %s BEGIN "
                   "%s SELECT %s WHERE NOT OLD.is_deleted; %s SELECT %s WHERE NOT NEW.is_deleted; END"
                   % (", ".join(TRACKED), _changed(), insert, _values("OLD", -1), insert, _values("NEW", 1)))
    else:
        op.execute("CREATE FUNCTION stws_ticket_tally() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                   "IF TG_OP <> 'INSERT' THEN IF NOT OLD.is_deleted THEN %s VALUES (%s); END IF; END IF; "
                   "IF TG_OP <> 'DELETE' THEN IF NOT NEW.is_deleted THEN %s VALUES (%s); END IF; END IF; "
                   "RETURN NULL; END $$" % (insert, _values("OLD", -1), insert, _values("NEW", 1)))
        op.execute("CREATE TRIGGER tr_tickets_tally AFTER INSERT OR DELETE ON tickets FOR EACH ROW "
                   "EXECUTE FUNCTION stws_ticket_tally()")
        op.execute("CREATE TRIGGER tr_tickets_tally_update AFTER UPDATE OF %s ON tickets FOR EACH ROW WHEN (%s) "
                   "EXECUTE FUNCTION stws_ticket_tally()" % (", ".join(TRACKED),
                                                            _changed(distinct="IS DISTINCT FROM")))
    # The tickets there are now, one row per combination.
    op.execute("%s SELECT brand_id, department_id, group_id, COALESCE(agent_id, 0), status_id, requires_follow_up, "
               "COUNT(*) FROM tickets WHERE NOT is_deleted GROUP BY brand_id, department_id, group_id, "
               "COALESCE(agent_id, 0), status_id, requires_follow_up" % insert)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for name in ("insert", "delete", "update"):
            op.execute("DROP TRIGGER tr_tickets_tally_%s" % name)
    else:
        op.execute("DROP TRIGGER tr_tickets_tally ON tickets")
        op.execute("DROP TRIGGER tr_tickets_tally_update ON tickets")
        op.execute("DROP FUNCTION stws_ticket_tally()")
    op.drop_table("ticket_tallies")
