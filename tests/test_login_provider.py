"""The login and registration providers where they act, over SOAP (zeep)
against the sample provider (examples/providers/python) on loopback: SOAP
calls as a provider-backed user create the account and are then served
from the credential cache, a refused password counts towards the lockout,
a provider that is down is result code 9 for its users while local accounts
keep working, and CreateUser asks the registration provider first."""
from __future__ import annotations

import time

import pytest
import pytest_twisted
from sqlalchemy import func, select
from twisted.internet import defer

from conftest import failed, ok, strings
from stws.db.models import User
from stws.errors import AuthenticationFailed, ResultCode
from stws.providers import login
from test_external_providers import configure, external, refused_url  # noqa: F401 - refused_url is a fixture

ALICE = ("alice", "alice-pw")  # a user of the sample provider's test config (write_config)
MISSING_TICKET = 999_999


def provider_calls(provider, method: str) -> int:
    """How often the provider answered ``method`` so far (its log has a line per call)."""
    return provider.log.read_text().count(" %s: Success=" % method)


@pytest_twisted.async_fixture
async def providers(server):
    return await server.client("svcExternalProviders")


@pytest_twisted.async_fixture
async def tickets(server):
    return await server.client("svcTickets")


@pytest_twisted.async_fixture
async def org(server):
    return await server.client("svcOrganization")


def account(server, username: str):
    with server.runtime.db.transaction(writes=False) as session:
        user = session.scalars(select(User).where(User.username == username)).one_or_none()
        if user is None:
            return None
        return {"email": user.email, "display_name": user.display_name, "auth_method": user.auth_method,
                "verified": user.is_email_verified, "roles": sorted(role.name for role in user.roles),
                "failures": user.failed_login_count, "id": user.id}


async def signed_in_call(tickets, credentials):
    """GetTicketInfo of a ticket that does not exist: NotFound once the credentials are accepted."""
    return await tickets.GetTicketInfo(*credentials, MISSING_TICKET)


async def test_a_provider_user_gets_an_account_and_later_calls_come_from_the_cache(
        server, providers, tickets, sample_provider):
    await configure(server, providers, *external("Login", sample_provider.url))
    before = provider_calls(sample_provider, "Authenticate")
    assert account(server, "alice") is None

    failed(await signed_in_call(tickets, ALICE), ResultCode.NOT_FOUND)
    created = account(server, "alice")
    assert created["email"] == "alice@example.com" and created["display_name"] == "Alice Example"
    assert created["auth_method"] == "external" and created["verified"] is False
    assert created["roles"] == ["Everyone", "Registered Users"]  # Login.DefaultRole's default

    for _ in range(3):
        failed(await signed_in_call(tickets, ALICE), ResultCode.NOT_FOUND)
    assert provider_calls(sample_provider, "Authenticate") == before + 1  # the others were cache hits
    assert account(server, "alice")["id"] == created["id"]

    # A cached credential lives EXTERNAL_CREDENTIAL_SECONDS at most: the
    # provider is asked again after that (the entry's deadline moved back).
    cache = server.runtime.authenticator.cache
    assert cache.ttl > login.EXTERNAL_CREDENTIAL_SECONDS
    key = cache.key(*ALICE)
    user_id, stamp, expires, roles = cache._entries[key]
    assert expires - time.monotonic() <= login.EXTERNAL_CREDENTIAL_SECONDS
    cache._entries[key] = (user_id, stamp, 0.0, roles)
    failed(await signed_in_call(tickets, ALICE), ResultCode.NOT_FOUND)
    assert provider_calls(sample_provider, "Authenticate") == before + 2


async def test_first_calls_of_a_new_user_at_the_same_time_make_one_account(server, providers, tickets,
                                                                           sample_provider):
    # Calls that overlap share one Authenticate (SingleFlight); calls that
    # do not (or another node's) each link: the second insert of the same
    # name fails on the unique user name and links to the first.
    await configure(server, providers, *external("Login", sample_provider.url))
    results = await defer.gatherResults([tickets.GetTicketInfo(*ALICE, MISSING_TICKET) for _ in range(4)])
    for result in results:
        failed(result, ResultCode.NOT_FOUND)
    with server.runtime.db.transaction(writes=False) as session:
        assert session.scalar(select(func.count()).select_from(User).where(User.username == "alice")) == 1


async def test_default_role_and_verified_email_come_from_the_login_settings(server, providers, tickets,
                                                                              sample_provider):
    await configure(server, providers, *external("Login", sample_provider.url), "Login.MarkEmailVerified=true")
    failed(await signed_in_call(tickets, ALICE), ResultCode.NOT_FOUND)
    created = account(server, "alice")
    assert created["verified"] is True and created["roles"] == ["Everyone", "Registered Users with Verified Email"]

    await configure(server, providers, "Login.MarkEmailVerified=false", "Login.DefaultRole=Everyone")
    failed(await signed_in_call(tickets, ("mallory", "mallory-pw")), ResultCode.NOT_FOUND)
    assert account(server, "mallory")["roles"] == ["Everyone"]


async def test_refused_passwords_count_towards_the_lockout(server, providers, tickets, sample_provider):
    await configure(server, providers, *external("Login", sample_provider.url))
    failed(await signed_in_call(tickets, ALICE), ResultCode.NOT_FOUND)  # the account exists
    for attempt in range(11):
        message = failed(await signed_in_call(tickets, ("alice", "wrong-%d" % attempt)),
                         ResultCode.AUTHENTICATION_FAILED)
        assert message == "The user name or password is incorrect."
    before = provider_calls(sample_provider, "Authenticate")
    # Locked: even the right password (cached before) is refused, and the provider is not asked.
    failed(await signed_in_call(tickets, ALICE), ResultCode.ACCOUNT_LOCKED, "too many failed logins")
    assert provider_calls(sample_provider, "Authenticate") == before


async def test_an_unknown_name_the_provider_refuses_is_plainly_incorrect(server, providers, tickets,
                                                                          sample_provider):
    await configure(server, providers, *external("Login", sample_provider.url))
    for credentials in (("nobody", "whatever"), ("alice", "not-her-password")):
        message = failed(await signed_in_call(tickets, credentials), ResultCode.AUTHENTICATION_FAILED)
        assert message == "The user name or password is incorrect."
        assert account(server, credentials[0]) is None


async def test_a_password_account_is_never_sent_to_the_provider(server, providers, tickets, org, sample_provider):
    # A local "alice" with a password of her own: the provider's alice cannot take it over.
    ok(await org.CreateUser(*server.admin, "alice", "local-Passw0rd!", "alice@local.example", False, ""))
    await configure(server, providers, *external("Login", sample_provider.url))
    before = provider_calls(sample_provider, "Authenticate")
    failed(await signed_in_call(tickets, ALICE), ResultCode.AUTHENTICATION_FAILED)
    failed(await signed_in_call(tickets, ("alice", "local-Passw0rd!")), ResultCode.NOT_FOUND)
    failed(await signed_in_call(tickets, server.admin), ResultCode.NOT_FOUND)
    assert provider_calls(sample_provider, "Authenticate") == before
    assert account(server, "alice")["auth_method"] == "password"


async def test_an_external_account_signs_in_through_the_provider_on_a_quick_write(server, providers, org,
                                                                                  sample_provider):
    # An administrator made the account External; SetUsersProperties is a
    # quick write (on SQLite the commit-group thread), where a credential not
    # in the cache must leave that thread before the provider is asked.
    user_id = ok(await org.CreateUser(*server.admin, "alice", "local-Passw0rd!", "old@example.com", False,
                                      "")).RequestResult
    ok(await org.SetUsersProperties(*server.admin, user_id, strings("AuthenticationMethod=External")))
    failed(await org.SetUsersProperties("alice", "local-Passw0rd!", user_id, strings("TimeZone=Europe/Paris")),
           ResultCode.AUTHENTICATION_FAILED, "not enabled")  # the provider is off: no way in yet
    await configure(server, providers, *external("Login", sample_provider.url))
    failed(await org.SetUsersProperties("alice", "local-Passw0rd!", user_id, strings("TimeZone=Europe/Paris")),
           ResultCode.AUTHENTICATION_FAILED)  # the old local password is not hers any more
    ok(await org.SetUsersProperties(*ALICE, user_id, strings("TimeZone=Europe/Paris")))
    linked = account(server, "alice")
    assert linked["id"] == user_id and linked["email"] == "alice@example.com"  # brought up to date
    assert linked["display_name"] == "Alice Example"
    assert linked["failures"] == 1  # the refused local password counted


async def test_a_provider_that_is_down_is_code_9_for_its_users_and_local_accounts_still_work(
        server, providers, tickets, org, refused_url):  # noqa: F811
    user_id = ok(await org.CreateUser(*server.admin, "ext", "local-Passw0rd!", "ext@example.com", False,
                                      "")).RequestResult
    ok(await org.SetUsersProperties(*server.admin, user_id, strings("AuthenticationMethod=External")))
    await configure(server, providers, *external("Login", refused_url), "Login.TimeoutSeconds=2")
    for credentials in (("ext", "any-password"), ("newcomer", "any-password")):
        message = failed(await signed_in_call(tickets, credentials), ResultCode.REMOTE_FAILURE, "login provider",
                         "Accounts with a password still sign in")
        assert "any-password" not in message
    assert account(server, "newcomer") is None
    assert account(server, "ext")["failures"] == 0  # an outage is not the user's fault
    failed(await signed_in_call(tickets, server.admin), ResultCode.NOT_FOUND)  # the administrator works


# ---------------------------------------------------------------- registration provider


async def test_registration_refused_creates_nothing(server, providers, org, sample_provider):
    await configure(server, providers, *external("Registration", sample_provider.url))
    before = provider_calls(sample_provider, "Register")
    message = failed(await org.CreateUser(*server.admin, "outsider", "outsider-Passw0rd", "o@elsewhere.example",
                                          False, ""), ResultCode.INVALID_ARGUMENT, "Customers only.")
    assert message.startswith("The registration provider refused the account outsider")
    assert account(server, "outsider") is None
    assert provider_calls(sample_provider, "Register") == before + 1


async def test_registration_stores_the_display_name_the_provider_gives(server, providers, org, sample_provider):
    await configure(server, providers, *external("Registration", sample_provider.url))
    # A known customer's address: the provider answers her display name.
    ok(await org.CreateUser(*server.admin, "alice2", "alice2-Passw0rd", "alice@example.com", False, "Typed Name"))
    assert account(server, "alice2")["display_name"] == "Alice Example"
    # Someone it does not know: accepted, the name given kept.
    ok(await org.CreateUser(*server.admin, "carol", "carol-Passw0rd", "carol@example.com", False, "Carol C"))
    assert account(server, "carol")["display_name"] == "Carol C"


async def test_registration_provider_down_creates_nothing(server, providers, org, refused_url):  # noqa: F811
    await configure(server, providers, *external("Registration", refused_url), "Registration.TimeoutSeconds=2")
    failed(await org.CreateUser(*server.admin, "someone", "someone-Passw0rd", "s@example.com", False, ""),
           ResultCode.REMOTE_FAILURE, "was not created", "registration provider")
    assert account(server, "someone") is None


# ---------------------------------------------------------------- the single sign-on cookie


@pytest.mark.parametrize("value, says", [
    ("alice|%d|%s", None),
    ("alice|%d|0000%s", "signature is wrong"),
    ("bob|%d|%s", "signature is wrong"),  # alice's signature on another name
    ("alice", "malformed"),
])
def test_sso_cookie_format(value, says):
    secret, now = "shared-secret", 1_700_000_000
    good = login.sso_cookie_value(secret, "alice", now + 60)
    signature = good.rsplit("|", 1)[1]
    cookie = value % (now + 60, signature) if "%" in value else value
    if says is None:
        assert login.sso_username(secret, cookie, now) == "alice"
        assert login.sso_username(secret, cookie.replace("|", "%7C"), now) == "alice"  # percent-encoded
        return
    with pytest.raises(AuthenticationFailed) as refused:
        login.sso_username(secret, cookie, now)
    assert says in refused.value.message


def test_sso_cookie_expiry():
    secret, now = "shared-secret", 1_700_000_000
    with pytest.raises(AuthenticationFailed) as expired:
        login.sso_username(secret, login.sso_cookie_value(secret, "alice", now - 1), now)
    assert "expired" in expired.value.message
    with pytest.raises(AuthenticationFailed) as too_long:
        login.sso_username(secret, login.sso_cookie_value(secret, "alice", now + 2 * 86400), now)
    assert "more than 24 hours" in too_long.value.message
