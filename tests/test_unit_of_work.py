"""Database.unit_of_work: one transaction whether the work used the driver,
SQLAlchemy Core, the ORM session or all three; and PreparedQuery reads
columns as SQLAlchemy would."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import bindparam, func, select, update

from stws.db import schema
from stws.db.engine import Database
from stws.db.models import Brand, User
from stws.db.prepared import PreparedQuery
from stws.db.seed import seed_default_organisation, seed_reference_data


class Boom(Exception):
    pass


@pytest.fixture
def db(database_url):
    database = Database(database_url, pool_size=2)
    schema.upgrade(database.engine)
    with database.transaction() as session:
        seed_reference_data(session)
        seed_default_organisation(session)
    yield database
    database.dispose()


def brand_names(db) -> set:
    with db.transaction(writes=False) as session:
        return set(session.scalars(select(Brand.name)))


def host_headers(db) -> set:
    with db.transaction(writes=False) as session:
        return set(session.scalars(select(Brand.host_header)))


def run_on_driver(unit, sql: str) -> None:
    cursor = unit.driver.cursor()
    try:
        cursor.execute(sql)
    finally:
        cursor.close()


def test_driver_only_unit_commits_and_rolls_back(db):
    with db.unit_of_work() as unit:
        run_on_driver(unit, "UPDATE brands SET host_header = 'driver.example'")
    assert host_headers(db) == {"driver.example"}
    with pytest.raises(Boom):
        with db.unit_of_work() as unit:
            run_on_driver(unit, "UPDATE brands SET host_header = 'lost.example'")
            raise Boom()
    assert host_headers(db) == {"driver.example"}


def test_core_and_orm_join_the_units_transaction(db):
    with pytest.raises(Boom):
        with db.unit_of_work() as unit:
            unit.connection.execute(update(Brand).values(host_header="core.example"))
            unit.session.add(Brand(name="orm", host_header=""))
            unit.session.flush()
            raise Boom()
    with db.transaction(writes=False) as session:
        assert session.scalar(select(func.count()).where(Brand.host_header == "core.example")) == 0
        assert "orm" not in set(session.scalars(select(Brand.name)))
    with db.unit_of_work() as unit:
        unit.connection.execute(update(Brand).values(host_header="core.example"))
        unit.session.add(Brand(name="orm", host_header=""))
    assert "orm" in brand_names(db)
    with db.transaction(writes=False) as session:
        assert session.scalar(select(func.count()).where(Brand.host_header == "core.example")) >= 1


def test_prepared_query_converts_like_sqlalchemy(db):
    when = dt.datetime(2026, 11, 27, 14, 30, 5, tzinfo=dt.timezone.utc)
    with db.transaction() as session:
        user = User(username="Pat", username_key="pat", email="pat@example.com", display_name="Pat",
                    password_hash="x", security_stamp="s" * 32, auth_method="password",
                    lockout_until_utc=when, is_active_agent=True)
        session.add(user)
    query = PreparedQuery(select(User.id, User.username, User.lockout_until_utc, User.is_active_agent,
                                 User.last_heartbeat_utc).where(User.username_key == bindparam("key")))
    with db.unit_of_work(writes=False) as unit:
        row = query.first(unit.connection, {"key": "pat"})
        expected = unit.connection.execute(query.statement, {"key": "pat"}).one()
        assert query.first(unit.connection, {"key": "nobody"}) is None
    assert tuple(row) == tuple(expected)
    assert row.lockout_until_utc == when and row.lockout_until_utc.tzinfo is not None
    assert row.is_active_agent is True and row.last_heartbeat_utc is None and row.username == "Pat"


def test_prepared_query_all_binds_parameters_like_sqlalchemy(db):
    """``all``: every row; a UTC datetime parameter goes through its type (naive
    UTC text on SQLite) and an equal bound is inclusive, as with SQLAlchemy."""
    when = dt.datetime(2026, 11, 27, 14, 30, tzinfo=dt.timezone.utc)
    with db.transaction() as session:
        for name, minutes in (("Early", -1), ("OnTime", 0), ("Late", 1)):
            session.add(User(username=name, username_key=name.lower(), email="%s@example.com" % name.lower(),
                             display_name=name, password_hash="x", security_stamp="s" * 32,
                             auth_method="password", lockout_until_utc=when + dt.timedelta(minutes=minutes)))
    query = PreparedQuery(select(User.username, User.lockout_until_utc)
                          .where(User.lockout_until_utc <= bindparam("until")).order_by(User.username))
    # Given in another zone: 16:30+02:00 is 14:30 UTC.
    until = when.astimezone(dt.timezone(dt.timedelta(hours=2)))
    with db.unit_of_work(writes=False) as unit:
        rows = query.all(unit.connection, {"until": until})
        expected = unit.connection.execute(query.statement, {"until": until}).all()
    assert [tuple(row) for row in rows] == [tuple(row) for row in expected]
    assert [row.username for row in rows] == ["Early", "OnTime"]
    assert rows[1].lockout_until_utc == when
