"""directory cache: a version that triggers bump whenever directory data changes

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-27
"""
from alembic import op
import sqlalchemy as sa

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

# The tables the agent, department and group listings read, and for the
# hot ones the columns they read (None: any column). Left out on purpose:
# users' heartbeat, login and lockout columns and group_agents'
# last_assigned_utc change all the time and are in no listing; bumping on
# them would empty the cache for nothing. Brands are listed by nothing
# cached yet, but departments belong to them.
#
# On SQLite, a batch operation that recreates one of these tables drops
# its triggers: recreate them in the same migration.
_WATCHED = (
    ("users", ("username", "username_key", "display_name", "email", "is_active_agent", "is_deleted")),
    ("user_roles", None),
    ("roles", None),
    ("group_agents", ("group_id", "user_id", "distribution_mode", "max_tickets_enabled", "max_tickets",
                      "is_receiving")),
    ("groups", None),
    ("departments", None),
    ("brands", None),
)
_BUMP = "UPDATE directory_version SET version = version + 1"


def upgrade() -> None:
    op.create_table(
        "directory_version",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_directory_version")),
    )
    op.execute("INSERT INTO directory_version (id, version) VALUES (1, 0)")
    if op.get_bind().dialect.name == "sqlite":
        # Row triggers only: one bump per changed row.
        for table, columns in _WATCHED:
            update = "UPDATE OF %s" % ", ".join(columns) if columns else "UPDATE"
            for event, name in (("INSERT", "insert"), (update, "update"), ("DELETE", "delete")):
                op.execute("CREATE TRIGGER tr_%s_directory_%s AFTER %s ON %s BEGIN %s; END"
                           % (table, name, event, table, _BUMP))
    else:
        # One bump per statement. A bump locks the version row until commit,
        # so directory writers of all nodes queue there: they are rare.
        op.execute("CREATE FUNCTION stws_directory_changed() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                   "%s; RETURN NULL; END $$" % _BUMP)
        for table, columns in _WATCHED:
            update = "UPDATE OF %s" % ", ".join(columns) if columns else "UPDATE"
            op.execute("CREATE TRIGGER tr_%s_directory AFTER INSERT OR %s OR DELETE OR TRUNCATE ON %s "
                       "FOR EACH STATEMENT EXECUTE FUNCTION stws_directory_changed()" % (table, update, table))


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for table, _columns in _WATCHED:
            for name in ("insert", "update", "delete"):
                op.execute("DROP TRIGGER tr_%s_directory_%s" % (table, name))
    else:
        for table, _columns in _WATCHED:
            op.execute("DROP TRIGGER tr_%s_directory ON %s" % (table, table))
        op.execute("DROP FUNCTION stws_directory_changed()")
    op.drop_table("directory_version")
