"""Listing, reading and deleting the daily log files."""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path

from stws.errors import InvalidArgument, NotFound

LOG_NAME = re.compile(r"^(?P<kind>[a-z]+)-(?P<date>\d{4}-\d{2}-\d{2})\.log$")
MAX_READ_BYTES = 1024 * 1024


@dataclass(frozen=True)
class LogFile:
    name: str
    kind: str
    date: dt.date
    size: int


def list_log_files(directory: Path) -> list[LogFile]:
    files = []
    for path in directory.iterdir():
        match = LOG_NAME.match(path.name)
        if match and path.is_file():
            files.append(LogFile(path.name, match["kind"], dt.date.fromisoformat(match["date"]),
                                 path.stat().st_size))
    return sorted(files, key=lambda f: (f.date, f.kind), reverse=True)


def _path(directory: Path, name: str) -> Path:
    """The log file called ``name``; only plain log file names are accepted."""
    if not LOG_NAME.match(name or ""):
        raise InvalidArgument("%r is not a log file name (kind-YYYY-MM-DD.log)." % name)
    path = directory / name
    if not path.is_file():
        raise NotFound("There is no log file %s." % name)
    return path


def read_log_file(directory: Path, name: str, offset: int, max_bytes: int) -> tuple[str, int, int]:
    """(text, next offset, total size) of up to ``max_bytes`` from ``offset``.

    Pages end at a line break where possible, so lines are not cut.
    """
    path = _path(directory, name)
    if offset < 0:
        raise InvalidArgument("offset must be zero or more.")
    if not 0 < max_bytes <= MAX_READ_BYTES:
        raise InvalidArgument("maxBytes must be between 1 and %d." % MAX_READ_BYTES)
    total = path.stat().st_size
    with open(path, "rb") as stream:
        stream.seek(min(offset, total))
        data = stream.read(max_bytes)
    if offset + len(data) < total:
        cut = data.rfind(b"\n")
        if cut >= 0:
            data = data[:cut + 1]
    return data.decode("utf-8", "replace"), offset + len(data), total


def delete_log_files(directory: Path, names) -> list[str]:
    """Delete the named files; all names are checked before any is deleted."""
    paths = [_path(directory, name) for name in names or [] if name]
    if not paths:
        raise InvalidArgument("No log file names were given.")
    for path in paths:
        path.unlink()
    return [path.name for path in paths]


def delete_older_than(directory: Path, days: int, today: dt.date) -> int:
    """The Cleaner's rule: delete log files older than ``days``."""
    limit = today - dt.timedelta(days=days)
    removed = 0
    for log in list_log_files(directory):
        if log.date < limit:
            (directory / log.name).unlink(missing_ok=True)
            removed += 1
    return removed
