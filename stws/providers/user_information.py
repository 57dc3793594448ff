"""Asking the user information provider about a customer
(GetUserInformation), with a short cache of its answers.

The method takes ``loginUsername`` and ``emailAddress`` (as the sample
provider defines it: either identifies the customer) and answers
``OutputVariables`` of any keys it likes (``Plan=Gold``,
``Account since=2019-04-01``): stws shows them to agents as they come.

An agent opening a ticket's Communication tab, then another of the same
customer, would call the provider each time; its answers are kept
CACHE_SECONDS per customer, and dropped when the providers' settings change
(``UserInformationCache.clear``, on this node; other nodes keep theirs at
most CACHE_SECONDS). Failures are not kept: the next look-up tries again.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from stws.remote.single_flight import SingleFlight

CACHE_SECONDS = 60.0
# Bounds the memory of a busy help desk; the oldest answers go first.
CACHE_ENTRIES = 10_000
PROVIDER = "UserInformation"
METHOD = "GetUserInformation"


@dataclass(frozen=True)
class UserInformation:
    """What stws can say of one customer."""

    pairs: tuple[tuple[str, str], ...]  # the provider's OutputVariables, in its order
    message: str  # the provider's Message, or why there is nothing to show
    provider_enabled: bool = True


class UserInformationCache:
    """Answers by customer (user name and address, case-insensitively), each
    for CACHE_SECONDS. Thread-safe: SOAP and page threads share it."""

    def __init__(self, seconds: float = CACHE_SECONDS, entries: int = CACHE_ENTRIES):
        self.seconds = seconds
        self.entries = entries
        self._lock = threading.Lock()
        self._answers: dict[tuple[str, str], tuple[float, UserInformation]] = {}
        # Look-ups of the same customer that miss together share one call.
        self.asking = SingleFlight()

    @staticmethod
    def key(login_username: str, email_address: str) -> tuple[str, str]:
        return (login_username or "").strip().lower(), (email_address or "").strip().lower()

    def get(self, key: tuple[str, str]) -> UserInformation | None:
        with self._lock:
            found = self._answers.get(key)
            if found is None:
                return None
            stored_at, answer = found
            if time.monotonic() - stored_at >= self.seconds:
                del self._answers[key]
                return None
            return answer

    def put(self, key: tuple[str, str], answer: UserInformation) -> None:
        with self._lock:
            self._answers.pop(key, None)
            while len(self._answers) >= self.entries:
                # Dicts keep insertion order: the first is the oldest.
                del self._answers[next(iter(self._answers))]
            self._answers[key] = (time.monotonic(), answer)

    def clear(self) -> None:
        with self._lock:
            self._answers.clear()


PROVIDER_IS_OFF = UserInformation(
    (), "The user information provider is off (Settings > Tools > External Providers), so there is no "
        "information from it to show.", provider_enabled=False)
NO_CUSTOMER = UserInformation((), "There is no customer user name or email address to ask the user information "
                                  "provider about.")


def look_up(gateway, cache: UserInformationCache, login_username: str, email_address: str) -> UserInformation:
    """The provider's Key=Value pairs about the customer with this user name
    and/or address. Never call it inside a transaction (it may call the
    provider). Provider off: no pairs and a Message saying so; provider
    unreachable or refusing: RemoteFailure / ProviderRefused (code 9)."""
    settings = gateway.external(PROVIDER)
    if settings is None:
        return PROVIDER_IS_OFF
    if not (login_username or "").strip() and not (email_address or "").strip():
        return NO_CUSTOMER
    key = cache.key(login_username, email_address)
    answer = cache.get(key)
    if answer is not None:
        return answer

    def ask() -> UserInformation:
        inputs = [("loginUsername", login_username or ""), ("emailAddress", email_address or "")]
        reply = gateway.call(PROVIDER, METHOD, inputs, settings=settings)
        if reply is None:  # switched off between the two reads
            return PROVIDER_IS_OFF
        answer = UserInformation(reply.outputs, reply.message)
        cache.put(key, answer)
        return answer

    # Agents opening the same customer's ticket together ask the provider once.
    return cache.asking.run(key, ask)
