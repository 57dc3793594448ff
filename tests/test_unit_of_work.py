"""Database.unit_of_work: one transaction whether the work used the driver,
SQLAlchemy Core, the ORM session or all three; PreparedQuery reads columns
as SQLAlchemy would, and the prepared writes store what it would."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import (
    Boolean, Column, Integer, LargeBinary, MetaData, String, Table, Text, bindparam, cast, create_engine, delete, event,
    func, insert, select, text, update,
)
from sqlalchemy.exc import CompileError

from stws.db import schema
from stws.db.engine import Database
from stws.db.models import Brand, Department, Group, Ticket, User, UtcDateTime
from stws.db.prepared import FEW_ROWS, PreparedInsert, PreparedQuery, PreparedStatement, next_key
from stws.domain.seed import seed_default_organisation, seed_reference_data
from stws.shared_values import SharedValues


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


def test_prepared_query_all_shared_converts_equal_driver_rows_once(db):
    """``all_shared``: ``all``'s rows, one object for equal driver rows read
    by any call, and a new one as soon as a column changes."""
    when = dt.datetime(2026, 11, 27, 14, 30, tzinfo=dt.timezone.utc)
    with db.transaction() as session:
        session.add(User(username="Sam", username_key="sam", email="sam@example.com", display_name="Sam",
                         password_hash="x", security_stamp="s" * 32, auth_method="password",
                         lockout_until_utc=when))
    query = PreparedQuery(select(User.username, User.lockout_until_utc, User.is_active_agent)
                          .where(User.username_key == bindparam("key")))
    shared = SharedValues(most=8)
    with db.unit_of_work(writes=False) as unit:
        (first,) = query.all_shared(unit.connection, {"key": "sam"}, shared)
        (again,) = query.all_shared(unit.connection, {"key": "sam"}, shared)
        assert [tuple(first)] == [tuple(row) for row in query.all(unit.connection, {"key": "sam"})]
    assert again is first and first.lockout_until_utc == when and first.is_active_agent is False
    with db.transaction() as session:
        session.execute(update(User).where(User.username_key == "sam").values(lockout_until_utc=None))
    with db.unit_of_work(writes=False) as unit:
        (changed,) = query.all_shared(unit.connection, {"key": "sam"}, shared)
    assert changed.lockout_until_utc is None and changed.username == "Sam"


def test_prepared_query_all_shared_gives_every_value_as_all_does(db):
    """On SQLite ``all_shared`` reads each row as one JSON array: text with
    quotes, escapes, control characters and characters beyond the BMP,
    NULLs, booleans, datetimes and large integers come back equal and of
    the same type as ``all``'s; on PostgreSQL the same holds of the
    driver's rows."""
    odd = 'Qu\u00e9 "pasa" \\ \t\r\n [1, 2] {\"x\": null} \u4e2d \U0001F600 \u2028 \x7f'
    when = dt.datetime(2026, 11, 27, 14, 30, 5, 123456, tzinfo=dt.timezone.utc)
    big = 2 ** 53 + 1 if db.is_sqlite else 2 ** 31 - 1  # beyond a double's integers where the column allows
    with db.transaction() as session:
        session.add(User(username="Odd", username_key="odd", email="odd@example.com", display_name=odd,
                         password_hash="x" * 200, security_stamp="s" * 32, auth_method="password",
                         lockout_until_utc=when, is_active_agent=True, failed_login_count=big))
        session.add(User(username="Plain", username_key="plain", email="plain@example.com", display_name="",
                         password_hash="x", security_stamp="s" * 32, auth_method="password"))
    query = PreparedQuery(select(User.id, User.display_name, User.lockout_until_utc, User.is_active_agent,
                                 User.failed_login_count, User.last_heartbeat_utc, User.password_hash)
                          .where(User.username_key >= "odd").order_by(User.username_key))
    with db.unit_of_work(writes=False) as unit:
        expected = query.all(unit.connection, {})
        rows = query.all_shared(unit.connection, {}, SharedValues(most=8))
    assert [tuple(row) for row in rows] == [tuple(row) for row in expected]
    assert [[type(value) for value in row] for row in rows] == [[type(value) for value in row] for row in expected]
    assert rows[0].display_name == odd and rows[0].lockout_until_utc == when and rows[0].failed_login_count == big
    assert rows[1].display_name == "" and rows[1].lockout_until_utc is None and rows[1].is_active_agent is False


def test_prepared_query_driver_rows_are_the_plain_rows(db):
    """``driver_rows``: the driver's tuples, equal to ``all``'s rows; refused
    for a query with a column to convert (a datetime, a boolean on SQLite)."""
    with db.transaction() as session:
        for name in ("Ann", "Bo"):
            session.add(User(username=name, username_key=name.lower(), email="%s@example.com" % name.lower(),
                             display_name=name, password_hash="x", security_stamp="s" * 32, auth_method="password"))
    query = PreparedQuery(select(User.id, User.username).order_by(User.id))
    with db.unit_of_work(writes=False) as unit:
        rows = query.driver_rows(unit.connection, {})
        assert rows and rows == [tuple(row) for row in query.all(unit.connection, {})]
        assert all(type(row) is tuple for row in rows)
        with pytest.raises(ValueError):
            PreparedQuery(select(User.lockout_until_utc)).driver_rows(unit.connection, {})


# ---------------------------------------------------------------- prepared writes
#
# What the driver-run statements write must be what SQLAlchemy writes for the
# same values: compared as stored, read back without SQLAlchemy's result
# processing (``text`` columns have no type), on SQLite and PostgreSQL.

WHEN = dt.datetime(2026, 11, 27, 16, 30, 5, 123456, tzinfo=dt.timezone(dt.timedelta(hours=2)))
_probes = MetaData()


def _twice_amount(context):
    return context.get_current_parameters()["amount"] * 2


# Every kind of column default PreparedInsert fills in.
PROBE = Table(
    "prepared_probe", _probes,
    Column("id", Integer, primary_key=True),
    Column("amount", Integer, nullable=False),
    Column("label", String(20), default="none"),
    Column("flag", Boolean, default=True),
    Column("stamp", UtcDateTime, default=lambda: WHEN),
    Column("twice", Integer, default=_twice_amount),
    Column("note", Text),
    Column("data", LargeBinary),
    Column("origin", String(20), server_default="server"),
)


def stored(connection, table, ids) -> list[tuple]:
    """The rows as the driver reads them, without the id."""
    rows = connection.execute(text("SELECT * FROM %s WHERE id IN (%s) ORDER BY id"
                                   % (table.name, ", ".join(map(str, ids))))).all()
    assert len(rows) == len(ids)
    return [tuple(row)[1:] for row in rows]


def max_id(connection, table) -> int:
    return connection.execute(select(func.coalesce(func.max(table.c.id), 0))).scalar_one()


def test_prepared_insert_fills_defaults_as_sqlalchemy(db):
    rows = [{"amount": 3}, {"amount": 4, "label": "given", "flag": False, "stamp": WHEN, "twice": None,
                            "note": "n", "data": b"\x00\xff"}, {"amount": 5, "flag": None, "stamp": None}]
    prepared, prepared_many = PreparedInsert(PROBE, returning=PROBE.c.id), PreparedInsert(PROBE)
    with db.unit_of_work() as unit:
        connection = unit.connection
        PROBE.create(connection)
        ours = [prepared.insert(connection, row) for row in rows]
        theirs = [connection.execute(insert(PROBE), row).inserted_primary_key[0] for row in rows]
        assert stored(connection, PROBE, ours) == stored(connection, PROBE, theirs)
        # SQLAlchemy's executemany takes the columns from the first row: rows of the same keys.
        many = [{"amount": 6, "note": None}, {"amount": 7, "note": "n"}]
        start = max_id(connection, PROBE)
        prepared_many.insert_many(connection, many)
        connection.execute(insert(PROBE), many)
        ours_many, theirs_many = [start + 1, start + 2], [start + 3, start + 4]
        assert stored(connection, PROBE, ours_many) == stored(connection, PROBE, theirs_many)
        first = connection.execute(select(PROBE).where(PROBE.c.id == ours[0])).one()
    assert (first.label, first.flag, first.stamp, first.twice, first.origin) == ("none", True, WHEN, 6, "server")


def test_insert_many_writes_a_few_rows_in_one_statement(db):
    """Up to FEW_ROWS rows are one INSERT of several VALUES (a new ticket's
    history rows), more an executemany: the same rows either way, as
    SQLAlchemy writes them. (Statements counted on SQLite, whose driver
    traces each execution; executemany runs the INSERT once per row.)"""
    prepared = PreparedInsert(PROBE)
    executed = []
    with db.unit_of_work() as unit:
        connection = unit.connection
        PROBE.create(connection)
        if db.is_sqlite:
            unit.driver.set_trace_callback(lambda sql: executed.append(sql) if sql.startswith("INSERT") else None)
        for count in (2, FEW_ROWS, FEW_ROWS + 1):
            rows = [{"amount": n, "note": "n%d" % n if n % 2 else None, "stamp": WHEN, "data": b"\x01"}
                    for n in range(count)]
            start = max_id(connection, PROBE)
            executed.clear()
            prepared.insert_many(connection, rows)
            statements = len(executed)
            for row in rows:
                connection.execute(insert(PROBE), row)
            ours, theirs = [start + 1 + n for n in range(count)], [start + 1 + count + n for n in range(count)]
            assert stored(connection, PROBE, ours) == stored(connection, PROBE, theirs)
            if db.is_sqlite:
                assert statements == (1 if count <= FEW_ROWS else count)
        if db.is_sqlite:
            unit.driver.set_trace_callback(None)


def test_prepared_insert_writes_a_ticket_as_sqlalchemy(db):
    prepared = PreparedInsert(Ticket.__table__, returning=Ticket.id)
    with db.unit_of_work() as unit:
        connection = unit.connection
        group = connection.execute(select(Group.id, Group.department_id)).first()
        brand_id = connection.execute(select(Department.brand_id).where(Department.id == group.department_id)).scalar()
        values = dict(brand_id=brand_id, department_id=group.department_id, group_id=group.id, agent_id=None,
                      customer_email="Pat@Example.com", subject="Ünïcode", status_id=1, priority_id=2,
                      date_opened_utc=WHEN, idle_start_utc=WHEN.astimezone(dt.timezone.utc),
                      date_modified_utc=WHEN, date_closed_utc=None, is_spam=True, reply_count_in=1)
        ours = prepared.insert(connection, dict(values, ticket_number="A"))
        theirs = connection.execute(insert(Ticket.__table__).returning(Ticket.id),
                                    dict(values, ticket_number="B")).scalar_one()
        [mine], [expected] = stored(connection, Ticket.__table__, [ours]), stored(connection, Ticket.__table__,
                                                                                  [theirs])
    assert mine[0] == "A" and expected[0] == "B"
    assert mine[1:] == expected[1:]


def test_prepared_insert_with_its_key_writes_the_key_the_database_would_give(db):
    """PreparedInsert(key=next_key(table), derived=...): the row gets the id
    the table's autoincrement would have given it, never one used before
    (SQLite's AUTOINCREMENT, PostgreSQL's sequence), and the derived column
    is made from that id in the same statement (a ticket's number)."""
    numbered = PreparedInsert(Ticket.__table__, returning=Ticket.id, key=next_key(Ticket.__table__), derived={
        "ticket_number": lambda new_id: bindparam("prefix", type_=String) + cast(new_id, String)})
    with db.unit_of_work() as unit:
        connection = unit.connection
        group = connection.execute(select(Group.id, Group.department_id)).first()
        brand_id = connection.execute(select(Department.brand_id).where(Department.id == group.department_id)).scalar()
        values = dict(brand_id=brand_id, department_id=group.department_id, group_id=group.id,
                      customer_email="pat@example.com", subject="s", status_id=1, priority_id=2,
                      date_opened_utc=WHEN, idle_start_utc=WHEN, date_modified_utc=WHEN)
        first = numbered.insert(connection, dict(values, prefix="T-"))
        theirs = connection.execute(insert(Ticket.__table__).returning(Ticket.id),
                                    dict(values, ticket_number="B")).scalar_one()
        assert theirs == first + 1
        connection.execute(delete(Ticket.__table__).where(Ticket.id == theirs))
        second = numbered.insert(connection, dict(values, prefix="T-"))
        assert second == theirs + 1  # the deleted row's id is not handed out again
        after = connection.execute(insert(Ticket.__table__).returning(Ticket.id),
                                   dict(values, ticket_number="C")).scalar_one()
        assert after == second + 1  # and the database's own count went on from ours
        numbers = dict(connection.execute(select(Ticket.id, Ticket.ticket_number)
                                          .where(Ticket.id.in_([first, second]))).all())
        assert numbers == {first: "T-%d" % first, second: "T-%d" % second}
        with pytest.raises(CompileError, match="prefix"):
            numbered.insert(connection, values)


def test_prepared_statements_share_a_cursor_per_psycopg_connection(db):
    """On psycopg the prepared statements of a connection run on one cursor
    kept with it (making one per statement was a twentieth of a creation's
    CPU), made anew for a new connection; on SQLite each gets its own,
    closed after it (a kept cursor with an unread row would hold its read
    snapshot open)."""
    kept = []
    for _ in range(2):
        with db.unit_of_work() as unit:
            for _ in range(3):
                assert _BRAND_NAMES.all(unit.connection, {})
                _BRAND_NAMES.first(unit.connection, {})
            kept.append(unit.connection.connection.info.get("stws_cursor"))
        db.engine.dispose()  # the next unit runs on a new connection
    if db.is_sqlite:
        assert kept == [None, None]
    else:
        assert kept[0] is not None and kept[1] is not None and kept[0] is not kept[1]
        assert not kept[1].closed


def test_prepared_insert_refuses_what_it_cannot_write(db):
    with db.unit_of_work() as unit:
        PROBE.create(unit.connection)
        with pytest.raises(CompileError, match="colour"):
            PreparedInsert(PROBE).insert(unit.connection, {"amount": 1, "colour": "red"})
        with pytest.raises(ValueError, match="returns nothing"):
            PreparedInsert(PROBE, returning=PROBE.c.id).insert_many(unit.connection, [{"amount": 1}])
    computed = Table("computed", MetaData(), Column("id", Integer, primary_key=True),
                     Column("at", Integer, default=func.abs(-1)))
    with pytest.raises(ValueError, match="not supported"):
        PreparedInsert(computed)


def test_prepared_update_writes_what_sqlalchemy_writes(db):
    touch = update(PROBE).where(PROBE.c.id == bindparam("row")).values(stamp=bindparam("when"), flag=False)
    with db.unit_of_work() as unit:
        connection = unit.connection
        PROBE.create(connection)
        ours, theirs = (PreparedInsert(PROBE, returning=PROBE.c.id).insert(connection, {"amount": 1})
                        for _ in range(2))
        assert PreparedStatement(touch).execute(connection, {"row": ours, "when": WHEN}) == 1
        connection.execute(touch, {"row": theirs, "when": WHEN})
        assert stored(connection, PROBE, [ours]) == stored(connection, PROBE, [theirs])
        assert PreparedStatement(touch).execute(connection, {"row": -1, "when": WHEN}) == 0


def test_prepared_writes_commit_and_roll_back_with_the_unit(db):
    with db.unit_of_work() as unit:
        PROBE.create(unit.connection)
    prepared = PreparedInsert(PROBE, returning=PROBE.c.id)
    delete_all = PreparedStatement(delete(PROBE))
    with db.unit_of_work() as unit:
        prepared.insert(unit.connection, {"amount": 1})
    with pytest.raises(Boom):
        with db.unit_of_work() as unit:
            prepared.insert(unit.connection, {"amount": 2})
            PreparedInsert(PROBE).insert_many(unit.connection, [{"amount": 3}, {"amount": 4}])
            delete_all.execute(unit.connection, {})
            raise Boom()
    with db.unit_of_work(writes=False) as unit:
        assert unit.connection.execute(select(PROBE.c.amount)).scalars().all() == [1]


def test_prepared_query_all_reads_every_row_as_sqlalchemy(db):
    with db.unit_of_work() as unit:
        PROBE.create(unit.connection)
        # Datetimes change from row to row (processed ones are remembered).
        stamps = [WHEN, WHEN + dt.timedelta(seconds=1), WHEN]
        PreparedInsert(PROBE).insert_many(unit.connection, [{"amount": n, "note": str(n), "stamp": stamps[n]}
                                                            for n in range(3)])
        query = PreparedQuery(select(PROBE.c.id, PROBE.c.stamp, PROBE.c.flag, PROBE.c.note)
                              .where(PROBE.c.amount >= bindparam("least")).order_by(PROBE.c.id))
        rows = query.all(unit.connection, {"least": 1})
        assert [tuple(row) for row in rows] == [tuple(row) for row in unit.connection.execute(
            query.statement, {"least": 1})]
        assert len(rows) == 2 and [row.stamp for row in rows] == stamps[1:] and rows[0].flag is True
        assert query.all(unit.connection, {"least": 10}) == []


def test_a_call_gets_the_connection_used_last(db):
    """The pool is LIFO: one thread's calls in a row run on the same
    connection (and SQLite's page cache of it), not on the one idle longest."""
    with db.unit_of_work(writes=False) as first, db.unit_of_work(writes=False) as second:
        older, newer = first.driver, second.driver  # both pooled now; `first` goes back last
        assert older is not newer
    for _ in range(3):
        with db.unit_of_work(writes=False) as unit:
            assert unit.driver is older


_BRAND_NAMES = PreparedQuery(select(Brand.name))


def test_one_connection_serves_the_credential_read_and_the_transaction(db):
    """Database.one_connection: the read before the transaction and the
    transaction share one checkout (on PostgreSQL, one pre-ping) and the
    read leaves no transaction open; a read inside the transaction, or any
    after release_connection, takes a connection of its own."""
    checkouts = []
    event.listen(db.engine, "checkout", lambda *_: checkouts.append(1))
    with db.one_connection():
        with db.reading() as connection:
            assert _BRAND_NAMES.all(connection, {})
            shared = connection.connection.dbapi_connection
        with db.reading() as again:
            assert again is connection
        with db.unit_of_work() as unit:
            assert unit.driver is shared
            run_on_driver(unit, "UPDATE brands SET host_header = 'shared.example'")
            with db.reading() as inner:
                assert inner is not connection  # not inside the unit's transaction
                assert host_headers_on(inner) != {"shared.example"}
    assert len(checkouts) == 2
    assert host_headers(db) == {"shared.example"}
    with pytest.raises(Boom):
        with db.one_connection():
            with db.reading() as connection:
                _BRAND_NAMES.all(connection, {})
            with db.unit_of_work() as unit:
                run_on_driver(unit, "UPDATE brands SET host_header = 'lost.example'")
                raise Boom()
    assert host_headers(db) == {"shared.example"}
    checkouts.clear()
    with db.one_connection():
        with db.reading() as connection:
            _BRAND_NAMES.all(connection, {})
        db.release_connection()  # e.g. before a login provider is asked
        with db.reading() as other:
            assert other is not connection
        with db.unit_of_work(writes=False) as unit:
            assert unit.connection is not connection
    assert len(checkouts) == 3


_HOST_HEADERS = PreparedQuery(select(Brand.host_header))


def host_headers_on(connection) -> set:
    """As a credential check reads: on the driver, outside any transaction."""
    return {row.host_header for row in _HOST_HEADERS.all(connection, {})}


def test_a_read_on_the_shared_connection_runs_without_begin_on_postgresql(db):
    """On PostgreSQL a reading unit of one_connection runs each statement in
    autocommit (READ COMMITTED gives each its own snapshot anyway): no
    BEGIN and COMMIT round trips. The connection goes back to the pool as
    it came, and units that write still are one transaction."""
    if db.is_sqlite:
        pytest.skip("SQLite reads in a plain BEGIN (one snapshot per transaction there)")
    with db.one_connection():
        with db.reading() as connection:
            _BRAND_NAMES.all(connection, {})
        with db.unit_of_work(writes=False) as unit:
            assert _BRAND_NAMES.all(unit.connection, {})
            assert unit.session.scalars(select(Brand.name)).all()
            assert unit.driver.info.transaction_status.name == "IDLE"  # no transaction was begun
            shared = unit.driver
        assert shared.autocommit is False
    with db.one_connection():
        with db.reading() as connection:
            _BRAND_NAMES.all(connection, {})
        with pytest.raises(Boom):
            with db.unit_of_work() as unit:
                run_on_driver(unit, "UPDATE brands SET host_header = 'lost.example'")
                assert unit.driver.info.transaction_status.name == "INTRANS"
                raise Boom()
    assert host_headers(db) != {"lost.example"}
    with db.unit_of_work(writes=False) as unit:  # outside one_connection: a transaction, as before
        _BRAND_NAMES.all(unit.connection, {})
        assert unit.driver.info.transaction_status.name == "INTRANS"


def test_the_credential_read_skips_the_pre_ping_and_survives_a_dead_connection(database_url, monkeypatch):
    """Database.read inside one_connection on PostgreSQL: no pre-ping round
    trip; a pooled connection the server closed meanwhile is dropped and
    the read runs again on a pinged one, as the pre-ping would have had it.
    Other checkouts still ping."""
    if database_url.startswith("sqlite"):
        pytest.skip("SQLite has no server to lose a connection to")
    from sqlalchemy.dialects.postgresql.psycopg import PGDialect_psycopg

    pings = []
    real_ping = PGDialect_psycopg.do_ping
    monkeypatch.setattr(PGDialect_psycopg, "do_ping", lambda self, c: pings.append(1) or real_ping(self, c))
    db = Database(database_url, pool_size=2)
    try:
        schema.upgrade(db.engine)
        with db.transaction() as session:
            seed_reference_data(session)
            seed_default_organisation(session)
        for _ in range(2):
            with db.unit_of_work(writes=False) as unit:  # a connection checked in, no longer fresh
                _BRAND_NAMES.all(unit.connection, {})
        pings.clear()
        with db.one_connection():
            names = db.read(lambda connection: _BRAND_NAMES.all(connection, {}))
            with db.unit_of_work(writes=False) as unit:
                assert _BRAND_NAMES.all(unit.connection, {}) == names
                pid = unit.driver.info.backend_pid
        assert pings == []
        with db.one_connection():  # reading() pings as before
            with db.reading() as connection:
                _BRAND_NAMES.all(connection, {})
        assert len(pings) == 1
        other = create_engine(database_url, isolation_level="AUTOCOMMIT")  # not one of db's connections
        with other.connect() as connection:
            assert connection.scalar(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        other.dispose()
        with db.one_connection():
            assert db.read(lambda connection: _BRAND_NAMES.all(connection, {})) == names
            with db.unit_of_work(writes=False) as unit:
                assert unit.driver.info.backend_pid != pid
                assert _BRAND_NAMES.all(unit.connection, {}) == names
    finally:
        db.dispose()
