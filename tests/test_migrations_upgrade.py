"""Upgrading a populated database, on SQLite and on PostgreSQL.

test_schema.py migrates empty databases; here a database built at revision
0005 holds an organisation, agents, customers and tickets (rows written
with SQL of the 0005 schema) and is upgraded the way a server start does
it, through stws's own engine (foreign keys enforced on SQLite). Every row
must survive, and the schema must come out exactly as a fresh database's.
"""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import MetaData, select, text, update

from stws.db import schema
from stws.db.engine import Database

POPULATED_REVISION = "0005"
T0 = dt.datetime(2026, 3, 2, 9, 30)  # naive UTC, as stored


def at(minutes: int) -> dt.datetime:
    return T0 + dt.timedelta(minutes=minutes)


def _user(id, username, email, primary_admin=False, agent=False, deleted=False):
    return dict(id=id, username=username, username_key=username.lower(), email=email, display_name=username.title(),
                password_hash="pbkdf2_sha256$600000$c2FsdA$aGFzaA", auth_method="internal", auth_domain="",
                is_email_verified=True, time_zone="Europe/Berlin", is_locked_out=False, force_password_change=False,
                security_stamp="%032x" % id, failed_login_count=0, signature="", is_primary_admin=primary_admin,
                is_active_agent=agent, last_heartbeat_utc=at(50) if agent else None, date_created_utc=at(id),
                is_deleted=deleted, date_deleted_utc=at(60) if deleted else None)


def _department(id, brand_id, name, address):
    return dict(id=id, brand_id=brand_id, name=name, email_address=address, is_internal=False,
                auto_close_enabled=True, auto_close_hours=72, auto_close_send_email=False, auto_lock_enabled=False,
                auto_lock_hours=0, auto_delete_enabled=False, auto_delete_days=0, auto_delete_call_log_enabled=False,
                auto_delete_call_log_days=0, auto_responder_enabled=True, auto_responder_subject="We got it",
                auto_responder_body="Thanks, we will answer shortly.", date_created_utc=at(0), is_deleted=False)


def _ticket(id, brand_id, department_id, group_id, agent_id, customer_id, email, status_id, **extra):
    row = dict(id=id, ticket_number="%03d-ABCDE-%04d" % (id, id), brand_id=brand_id, department_id=department_id,
               group_id=group_id, agent_id=agent_id, customer_id=customer_id, customer_email=email,
               subject="Printer %d is on fire" % id, status_id=status_id, priority_id=1, date_opened_utc=at(10 + id),
               date_first_message_utc=at(10 + id), idle_start_utc=at(20 + id), last_reply_utc=at(20 + id),
               date_modified_utc=at(20 + id), reply_count_in=1, reply_count_out=1, is_spam=False,
               is_pinned_to_agent=False, requires_follow_up=False, show_in_follow_up_view=False, follow_up_pin=False,
               is_indexed=True, is_deleted=False)
    row.update(extra)
    return row


def _message(id, ticket_id, direction, from_user_id, address):
    return dict(id=id, ticket_id=ticket_id, direction=direction, from_user_id=from_user_id, from_address=address,
                to_address="support@example.com", cc_address="", subject="Re: printer", body_text="Message %d" % id,
                body_html="<p>Message %d</p>" % id, date_received_utc=at(30 + id),
                message_id_header="<m%d@example.com>" % id, raw_content_path=None, is_first_message=id == 1,
                is_draft=False, is_indexed=True)


# Rows of the 0005 schema in insertion order (departments <-> groups is a
# cycle: departments get their front-line group afterwards).
ROWS = {
    "ticket_statuses": [dict(id=i, english_name=name, display_name=name, sort_order=i, is_open=is_open,
                             is_active=is_open, is_locked=False)
                        for i, name, is_open in ((1, "Active", True), (2, "Waiting", True), (3, "Closed", False))],
    "ticket_priorities": [dict(id=1, name="Normal", sort_order=1), dict(id=2, name="High", sort_order=2)],
    "comment_types": [dict(id=1, english_name="Comment", display_name="Comment", include_in_search=True,
                           show_inline=True)],
    "roles": [dict(id=i, name=name, description="", category=category, display_order=i, is_custom=False)
              for i, name, category in ((1, "Administrator", "admin"), (2, "Agent", "agent"), (3, "User", "user"))],
    "brands": [dict(id=1, name="Default", host_header="", is_default=True, date_created_utc=at(0), is_deleted=False),
               dict(id=2, name="Acme", host_header="help.acme.example", is_default=False, date_created_utc=at(1),
                    is_deleted=False)],
    "departments": [_department(1, 1, "Support", "support@example.com"),
                    _department(2, 2, "Billing", "billing@acme.example")],
    "groups": [dict(id=i, department_id=department, name=name, description="", is_internal=False,
                    date_created_utc=at(0), is_deleted=False)
               for i, department, name in ((1, 1, "Level 1"), (2, 1, "Level 2"), (3, 2, "Invoices"))],
    "users": [_user(1, "admin", "admin@example.com", primary_admin=True),
              _user(2, "jane", "jane@example.com", agent=True),
              _user(3, "john", "John@Example.COM"),
              _user(4, "gone", "gone@example.com", deleted=True)],
    "user_roles": [dict(user_id=1, role_id=1), dict(user_id=2, role_id=2), dict(user_id=3, role_id=3)],
    "group_agents": [dict(group_id=group, user_id=2, distribution_mode="normal", max_tickets_enabled=False,
                          max_tickets=0, is_receiving=True, last_assigned_utc=at(40), receiving_changed_utc=at(5))
                     for group in (1, 3)],
    "tickets": [_ticket(1, 1, 1, 1, 2, 3, "John@Example.COM", 1),
                _ticket(2, 2, 2, 3, None, 4, "gone@example.com", 3, date_closed_utc=at(45)),
                _ticket(3, 1, 1, 2, 2, 3, "john@example.com", 2, requires_follow_up=True,
                        show_in_follow_up_view=True, date_follow_up_utc=at(90), follow_up_group_id=1,
                        follow_up_agent_id=2, follow_up_status_id=1)],
    "ticket_messages": [_message(1, 1, 2, 3, "John@Example.COM"), _message(2, 1, 1, 2, "support@example.com"),
                        _message(3, 2, 2, None, "gone@example.com")],
    "ticket_comments": [dict(id=1, ticket_id=1, comment_type_id=1, user_id=2, text="Asked for the model",
                             is_html=False, date_entered_utc=at(35), date_modified_utc=None, is_indexed=True)],
    "ticket_events": [dict(id=1, ticket_id=1, user_id=2, date_utc=at(33), user_name="jane", event_type="Reply",
                           description="Replied", details="")],
    "spool_outgoing": [dict(id=1, ticket_id=1, ticket_message_id=2, status="sent", from_address="support@example.com",
                            recipients="John@Example.COM", subject="Re: printer", message_id_header="<m2@example.com>",
                            raw_content=b"Subject: Re: printer\r\n\r\nMessage 2\r\n", date_created_utc=at(32),
                            next_attempt_utc=at(32), attempts=1, last_attempt_utc=at(33), last_error="",
                            date_sent_utc=at(33))],
    "call_logs": [dict(id=1, call_number="C-0001", department_id=2, group_id=3, agent_id=2, customer_user_id=3,
                       customer_name="John", customer_phone="+49 30 1234", customer_email="John@Example.COM",
                       subject="Invoice question", description="", is_outgoing=False, date_start_utc=at(70),
                       date_end_utc=at(75), date_created_utc=at(70), date_modified_utc=at(75), is_deleted=False)],
    "rebalance_rules": [dict(id=1, name="Spread Level 1", department_id=1, group_id=1, include_all_agents=False,
                             execute_on_interval_seconds=600, execute_on_agent_activate=True,
                             execute_on_agent_deactivate=False, hold_seconds_compose=300, hold_seconds_read=60,
                             hold_seconds_assigned=0, hold_seconds_pinned=0, date_created_utc=at(2))],
    "rebalance_rule_agents": [dict(rule_id=1, user_id=2)],
    "ticket_counts": [dict(brand_id=1, department_id=1, group_id=1, agent_id=2, active=1, waiting=1, follow_up=1,
                           computed_utc=at(95))],
    "fulltext_removals": [],  # a recreated tickets/messages/comments table would queue its rows here
}
FRONT_LINE_GROUPS = {1: 1, 2: 3}  # department -> group

TRIGGERS = {"tr_tickets_fulltext_removal", "tr_ticket_messages_fulltext_removal",
            "tr_ticket_comments_fulltext_removal"}
EXPRESSION_INDEX = "ix_tickets_customer_email_lower_status"
# Migration 0008: what bumps directory_version (row triggers per event on
# SQLite, one statement trigger per table on PostgreSQL).
DIRECTORY_TABLES = ("users", "user_roles", "roles", "group_agents", "groups", "departments", "brands")


def directory_triggers(db: Database) -> set:
    if db.engine.dialect.name == "sqlite":
        return {"tr_%s_directory_%s" % (table, event) for table in DIRECTORY_TABLES
                for event in ("insert", "update", "delete") if (table, event) != ("users", "insert")}
    return {"tr_%s_directory" % table for table in DIRECTORY_TABLES}


def trigger_names(db: Database) -> set:
    with db.engine.connect() as connection:
        if db.engine.dialect.name == "sqlite":
            query = "SELECT name FROM sqlite_master WHERE type = 'trigger'"
        else:
            query = "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal"
        return {name for (name,) in connection.execute(text(query))}


def directory_version(db: Database) -> int:
    with db.engine.connect() as connection:
        return connection.execute(text("SELECT version FROM directory_version")).scalar_one()


def populate(db: Database) -> dict:
    """Fill the 0005 database; return its tables (as reflected at 0005)."""
    metadata = MetaData()
    metadata.reflect(db.engine, only=lambda name, _: name in ROWS)
    tables = {name: metadata.tables[name] for name in ROWS}
    with db.engine.begin() as connection:
        for name, rows in ROWS.items():
            if rows:
                connection.execute(tables[name].insert(), rows)
        departments = tables["departments"]
        for department, group in FRONT_LINE_GROUPS.items():
            connection.execute(update(departments).where(departments.c.id == department)
                               .values(front_line_group_id=group))
    return tables


def contents(db: Database, tables: dict) -> dict:
    """Every row of the 0005 columns, table by table, in key order."""
    with db.engine.connect() as connection:
        return {name: connection.execute(select(table).order_by(*table.primary_key.columns)).all()
                for name, table in tables.items()}


def fingerprint(db: Database) -> dict:
    """The schema as the backend keeps it: tables, columns, keys, indexes
    (expression and partial ones too) and triggers, without row data."""
    with db.engine.connect() as connection:
        if db.engine.dialect.name == "sqlite":
            rows = connection.execute(text("SELECT type, name, tbl_name, sql FROM sqlite_master "
                                           "WHERE name NOT LIKE 'sqlite_autoindex_%'")).all()
            return {"sqlite_master": sorted((type_, name, table, _constraints_sorted(sql) if type_ == "table" else sql)
                                            for type_, name, table, sql in rows)}
        queries = dict(
            # The column order, not ordinal_position: a column dropped and added again gets a new one.
            columns="SELECT table_name, column_name, data_type, character_maximum_length, is_nullable, "
                    "column_default, row_number() OVER (PARTITION BY table_name ORDER BY ordinal_position) "
                    "FROM information_schema.columns WHERE table_schema = 'public'",
            constraints="SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint "
                        "WHERE connamespace = 'public'::regnamespace",
            indexes="SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'",
            triggers="SELECT tgrelid::regclass::text, tgname, pg_get_triggerdef(oid) FROM pg_trigger "
                     "WHERE NOT tgisinternal",
            functions="SELECT proname, pg_get_functiondef(oid) FROM pg_proc "
                      "WHERE pronamespace = 'public'::regnamespace",
        )
        return {name: sorted(connection.execute(text(sql)).all()) for name, sql in queries.items()}


def _constraints_sorted(create_table: str) -> tuple:
    """CREATE TABLE text, one item a line, with its table constraints in a
    fixed order: Alembic's batch mode recreates a table with its foreign
    keys in set order, which differs between two fresh databases too."""
    items = [line.strip().rstrip(",").strip() for line in create_table.splitlines()]
    constraints = [item for item in items if item.startswith("CONSTRAINT ")]
    return tuple([item for item in items if not item.startswith("CONSTRAINT ")] + sorted(constraints))


def assert_intact(db: Database, tables: dict, expected: dict) -> None:
    assert contents(db, tables) == expected
    with db.engine.connect() as connection:
        if db.engine.dialect.name == "sqlite":
            assert connection.execute(text("PRAGMA foreign_key_check")).all() == []
            names = {name for (name,) in connection.execute(text("SELECT name FROM sqlite_master"))}
        else:
            names = {name for (name,) in connection.execute(text(
                "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal "
                "UNION SELECT indexname FROM pg_indexes WHERE schemaname = 'public'"))}
    assert TRIGGERS | {EXPRESSION_INDEX} <= names


@pytest.fixture
def db(database_url):
    database = Database(database_url, pool_size=2)
    yield database
    database.dispose()


def test_a_populated_database_upgrades_downgrades_and_upgrades_again(db):
    fresh = fingerprint(db)  # the database starts at head, empty
    assert TRIGGERS | {EXPRESSION_INDEX} <= {row[1] for rows in fresh.values() for row in rows}
    schema.downgrade(db.engine, "base")
    schema.upgrade(db.engine, POPULATED_REVISION)
    tables = populate(db)
    before = contents(db, tables)
    assert {name: len(rows) for name, rows in before.items()} == {name: len(rows) for name, rows in ROWS.items()}

    schema.upgrade(db.engine)
    assert schema.current_revision(db.engine) == schema.head_revision()
    assert_intact(db, tables, before)
    assert schema.pending_model_changes(db.engine) == []
    assert fingerprint(db) == fresh
    assert directory_triggers(db) <= trigger_names(db)
    # The version row came with the table, and the triggers count changes.
    assert directory_version(db) == 0
    with db.engine.begin() as connection:
        connection.execute(text("UPDATE users SET display_name = 'Jane D.' WHERE id = 2"))
    assert directory_version(db) == 1
    with db.engine.begin() as connection:
        connection.execute(text("UPDATE users SET display_name = 'Jane' WHERE id = 2"))

    schema.downgrade(db.engine, POPULATED_REVISION)
    assert schema.current_revision(db.engine) == POPULATED_REVISION
    assert_intact(db, tables, before)
    assert not directory_triggers(db) & trigger_names(db)

    schema.upgrade(db.engine)
    assert_intact(db, tables, before)
    assert fingerprint(db) == fresh


def test_a_migration_leaving_dangling_keys_is_rolled_back_on_sqlite(db):
    if db.engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL enforces foreign keys inside migrations")
    schema.downgrade(db.engine, POPULATED_REVISION)
    populate(db)
    # What a faulty migration could do while enforcement is off: delete rows others refer to.
    with pytest.raises(schema.ForeignKeyViolation, match="departments"):
        with schema._migrating(db.engine) as connection:
            connection.execute(text("DELETE FROM brands WHERE id = 2"))
            connection.execute(text("UPDATE alembic_version SET version_num = '0006'"))
    with db.engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM brands")).scalar() == 2
        assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1  # enforced again
    assert schema.current_revision(db.engine) == POPULATED_REVISION


def test_sqlite_the_fulltext_index_moves_to_its_own_file_and_back(db):
    """Migration 0021 moves FTS5's index as it is (no word read again) into
    the index file (stws.db.fulltext_store); its downgrade moves it back."""
    if db.engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL keeps its index in the database")
    words = {8: "printer on fire", 9: "paper jam again", 12: "printer out of paper"}

    def matches(word: str, table: str = "ticket_fts") -> list[int]:
        with db.engine.connect() as connection:
            return connection.execute(text("SELECT rowid FROM %s WHERE ticket_fts MATCH :word ORDER BY rowid"
                                           % table), {"word": word}).scalars().all()

    def tables(schema_name: str) -> set[str]:
        with db.engine.connect() as connection:
            return set(connection.execute(text("SELECT name FROM %s.sqlite_master WHERE name LIKE 'ticket_fts%%'"
                                               % schema_name)).scalars())

    schema.downgrade(db.engine, "0020")
    assert "ticket_fts" in tables("main") and not tables("fulltext")
    with db.engine.begin() as connection:
        for rowid, content in words.items():
            connection.execute(text("INSERT INTO ticket_fts (rowid, ticket_id, kind, item_id, content) "
                                    "VALUES (:rowid, 2, 1, 2, :content)"), {"rowid": rowid, "content": content})
    schema.upgrade(db.engine)
    assert not tables("main") and "ticket_fts" in tables("fulltext")
    assert matches("printer") == [8, 12] and matches("pap*") == [9, 12]
    with db.fulltext_index.transaction() as index:  # FTS5's own check of the index against its content
        index.execute("INSERT INTO ticket_fts(ticket_fts, rank) VALUES ('integrity-check', 1)")

    schema.downgrade(db.engine, "0020")
    assert "ticket_fts" in tables("main") and "ticket_fts" not in tables("fulltext")
    assert matches("printer", "main.ticket_fts") == [8, 12] and matches("jam", "main.ticket_fts") == [9]
