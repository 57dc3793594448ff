"""The Diagnostics options of the spec, with its defaults.

Stored in the ``settings`` table under ``diagnostics.<Key>``; every node
re-reads them at most every few seconds, and the node that changes them
applies them at once (query, lock and cache tracing switch without restart).
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, fields

from stws.db.models import Setting
from stws.domain import validation
from stws.errors import InvalidArgument
from stws.domain.properties import Property, PropertyBag, parse_bool, parse_int

PREFIX = "diagnostics."
REFRESH_SECONDS = 5.0


@dataclass
class DiagnosticOptions:
    HeartbeatIntervalSeconds: int = 10
    WhosOnIntervalSeconds: int = 8
    DeleteLogFilesAfterDays: int = 14
    EmailAddressToReceiveErrors: str = ""
    EnableShortQueryLogging: bool = False
    EnableFullQueryLogging: bool = False
    EnableLockTracing: bool = False
    EnableCacheTracing: bool = False
    # host:port the self-diagnostic connects to for "internet connectivity".
    ConnectivityProbeAddress: str = "www.smartertools.com:443"


def _bounded(low, high):
    def parse(text):
        value = parse_int(text)
        if not low <= value <= high:
            raise ValueError("must be between %d and %d" % (low, high))
        return value
    return parse


def _probe_address(text: str) -> str:
    host, sep, port = text.strip().rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError("%r is not host:port" % text)
    return text.strip()


_PARSERS = {
    "HeartbeatIntervalSeconds": _bounded(1, 3600),
    "WhosOnIntervalSeconds": _bounded(1, 3600),
    "DeleteLogFilesAfterDays": _bounded(1, 3650),
    "EmailAddressToReceiveErrors": lambda text: validation.email(text, required=False),
    "EnableShortQueryLogging": parse_bool,
    "EnableFullQueryLogging": parse_bool,
    "EnableLockTracing": parse_bool,
    "EnableCacheTracing": parse_bool,
    "ConnectivityProbeAddress": _probe_address,
}


def _store(session, options: DiagnosticOptions, key: str, value) -> None:
    setattr(options, key, value)
    text = ("true" if value else "false") if isinstance(value, bool) else str(value)
    row = session.get(Setting, PREFIX + key)
    if row is None:
        session.add(Setting(name=PREFIX + key, value=text))
    else:
        row.value = text


OPTION_BAG = PropertyBag("Diagnostics", [
    Property(f.name, lambda options, obj, key=f.name: getattr(obj, key), _PARSERS[f.name],
             lambda session, obj, value, key=f.name: _store(session, obj, key, value))
    for f in fields(DiagnosticOptions)
])


def load(session) -> DiagnosticOptions:
    options = DiagnosticOptions()
    for row in session.query(Setting).filter(Setting.name.like(PREFIX + "%")):
        key = row.name[len(PREFIX):]
        if key in _PARSERS:
            try:
                setattr(options, key, _PARSERS[key](row.value))
            except (ValueError, InvalidArgument):
                pass  # a bad stored value falls back to the default
    return options


class OptionsCache:
    """The current options of this node, re-read every few seconds, and the
    hooks that apply them (tracing switches)."""

    def __init__(self, db):
        self.db = db
        self._options = DiagnosticOptions()
        self._loaded_at = float("-inf")
        self._lock = threading.Lock()
        self.listeners = []  # callables(options), run after each (re)load

    def get(self) -> DiagnosticOptions:
        if time.monotonic() - self._loaded_at > REFRESH_SECONDS:
            self.reload()
        return self._options

    def reload(self) -> DiagnosticOptions:
        with self.db.transaction(writes=False) as session:
            options = load(session)
        self.replace(options)
        return options

    def replace(self, options: DiagnosticOptions) -> None:
        with self._lock:
            self._options = options
            self._loaded_at = time.monotonic()
        for listener in self.listeners:
            listener(options)
