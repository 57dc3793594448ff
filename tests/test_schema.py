"""The Alembic migrations against the models, on SQLite and on PostgreSQL.

Each test gets a database already upgraded to head (``database_url``);
``scripts/test`` runs this file on both backends.
"""
from __future__ import annotations

import pytest
from sqlalchemy import inspect, select

from stws.db import schema
from stws.db.engine import Database
from stws.db.models import Brand, Department, Group, User
from stws.domain.seed import ADMIN_USERNAME, seed_administrator, seed_default_organisation, seed_reference_data


@pytest.fixture
def db(database_url):
    database = Database(database_url, pool_size=2)
    yield database
    database.dispose()


def seed(db: Database) -> None:
    with db.transaction() as session:
        seed_reference_data(session)
        seed_default_organisation(session)
        seed_administrator(session, "Seed-Passw0rd!")


def organisation(db: Database) -> dict:
    """What the seed put in: enough to tell whether an upgrade kept it."""
    with db.transaction(writes=False) as session:
        department = session.scalars(select(Department)).one()
        group = session.get(Group, department.front_line_group_id)
        return dict(
            brands=session.scalars(select(Brand.name)).all(),
            department=(department.id, department.name, department.date_created_utc),
            front_line_group=(group.id, group.name, group.department_id),
            users=session.execute(select(User.id, User.username, User.password_hash)).all(),
        )


def assert_at_head_and_matches_models(db: Database) -> None:
    assert schema.current_revision(db.engine) == schema.head_revision()
    assert schema.pending_model_changes(db.engine) == []


def test_migrated_database_is_at_head_and_matches_the_models(db):
    assert_at_head_and_matches_models(db)
    # The departments <-> groups cycle is closed by a key added after both
    # tables exist; it must be there on every backend.
    foreign_keys = {fk["name"]: fk for fk in inspect(db.engine).get_foreign_keys("departments")}
    front_line = foreign_keys["fk_departments_front_line_group"]
    assert (front_line["constrained_columns"], front_line["referred_table"]) == (["front_line_group_id"], "groups")


def test_upgrade_keeps_the_data_a_database_holds(db):
    seed(db)
    before = organisation(db)
    assert before["brands"] == ["Default"]
    assert [user.username for user in before["users"]] == [ADMIN_USERNAME]

    schema.upgrade(db.engine)
    seed(db)  # what every start does after upgrading: must change nothing either

    assert organisation(db) == before
    assert_at_head_and_matches_models(db)


def test_downgrade_to_base_and_upgrade_again(db):
    schema.downgrade(db.engine, "base")
    assert schema.current_revision(db.engine) is None
    assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}

    schema.upgrade(db.engine)
    assert_at_head_and_matches_models(db)
    seed(db)
    after = organisation(db)
    assert after["front_line_group"][1:] == ("Level 1", after["department"][0])
