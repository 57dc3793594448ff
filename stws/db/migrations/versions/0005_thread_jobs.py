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

# Auto-Purge: (table, referring column, partial index WHERE column IS NOT NULL).
PURGE_REFERRING_INDEXES = [
    ("tickets", "follow_up_agent_id", True),
    ("tickets", "follow_up_group_id", True),
    ("ticket_messages", "from_user_id", True),
    ("ticket_comments", "user_id", True),
    ("ticket_attachments", "user_id", True),
    ("ticket_attachments", "message_id", True),
    ("time_logs", "user_id", True),
    ("ticket_events", "user_id", True),
    ("call_logs", "customer_user_id", True),
    ("call_logs", "department_id", False),
    ("spool_outgoing", "ticket_message_id", True),
]


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
    # Auto-Purge: an index on each key into rows it deletes (partial where mostly NULL).
    for table, column, partial in PURGE_REFERRING_INDEXES:
        op.create_index("ix_%s_%s" % (table, column), table, [column],
                        sqlite_where=sa.text("%s IS NOT NULL" % column) if partial else None,
                        postgresql_where=sa.text("%s IS NOT NULL" % column) if partial else None)

    # --- Ticket Watcher (rebalance rules, due-ticket indexes) and Call Log Watcher
    op.add_column("group_agents", sa.Column("receiving_changed_utc", stws.db.models.UtcDateTime(), nullable=True))
    op.create_table(
        "rebalance_rules",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("department_id", sa.Integer(), nullable=False),
        sa.Column("group_id", sa.Integer(), nullable=False),
        sa.Column("include_all_agents", sa.Boolean(), nullable=False),
        sa.Column("execute_on_interval_seconds", sa.Integer(), nullable=False),
        sa.Column("execute_on_agent_activate", sa.Boolean(), nullable=False),
        sa.Column("execute_on_agent_deactivate", sa.Boolean(), nullable=False),
        sa.Column("execute_at_time_utc_1", sa.Time(), nullable=True),
        sa.Column("execute_at_time_utc_2", sa.Time(), nullable=True),
        sa.Column("execute_at_time_utc_3", sa.Time(), nullable=True),
        sa.Column("hold_seconds_compose", sa.Integer(), nullable=False),
        sa.Column("hold_seconds_read", sa.Integer(), nullable=False),
        sa.Column("hold_seconds_assigned", sa.Integer(), nullable=False),
        sa.Column("hold_seconds_pinned", sa.Integer(), nullable=False),
        sa.Column("date_created_utc", stws.db.models.UtcDateTime(), nullable=False),
        sa.Column("date_last_run_utc", stws.db.models.UtcDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["department_id"], ["departments.id"],
                                name=op.f("fk_rebalance_rules_department_id_departments"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["group_id"], ["groups.id"], name=op.f("fk_rebalance_rules_group_id_groups"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rebalance_rules")),
    )
    op.create_index("ix_rebalance_rules_group_id", "rebalance_rules", ["group_id"])
    op.create_table(
        "rebalance_rule_agents",
        sa.Column("rule_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["rule_id"], ["rebalance_rules.id"],
                                name=op.f("fk_rebalance_rule_agents_rule_id_rebalance_rules"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_rebalance_rule_agents_user_id_users"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("rule_id", "user_id", name=op.f("pk_rebalance_rule_agents")),
    )
    op.create_index("ix_rebalance_rule_agents_user_id", "rebalance_rule_agents", ["user_id"])
    op.create_index("ix_tickets_status_department_idle", "tickets", ["status_id", "department_id", "idle_start_utc"])
    op.create_index("ix_tickets_closed_due", "tickets", ["is_deleted", "status_id", "department_id", "date_closed_utc"])
    op.create_index("ix_call_logs_department_created", "call_logs", ["is_deleted", "department_id", "date_created_utc"])

    # --- Indexing (full-text index; see stws.domain.tickets.fulltext)
    _fulltext_upgrade()


def downgrade() -> None:
    # --- Indexing
    _fulltext_downgrade()

    # --- Ticket Watcher and Call Log Watcher
    op.drop_index("ix_call_logs_department_created", table_name="call_logs")
    op.drop_index("ix_tickets_closed_due", table_name="tickets")
    op.drop_index("ix_tickets_status_department_idle", table_name="tickets")
    op.drop_index("ix_rebalance_rule_agents_user_id", table_name="rebalance_rule_agents")
    op.drop_table("rebalance_rule_agents")
    op.drop_index("ix_rebalance_rules_group_id", table_name="rebalance_rules")
    op.drop_table("rebalance_rules")
    with op.batch_alter_table("group_agents") as batch:
        batch.drop_column("receiving_changed_utc")

    # --- Auto-Purge, Auto-Inactive, Event Processing (ticket counts), Cleaner
    for table, column, _ in reversed(PURGE_REFERRING_INDEXES):
        op.drop_index("ix_%s_%s" % (table, column), table_name=table)
    op.drop_index("ix_ticket_attachments_file_name_on_disk", table_name="ticket_attachments")
    op.drop_index("ix_ticket_counts_agent", table_name="ticket_counts")
    op.drop_table("ticket_counts")
    op.drop_index("ix_call_logs_deleted", table_name="call_logs")
    op.drop_index("ix_users_active_agent_heartbeat", table_name="users")
    op.drop_index("ix_users_deleted", table_name="users")


# ---------------------------------------------------------------- Indexing
#
# The index itself depends on the backend and is not a model (the drift
# check skips it, stws.db.schema): an FTS5 table on SQLite, a tsvector table
# with a GIN index on PostgreSQL. Deleting a ticket, message or note for
# good queues its document id (item id * 4 + kind) in fulltext_removals
# through AFTER DELETE triggers (cascades fire them too). On SQLite, a
# batch operation that recreates tickets, ticket_messages or
# ticket_comments drops their trigger: recreate it in the same migration.

_INDEXED_TABLES = (("tickets", 1), ("ticket_messages", 2), ("ticket_comments", 3))


def _fulltext_upgrade() -> None:
    op.create_table(
        "fulltext_removals",
        sa.Column("doc_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.PrimaryKeyConstraint("doc_id", name=op.f("pk_fulltext_removals")),
    )
    for table in ("ticket_messages", "ticket_comments"):
        where = sa.text("is_indexed = %s" % ("0" if op.get_bind().dialect.name == "sqlite" else "false"))
        op.create_index("ix_%s_unindexed" % table, table, ["id"], sqlite_where=where, postgresql_where=where)
    # No row was indexed before this revision; whatever a flag says, index everything once.
    for table, _kind in _INDEXED_TABLES:
        op.execute(sa.text("UPDATE %s SET is_indexed = :no WHERE is_indexed = :yes" % table)
                   .bindparams(no=False, yes=True))
    if op.get_bind().dialect.name == "sqlite":
        op.execute("CREATE VIRTUAL TABLE ticket_fts USING fts5("
                   "ticket_id UNINDEXED, kind UNINDEXED, item_id UNINDEXED, content, "
                   "tokenize = 'unicode61 remove_diacritics 2')")
        for table, kind in _INDEXED_TABLES:
            op.execute("CREATE TRIGGER tr_%s_fulltext_removal AFTER DELETE ON %s BEGIN "
                       "INSERT OR IGNORE INTO fulltext_removals (doc_id) VALUES (old.id * 4 + %d); END"
                       % (table, table, kind))
    else:
        op.execute("CREATE TABLE ticket_search ("
                   "id bigint NOT NULL CONSTRAINT pk_ticket_search PRIMARY KEY, ticket_id integer NOT NULL, "
                   "kind smallint NOT NULL, item_id bigint NOT NULL, document tsvector NOT NULL)")
        op.execute("CREATE INDEX ix_ticket_search_document ON ticket_search USING gin (document)")
        op.execute("CREATE FUNCTION stws_fulltext_removed() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                   "INSERT INTO fulltext_removals (doc_id) VALUES (OLD.id * 4 + TG_ARGV[0]::integer) "
                   "ON CONFLICT DO NOTHING; RETURN NULL; END $$")
        for table, kind in _INDEXED_TABLES:
            op.execute("CREATE TRIGGER tr_%s_fulltext_removal AFTER DELETE ON %s FOR EACH ROW "
                       "EXECUTE FUNCTION stws_fulltext_removed('%d')" % (table, table, kind))


def _fulltext_downgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    for table, _kind in _INDEXED_TABLES:
        op.execute("DROP TRIGGER tr_%s_fulltext_removal%s" % (table, "" if sqlite else " ON %s" % table))
    if sqlite:
        op.execute("DROP TABLE ticket_fts")
    else:
        op.execute("DROP FUNCTION stws_fulltext_removed()")
        op.execute("DROP TABLE ticket_search")
    # The index is gone: a later upgrade indexes everything again.
    for table, _kind in _INDEXED_TABLES:
        op.execute(sa.text("UPDATE %s SET is_indexed = :no WHERE is_indexed = :yes" % table)
                   .bindparams(no=False, yes=True))
    op.drop_index("ix_ticket_comments_unindexed", table_name="ticket_comments")
    op.drop_index("ix_ticket_messages_unindexed", table_name="ticket_messages")
    op.drop_table("fulltext_removals")
