"""Calling the external providers where they act: one ``ProviderGateway``
per process (``runtime.providers``).

A provider method takes ``InputVariables`` (``key=value`` strings, ``=`` in
a key doubled) with ``authPW`` first, and answers ``Success``, ``Message``,
``OutputVariables`` (and, for GetCustomFieldOptions,
``CustomFieldDataItems``). The gateway encodes and decodes those, so callers
deal in pairs and a ``ProviderAnswer``:

    answer = runtime.providers.call("Ticket", "StartTicket",
                                    [("departmentName", "Sales"), ("emailFrom", address)],
                                    accepts=lambda key: key == "TicketCreation" or key.startswith("cf_"))

``call`` returns None when the provider is not enabled as an external web
service (built-in behaviour: stws decides alone), raises RemoteFailure
(result code 9) when the provider cannot be called or answers nonsense, and
``ProviderRefused`` when it answers ``Success=false`` (a refused password or
a missing input: the provider did not handle the call).

Like every outbound call it blocks, so it must run outside any transaction
and off the reactor thread (stws.remote). On the thread that commits quick
writes in groups it raises LeavesCommitGroup before calling: the SOAP
hosting runs the request again on a thread that may wait.

The settings are read from the database at most every SNAPSHOT_SECONDS
(an enabled check sits on hot paths: every recorded ticket event asks
whether the events provider is on); a change made on this node is seen at
once (``forget``), one made on another node within SNAPSHOT_SECONDS.
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable

from stws.db.group_commit import LeavesCommitGroup
from stws.errors import OperationError, ResultCode
from stws.providers import settings as provider_settings

providers_log = logging.getLogger("stws.providers")

SNAPSHOT_SECONDS = 5.0


# ---------------------------------------------------------------- Key=Value items


def encode_item(key: str, value) -> str:
    """``key=value`` with every ``=`` in the key doubled (SmarterTrack's
    StringListConverter): the first single ``=`` separates key and value."""
    return "%s=%s" % (key.replace("=", "=="), "" if value is None else value)


def decode_item(item: str) -> tuple[str, str]:
    """The inverse of ``encode_item``; an item without a separator is a key
    with an empty value."""
    key, index = [], 0
    while index < len(item):
        if item[index] == "=":
            if item[index + 1:index + 2] == "=":
                key.append("=")
                index += 2
                continue
            return "".join(key), item[index + 1:]
        key.append(item[index])
        index += 1
    return "".join(key), ""


# ---------------------------------------------------------------- answers


@dataclass(frozen=True)
class CustomFieldChange:
    """One ``ExternalCustomFieldData``: what the custom field provider
    changes of one field for one ticket or chat being started. A value
    applies only where its ``Change*`` flag is set."""

    name: str
    change_visible: bool = False
    visible: bool = False
    change_required: bool = False
    required: bool = False
    change_list_options: bool = False
    list_options: tuple[str, ...] = ()
    display_with_information_lookup: bool = False


@dataclass(frozen=True)
class ProviderAnswer:
    provider: str  # ProviderKind.name
    method: str
    message: str
    outputs: tuple[tuple[str, str], ...]  # the accepted OutputVariables, in order
    custom_fields: tuple[CustomFieldChange, ...] = ()

    def get(self, key: str, default: str = "") -> str:
        """The output ``key`` (compared case-insensitively), else ``default``."""
        wanted = key.lower()
        return next((value for name, value in self.outputs if name.lower() == wanted), default)

    def flag(self, key: str, default: bool) -> bool:
        """A TRUE/FALSE (OK/FAIL, 1/0, yes/no) output, else ``default``."""
        value = self.get(key).strip().lower()
        if value in ("true", "ok", "1", "yes"):
            return True
        if value in ("false", "fail", "0", "no"):
            return False
        return default

    def prefixed(self, prefix: str) -> dict[str, str]:
        """Outputs whose key starts with ``prefix`` (case-insensitively), by the rest of the key."""
        return {name[len(prefix):]: value for name, value in self.outputs
                if name.lower().startswith(prefix.lower()) and len(name) > len(prefix)}


class ProviderRefused(OperationError):
    """The provider answered Success=false: it refused our Web Service
    Password or an input, so it made no decision. Result code 9, as any
    failure of another server: the administrator must fix the provider's
    configuration, the caller cannot."""

    code = ResultCode.REMOTE_FAILURE

    def __init__(self, message: str, provider: str):
        super().__init__(message)
        self.provider = provider


# ---------------------------------------------------------------- the gateway


class ProviderGateway:
    def __init__(self, db, remote, write_groups: Callable[[], object] = lambda: None,
                 snapshot_seconds: float = SNAPSHOT_SECONDS):
        """``write_groups()`` is the runtime's commit group, once there is one."""
        self._db = db
        self.remote = remote
        self._write_groups = write_groups
        self.snapshot_seconds = snapshot_seconds
        self._lock = threading.Lock()
        self._snapshot: provider_settings.AllProviderSettings | None = None
        self._read_at = 0.0

    # ---- settings

    def settings(self, session=None) -> provider_settings.AllProviderSettings:
        """Every provider's settings, at most SNAPSHOT_SECONDS old. Inside a
        transaction pass its ``session`` (read there when the snapshot is
        stale), or a function returning it (called only then: a hot path
        that has no ORM session need not make one); else they are read in a
        transaction of their own."""
        now = time.monotonic()
        snapshot = self._snapshot
        if snapshot is not None and now - self._read_at < self.snapshot_seconds:
            return snapshot
        if callable(session):
            session = session()
        if session is not None:
            snapshot = provider_settings.load(session)
        else:
            with self._db.transaction(writes=False) as own:
                snapshot = provider_settings.load(own)
        with self._lock:
            self._snapshot, self._read_at = snapshot, now
        return snapshot

    def forget(self) -> None:
        """Read the settings again at their next use (they changed)."""
        with self._lock:
            self._snapshot = None

    def external(self, name: str, session=None):
        """The settings of provider ``name`` when it is enabled as an external
        web service, else None (stws's built-in behaviour applies)."""
        settings = self.settings(session).by_name[name]
        return settings if settings.is_external else None

    # ---- calling

    def leave_commit_group(self) -> None:
        """Raise LeavesCommitGroup on the commit-group thread: its caller is
        about to call a provider (or to read what it will send one, which is
        wasted work there)."""
        groups = self._write_groups()
        if groups is not None and groups.on_its_thread():
            raise LeavesCommitGroup()

    def call(self, name: str, method: str, inputs: Iterable[tuple[str, object]],
             accepts: Callable[[str], bool] = lambda key: True, settings=None) -> ProviderAnswer | None:
        """Call ``method`` of provider ``name`` with ``inputs`` (pairs; authPW
        is added); None when the provider is not external. Outputs for which
        ``accepts(key)`` is false are dropped and logged (a provider newer
        than us may send more)."""
        if settings is None:
            settings = self.settings().by_name[name]
        if not settings.is_external:
            return None
        self.leave_commit_group()
        if self._db is not None:  # never while holding a SOAP call's pooled connection (runner.call)
            self._db.release_connection()
        kind = provider_settings.find(name)
        items = [encode_item("authPW", settings.WebServicePassword)]
        items += [encode_item(key, value) for key, value in inputs]
        result = self.remote.call(settings.WebServiceUrl, method, inputs={"InputVariables": {"string": items}},
                                  peer="the " + kind.label, timeout=settings.TimeoutSeconds)
        message = (getattr(result, "Message", None) or "").strip()
        if not getattr(result, "Success", False):
            raise ProviderRefused("The %s (%s) did not handle %s: %s" % (
                kind.label, settings.WebServiceUrl, method, message or "it answered Success=false without a "
                                                                        "Message"), kind.name)
        outputs = []
        for key, value in (decode_item(item) for item in _strings(getattr(result, "OutputVariables", None))):
            if accepts(key):
                outputs.append((key, value))
            else:
                providers_log.info("%s on the %s: ignored the unknown output %r", method, kind.label, key)
        return ProviderAnswer(kind.name, method, message, tuple(outputs), _custom_field_changes(result))


def _strings(array) -> list[str]:
    """The items of an ArrayOfString as zeep gives it (None, an object with
    ``.string``, or a list)."""
    if array is None:
        return []
    items = getattr(array, "string", array)
    return [item for item in (items or []) if item is not None]


def _custom_field_changes(result) -> tuple[CustomFieldChange, ...]:
    array = getattr(result, "CustomFieldDataItems", None)
    if array is None:
        return ()
    items = getattr(array, "ExternalCustomFieldData", array) or []
    changes = []
    for item in items:
        name = (getattr(item, "CustomFieldName", None) or "").strip()
        if not name:
            continue
        changes.append(CustomFieldChange(
            name=name, change_visible=bool(item.ChangeVisible), visible=bool(item.NewVisibleValue),
            change_required=bool(item.ChangeRequired), required=bool(item.NewRequiredValue),
            change_list_options=bool(item.ChangeListOptions),
            list_options=tuple(_strings(getattr(item, "ListOptions", None))),
            display_with_information_lookup=bool(getattr(item, "DisplayWithInformationLookup", False))))
    return tuple(changes)


def keys(*names: str) -> Callable[[str], bool]:
    """An ``accepts`` for outputs named ``names`` (case-insensitively);
    a name ending in ``*`` accepts every key with that prefix (``cf_*``)."""
    exact = {name.lower() for name in names if not name.endswith("*")}
    prefixes = tuple(name[:-1].lower() for name in names if name.endswith("*"))

    def accepts(key: str) -> bool:
        lowered = key.lower()
        return lowered in exact or (bool(prefixes) and lowered.startswith(prefixes))

    return accepts
