"""The LDAP login provider (examples/providers/ldap/) against a real
OpenLDAP: a throw-away slapd on loopback (tests/slapd.py), the provider in
its own process as administrators start it, called through stws's own
outbound gateway (ProviderGateway + PeerClient) as the sign-in will call it.
"""
from __future__ import annotations

import importlib.util
import re
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
import pytest_twisted
from sqlalchemy import select
from twisted.internet import threads

from conftest import failed, ok, strings
from slapd import READER_DN, READER_PASSWORD, PEOPLE, LdapUser, Slapd, make_tls_files, skip_unless_slapd
from stws.db.models import User
from stws.errors import ResultCode
from stws.providers.gateway import ProviderGateway, ProviderRefused, keys
from stws.providers.settings import WEB_SERVICE, ProviderSettings
from stws.remote import PeerClient
from test_external_providers import external
from test_sample_provider import AUTH_PW, RunningProvider

pytestmark = skip_unless_slapd()

LDAP_DIR = Path(__file__).resolve().parent.parent / "examples" / "providers" / "ldap"
LDAP_SCRIPT = LDAP_DIR / "ldap_provider.py"


def _load_module():
    spec = importlib.util.spec_from_file_location("ldap_provider", LDAP_SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


ldap_provider = _load_module()

ALICE = LdapUser("alice", "alice-ldap-pw", "alice@example.com", "Alice Example")
BOB = LdapUser("bob", "bob-ldap-pw", "bob@example.org", None, cn="Bob Builder")  # no displayName
ZOE = LdapUser("zoe", "zoë-pässword", "zoe@example.com", "Zoë Ünicode")
USERS = [ALICE, BOB, ZOE]
LOGIN_OUTPUTS = keys("Authentication", "EmailAddress", "DisplayName")


def write_config(directory: Path, url: str, **ldap) -> Path:
    """A provider config: search under ou=people as the service account,
    unless ``ldap`` overrides (a key with value None is left out)."""
    values = dict(url=url, base_dn=PEOPLE, user_filter="(&(objectClass=inetOrgPerson)(uid={username}))",
                  bind_dn=READER_DN, bind_password=READER_PASSWORD, connect_timeout="5", timeout="5")
    values.update(ldap)
    config = directory / "ldap-provider.ini"
    config.write_text("[provider]\nauth_password = %s\n\n[ldap]\n" % AUTH_PW + "".join(
        "%s = %s\n" % (key, value) for key, value in values.items() if value is not None), encoding="utf-8")
    return config


@pytest.fixture(scope="module")
def directory(tmp_path_factory):
    server = Slapd(tmp_path_factory.mktemp("slapd"), USERS)
    server.start()
    yield server
    server.stop()


def start_provider(tmp_path_factory, url: str, **ldap) -> RunningProvider:
    return RunningProvider(write_config(tmp_path_factory.mktemp("ldap-provider"), url, **ldap), script=LDAP_SCRIPT)


@pytest.fixture(scope="module")
def searching(tmp_path_factory, directory):
    """The provider finding users by a search, as the service account."""
    running = start_provider(tmp_path_factory, directory.url)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def templated(tmp_path_factory, directory):
    """The provider binding to uid=<name>,ou=people,... directly, without a
    service account (it reads the entry as the user)."""
    running = start_provider(tmp_path_factory, directory.url, base_dn=None, user_filter=None, bind_dn=None,
                             bind_password=None, user_dn_template="uid={username},%s" % PEOPLE)
    yield running
    running.stop()


@pytest.fixture
def gateway():
    yield ProviderGateway(db=None, remote=PeerClient())


def login_settings(url: str, password: str = AUTH_PW) -> ProviderSettings:
    return ProviderSettings(Enabled=True, Mode=WEB_SERVICE, WebServiceUrl=url, WebServicePassword=password)


def login(gateway, provider, method, *pairs, password=AUTH_PW):
    """The provider's answer as stws gets it, from a thread (PeerClient
    never calls on the reactor thread)."""
    return threads.deferToThread(gateway.call, "Login", method, list(pairs), LOGIN_OUTPUTS,
                                 login_settings(provider.url, password))


def authenticate(gateway, provider, username, password):
    return login(gateway, provider, "Authenticate", ("loginUsername", username), ("loginPassword", password))


def signed_in(user: LdapUser, display_name: str | None = None) -> tuple:
    return (("Authentication", "OK"), ("EmailAddress", user.mail),
            ("DisplayName", display_name or user.display_name))


FAIL = (("Authentication", "FAIL"),)


# ---------------------------------------------------------------- Authenticate


@pytest_twisted.ensureDeferred
async def test_right_password_signs_in_with_mail_and_display_name(gateway, searching):
    answer = await authenticate(gateway, searching, "alice", ALICE.password)
    assert answer.outputs == signed_in(ALICE)


@pytest_twisted.ensureDeferred
async def test_display_name_falls_back_to_cn(gateway, searching):
    answer = await authenticate(gateway, searching, "bob", BOB.password)
    assert answer.outputs == signed_in(BOB, "Bob Builder")


@pytest_twisted.ensureDeferred
async def test_non_ascii_password_and_display_name(gateway, searching):
    answer = await authenticate(gateway, searching, "zoe", ZOE.password)
    assert answer.outputs == signed_in(ZOE)


@pytest_twisted.ensureDeferred
async def test_user_names_match_as_the_directory_compares_them(gateway, searching):
    # uid compares without regard to case.
    answer = await authenticate(gateway, searching, "ALICE", ALICE.password)
    assert answer.outputs == signed_in(ALICE)


@pytest.mark.parametrize("username, password", [
    ("alice", "wrong"),                 # wrong password
    ("alice", BOB.password),            # another user's password
    ("nobody", "whatever"),             # unknown user
    ("alice", ""),                      # empty password: an anonymous bind must not count
    ("*)(uid=*", "whatever"),           # filter injection
    ("*", ALICE.password),              # a wildcard for everyone
    ("ali*", ALICE.password),           # a wildcard that would find alice alone if not escaped
    ("alice)(objectClass=*", ALICE.password),
    ("x" * 300, "whatever"),            # longer than any user name
])
@pytest_twisted.ensureDeferred
async def test_fails(gateway, searching, username, password):
    answer = await authenticate(gateway, searching, username, password)
    assert answer.outputs == FAIL


@pytest_twisted.ensureDeferred
async def test_missing_user_name_is_refused(gateway, searching):
    # What stws's TestProvider sends (no user name): Success=false without
    # asking the directory, which TestProvider takes as the password accepted.
    with pytest.raises(ProviderRefused, match="Missing input: loginUsername"):
        await login(gateway, searching, "Authenticate", ("loginPassword", "x"))


@pytest_twisted.ensureDeferred
async def test_wrong_web_service_password_is_refused(gateway, searching):
    with pytest.raises(ProviderRefused, match="Permission Denied"):
        await login(gateway, searching, "Authenticate", ("loginUsername", "alice"),
                    ("loginPassword", ALICE.password), password="not-the-password")


# ---------------------------------------------------------------- GetSignInCookieInfo


@pytest_twisted.ensureDeferred
async def test_sign_in_cookie_info_for_a_known_user(gateway, searching):
    answer = await login(gateway, searching, "GetSignInCookieInfo", ("loginUsername", "bob"))
    assert answer.outputs == signed_in(BOB, "Bob Builder")


@pytest.mark.parametrize("username", ["nobody", "*", "b*"])
@pytest_twisted.ensureDeferred
async def test_sign_in_cookie_info_for_an_unknown_user(gateway, searching, username):
    answer = await login(gateway, searching, "GetSignInCookieInfo", ("loginUsername", username))
    assert answer.outputs == FAIL


# ---------------------------------------------------------------- a DN template, no service account


@pytest_twisted.ensureDeferred
async def test_dn_template_signs_in_and_reads_the_entry_as_the_user(gateway, templated):
    answer = await authenticate(gateway, templated, "alice", ALICE.password)
    assert answer.outputs == signed_in(ALICE)


@pytest.mark.parametrize("username, password", [
    ("alice", "wrong"), ("nobody", "whatever"), ("alice", ""),
    ("alice,ou=people", ALICE.password),  # a DN's separator, escaped into the uid value
    ("*", ALICE.password),
])
@pytest_twisted.ensureDeferred
async def test_dn_template_fails(gateway, templated, username, password):
    answer = await authenticate(gateway, templated, username, password)
    assert answer.outputs == FAIL


# ---------------------------------------------------------------- the directory failing


@pytest_twisted.ensureDeferred
async def test_directory_stopped_is_a_provider_failure(gateway, tmp_path_factory):
    server = Slapd(tmp_path_factory.mktemp("slapd-stopping"), [ALICE])
    server.start()
    provider = start_provider(tmp_path_factory, server.url)
    try:
        answer = await authenticate(gateway, provider, "alice", ALICE.password)
        assert answer.outputs == signed_in(ALICE)
        server.stop()
        # Not FAIL (that would tell alice her password is wrong): the
        # provider says it could not ask, and stws reports code 9.
        with pytest.raises(ProviderRefused, match="LDAP directory could not be asked") as refused:
            await authenticate(gateway, provider, "alice", ALICE.password)
        assert refused.value.code == ResultCode.REMOTE_FAILURE
        with pytest.raises(ProviderRefused, match="LDAP directory could not be asked"):
            await login(gateway, provider, "GetSignInCookieInfo", ("loginUsername", "alice"))
        server.start(same_port=True)
        # Back at once: no memory of the outage.
        answer = await authenticate(gateway, provider, "alice", ALICE.password)
        assert answer.outputs == signed_in(ALICE)
    finally:
        provider.stop()
        server.stop()


@pytest_twisted.ensureDeferred
async def test_the_next_server_answers_when_the_first_is_down(gateway, tmp_path_factory, directory):
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        down = "ldap://127.0.0.1:%d" % probe.getsockname()[1]
    provider = start_provider(tmp_path_factory, "%s %s" % (down, directory.url))
    try:
        answer = await authenticate(gateway, provider, "alice", ALICE.password)
        assert answer.outputs == signed_in(ALICE)
    finally:
        provider.stop()


@pytest_twisted.ensureDeferred
async def test_a_directory_that_never_answers_times_out(gateway, tmp_path_factory):
    # A socket that accepts connections (the kernel's backlog) and never
    # answers: the provider gives up after its own timeout, well before
    # stws's (10 s), and says so.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        provider = start_provider(tmp_path_factory, "ldap://127.0.0.1:%d" % silent.getsockname()[1],
                                  connect_timeout="1", timeout="1")
        try:
            with pytest.raises(ProviderRefused, match="LDAP directory could not be asked"):
                await authenticate(gateway, provider, "alice", ALICE.password)
        finally:
            provider.stop()


@pytest_twisted.ensureDeferred
async def test_service_account_refused_is_a_provider_failure(gateway, tmp_path_factory, directory):
    provider = start_provider(tmp_path_factory, directory.url, bind_password="not-the-reader-password")
    try:
        with pytest.raises(ProviderRefused, match="refused the service account"):
            await authenticate(gateway, provider, "alice", ALICE.password)
    finally:
        provider.stop()


# ---------------------------------------------------------------- TLS


@pytest.fixture(scope="module")
def tls_directory(tmp_path_factory):
    """A slapd with a certificate from a test CA: StartTLS on its ldap://
    port, TLS from the start on its ldaps:// port."""
    home = tmp_path_factory.mktemp("slapd-tls")
    server = Slapd(home, [ALICE], tls=make_tls_files(home))
    server.start()
    yield server
    server.stop()


@pytest.mark.parametrize("how", ["start_tls", "ldaps"])
@pytest_twisted.ensureDeferred
async def test_tls_with_the_directorys_ca(gateway, tmp_path_factory, tls_directory, how):
    url = tls_directory.url if how == "start_tls" else tls_directory.ldaps_url
    provider = start_provider(tmp_path_factory, url, start_tls="yes" if how == "start_tls" else "no",
                              ca_file=tls_directory.tls.ca)
    try:
        answer = await authenticate(gateway, provider, "alice", ALICE.password)
        assert answer.outputs == signed_in(ALICE)
    finally:
        provider.stop()


@pytest.mark.parametrize("how", ["start_tls", "ldaps"])
@pytest_twisted.ensureDeferred
async def test_tls_refuses_a_certificate_it_cannot_verify(gateway, tmp_path_factory, tls_directory, how):
    # No ca_file: the system's CAs did not sign the test CA's certificate.
    url = tls_directory.url if how == "start_tls" else tls_directory.ldaps_url
    provider = start_provider(tmp_path_factory, url, start_tls="yes" if how == "start_tls" else "no")
    try:
        with pytest.raises(ProviderRefused, match="LDAP directory could not be asked"):
            await authenticate(gateway, provider, "alice", ALICE.password)
    finally:
        provider.stop()


# ---------------------------------------------------------------- for administrators


def test_wsdl_publishes_the_login_methods_only(searching):
    with urllib.request.urlopen(searching.url + "?WSDL", timeout=30) as response:
        wsdl = response.read().decode("utf-8")
    assert 'soapAction="http://tempuri.org/Authenticate"' in wsdl
    assert 'soapAction="http://tempuri.org/GetSignInCookieInfo"' in wsdl
    assert "StartTicket" not in wsdl and "ExternalLoginProviderResult" in wsdl


def test_calls_are_logged_without_passwords(searching):
    log = searching.log.read_text()
    assert "Authenticate: Success=True Authentication=OK" in log
    assert ALICE.password not in log


def test_shipped_config_loads():
    settings = ldap_provider.load_settings(LDAP_DIR / "ldap-provider.ini")
    assert settings.start_tls and settings.verify_certificates and settings.bind_dn


@pytest.mark.parametrize("ldap, message", [
    (dict(url=""), "url is required"),
    (dict(url="http://example.com"), "want ldap://host"),
    (dict(user_filter="(uid=alice)"), "user_filter containing {username}"),
    (dict(user_dn_template="uid=alice,ou=people"), "user_dn_template must contain {username}"),
    (dict(bind_password=""), "bind_password is empty"),
    (dict(timeout="soon"), "timeout: a whole number of seconds"),
    (dict(url="ldaps://127.0.0.1:636", start_tls="yes"), "start_tls is for ldap://"),
    (dict(ca_file="/nonexistent/ca.pem"), "ca_file /nonexistent/ca.pem: no such file"),
])
def test_config_errors(tmp_path, ldap, message):
    config = write_config(tmp_path, ldap.pop("url", "ldap://127.0.0.1:389"), **ldap)
    with pytest.raises(ldap_provider.soap.ConfigError, match=re.escape(message)):
        ldap_provider.load_settings(config)


def test_config_error_stops_the_provider_at_start(tmp_path):
    config = write_config(tmp_path, "ldap://127.0.0.1:389", user_filter="(uid=alice)")
    completed = subprocess.run([sys.executable, str(LDAP_SCRIPT), "--config", str(config)],
                               capture_output=True, text=True, timeout=60)
    assert completed.returncode == 2
    assert "%s: [ldap] set base_dn and a user_filter containing {username}" % config in completed.stderr


async def test_a_soap_call_signs_in_against_the_directory_through_stws(server, searching):
    """End to end: stws's login provider set to the LDAP provider; a SOAP
    call with a directory user's password creates the account from the
    directory's mail and name, and a wrong password or an unknown name is
    refused."""
    providers = await server.client("svcExternalProviders")
    ok(await providers.SetProviderSettings(*server.admin, strings(*external("Login", searching.url))))
    tickets = await server.client("svcTickets")
    missing = 999_999  # NotFound once the caller is signed in
    failed(await tickets.GetTicketInfo(ALICE.uid, ALICE.password, missing), ResultCode.NOT_FOUND)
    with server.runtime.db.transaction(writes=False) as session:
        user = session.scalars(select(User).where(User.username == ALICE.uid)).one()
        assert (user.email, user.display_name, user.auth_method) == (ALICE.mail, ALICE.display_name, "external")
    for name, password in ((ALICE.uid, "not-it"), ("nobody", "whatever"), ("*)(uid=*", ALICE.password)):
        assert "incorrect" in failed(await tickets.GetTicketInfo(name, password, missing),
                                     ResultCode.AUTHENTICATION_FAILED)
