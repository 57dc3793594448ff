"""Testing a provider: one call of one of its methods with an input that
cannot change anything on its side, timed, and what it says of the
provider (TestProvider, the self-diagnostic's check per enabled provider).

Each provider is called with ``authPW`` (its Web Service Password) and none
of the inputs its method needs to act, so it can only check the password and
answer ``Success=false, Message=Missing input...``:

* Login: Authenticate with an empty ``loginUsername`` and ``loginPassword``
  (no user signs in, and no account can be locked by the attempt);
* Registration: Register without a user name or address (nothing to register);
* Custom field: GetCustomFieldOptions without a department (it only reads);
* Ticket / Live chat: StartTicket / StartChat without a department or sender
  (nothing can be started);
* User information: GetUserInformation without a customer;
* Events: RecordEvent without an eventId or eventType (nothing is recorded).

``Success=false`` with "Permission Denied" (SmarterTrack's sample wording)
means the password was refused; any other answer means it was accepted.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

from stws.diagnostics.selfcheck import FAILURE, PASS, Check
from stws.errors import InvalidState
from stws.providers import settings as provider_settings
from stws.remote import FailureKind, RemoteFailure

HARMLESS_CALLS = {
    "Login": ("Authenticate", ("loginUsername=", "loginPassword=")),
    "Registration": ("Register", ()),
    "CustomField": ("GetCustomFieldOptions", ()),
    "Ticket": ("StartTicket", ()),
    "LiveChat": ("StartChat", ()),
    "UserInformation": ("GetUserInformation", ()),
    "Events": ("RecordEvent", ()),
}
# Failures where nothing answered at the URL (the others got some answer: a web page, a fault, ...).
_NO_ANSWER = frozenset({FailureKind.UNREACHABLE, FailureKind.TIMEOUT, FailureKind.CIRCUIT_OPEN,
                        FailureKind.BUDGET})


@dataclass(frozen=True)
class ProviderTest:
    provider: str
    method: str
    is_reachable: bool
    password_accepted: bool
    elapsed_ms: int
    message: str  # for a person: what works or what went wrong
    detail: str  # what was called, and what the provider answered

    @property
    def passed(self) -> bool:
        return self.is_reachable and self.password_accepted


def probe_configured_provider(runtime, name: str) -> ProviderTest:
    """Test the provider ``name`` with its stored settings. Never call it
    inside a transaction: the settings are read in one of its own, which ends
    before the provider is called."""
    kind = provider_settings.find(name)
    with runtime.db.transaction(writes=False) as session:
        settings = provider_settings.load(session).by_name[kind.name]
    if not settings.WebServiceUrl:
        raise InvalidState("The %s has no Web Service URL to test; set %s.WebServiceUrl first." % (
            kind.label, kind.name))
    return probe(runtime.remote, kind, settings)


def probe(remote, kind: provider_settings.ProviderKind, settings) -> ProviderTest:
    method, inputs = HARMLESS_CALLS[kind.name]
    url = settings.WebServiceUrl
    items = ["authPW=" + settings.WebServicePassword, *inputs]
    called = "Called %s at %s with %s." % (method, url, ", ".join(
        item.split("=", 1)[0] for item in items))
    # A test is what an administrator does after changing the provider: read
    # its WSDL again and give it a call even if it failed just before.
    remote.invalidate(url)
    started = time.monotonic()
    try:
        result = remote.call(url, method, inputs={"InputVariables": {"string": items}}, peer="the " + kind.label,
                             timeout=settings.TimeoutSeconds)
    except RemoteFailure as failure:
        return ProviderTest(kind.name, method, failure.kind not in _NO_ANSWER, False, _ms_since(started),
                            failure.message, "%s Failed [%s]." % (called, failure.kind.value))
    elapsed = _ms_since(started)
    success, said = bool(getattr(result, "Success", False)), getattr(result, "Message", None) or ""
    answered = "%s It answered Success=%s%s." % (called, "true" if success else "false",
                                                 ', Message="%s"' % said if said else "")
    if not success and "permission denied" in said.lower():
        return ProviderTest(kind.name, method, True, False, elapsed, (
            "The %s at %s answered in %d ms but refused the Web Service Password (%s)." % (
                kind.label, url, elapsed, said)), answered)
    return ProviderTest(kind.name, method, True, True, elapsed, (
        "The %s at %s answered %s in %d ms and accepted the Web Service Password." % (
            kind.label, url, method, elapsed)), answered)


def check_external_providers(runtime):
    """Self-diagnostic: one check per provider enabled as an external web
    service (the others call nobody)."""
    with runtime.db.transaction(writes=False) as session:
        stored = provider_settings.load(session)
    results = []
    for kind in provider_settings.PROVIDERS:
        settings = stored.by_name[kind.name]
        if settings.is_external:
            outcome = probe(runtime.remote, kind, settings)
            results.append(Check("External %s" % kind.label, PASS if outcome.passed else FAILURE, outcome.message))
    return results


def _ms_since(started: float) -> int:
    return int(round((time.monotonic() - started) * 1000))
