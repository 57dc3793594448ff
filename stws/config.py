"""Settings: command line and an INI config file map onto one Config object.

The config file uses the same keys as the long command-line options, in a
``[stws]`` section::

    [stws]
    listen = tcp:9996:interface=127.0.0.1
    data-dir = /var/lib/stws
    database = postgresql+psycopg://stws@/stws

Command-line values win over the file; the file wins over the defaults.
"""
from __future__ import annotations

import configparser
import dataclasses
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_LISTEN = "tcp:9996:interface=127.0.0.1"
DEFAULT_MAX_REQUEST_BYTES = 32 * 1024 * 1024  # room for base64 attachment chunks
DEFAULT_MAX_ATTACHMENT_BYTES = 25 * 1024 * 1024  # one ticket attachment (all its chunks)


class ConfigError(ValueError):
    """A setting has a value the server cannot run with."""


@dataclass
class Config:
    listen: str = DEFAULT_LISTEN
    public_url: str = ""  # derived from listen when empty
    data_dir: Path = Path("./data")
    database: str = ""  # SQLite file in data_dir when empty
    threads: int = 8
    max_request_size: int = DEFAULT_MAX_REQUEST_BYTES
    max_attachment_size: int = DEFAULT_MAX_ATTACHMENT_BYTES
    # Seconds a verified credential stays in the in-memory cache (DESIGN §7).
    credential_cache_seconds: float = 60.0
    # Cache the agent, department and group listings (stws.domain.directory);
    # off only to measure or rule out the cache.
    directory_cache: bool = True
    # Background thread intervals in seconds, by thread name, overriding the
    # defaults: "Ticket Watcher=30; Cleaner=600" in the file or on the command line.
    thread_intervals: dict = field(default_factory=dict)

    # Option names as spelled on the command line and in the config file.
    KEYS = {
        "listen": "listen",
        "public-url": "public_url",
        "data-dir": "data_dir",
        "database": "database",
        "threads": "threads",
        "max-request-size": "max_request_size",
        "max-attachment-size": "max_attachment_size",
        "thread-intervals": "thread_intervals",
        "directory-cache": "directory_cache",
    }

    def __post_init__(self):
        self.data_dir = Path(self.data_dir)
        self.threads = _positive_int("threads", self.threads)
        self.max_request_size = _positive_int("max-request-size", self.max_request_size)
        self.max_attachment_size = _positive_int("max-attachment-size", self.max_attachment_size)
        if isinstance(self.thread_intervals, str):
            self.thread_intervals = _parse_intervals(self.thread_intervals)
        if isinstance(self.directory_cache, str):
            self.directory_cache = _switch("directory-cache", self.directory_cache)

    @property
    def database_url(self) -> str:
        if self.database:
            return self.database
        return "sqlite:///" + str((self.data_dir / "stws.sqlite3").resolve())

    def base_url_for_port(self, port: int) -> str:
        """The public base URL; when none is configured, the listening address."""
        if self.public_url:
            return self.public_url.rstrip("/")
        host = "127.0.0.1"
        # Endpoint descriptions separate fields with ":" and escape it as "\\:".
        for part in re.split(r"(?<!\\):", self.listen):
            if part.startswith("interface="):
                host = part.split("=", 1)[1].replace("\\:", ":")
        if host in ("", "0.0.0.0", "::"):
            host = "127.0.0.1"  # listening everywhere: loopback at least works
        if ":" in host:
            host = "[%s]" % host
        return "http://%s:%d" % (host, port)

    @classmethod
    def load(cls, options: dict, config_file: str | None = None) -> "Config":
        """Merge defaults, a config file and command-line options (in that order)."""
        values: dict = {}
        if config_file:
            parser = configparser.ConfigParser()
            if not parser.read(config_file):
                raise ConfigError("config file %s cannot be read" % config_file)
            if parser.has_section("stws"):
                for key, value in parser.items("stws"):
                    if key not in cls.KEYS:
                        raise ConfigError("unknown key %r in %s" % (key, config_file))
                    values[cls.KEYS[key]] = value
        for key, attr in cls.KEYS.items():
            value = options.get(key)
            if value is not None:
                values[attr] = value
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})


def _positive_int(name, value) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ConfigError("%s must be a whole number, not %r" % (name, value)) from None
    if number <= 0:
        raise ConfigError("%s must be greater than zero" % name)
    return number


def _switch(name, text: str) -> bool:
    value = text.strip().lower()
    if value not in ("on", "off", "true", "false", "yes", "no", "1", "0"):
        raise ConfigError("%s must be on or off, not %r" % (name, text))
    return value in ("on", "true", "yes", "1")


def _parse_intervals(text: str) -> dict:
    intervals = {}
    for item in text.split(";"):
        if not item.strip():
            continue
        name, sep, seconds = item.rpartition("=")
        try:
            value = float(seconds)
        except ValueError:
            value = 0
        if not sep or not name.strip() or value <= 0:
            raise ConfigError("thread-intervals: %r is not of the form Thread Name=seconds" % item.strip())
        intervals[name.strip()] = value
    return intervals


def admin_password_from_environment() -> str | None:
    return os.environ.get("STWS_ADMIN_PASSWORD") or None
