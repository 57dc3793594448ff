"""SQLite: ids that clients see are never handed out again (AUTOINCREMENT)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06

Without AUTOINCREMENT, SQLite gives a new row max(id) + 1: once the
outgoing spool was emptied, the next message got id 1 again, and an
administrator holding an old id retried or deleted another message. With
it, ids only grow (sqlite_sequence remembers the largest ever used).
PostgreSQL's sequences never go back: nothing to do there.

SQLite cannot add AUTOINCREMENT to a table, so each table is rebuilt by
SQLite's own procedure for schema changes: a copy made from the table's
stored CREATE TABLE with only the primary key changed, the rows copied with
their ids, the old table dropped, the copy renamed, and the table's indexes
and triggers created again from their stored SQL, verbatim (expression and
partial indexes and the full-text and directory triggers included, which a
rebuild from reflection would lose). Foreign keys are off while migrating
(stws.db.schema), and checked at the end. A large tickets table takes a
while: every row is copied once.
"""
import re

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

# Tables whose ids clients see (SOAP results, URLs, the management interface).
TABLES = ("tickets", "ticket_messages", "ticket_comments", "ticket_attachments", "time_logs", "ticket_links",
          "call_logs", "users", "brands", "departments", "groups", "custom_fields", "rebalance_rules",
          "smtp_accounts", "pop_accounts", "spool_outgoing", "spool_incoming", "transfer_servers")

_PRIMARY_KEY = re.compile(r",\s*CONSTRAINT (\w+) PRIMARY KEY \(id\)")
_ID_COLUMN = re.compile(r"\(\s*id INTEGER NOT NULL,")


def upgrade() -> None:
    _rebuild_every_table(autoincrement=True)


def downgrade() -> None:
    _rebuild_every_table(autoincrement=False)


def _rebuild_every_table(autoincrement: bool) -> None:
    connection = op.get_bind()
    if connection.dialect.name != "sqlite":
        return
    driver = connection.connection.driver_connection
    for table in TABLES:
        _rebuild_with_autoincrement(driver, table, autoincrement)


def _rebuild_with_autoincrement(driver, table: str, autoincrement: bool) -> None:
    (create,) = driver.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)).fetchone()
    if autoincrement:
        match = _PRIMARY_KEY.search(create)
        if match is None or not _ID_COLUMN.search(create):
            raise RuntimeError("%s: unexpected CREATE TABLE, cannot add AUTOINCREMENT:\n%s" % (table, create))
        name = match.group(1)
        create = _PRIMARY_KEY.sub("", create, count=1)
        create = _ID_COLUMN.sub("(\n\tid INTEGER NOT NULL CONSTRAINT %s PRIMARY KEY AUTOINCREMENT," % name, create, count=1)
    else:
        match = re.search(r"id INTEGER NOT NULL CONSTRAINT (\w+) PRIMARY KEY AUTOINCREMENT,", create)
        if match is None:
            return
        create = create.replace(match.group(0), "id INTEGER NOT NULL,", 1)
        create = create.rstrip().rstrip(")").rstrip() + ", \n\tCONSTRAINT %s PRIMARY KEY (id)\n)" % match.group(1)
    companions = [sql for (sql,) in driver.execute(
        "SELECT sql FROM sqlite_master WHERE tbl_name = ? AND type IN ('index', 'trigger') AND sql IS NOT NULL "
        "ORDER BY type, name", (table,))]
    copy = table + "__rebuilt"
    driver.execute(re.sub(r"^CREATE TABLE \"?%s\"? \(" % re.escape(table), "CREATE TABLE %s (" % copy, create))
    columns = ", ".join('"%s"' % row[1] for row in driver.execute('PRAGMA table_info("%s")' % table))
    driver.execute('INSERT INTO "%s" (%s) SELECT %s FROM "%s"' % (copy, columns, columns, table))
    driver.execute('DROP TABLE "%s"' % table)
    driver.execute('ALTER TABLE "%s" RENAME TO "%s"' % (copy, table))
    for sql in companions:
        driver.execute(sql)
