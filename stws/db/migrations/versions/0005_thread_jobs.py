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


def downgrade() -> None:
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
    op.drop_index("ix_ticket_attachments_file_name_on_disk", table_name="ticket_attachments")
    op.drop_index("ix_ticket_counts_agent", table_name="ticket_counts")
    op.drop_table("ticket_counts")
    op.drop_index("ix_call_logs_deleted", table_name="call_logs")
    op.drop_index("ix_users_active_agent_heartbeat", table_name="users")
    op.drop_index("ix_users_deleted", table_name="users")
