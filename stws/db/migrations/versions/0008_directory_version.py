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
# New customers are frequent (every ticket from a new address, on every
# node) and in no listing: a new user row is in none until it gets an
# employee role, so users bump on UPDATE and DELETE only, and user_roles
# only for the employee roles (stws.security.roles.EMPLOYEE_ROLES as of
# this revision). Otherwise every such ticket would empty the cache and,
# on PostgreSQL, queue on the version row's lock.
#
# On SQLite, a batch operation that recreates one of these tables drops
# its triggers: recreate them in the same migration.
_WATCHED = (
    ("users", ("username", "username_key", "display_name", "email", "is_active_agent", "is_deleted")),
    ("roles", None),
    ("group_agents", ("group_id", "user_id", "distribution_mode", "max_tickets_enabled", "max_tickets",
                      "is_receiving")),
    ("groups", None),
    ("departments", None),
    ("brands", None),
)
_WITHOUT_INSERT = {"users"}
_EMPLOYEE_ROLE_IDS = "(SELECT id FROM roles WHERE name IN ('Agent', 'Manager', 'Administrator'))"
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
            for event, name in _sqlite_events(table, update):
                op.execute("CREATE TRIGGER tr_%s_directory_%s AFTER %s ON %s BEGIN %s; END"
                           % (table, name, event, table, _BUMP))
        for event, name, condition in (
            ("INSERT", "insert", "NEW.role_id IN %s" % _EMPLOYEE_ROLE_IDS),
            ("UPDATE", "update", "OLD.role_id IN %s OR NEW.role_id IN %s" % (_EMPLOYEE_ROLE_IDS, _EMPLOYEE_ROLE_IDS)),
            ("DELETE", "delete", "OLD.role_id IN %s" % _EMPLOYEE_ROLE_IDS),
        ):
            op.execute("CREATE TRIGGER tr_user_roles_directory_%s AFTER %s ON user_roles WHEN %s BEGIN %s; END"
                       % (name, event, condition, _BUMP))
    else:
        # One bump per statement. A bump locks the version row until commit,
        # so directory writers of all nodes queue there: they are rare.
        op.execute("CREATE FUNCTION stws_directory_changed() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                   "%s; RETURN NULL; END $$" % _BUMP)
        for table, columns in _WATCHED:
            update = "UPDATE OF %s" % ", ".join(columns) if columns else "UPDATE"
            events = " OR ".join(([] if table in _WITHOUT_INSERT else ["INSERT"]) + [update, "DELETE", "TRUNCATE"])
            op.execute("CREATE TRIGGER tr_%s_directory AFTER %s ON %s "
                       "FOR EACH STATEMENT EXECUTE FUNCTION stws_directory_changed()" % (table, events, table))
        # Row by row (a statement trigger cannot see the rows), employee roles only.
        op.execute(
            "CREATE FUNCTION stws_directory_role_changed() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            "IF EXISTS (SELECT 1 FROM %s AS employee(id) WHERE employee.id IN ("
            "CASE WHEN TG_OP = 'INSERT' THEN NULL ELSE OLD.role_id END, "
            "CASE WHEN TG_OP = 'DELETE' THEN NULL ELSE NEW.role_id END)) THEN %s; END IF; "
            "RETURN NULL; END $$" % (_EMPLOYEE_ROLE_IDS, _BUMP))
        op.execute("CREATE TRIGGER tr_user_roles_directory AFTER INSERT OR UPDATE OR DELETE ON user_roles "
                   "FOR EACH ROW EXECUTE FUNCTION stws_directory_role_changed()")
        op.execute("CREATE TRIGGER tr_user_roles_directory_truncate AFTER TRUNCATE ON user_roles "
                   "FOR EACH STATEMENT EXECUTE FUNCTION stws_directory_changed()")


def _sqlite_events(table: str, update: str):
    events = [("INSERT", "insert"), (update, "update"), ("DELETE", "delete")]
    return events[1:] if table in _WITHOUT_INSERT else events


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for table, columns in _WATCHED:
            for _event, name in _sqlite_events(table, ""):
                op.execute("DROP TRIGGER tr_%s_directory_%s" % (table, name))
        for name in ("insert", "update", "delete"):
            op.execute("DROP TRIGGER tr_user_roles_directory_%s" % name)
    else:
        for table, _columns in _WATCHED:
            op.execute("DROP TRIGGER tr_%s_directory ON %s" % (table, table))
        op.execute("DROP TRIGGER tr_user_roles_directory ON user_roles")
        op.execute("DROP TRIGGER tr_user_roles_directory_truncate ON user_roles")
        op.execute("DROP FUNCTION stws_directory_role_changed()")
        op.execute("DROP FUNCTION stws_directory_changed()")
    op.drop_table("directory_version")
