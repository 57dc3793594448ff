"""Daily log files, one series per kind, in the data directory's logs folder.

A file is named ``<kind>-YYYY-MM-DD.log`` (UTC date), so listing, reading
and deleting them by date is a matter of file names. Python loggers feed
them: ``stws.error`` -> error, ``stws.smtp`` -> smtp, ``stws.providers`` ->
providers (outbound SOAP calls, stws.remote), and so on; everything at INFO
and above under ``stws`` also goes to the system log.
"""
from __future__ import annotations

import datetime as dt
import logging
import os
import threading
import uuid
from pathlib import Path

LOG_KINDS = ("system", "error", "smtp", "pop", "query", "lock", "cache", "threads", "providers")
_FORMAT = "%(asctime)s.%(msecs)03dZ [%(threadName)s] %(levelname)s %(name)s: %(message)s"


class _UtcFormatter(logging.Formatter):
    converter = staticmethod(lambda seconds: dt.datetime.fromtimestamp(seconds, dt.timezone.utc).timetuple())


class DailyFileHandler(logging.Handler):
    """Appends to ``<directory>/<kind>-<UTC date>.log``, switching at midnight.

    The file can be deleted while it is open: by Log Files > Delete, on this
    node or on another one sharing the data directory. Writing on into the
    deleted file would lose every line until midnight, so each write checks
    (one stat, as logging.handlers.WatchedFileHandler does) that the name
    still leads to the open file, and opens it anew when not.
    """

    def __init__(self, directory: Path, kind: str):
        super().__init__()
        self.directory = Path(directory)
        self.kind = kind
        self._date = None
        self._stream = None
        self._identity = None  # (device, inode) of the open file
        self._open_path = ""  # its name, as a str: stat() of a str is the quick one
        self._file_lock = threading.Lock()
        self.setFormatter(_UtcFormatter(_FORMAT, "%Y-%m-%dT%H:%M:%S"))

    def path_for(self, date: dt.date) -> Path:
        return self.directory / ("%s-%s.log" % (self.kind, date.isoformat()))

    def emit(self, record):
        try:
            line = self.format(record) + "\n"
            today = dt.datetime.now(dt.timezone.utc).date()
            with self._file_lock:
                if today != self._date or self._stream is None or self._gone():
                    if self._stream is not None:
                        self._stream.close()
                    self._open_path = str(self.path_for(today))
                    self._stream = open(self._open_path, "a", encoding="utf-8")
                    opened = os.fstat(self._stream.fileno())
                    self._identity = (opened.st_dev, opened.st_ino)
                    self._date = today
                self._stream.write(line)
                self._stream.flush()
        except Exception:
            self.handleError(record)

    def _gone(self) -> bool:
        """Whether the open file is no longer the one its name leads to."""
        try:
            current = os.stat(self._open_path)
        except FileNotFoundError:
            return True
        return (current.st_dev, current.st_ino) != self._identity

    def close(self):
        with self._file_lock:
            if self._stream is not None:
                self._stream.close()
                self._stream = None
        super().close()


class LogFiles:
    """The handlers of one server; ``close()`` detaches them (tests run many)."""

    def __init__(self, directory: Path):
        self.directory = Path(directory)
        self._attached: list[tuple[logging.Logger, logging.Handler]] = []
        system = DailyFileHandler(self.directory, "system")
        system.setLevel(logging.INFO)
        self._attach("stws", system)
        for kind in LOG_KINDS[1:]:
            self._attach("stws." + kind, DailyFileHandler(self.directory, kind))
        logging.getLogger("stws").setLevel(logging.INFO)

    def _attach(self, logger_name: str, handler: logging.Handler) -> None:
        logger = logging.getLogger(logger_name)
        logger.addHandler(handler)
        self._attached.append((logger, handler))

    def close(self) -> None:
        for logger, handler in self._attached:
            logger.removeHandler(handler)
            handler.close()
        self._attached.clear()


def log_internal_error(what: str, exc_info=True) -> str:
    """Write the exception being handled (or ``exc_info``) to the error log
    under a new reference, and return what the client is told: the
    reference only, never the details."""
    reference = uuid.uuid4().hex[:12]
    logging.getLogger("stws.error").error("%s (reference %s)", what, reference, exc_info=exc_info)
    return "Internal error (reference %s); the server's error log has the details." % reference
