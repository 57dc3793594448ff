"""Group commit on SQLite: Database.group_commit and the pool that runs
quick SOAP writes in commit groups (stws.db.group_commit).

A group is one transaction; each member a savepoint, undone alone when it
fails; nothing of it is visible, nor any call answered, before the group
commits; a group the database rolled back answers every call with the
failure and leaves nothing written.
"""
from __future__ import annotations

import contextlib
import threading

import pytest
from sqlalchemy import event, text
from twisted.python.threadpool import ThreadPool

from stws.db import schema
from stws.db.engine import Database, GroupRolledBack
from stws.db.group_commit import GroupCommitPool, YieldsToCommitGroups


class Boom(Exception):
    pass


@pytest.fixture
def db(database_url):
    database = Database(database_url, pool_size=3)
    if not database.is_sqlite:
        database.dispose()
        pytest.skip("group commit is SQLite's: PostgreSQL commits concurrent transactions itself")
    schema.upgrade(database.engine)
    with database.engine.begin() as connection:
        connection.execute(text("CREATE TABLE probe (name TEXT NOT NULL)"))
    yield database
    database.dispose()


def written(db) -> set:
    """What is committed, read on another connection."""
    with db.transaction(writes=False) as session:
        return {name for (name,) in session.execute(text("SELECT name FROM probe"))}


def write_on_driver(db, name: str) -> None:
    with db.unit_of_work() as unit:
        unit.driver.execute("INSERT INTO probe (name) VALUES (?)", (name,))


def test_members_commit_together_and_fail_alone(db):
    seen_inside = []
    with db.group_commit() as group:
        write_on_driver(db, "driver")
        with db.transaction() as session:  # an ORM session joins as a savepoint of its own
            session.execute(text("INSERT INTO probe (name) VALUES ('session')"))
        with pytest.raises(Boom):
            with db.unit_of_work() as unit:
                unit.connection.execute(text("INSERT INTO probe (name) VALUES ('failed')"))
                raise Boom()
        with db.unit_of_work() as unit:
            unit.connection.execute(text("INSERT INTO probe (name) VALUES ('core')"))
            # A member sees what the members before it wrote.
            seen_inside = {name for (name,) in unit.connection.execute(text("SELECT name FROM probe"))}
        # Nothing is committed before the group ends.
        assert written(db) == set()
        assert group.members == 3
    assert seen_inside == {"driver", "session", "core"}
    assert written(db) == {"driver", "session", "core"}


def test_a_unit_of_the_orm_session_rolls_back_alone(db):
    with db.group_commit():
        write_on_driver(db, "kept")
        with pytest.raises(Boom):
            with db.unit_of_work() as unit:
                unit.session.execute(text("INSERT INTO probe (name) VALUES ('orm')"))
                unit.driver.execute("INSERT INTO probe (name) VALUES ('driver')")
                raise Boom()
    assert written(db) == {"kept"}


def test_after_commit_actions_wait_for_the_group(db):
    ran = []
    with db.group_commit():
        write_on_driver(db, "one")
        db.after_commit(lambda: ran.append(written(db)))
        assert ran == []
    assert ran == [{"one"}]
    # Without a group an action runs at once; in a group that fails, never.
    db.after_commit(lambda: ran.append("now"))
    assert ran[-1] == "now"
    with pytest.raises(Boom):
        with db.group_commit():
            write_on_driver(db, "two")
            db.after_commit(lambda: ran.append("never"))
            raise Boom()
    assert "never" not in ran and written(db) == {"one"}


def test_a_group_the_database_rolled_back_writes_nothing(db):
    with pytest.raises(GroupRolledBack):
        with db.group_commit():
            write_on_driver(db, "lost")
            with db.unit_of_work() as unit:
                unit.driver.execute("ROLLBACK")  # as SQLite does on an I/O error
    assert written(db) == set()
    with db.group_commit():  # the next group works
        write_on_driver(db, "next")
    assert written(db) == {"next"}


def _member_that_wrote_a_file(db, name: str, undone: list, fail: bool = False) -> None:
    """A member whose work has a side effect outside the database (as an
    attachment's file), undone by Database.on_rollback."""
    with db.unit_of_work() as unit:
        unit.session.execute(text("INSERT INTO probe (name) VALUES (:name)"), {"name": name})
        db.on_rollback(unit.session, lambda: undone.append(name))
        if fail:
            raise Boom()


def test_side_effects_of_members_are_undone_when_their_group_fails_at_the_end(db):
    undone = []
    with db.group_commit():
        _member_that_wrote_a_file(db, "kept", undone)
        with pytest.raises(Boom):
            _member_that_wrote_a_file(db, "failed alone", undone, fail=True)
    assert undone == ["failed alone"] and written(db) == {"kept"}
    with pytest.raises(GroupRolledBack):
        with db.group_commit():
            _member_that_wrote_a_file(db, "released, then lost", undone)
            with db.unit_of_work() as unit:
                unit.driver.execute("ROLLBACK")  # as SQLite does on an I/O error at the end
    assert undone == ["failed alone", "released, then lost"] and written(db) == {"kept"}
    # Outside a group: undone on rollback only.
    _member_that_wrote_a_file(db, "alone", undone)
    with pytest.raises(Boom):
        _member_that_wrote_a_file(db, "alone, failed", undone, fail=True)
    assert undone[2:] == ["alone, failed"]


def test_the_pool_answers_queued_calls_in_one_group_after_its_commit(db):
    pool = GroupCommitPool(db)
    answers = []
    done = threading.Event()

    def call(name):
        if name == "bad":
            with db.unit_of_work() as unit:
                unit.driver.execute("INSERT INTO probe (name) VALUES ('bad')")
                raise Boom()
        write_on_driver(db, name)
        return name.upper()

    def answered(success, result):
        # Called once the group committed: what the call wrote is durable.
        answers.append((success, result if success else result.type, written(db)))
        if len(answers) == 6:
            done.set()

    for name in ("a", "b", "bad", "c", "d", "e"):  # queued before the thread starts: one group
        pool.callInThreadWithCallback(answered, call, name)
    pool.start()
    assert done.wait(30)
    pool.stop()
    assert (pool.groups, pool.calls) == (1, 6)
    assert [(success, result) for success, result, _ in answers] == [
        (True, "A"), (True, "B"), (False, Boom), (True, "C"), (True, "D"), (True, "E")]
    assert all(seen == {"a", "b", "c", "d", "e"} for _, _, seen in answers)


def test_the_pool_fails_every_call_of_a_group_that_did_not_commit(db):
    pool = GroupCommitPool(db)
    answers = []
    done = threading.Event()

    def call(name):
        write_on_driver(db, name)
        if name == "breaks":
            with db.unit_of_work() as unit:
                unit.driver.execute("ROLLBACK")
        return name

    def answered(success, result):
        answers.append(success)
        if len(answers) == 3:
            done.set()

    for name in ("before", "breaks", "after"):
        pool.callInThreadWithCallback(answered, call, name)
    pool.start()
    assert done.wait(30)
    pool.stop()
    # "before" and "breaks" were in the group that was rolled back: both
    # failed and neither is written; "after" ran in a group of its own.
    assert answers[:2] == [False, False]
    assert written(db) == {"after"} and answers[2] is True


def test_a_group_does_not_nest(db):
    with db.group_commit():
        with pytest.raises(RuntimeError):
            with db.group_commit():
                pass


def test_a_read_in_a_group_runs_on_the_groups_connection(db):
    """A credential read on the commit-group thread (Database.read, as a
    quick SOAP write's authentication makes it) takes no pooled connection
    of its own: it runs on the group's, and sees what the group wrote."""
    checkouts = []
    event.listen(db.engine, "checkout", lambda *_: checkouts.append(1))
    with db.group_commit() as group:
        write_on_driver(db, "early")
        before = len(checkouts)
        seen = db.read(lambda connection: (connection, {name for (name,) in connection.connection.dbapi_connection
                                                        .execute("SELECT name FROM probe")}))
        assert seen == (group.connection, {"early"})
        assert len(checkouts) == before
    assert written(db) == {"early"}


# ---------------------------------------------------------------- writes first


def _hold_a_group(pool: GroupCommitPool):
    """Start a group on ``pool`` whose one call waits for the returned event;
    returns (release, answered) once the group runs."""
    running, release, answered = threading.Event(), threading.Event(), threading.Event()

    def held():
        running.set()
        release.wait(30)

    pool.callInThreadWithCallback(lambda success, result: answered.set(), held)
    assert running.wait(30)
    return release, answered


@contextlib.contextmanager
def yielding_reads(db, seconds: float):
    """A running commit-group pool and a one-thread pool that yields to it."""
    groups = GroupCommitPool(db)
    groups.start()
    reads = YieldsToCommitGroups(ThreadPool(minthreads=1, maxthreads=1), groups, seconds=seconds)
    reads.start()
    try:
        yield groups, reads
    finally:
        reads.stop()
        groups.stop()


def test_a_yielding_pools_calls_start_once_the_running_group_ended(db):
    with yielding_reads(db, seconds=30) as (groups, reads):
        release, group_answered = _hold_a_group(groups)
        started = threading.Event()
        reads.callInThreadWithCallback(lambda success, result: None, started.set)
        assert not started.wait(0.3)  # waits while the group runs
        release.set()
        assert started.wait(30)
        assert group_answered.is_set()  # the group's calls were answered before
        # No group: a call starts at once.
        again = threading.Event()
        reads.callInThreadWithCallback(lambda success, result: None, again.set)
        assert again.wait(5)


def test_a_yielding_pools_calls_wait_for_a_group_no_longer_than_their_bound(db):
    with yielding_reads(db, seconds=0.05) as (groups, reads):
        release, _ = _hold_a_group(groups)
        answers = []
        done = threading.Event()
        reads.callInThreadWithCallback(lambda success, result: (answers.append((success, result)), done.set()),
                                       lambda value: value * 2, 21)
        assert done.wait(30)  # while the group still runs: groups never starve the reads
        assert answers == [(True, 42)]
        release.set()
