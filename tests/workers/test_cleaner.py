"""The Cleaner thread: age rules per data folder, log files, orphaned
attachment files, and symbolic links never followed out of the data directory."""
from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

from sqlalchemy import select

from stws.db.models import Setting
from stws.workers.framework import JobContext, RunOutcome
from stws.workers.jobs import cleaner
from stws.workers.registry import definitions
from workers import rows
from workers.live import eventually, started_workers
from workers.test_framework import EPOCH, Harness, runtime, with_rows  # noqa: F401 (runtime: fixture)

# Near the real time: the runtime's own log files are today's and must stay.
NOW = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
CLEANER = next(d for d in definitions() if d.name == "Cleaner")


def run_at(runtime, now=NOW) -> int:
    return cleaner.run(JobContext(runtime, CLEANER, now))


def make_file(path: Path, age: dt.timedelta, now=NOW, data=b"x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    stamp = (now - age).timestamp()
    os.utime(path, (stamp, stamp), follow_symlinks=False)
    return path


def age_dir(path: Path, age: dt.timedelta, now=NOW) -> None:
    stamp = (now - age).timestamp()
    os.utime(path, (stamp, stamp))


def test_each_folder_keeps_files_younger_than_its_age_and_deletes_older_ones(runtime):
    minute = dt.timedelta(minutes=1)
    expected_gone, expected_kept = [], []
    for attribute, age in cleaner.AGE_RULES.items():
        folder = getattr(runtime.data, attribute)
        expected_gone.append(make_file(folder / "old.dat", age + minute))
        expected_kept.append(make_file(folder / "young.dat", age - minute))
    # Nested: an old file in an old sub-folder goes, and the folder left empty with it.
    nested = make_file(runtime.data.temp / "upload-1" / "part.bin", dt.timedelta(days=2))
    age_dir(nested.parent, dt.timedelta(days=2))
    # A young sub-folder left empty stays (something may be about to write in it).
    young_dir = runtime.data.zip_files / "in-progress"
    young_dir.mkdir()
    old_file_in_young_dir = make_file(young_dir / "old.zip", dt.timedelta(days=3))
    age_dir(young_dir, dt.timedelta(hours=1))

    assert run_at(runtime) == len(expected_gone) + 2
    assert [p for p in expected_gone if p.exists()] == []
    assert [p for p in expected_kept if not p.exists()] == []
    assert not nested.parent.exists()
    assert young_dir.is_dir() and not old_file_in_young_dir.exists()
    for attribute in cleaner.AGE_RULES:
        assert getattr(runtime.data, attribute).is_dir()  # the folders themselves stay
    assert run_at(runtime) == 0


def test_log_files_older_than_the_option_are_deleted(runtime):
    with runtime.db.transaction() as session:
        session.add(Setting(name="diagnostics.DeleteLogFilesAfterDays", value="3"))
    runtime.options.reload()
    logs = runtime.data.logs
    today = NOW.date()
    old = make_file(logs / ("system-%s.log" % (today - dt.timedelta(days=4))), dt.timedelta(0))
    kept = make_file(logs / ("error-%s.log" % (today - dt.timedelta(days=3))), dt.timedelta(0))
    not_a_log = make_file(logs / "notes.txt", dt.timedelta(days=400))
    assert run_at(runtime) == 1
    assert not old.exists() and kept.exists() and not_a_log.exists()


def test_links_are_never_followed_out_of_the_data_directory(runtime, tmp_path):
    outside = tmp_path / "outside"
    precious = make_file(outside / "precious.txt", dt.timedelta(days=999))
    precious_dir_file = make_file(outside / "dir" / "deep.txt", dt.timedelta(days=999))
    age_dir(outside / "dir", dt.timedelta(days=999))
    temp = runtime.data.temp
    # A link to a file outside: the (old) link goes, its target stays.
    os.symlink(precious, temp / "link-to-file")
    os.utime(temp / "link-to-file", ((NOW - dt.timedelta(days=5)).timestamp(),) * 2, follow_symlinks=False)
    # A link to a directory outside: not descended into.
    os.symlink(outside / "dir", temp / "link-to-dir")
    # A data folder that is itself a link to somewhere outside: not cleaned at all.
    runtime.data.zip_files.rmdir()
    os.symlink(outside, runtime.data.zip_files)

    run_at(runtime)
    assert precious.exists() and precious_dir_file.exists() and (outside / "dir").is_dir()
    assert not os.path.lexists(temp / "link-to-file")


def attachment_file(runtime, name: str, age: dt.timedelta, now=NOW) -> Path:
    return make_file(runtime.data.attachments / name, age, now)


def test_attachment_files_no_row_names_move_to_orphaned_attachments_then_expire(runtime):
    hour = dt.timedelta(hours=1)
    named = attachment_file(runtime, "ab/ab00000000000000000000000000000001.bin", 100 * hour)
    orphan = attachment_file(runtime, "ab/ab00000000000000000000000000000002.bin", 2 * hour)
    uploading = attachment_file(runtime, "cd/cd00000000000000000000000000000003.bin", hour / 2)
    deleted_row = attachment_file(runtime, "cd/cd00000000000000000000000000000004.bin", 100 * hour)
    with runtime.db.transaction() as session:
        ticket = rows.ticket(session)
        rows.attachment(session, ticket, "ab/ab00000000000000000000000000000001.bin")
        rows.attachment(session, ticket, "cd/cd00000000000000000000000000000004.bin").is_deleted = True

    assert run_at(runtime) == 1
    moved = runtime.data.orphaned_attachments / "ab" / orphan.name
    assert moved.exists() and not orphan.exists()
    assert named.exists() and uploading.exists() and deleted_row.exists()  # a row names it, deleted or not
    # The upload in progress commits its row.
    with runtime.db.transaction() as session:
        rows.attachment(session, rows.ticket(session), "cd/cd00000000000000000000000000000003.bin")
    # The orphan waits in orphaned-attachments for the folder's age, counted from the move ...
    assert moved.stat().st_mtime == NOW.timestamp()
    assert run_at(runtime, NOW + cleaner.AGE_RULES["orphaned_attachments"] - hour) == 0
    assert moved.exists()
    # ... then goes.
    assert run_at(runtime, NOW + cleaner.AGE_RULES["orphaned_attachments"] + hour) == 1
    assert not moved.exists() and uploading.exists() and named.exists()


def test_orphan_checks_are_bounded_per_run_and_continue_where_they_stopped(runtime):
    names = ["%02x/%02x%030d.bin" % (shard, shard, n) for shard in range(6) for n in range(3)]
    for name in names:
        attachment_file(runtime, name, dt.timedelta(days=2))
    seen = []
    for _ in range(3):
        seen.append(cleaner.move_orphaned_attachments(runtime, NOW, budget=6))
        with runtime.db.transaction(writes=False) as session:
            seen.append(session.get(Setting, cleaner.CURSOR_SETTING).value)
    assert seen == [6, "01", 6, "03", 6, "05"]
    assert not any((runtime.data.attachments / name).exists() for name in names)
    assert sorted(str(p.relative_to(runtime.data.orphaned_attachments))
                  for p in runtime.data.orphaned_attachments.rglob("*.bin")) == sorted(names)


def test_a_clock_driven_cleaner_thread_runs_on_its_interval(runtime):
    with_rows(runtime, CLEANER)
    harness = Harness(runtime, CLEANER)
    harness.runner.start()
    # EPOCH + 3600 s is the first run: a file 2 days old by then goes.
    first_run = EPOCH + dt.timedelta(seconds=CLEANER.interval)
    stale = make_file(runtime.data.temp / "stale.tmp", dt.timedelta(days=2), now=first_run)
    fresh = make_file(runtime.data.temp / "fresh.tmp", dt.timedelta(hours=23, minutes=30), now=first_run)
    assert harness.advance(CLEANER.interval - 1) == ""
    assert stale.exists()
    assert harness.advance(1) == RunOutcome.RAN
    assert not stale.exists() and fresh.exists()
    assert harness.advance(CLEANER.interval) == RunOutcome.RAN  # 24.5 h old now
    assert not fresh.exists()


async def test_the_cleaner_thread_cleans_the_temp_folder_of_a_live_runtime(runtime):
    now = dt.datetime.now(dt.timezone.utc)
    stale = make_file(runtime.data.temp / "stale.tmp", dt.timedelta(days=2), now=now)
    fresh = make_file(runtime.data.temp / "fresh.tmp", dt.timedelta(hours=1), now=now)
    service = await started_workers(runtime, {"Cleaner": 0.2})
    try:
        await eventually(lambda: not stale.exists())
        assert fresh.exists()
    finally:
        await service.stopService()
    with runtime.db.transaction(writes=False) as session:
        from stws.db.models import ThreadState
        row = session.scalars(select(ThreadState).where(ThreadState.name == "Cleaner")).one()
        assert row.total_runs >= 1 and row.last_error == ""
