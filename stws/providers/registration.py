"""The registration provider where it acts: ``Register``, asked before an
account is created (svcOrganization's CreateUser, the management
interface's New user form), in the operation's ``consult`` step, so that
no transaction is open while it answers.

stws's definition of the method (SmarterTrack documents none): inputs
``loginUsername``, ``emailAddress``, ``displayName``; outputs
``Registration=OK`` or ``Registration=REFUSED`` (the reason in Message),
with OK optionally ``DisplayName`` and ``EmailAddress`` to store instead of
the ones given. REFUSED refuses the creation with the provider's Message;
the provider down is result code 9. Either way nothing is created.
"""
from __future__ import annotations

from stws.errors import OperationError, ResultCode
from stws.providers import accounts
from stws.providers.gateway import ProviderRefused, keys
from stws.remote.errors import FailureKind, RemoteFailure

PROVIDER = "Registration"
_OUTPUTS = keys("Registration", "DisplayName", "EmailAddress")


class RegistrationRefused(OperationError):
    """The registration provider answered Registration=REFUSED: its Message
    says why (a business decision, unlike a provider that is down)."""

    code = ResultCode.INVALID_ARGUMENT


def register(runtime, username: str, email: str, display_name: str) -> tuple[str, str]:
    """The email address and display name to store for the new account:
    those given, or those the provider answered instead. Unchanged when
    the provider is not enabled as an external web service."""
    settings = runtime.providers.external(PROVIDER)
    if settings is None:
        return email, display_name
    inputs = [("loginUsername", username), ("emailAddress", email), ("displayName", display_name)]
    try:
        answer = runtime.providers.call(PROVIDER, "Register", inputs, accepts=_OUTPUTS, settings=settings)
    except (RemoteFailure, ProviderRefused) as failure:
        raise RemoteFailure("The account %s was not created: the registration provider failed: %s" % (
            username, accounts.sentence(failure.message)), getattr(failure, "kind", FailureKind.REFUSED)) from None
    verdict = answer.get("Registration").strip().upper()
    if verdict == "REFUSED":
        raise RegistrationRefused("The registration provider refused the account %s: %s" % (
            username, accounts.sentence(answer.message) if answer.message else "it gave no reason."))
    if verdict != "OK":
        raise RemoteFailure("The account %s was not created: the registration provider answered Register without "
                            "Registration=OK or Registration=REFUSED." % username, FailureKind.UNEXPECTED_ANSWER)
    given_email, given_name = accounts.account_values(answer, username)
    return given_email or email, given_name or display_name
