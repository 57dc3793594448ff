"""The directory cache (stws.domain.directory) on a migrated database,
without a server: hits, misses when directory_version moves, its bound,
its trace lines, and which changes move the version (migration 0008)."""
from __future__ import annotations

import logging

import pytest
from sqlalchemy import text

from stws.db.engine import Database
from stws.tracing import Tracing
from stws.domain.directory import DirectoryCache


@pytest.fixture
def db(database_url):
    database = Database(database_url, pool_size=2)
    with database.engine.begin() as connection:
        connection.execute(text("INSERT INTO roles (id, name, description, category, display_order, is_custom) "
                                "VALUES (1, 'Agent', '', 'employee', 0, false), "
                                "(2, 'Registered Users', '', 'customer', 1, false)"))
        connection.execute(text(
            "INSERT INTO users (id, username, username_key, email, display_name, password_hash, auth_method, "
            "auth_domain, is_email_verified, time_zone, is_locked_out, force_password_change, security_stamp, "
            "failed_login_count, signature, is_primary_admin, is_active_agent, date_created_utc, is_deleted) "
            "VALUES (1, 'ann', 'ann', 'ann@example.com', 'Ann', '', 'password', '', true, 'UTC', false, false, "
            "'s', 0, '', false, false, '2026-01-01 00:00:00', false)"))
    yield database
    database.dispose()


def version(db: Database) -> int:
    with db.engine.connect() as connection:
        return connection.execute(text("SELECT version FROM directory_version")).scalar_one()


def execute(db: Database, statement: str) -> None:
    with db.engine.begin() as connection:
        connection.execute(text(statement))


class Builder:
    """A build function that counts its calls and returns a new tuple each time."""

    def __init__(self):
        self.calls = 0

    def __call__(self):
        self.calls += 1
        return (self.calls,)


def get(db: Database, cache: DirectoryCache, key, build):
    with db.unit_of_work(writes=False) as unit:
        return cache.get(unit.connection, key, build)


def test_hit_until_the_version_moves(db):
    cache, build = DirectoryCache(), Builder()
    first = get(db, cache, "agents", build)
    assert get(db, cache, "agents", build) is first  # the very value, not a copy
    assert (build.calls, cache.hits, cache.misses) == (1, 1, 1)
    execute(db, "UPDATE users SET display_name = 'Ann B' WHERE id = 1")
    assert get(db, cache, "agents", build) == (2,)
    assert get(db, cache, "agents", build) == (2,)
    assert (build.calls, cache.hits, cache.misses) == (2, 2, 2)
    # Keys are cached apart: another key builds its own value.
    assert get(db, cache, ("group-agents", 1), build) == (3,)


def test_a_failing_build_stores_nothing(db):
    cache = DirectoryCache()

    def fail():
        raise LookupError("no such group")

    with pytest.raises(LookupError):
        get(db, cache, ("group-agents", 9), fail)
    assert len(cache) == 0


def test_bounded_least_recently_used_go_first(db):
    cache, build = DirectoryCache(max_entries=2), Builder()
    get(db, cache, "a", build)
    get(db, cache, "b", build)
    get(db, cache, "a", build)  # a is now the most recently used
    get(db, cache, "c", build)
    assert len(cache) == 2 and cache.evictions == 1
    calls = build.calls
    get(db, cache, "a", build)
    get(db, cache, "c", build)
    assert build.calls == calls  # both still cached; b went
    get(db, cache, "b", build)
    assert build.calls == calls + 1


def test_disabled_builds_every_time(db):
    cache, build = DirectoryCache(enabled=False), Builder()
    assert [get(db, cache, "agents", build) for _ in range(3)] == [(1,), (2,), (3,)]
    assert len(cache) == 0


def test_cache_tracing_reports_hits_misses_and_evictions(db, caplog):
    tracing = Tracing()
    tracing.cache = True
    cache = DirectoryCache(max_entries=1, tracing=tracing)
    with caplog.at_level(logging.INFO, logger="stws.cache"):
        get(db, cache, "agents", Builder())
        get(db, cache, "agents", Builder())
        get(db, cache, "groups", Builder())
    lines = [record.getMessage() for record in caplog.records if record.name == "stws.cache"]
    now = version(db)
    assert lines == ["directory miss agents v%d" % now, "directory hit agents v%d" % now,
                     "directory miss groups v%d" % now, "directory evict agents (full)"]


@pytest.mark.parametrize("statement, bumps", [
    ("UPDATE users SET display_name = 'x' WHERE id = 1", True),
    ("UPDATE users SET email = 'x@example.com' WHERE id = 1", True),
    ("UPDATE users SET is_active_agent = true WHERE id = 1", True),
    ("UPDATE users SET is_deleted = true WHERE id = 1", True),
    ("UPDATE users SET username = 'x', username_key = 'x' WHERE id = 1", True),
    ("INSERT INTO user_roles (user_id, role_id) VALUES (1, 1)", True),  # Agent
    # New customers (frequent, on every node) are in no listing until they
    # get an employee role: no bump for the user row or a customer role.
    ("INSERT INTO users (id, username, username_key, email, display_name, password_hash, auth_method, "
     "auth_domain, is_email_verified, time_zone, is_locked_out, force_password_change, security_stamp, "
     "failed_login_count, signature, is_primary_admin, is_active_agent, date_created_utc, is_deleted) "
     "VALUES (2, 'cy', 'cy', 'cy@example.com', 'Cy', '', 'password', '', true, 'UTC', false, false, "
     "'s', 0, '', false, false, '2026-01-01 00:00:00', false)", False),
    ("INSERT INTO user_roles (user_id, role_id) VALUES (1, 2)", False),  # Registered Users
    ("UPDATE roles SET name = 'Helper' WHERE id = 1", True),
    ("UPDATE brands SET name = 'Brand X' WHERE id = 1", True),
    # Changing all the time, and in no listing: no bump.
    ("UPDATE users SET last_heartbeat_utc = '2026-01-01 00:00:10' WHERE id = 1", False),
    ("UPDATE users SET failed_login_count = 3, failed_login_window_start_utc = '2026-01-01 00:00:10', "
     "lockout_until_utc = NULL, date_last_login_utc = '2026-01-01 00:00:10' WHERE id = 1", False),
    ("UPDATE users SET security_stamp = 't', password_hash = 'h' WHERE id = 1", False),
])
def test_which_changes_move_the_version(db, statement, bumps):
    execute(db, "INSERT INTO brands (id, name, host_header, is_default, date_created_utc, is_deleted) "
                "VALUES (1, 'Default', '', true, '2026-01-01 00:00:00', false)")
    start = version(db)
    execute(db, statement)
    assert (version(db) > start) is bumps


def test_memberships_move_the_version_but_not_their_last_assignment(db):
    execute(db, "INSERT INTO brands (id, name, host_header, is_default, date_created_utc, is_deleted) "
                "VALUES (1, 'Default', '', true, '2026-01-01 00:00:00', false)")
    execute(db, "INSERT INTO departments (id, brand_id, name, email_address, is_internal, auto_close_enabled, "
                "auto_close_hours, auto_close_send_email, auto_lock_enabled, auto_lock_hours, auto_delete_enabled, "
                "auto_delete_days, auto_delete_call_log_enabled, auto_delete_call_log_days, auto_responder_enabled, "
                "auto_responder_subject, auto_responder_body, date_created_utc, is_deleted) VALUES (1, 1, 'Support', "
                "'', false, false, 72, false, false, 168, false, 365, false, 7, false, '', '', "
                "'2026-01-01 00:00:00', false)")
    start = version(db)
    execute(db, "INSERT INTO groups (id, department_id, name, description, is_internal, date_created_utc, "
                "is_deleted) VALUES (1, 1, 'Level 1', '', false, '2026-01-01 00:00:00', false)")
    execute(db, "INSERT INTO group_agents (group_id, user_id, distribution_mode, max_tickets_enabled, max_tickets, "
                "is_receiving) VALUES (1, 1, 'queue', false, 0, false)")
    assert version(db) == start + 2
    execute(db, "UPDATE group_agents SET last_assigned_utc = '2026-01-01 00:00:10'")
    assert version(db) == start + 2
    execute(db, "UPDATE group_agents SET is_receiving = true, receiving_changed_utc = '2026-01-01 00:00:10'")
    execute(db, "DELETE FROM group_agents")
    assert version(db) == start + 4
