"""The login provider where it acts: checking the password of an External
account (or of a user name no account has) with ``Authenticate``, and
single sign-on cookies with ``GetSignInCookieInfo``.

Order of work, so that no connection or transaction waits on the provider:
the authenticator reads the account and closes its connection
(stws.operations.runner), then the provider is called here, then one short
transaction creates or links the local account
(stws.domain.organization.link_external_user).

Decisions (README, "Login provider"):

* Only External accounts and unknown names are sent to the provider. An
  account with a password (the administrator) is checked locally and never
  sent, even when the provider knows the same name: it keeps working when
  the provider is down, and the provider cannot take it over.
* ``Authentication=FAIL`` of an existing account counts towards its lockout
  like a wrong password; of an unknown name it is the plain "user name or
  password is incorrect".
* A credential the provider vouched for is cached like a verified password,
  for EXTERNAL_CREDENTIAL_SECONDS at most, so the provider is not called on
  every SOAP call, and a password changed or an account closed at the
  provider stops working here within that time.
* The provider down (unreachable, timeout, fault, Success=false, an answer
  without Authentication=OK|FAIL): RemoteFailure, result code 9, nothing
  created.

Single sign-on cookie (SSO_COOKIE), set by another site on the same base
domain for the help desk's host: ``<username>|<expiry, Unix seconds>|<hex
HMAC-SHA256(SingleSignOnSecret, "<username>|<expiry>")>``, optionally
percent-encoded. ``sso_cookie_value`` makes one (tests, and the snippet in
the README).
"""
from __future__ import annotations

import hashlib
import hmac
import time
import urllib.parse

from sqlalchemy.exc import IntegrityError

from stws.domain import validation
from stws.domain.context import Context
from stws.errors import AuthenticationFailed, InvalidArgument
from stws.domain.organization import link_external_user
from stws.providers import accounts
from stws.providers.gateway import ProviderRefused, keys
from stws.remote.errors import FailureKind, RemoteFailure
from stws.remote.single_flight import SingleFlight
from stws.security.auth import INCORRECT, ProviderCheck, effective_roles_of
from stws.security.passwords import burn_equal_time
from stws.security.principals import Principal

PROVIDER = "Login"
# How long a credential the login provider vouched for is trusted without
# asking it again (capped by the credential cache's own lifetime).
EXTERNAL_CREDENTIAL_SECONDS = 30.0
SSO_COOKIE = "stws_sso"
# A cookie valid for longer than this is refused: the other site must issue
# short-lived cookies, so a stolen one is not a key for ever.
MAX_SSO_COOKIE_SECONDS = 24 * 3600

_OUTPUTS = keys("Authentication", "EmailAddress", "DisplayName")
# Keyed by the credential cache's key: an HMAC under that cache's own random
# secret, so one process's runtimes never share a verdict.
_VERIFYING = SingleFlight()


# ---------------------------------------------------------------- passwords


def check_password(runtime, pending: ProviderCheck, password: str) -> Principal:
    """The principal of ``pending`` once the login provider accepted
    ``password``; AuthenticationFailed (with the account's id, to count
    towards its lockout) when it refused, RemoteFailure (code 9) when it could
    not be asked. Call with no connection open."""
    settings = runtime.providers.external(PROVIDER)
    if settings is None:
        if pending.user_id is None:
            burn_equal_time(password)  # as long as a wrong password: no probing of names
            raise AuthenticationFailed(INCORRECT)
        raise AuthenticationFailed("The account %s signs in through the login provider, which is not enabled; "
                                   "ask an administrator." % pending.username)
    username = pending.username.strip()
    if pending.user_id is None and not _storable(username):
        raise AuthenticationFailed(INCORRECT)  # no account could ever have this name

    def verify() -> Principal:
        answer = _ask(runtime, settings, "Authenticate", username, [("loginUsername", username),
                                                                     ("loginPassword", password)])
        if not _accepted(answer, username):
            raise AuthenticationFailed(INCORRECT, user_id=pending.user_id)
        principal, stamp = _link(runtime, settings, username, answer)
        runtime.authenticator.cache.store(pending.cache_key, principal.user_id, stamp, principal.roles,
                                          ttl=EXTERNAL_CREDENTIAL_SECONDS)
        return principal

    # The same user name and password arriving together (a client's burst
    # of calls when the cached verdict expired) ask the provider once.
    return _VERIFYING.run(pending.cache_key, verify)


# ---------------------------------------------------------------- single sign-on


def sso_cookie_value(secret: str, username: str, expires_unix: int) -> str:
    """The value of the single sign-on cookie naming ``username`` until ``expires_unix``."""
    payload = "%s|%d" % (username, expires_unix)
    return payload + "|" + _signature(secret, payload)


def _signature(secret: str, payload: str) -> str:
    return hmac.new(secret.encode("utf-8"), payload.encode("utf-8"), hashlib.sha256).hexdigest()


def sso_username(secret: str, value: str, now: float | None = None) -> str:
    """The user name a single sign-on cookie names, once its signature and
    expiry are checked; AuthenticationFailed saying what is wrong."""
    now = time.time() if now is None else now
    username, _, rest = urllib.parse.unquote(value or "").strip().partition("|")
    expires, _, signature = rest.partition("|")
    if not username or not expires.isdigit() or not signature:
        raise AuthenticationFailed("The single sign-on cookie is malformed: it must be "
                                   "<user name>|<expiry in Unix seconds>|<hex HMAC-SHA256>.")
    expected = _signature(secret, "%s|%s" % (username, expires))
    if not hmac.compare_digest(expected.encode("ascii"), signature.strip().lower().encode("ascii", "replace")):
        raise AuthenticationFailed("The single sign-on cookie's signature is wrong: the site that set it must "
                                   "sign it with the Single Sign-On Secret configured here.")
    if int(expires) <= now:
        raise AuthenticationFailed("The single sign-on cookie has expired; sign in again.")
    if int(expires) > now + MAX_SSO_COOKIE_SECONDS:
        raise AuthenticationFailed("The single sign-on cookie is valid for more than %d hours; the site that "
                                   "set it must issue shorter-lived ones." % (MAX_SSO_COOKIE_SECONDS // 3600))
    return username


def sso_enabled(runtime) -> bool:
    settings = runtime.providers.external(PROVIDER)
    return settings is not None and settings.EnableSingleSignOnCookies and bool(settings.SingleSignOnSecret)


def check_cookie(runtime, value: str) -> Principal:
    """The principal a single sign-on cookie names, once verified and
    confirmed by the provider's GetSignInCookieInfo (the account created or
    linked as a password check does). Only External accounts and unknown
    names sign in this way: a cookie naming an account with a password is
    refused, so the other site cannot sign in as the administrator."""
    settings = runtime.providers.external(PROVIDER)
    if settings is None or not settings.EnableSingleSignOnCookies or not settings.SingleSignOnSecret:
        raise AuthenticationFailed("Single sign-on is not enabled.")
    username = sso_username(settings.SingleSignOnSecret, value)
    with runtime.db.reading() as connection:
        user = runtime.authenticator.account(connection, username)  # AccountLocked when locked
    if user is None and not _storable(username):
        raise AuthenticationFailed("The single sign-on cookie names %r, which is not a valid user name." % username)
    if user is not None and user.auth_method != "external":
        raise AuthenticationFailed("The account %s signs in with a password, not by single sign-on." % user.username)
    answer = _ask(runtime, settings, "GetSignInCookieInfo", username, [("loginUsername", username)])
    if not _accepted(answer, username):
        raise AuthenticationFailed("The login provider does not know the user %s named by the single sign-on "
                                   "cookie." % username)
    return _link(runtime, settings, username, answer)[0]


# ---------------------------------------------------------------- shared steps


def _storable(username: str) -> bool:
    try:
        validation.username(username)
    except InvalidArgument:
        return False
    return True


def _ask(runtime, settings, method: str, username: str, inputs):
    try:
        return runtime.providers.call(PROVIDER, method, inputs, accepts=_OUTPUTS, settings=settings)
    except (RemoteFailure, ProviderRefused) as failure:
        raise RemoteFailure("%s signs in through the login provider, which failed: %s Accounts with a password "
                            "still sign in." % (username, accounts.sentence(failure.message)),
                            getattr(failure, "kind", FailureKind.REFUSED)) from None


def _accepted(answer, username: str) -> bool:
    verdict = answer.get("Authentication").strip().upper()
    if verdict not in ("OK", "FAIL"):
        raise RemoteFailure("The login provider answered %s for %s without Authentication=OK or "
                            "Authentication=FAIL." % (answer.method, username), FailureKind.UNEXPECTED_ANSWER)
    return verdict == "OK"


def _link(runtime, settings, username: str, answer) -> tuple[Principal, str]:
    """Create or update the local account in one short transaction: its
    principal and security stamp."""
    email, display_name = accounts.account_values(answer, username)
    try:
        return _link_once(runtime, settings, username, email, display_name)
    except IntegrityError:  # a first sign-in of the same new name at the same time created it
        return _link_once(runtime, settings, username, email, display_name)


def _link_once(runtime, settings, username: str, email: str, display_name: str) -> tuple[Principal, str]:
    with runtime.db.transaction() as session:
        user = link_external_user(Context.in_session(session, None, runtime), username, email, display_name,
                                  settings.DefaultRole, settings.MarkEmailVerified)
        roles = effective_roles_of(session.connection(), user.id)
        return Principal(user_id=user.id, username=user.username, roles=roles, is_active_agent=user.is_active_agent,
                         last_heartbeat_utc=user.last_heartbeat_utc), user.security_stamp
