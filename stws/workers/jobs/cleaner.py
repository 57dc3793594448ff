"""Cleaner: cleans the data folders with an age rule each, and log files older than Delete Log Files After.

Each run:

1. deletes, in each folder of ``AGE_RULES``, the files (at any depth) whose
   modification time is older than the folder's age, and then the
   sub-folders left empty that are that old too (never the folder itself);
2. deletes the daily log files older than the Diagnostics option "Delete
   Log Files After" (``DeleteLogFilesAfterDays``);
3. moves attachment files that no ``ticket_attachments`` row names (a crash
   between writing a file and committing its row, or a purge whose unlink
   failed) into ``orphaned-attachments``, under the same relative name,
   with the time of the move as their modification time: there they wait
   ``AGE_RULES["orphaned_attachments"]`` (7 days) for someone to look
   before step 1 deletes them. Only files older than ``ORPHAN_GRACE`` (1
   hour) are considered, so an upload in progress is never touched (a file
   is written and its row committed within one call). The attachments
   folder is sharded (``ab/abcdef....bin``); a run checks shard folders in
   turn until ``ORPHAN_FILES_PER_RUN`` files were checked, continuing
   where the previous run stopped (``settings`` row
   ``cleaner.orphan_cursor``), and asks the database about the names of a
   shard ``NAME_BATCH`` at a time through the index on
   ``file_name_on_disk``.

Symbolic links are never followed: a folder of the data directory that
resolves outside it is skipped (with a warning in the threads log), the walk
does not descend into linked directories, and a link found in a folder is
treated as an entry of its own (deleted by its own age, never its target).

The job returns how many files it deleted or moved.
"""
from __future__ import annotations

import datetime as dt
import errno
import logging
import os
import shutil
from pathlib import Path

from sqlalchemy import select

from stws.db.models import Setting, TicketAttachment
from stws.diagnostics import logfiles

log = logging.getLogger("stws.threads")

# data folder (stws.datadir attribute) -> how old a file may get there.
AGE_RULES: dict[str, dt.timedelta] = {
    "temp": dt.timedelta(days=1),
    "zip_files": dt.timedelta(days=1),
    "user_handshakes": dt.timedelta(days=1),
    "orphaned_attachments": dt.timedelta(days=7),
    "raw_content": dt.timedelta(days=30),
    "failed_emails": dt.timedelta(days=30),
    "call_recording": dt.timedelta(days=90),
}
# Log files: the Diagnostics option DeleteLogFilesAfterDays (default 14).

ORPHAN_GRACE = dt.timedelta(hours=1)
ORPHAN_FILES_PER_RUN = 20_000
NAME_BATCH = 500
CURSOR_SETTING = "cleaner.orphan_cursor"
# A run stops deleting in one folder after this many files (the rest next run).
MAX_DELETIONS_PER_FOLDER = 50_000


def run(context) -> int:
    runtime = context.runtime
    now = context.now
    root = runtime.data.root
    items = 0
    for attribute, age in AGE_RULES.items():
        folder = getattr(runtime.data, attribute)
        if _inside(root, folder):
            items += delete_older_than(folder, (now - age).timestamp())
    if _inside(root, runtime.data.logs):
        days = runtime.options.get().DeleteLogFilesAfterDays
        items += logfiles.delete_older_than(runtime.data.logs, days, now.date())
    if _inside(root, runtime.data.attachments) and _inside(root, runtime.data.orphaned_attachments):
        items += move_orphaned_attachments(runtime, now)
    return items


def _inside(root: Path, folder: Path) -> bool:
    """The folder exists and really is inside the data directory (no link out)."""
    if not folder.exists():
        return False
    real_root, real = Path(os.path.realpath(root)), Path(os.path.realpath(folder))
    if real_root not in real.parents:
        log.warning("Cleaner: %s resolves to %s, outside the data directory %s; not cleaned",
                    folder, real, real_root)
        return False
    return True


# --------------------------------------------------------------- age rules


def delete_older_than(folder: Path, cutoff: float, limit: int = MAX_DELETIONS_PER_FOLDER) -> int:
    """Delete entries of ``folder`` (recursively, links not followed) last
    modified before ``cutoff`` (a POSIX timestamp), then the sub-folders
    left empty that are that old; returns the number of files deleted."""
    removed = 0

    def walk(directory: str, top: bool) -> None:
        nonlocal removed
        try:
            # Its age before we delete in it (deleting a file makes a folder new).
            was_old = os.stat(directory, follow_symlinks=False).st_mtime < cutoff
            entries = list(os.scandir(directory))
        except FileNotFoundError:
            return
        for entry in entries:
            if removed >= limit:
                return
            try:
                if entry.is_dir(follow_symlinks=False):
                    walk(entry.path, False)
                    continue
                if entry.stat(follow_symlinks=False).st_mtime < cutoff:
                    os.unlink(entry.path)  # a link: the link itself, never its target
                    removed += 1
            except FileNotFoundError:
                continue  # gone meanwhile
            except OSError as error:
                log.warning("Cleaner: cannot delete %s: %s", entry.path, error)
        if not top and was_old:
            try:
                os.rmdir(directory)  # only if empty
            except OSError:
                pass  # not empty, or gone

    walk(str(folder), True)
    if removed:
        log.info("Cleaner: %d files deleted from %s", removed, folder)
    return removed


# --------------------------------------------------------------- orphaned attachments


def move_orphaned_attachments(runtime, now: dt.datetime, budget: int = ORPHAN_FILES_PER_RUN) -> int:
    source = Path(runtime.data.attachments)
    target = Path(runtime.data.orphaned_attachments)
    cutoff = (now - ORPHAN_GRACE).timestamp()
    units = sorted(entry.name for entry in os.scandir(source)
                   if entry.is_dir(follow_symlinks=False) or entry.is_file(follow_symlinks=False))
    if not units:
        return 0
    with runtime.db.transaction(writes=False) as session:
        stored = session.get(Setting, CURSOR_SETTING)
        cursor = stored.value if stored else ""
    # Shards after the cursor first, then from the start again.
    order = [name for name in units if name > cursor] + [name for name in units if name <= cursor]
    checked = moved = 0
    last = cursor
    for name in order:
        if checked >= budget:
            break
        candidates = _old_files(source, name, cutoff)
        checked += max(len(candidates), 1)
        for start in range(0, len(candidates), NAME_BATCH):
            batch = candidates[start:start + NAME_BATCH]
            with runtime.db.transaction(writes=False) as session:
                known = set(session.scalars(
                    select(TicketAttachment.file_name_on_disk)
                    .where(TicketAttachment.file_name_on_disk.in_(batch))))
            for relative in batch:
                if relative not in known:
                    moved += _move(source, target, relative, now)
        last = name
    if last != cursor:
        with runtime.db.transaction() as session:
            stored = session.get(Setting, CURSOR_SETTING)
            if stored is None:
                session.add(Setting(name=CURSOR_SETTING, value=last))
            else:
                stored.value = last
    if moved:
        log.info("Cleaner: %d orphaned attachment files moved to %s", moved, target)
    return moved


def _old_files(source: Path, unit: str, cutoff: float) -> list[str]:
    """Relative names (as ``file_name_on_disk`` stores them) of the regular
    files of one top-level entry of the attachments folder older than ``cutoff``."""
    path = source / unit
    found = []
    try:
        if path.is_symlink():
            return []
        if path.is_file():
            entries = [(unit, os.stat(path, follow_symlinks=False))]
        else:
            entries = []
            for entry in os.scandir(path):
                if entry.is_file(follow_symlinks=False):
                    entries.append(("%s/%s" % (unit, entry.name), entry.stat(follow_symlinks=False)))
    except FileNotFoundError:
        return []
    for relative, stat in entries:
        if stat.st_mtime < cutoff:
            found.append(relative)
    return found


def _move(source: Path, target: Path, relative: str, now: dt.datetime) -> int:
    origin, destination = source / relative, target / relative
    try:
        destination.parent.mkdir(mode=0o750, parents=True, exist_ok=True)
        try:
            os.replace(origin, destination)
        except OSError as error:
            if error.errno != errno.EXDEV:
                raise
            shutil.move(origin, destination)  # orphaned-attachments on another file system
        stamp = now.timestamp()
        os.utime(destination, (stamp, stamp), follow_symlinks=False)
        return 1
    except FileNotFoundError:
        return 0
    except OSError as error:
        log.warning("Cleaner: cannot move orphaned attachment %s: %s", origin, error)
        return 0
