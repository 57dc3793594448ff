"""mail: SMTP and POP accounts, incoming spool, delivery claims, auto-response log

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27
"""
from alembic import op
import sqlalchemy as sa
import stws.db.models

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

UTC = stws.db.models.UtcDateTime


def upgrade() -> None:
    op.create_table(
        "smtp_accounts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("server", sa.String(length=255), nullable=False),
        sa.Column("port", sa.Integer(), nullable=False),
        sa.Column("security", sa.String(length=10), nullable=False),
        sa.Column("use_authentication", sa.Boolean(), nullable=False),
        sa.Column("username", sa.String(length=320), nullable=False),
        sa.Column("password", sa.String(length=1000), nullable=False),
        sa.Column("from_address", sa.String(length=320), nullable=False),
        sa.Column("from_name", sa.String(length=200), nullable=False),
        sa.Column("is_default", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_smtp_accounts")),
        sa.UniqueConstraint("name", name=op.f("uq_smtp_accounts_name")),
    )
    op.create_table(
        "pop_accounts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("department_id", sa.Integer(), nullable=False),
        sa.Column("email_address", sa.String(length=320), nullable=False),
        sa.Column("server", sa.String(length=255), nullable=False),
        sa.Column("port", sa.Integer(), nullable=False),
        sa.Column("security", sa.String(length=10), nullable=False),
        sa.Column("username", sa.String(length=320), nullable=False),
        sa.Column("password", sa.String(length=1000), nullable=False),
        sa.Column("leave_on_server", sa.Boolean(), nullable=False),
        sa.Column("import_frequency_minutes", sa.Integer(), nullable=False),
        sa.Column("is_enabled", sa.Boolean(), nullable=False),
        sa.Column("new_ticket_restriction", sa.String(length=20), nullable=False),
        sa.Column("last_check_utc", UTC(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["department_id"], ["departments.id"],
                                name=op.f("fk_pop_accounts_department_id_departments")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pop_accounts")),
    )
    op.create_index(op.f("ix_pop_accounts_department_id"), "pop_accounts", ["department_id"])
    op.create_table(
        "pop_account_uids",
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("uid", sa.String(length=255), nullable=False),
        sa.Column("date_seen_utc", UTC(), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["pop_accounts.id"],
                                name=op.f("fk_pop_account_uids_account_id_pop_accounts"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("account_id", "uid", name=op.f("pk_pop_account_uids")),
    )
    op.create_table(
        "spool_incoming",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=True),
        sa.Column("dedupe_key", sa.String(length=1000), nullable=False),
        sa.Column("file_name", sa.String(length=500), nullable=False),
        sa.Column("from_address", sa.String(length=1000), nullable=False),
        sa.Column("subject", sa.String(length=1000), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=True),
        sa.Column("date_received_utc", UTC(), nullable=False),
        sa.Column("date_imported_utc", UTC(), nullable=True),
        sa.ForeignKeyConstraint(["account_id"], ["pop_accounts.id"],
                                name=op.f("fk_spool_incoming_account_id_pop_accounts"), ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["ticket_id"], ["tickets.id"],
                                name=op.f("fk_spool_incoming_ticket_id_tickets"), ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_spool_incoming")),
        sa.UniqueConstraint("dedupe_key", name=op.f("uq_spool_incoming_dedupe_key")),
    )
    op.create_index("ix_spool_incoming_status", "spool_incoming", ["status", "id"])
    op.create_table(
        "auto_responses",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("recipient", sa.String(length=320), nullable=False),
        sa.Column("date_sent_utc", UTC(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_auto_responses")),
    )
    op.create_index("ix_auto_responses_recipient_date", "auto_responses", ["recipient", "date_sent_utc"])
    with op.batch_alter_table("spool_outgoing") as batch:
        batch.add_column(sa.Column("smtp_account_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("claimed_by", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("claim_until_utc", UTC(), nullable=True))
        batch.create_foreign_key(op.f("fk_spool_outgoing_smtp_account_id_smtp_accounts"), "smtp_accounts",
                                 ["smtp_account_id"], ["id"], ondelete="SET NULL")
    for table in ("brands", "departments"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("smtp_account_id", sa.Integer(), nullable=True))
            batch.create_foreign_key("fk_%s_smtp_account" % table, "smtp_accounts", ["smtp_account_id"], ["id"],
                                     ondelete="SET NULL")


def downgrade() -> None:
    for table in ("departments", "brands"):
        with op.batch_alter_table(table) as batch:
            batch.drop_constraint("fk_%s_smtp_account" % table, type_="foreignkey")
            batch.drop_column("smtp_account_id")
    with op.batch_alter_table("spool_outgoing") as batch:
        batch.drop_constraint(op.f("fk_spool_outgoing_smtp_account_id_smtp_accounts"), type_="foreignkey")
        batch.drop_column("claim_until_utc")
        batch.drop_column("claimed_by")
        batch.drop_column("smtp_account_id")
    op.drop_index("ix_auto_responses_recipient_date", table_name="auto_responses")
    op.drop_table("auto_responses")
    op.drop_index("ix_spool_incoming_status", table_name="spool_incoming")
    op.drop_table("spool_incoming")
    op.drop_table("pop_account_uids")
    op.drop_index(op.f("ix_pop_accounts_department_id"), table_name="pop_accounts")
    op.drop_table("pop_accounts")
    op.drop_table("smtp_accounts")
