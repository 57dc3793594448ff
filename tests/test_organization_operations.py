"""The organization's operations (stws.operations.organization) run as the
management interface runs them: ``runner.run`` with a principal, no SOAP.
Role rules, the paged user list, locking, the cached listings, and that a
SOAP call and a direct run of the same operation agree."""
from __future__ import annotations

import pytest
from twisted.internet import threads

from conftest import strings
from stws.config import Config
from stws.domain.directory import Listing
from stws.errors import AccountLocked, InvalidArgument, InvalidState, NotFound, PermissionDenied
from stws.domain.organization import AgentEntry, UserPage
from stws.domain.properties import InvalidProperties
from stws.operations import organization as ops
from stws.operations.runner import OperationSpec, PasswordCredentials, authenticate, run
from stws.runtime import start_runtime
from stws.security import roles
from stws.security.principals import Principal
from stws.services.organization import OrganizationService
from stws.soap.operation import invoke
from stws.soap.writer import RenderedOnce

ADMIN_PASSWORD = "admin-passw0rd-1"


@pytest.fixture
def runtime(tmp_path, database_url, monkeypatch):
    monkeypatch.setenv("STWS_ADMIN_PASSWORD", ADMIN_PASSWORD)
    runtime = start_runtime(Config(data_dir=tmp_path / "data", database=database_url))
    yield runtime
    runtime.close()


def admin_of(runtime):
    """The seeded administrator, as authentication makes them."""
    return authenticate(runtime, PasswordCredentials("admin", ADMIN_PASSWORD))


def new_user(runtime, admin, name, *role_names, email=None, display_name=None) -> int:
    user_id = run(runtime, ops.create_user, admin,
                  (name, "passw0rd-1", email or "%s@example.com" % name, True, display_name or name.title()))
    if role_names:
        run(runtime, ops.set_user_properties, admin, (user_id, ["Roles=%s" % ",".join(role_names)]))
    return user_id


def specs_needing(role: str) -> list[OperationSpec]:
    return [spec for spec in vars(ops).values() if isinstance(spec, OperationSpec) and spec.role == role]


# ------------------------------------------------------------------ roles


def test_every_administrator_operation_refuses_an_agent(runtime):
    agent = Principal(2, "agnes", roles.effective_roles([roles.AGENT]))
    administrator_only = specs_needing(roles.ADMINISTRATOR)
    assert ops.list_users in administrator_only and ops.create_user in administrator_only
    for spec in administrator_only:
        # The role is checked first: the arguments are never looked at.
        with pytest.raises(PermissionDenied, match="Administrator role"):
            run(runtime, spec, agent, ())


def test_agent_operations_refuse_a_customer_and_serve_an_agent(runtime):
    customer = Principal(2, "carl", roles.effective_roles([roles.VERIFIED]))
    agent = Principal(2, "agnes", roles.effective_roles([roles.AGENT]))
    with pytest.raises(PermissionDenied, match="Agent role"):
        run(runtime, ops.get_all_departments, customer)
    assert [d.name for d in run(runtime, ops.get_all_departments, agent)]


def test_administrator_creates_and_reads_a_user(runtime):
    admin = admin_of(runtime)
    user_id = new_user(runtime, admin, "carol")
    user = run(runtime, ops.get_user, admin, (user_id,))
    assert (user.username, user.email, user.display_name) == ("carol", "carol@example.com", "Carol")
    assert sorted(r.name for r in user.roles) == ["Everyone", "Registered Users with Verified Email"]
    assert run(runtime, ops.get_user_by_username, admin, ("CAROL",)).id == user_id
    with pytest.raises(NotFound):
        run(runtime, ops.get_user, admin, (user_id + 100,))


def test_a_bad_new_password_is_refused_before_the_transaction(runtime):
    with pytest.raises(InvalidArgument, match="at least 8"):
        run(runtime, ops.create_user, admin_of(runtime), ("dave", "short", "d@example.com", False, ""))


def test_every_bad_field_of_a_new_user_is_named_by_its_key_and_nothing_is_created(runtime):
    admin = admin_of(runtime)
    with pytest.raises(InvalidProperties) as refused:
        run(runtime, ops.create_user_with_roles, admin, ("has space", "short", "nope", False, "x" * 201, []))
    assert sorted(refused.value.by_key) == ["DisplayName", "Email", "Password", "UserName"]
    assert "at least 8" in refused.value.by_key["Password"] and "at least 8" in refused.value.message
    with pytest.raises(InvalidProperties) as refused:
        run(runtime, ops.create_user_with_roles, admin, ("rita", "passw0rd-1", "r@example.com", True, "",
                                                         [roles.AGENT, "Wizard"]))
    assert "no role named 'Wizard'" in refused.value.by_key["Roles"]
    # One bad field: its message alone, as SOAP's CreateUser has always said it.
    with pytest.raises(InvalidArgument) as refused:
        run(runtime, ops.create_user, admin, ("rita", "passw0rd-1", "not-an-email", False, ""))
    assert refused.value.message == "'not-an-email' is not a valid email address."
    assert run(runtime, ops.list_users, admin, ("rita", "", 0, 10)).total == 0


def test_a_user_created_with_roles_has_those_and_everyone(runtime):
    admin = admin_of(runtime)
    sam = run(runtime, ops.create_user_with_roles, admin,
              ("sam", "passw0rd-1", "sam@example.com", False, "Sam", [roles.AGENT, roles.EVERYONE]))
    assert sorted(r.name for r in run(runtime, ops.get_user, admin, (sam,)).roles) == [roles.AGENT, roles.EVERYONE]
    assert authenticate(runtime, PasswordCredentials("sam", "passw0rd-1")).has_role(roles.AGENT)
    tia = run(runtime, ops.create_user_with_roles, admin, ("tia", "passw0rd-1", "tia@example.com", True, "", []))
    assert sorted(r.name for r in run(runtime, ops.get_user, admin, (tia,)).roles) == [roles.EVERYONE, roles.VERIFIED]


def test_users_read_their_own_properties_and_change_only_their_profile(runtime):
    admin = admin_of(runtime)
    erin_id = new_user(runtime, admin, "erin")
    other_id = new_user(runtime, admin, "frank")
    erin = Principal(erin_id, "erin", roles.effective_roles([roles.VERIFIED]))
    values = run(runtime, ops.get_user_properties, erin, (erin_id, ["UserName", "Nonsense"]))
    assert (values.items, values.unknown) == (["UserName=erin"], ["Nonsense"])
    with pytest.raises(PermissionDenied, match="Agent role"):
        run(runtime, ops.get_user_properties, erin, (other_id, []))
    assert run(runtime, ops.set_user_properties, erin, (erin_id, ["DisplayName=Erin E"])) == ["DisplayName"]
    with pytest.raises(PermissionDenied, match="roles"):
        run(runtime, ops.set_user_properties, erin, (erin_id, ["Roles=Administrator"]))


# ------------------------------------------------------------- user list


def test_list_users_pages_by_user_name_with_the_total(runtime):
    admin = admin_of(runtime)
    for n in range(12):
        new_user(runtime, admin, "user%02d" % n)
    first = run(runtime, ops.list_users, admin, ("user", "", 0, 5))
    assert isinstance(first, UserPage)
    assert [u.username for u in first.users] == ["user00", "user01", "user02", "user03", "user04"]
    assert first.total == 12
    last = run(runtime, ops.list_users, admin, ("user", None, 10, 5))
    assert ([u.username for u in last.users], last.total) == (["user10", "user11"], 12)
    everyone = run(runtime, ops.list_users, admin, ("", "", 0, 500))
    assert everyone.total == 13 and everyone.users[0].username == "admin"
    assert run(runtime, ops.list_users, admin, ("", "", 13, 5)).users == []


def test_list_users_searches_name_email_and_display_name_in_any_case(runtime):
    admin = admin_of(runtime)
    new_user(runtime, admin, "gina", email="gina@acme.test", display_name="Gina Smith")
    new_user(runtime, admin, "hal", email="hal@other.test", display_name="Hal Smithers")
    new_user(runtime, admin, "ivy_2", email="ivy@acme.test", display_name="Ivy")

    def found(text, role=""):
        page = run(runtime, ops.list_users, admin, (text, role, 0, 50))
        assert page.total == len(page.users)
        return [u.username for u in page.users]

    assert found("GIN") == ["gina"]
    assert found("acme") == ["gina", "ivy_2"]
    assert found("smith") == ["gina", "hal"]
    # % and _ are matched literally, not as LIKE wildcards.
    assert found("_") == ["ivy_2"]
    assert found("%") == []
    assert found("nobody") == []


def test_list_users_by_role_as_assigned(runtime):
    admin = admin_of(runtime)
    new_user(runtime, admin, "jane", roles.AGENT)
    new_user(runtime, admin, "kurt", roles.MANAGER)
    new_user(runtime, admin, "lena")

    def found(role, text=""):
        return [u.username for u in run(runtime, ops.list_users, admin, (text, role, 0, 50)).users]

    # The seeded admin was given Agent and Administrator; Manager implies Agent but is not Agent.
    assert found("agent") == ["admin", "jane"]
    assert found(roles.MANAGER) == ["kurt"]
    assert found(roles.ADMINISTRATOR) == ["admin"]
    assert found(roles.VERIFIED) == ["lena"]
    assert found(roles.AGENT, text="kurt") == []
    with pytest.raises(InvalidArgument, match="no role named"):
        found("Wizard")


@pytest.mark.parametrize("offset, count", [(-1, 10), (0, 0), (0, 501), (None, 10), (0, None)])
def test_list_users_refuses_a_bad_page(runtime, offset, count):
    with pytest.raises(InvalidArgument):
        run(runtime, ops.list_users, admin_of(runtime), ("", "", offset, count))


def test_list_users_leaves_deleted_users_out(runtime):
    admin = admin_of(runtime)
    gone = new_user(runtime, admin, "mona")
    run(runtime, ops.delete_user, admin, (gone,))
    page = run(runtime, ops.list_users, admin, ("mona", "", 0, 10))
    assert (page.users, page.total) == ([], 0)


# ---------------------------------------------------------------- locking


def test_lock_and_unlock_a_user(runtime):
    admin = admin_of(runtime)
    user_id = new_user(runtime, admin, "nina")
    nina = PasswordCredentials("nina", "passw0rd-1")
    assert authenticate(runtime, nina).user_id == user_id  # cached now: the lock must still take effect
    run(runtime, ops.set_user_locked_out, admin, (user_id, True))
    assert run(runtime, ops.get_user, admin, (user_id,)).is_locked_out
    with pytest.raises(AccountLocked):
        authenticate(runtime, nina)
    run(runtime, ops.set_user_locked_out, admin, (user_id, False))
    assert authenticate(runtime, nina).user_id == user_id
    with pytest.raises(InvalidState, match="lock the account you are calling with"):
        run(runtime, ops.set_user_locked_out, admin, (admin.user_id, True))


# ------------------------------------------------------- cached listings


def test_listings_are_shared_until_the_directory_changes(runtime):
    admin = admin_of(runtime)
    agents = run(runtime, ops.get_all_agents, admin)
    assert isinstance(agents, Listing) and all(isinstance(a, AgentEntry) for a in agents)
    assert run(runtime, ops.get_all_agents, admin) is agents
    olga = new_user(runtime, admin, "olga", roles.AGENT)
    now = run(runtime, ops.get_all_agents, admin)
    assert now is not agents and "olga" in [a.username for a in now]

    run(runtime, ops.add_agent_to_group, admin, (1, olga, "Primary", True, 4))
    (member,) = run(runtime, ops.get_agents_for_group, admin, (1,))
    assert (member.username, member.distribution_mode, member.max_tickets_enabled, member.max_tickets) == (
        "olga", "primary", True, 4)
    with pytest.raises(NotFound):
        run(runtime, ops.get_agents_for_group, admin, (99,))

    (group,) = run(runtime, ops.get_all_groups, admin)
    (department,) = run(runtime, ops.get_all_departments, admin)
    assert group.is_front_line and department.front_line_group_id == group.id
    assert group.department_id == department.id


def test_soap_serves_a_cached_listing_as_the_same_result_objects(runtime):
    # GetAllAgents is the hot path of bench/soap_throughput.py: a cache hit
    # converts nothing and the writer reuses the XML of the RenderedOnce.
    binding = OrganizationService.public_methods["GetAllAgents"].function.stws_spec
    first = invoke(binding, runtime, "admin", ADMIN_PASSWORD, ())
    assert type(first.Agents) is RenderedOnce and [a.UserName for a in first.Agents] == ["admin"]
    assert invoke(binding, runtime, "admin", ADMIN_PASSWORD, ()).Agents is first.Agents


def test_derived_values_are_made_once_per_listing():
    listing, made = Listing([1, 2]), []

    def double(items):
        made.append(items)
        return [2 * item for item in items]

    assert listing.derived(double) == [2, 4]
    assert listing.derived(double) is listing.derived(double)
    assert made == [listing]


# ------------------------------------------------ SOAP and operations agree


async def test_a_user_made_by_the_operation_reads_the_same_over_soap(server):
    runtime = server.runtime
    admin = await threads.deferToThread(authenticate, runtime, PasswordCredentials(*server.admin))
    org = await server.client("svcOrganization")

    def through_operations():
        user_id = new_user(runtime, admin, "pia", roles.AGENT, display_name="Pia P")
        run(runtime, ops.set_user_locked_out, admin, (user_id, True))
        return user_id, run(runtime, ops.get_user, admin, (user_id,))

    user_id, user = await threads.deferToThread(through_operations)
    soap = (await org.GetUser(*server.admin, user_id)).User
    assert (soap.ID, soap.UserName, soap.DisplayName, soap.EmailAddress, soap.IsLockedOut, soap.IsAgent) == (
        user.id, user.username, user.display_name, user.email, user.is_locked_out, True)
    assert soap.Roles.string == sorted(r.name for r in user.roles)
    props = (await org.GetUsersProperties(*server.admin, user_id, strings("IsLockedOut"))).RequestResults.string
    assert props == ["IsLockedOut=true"]


async def test_a_user_made_over_soap_reads_the_same_through_the_operations(server):
    runtime = server.runtime
    org = await server.client("svcOrganization")
    created = await org.CreateUser(*server.admin, "quinn", "passw0rd-1", "quinn@example.com", False, "Quinn Q")
    assert created.Result, created.Message
    admin = await threads.deferToThread(authenticate, runtime, PasswordCredentials(*server.admin))
    page = await threads.deferToThread(run, runtime, ops.list_users, admin, ("quinn", "", 0, 10))
    assert ([u.id for u in page.users], page.total) == ([created.RequestResult], 1)
    agents_soap = (await org.GetAllAgents(*server.admin)).Agents.AgentInfo
    agents_ops = await threads.deferToThread(run, runtime, ops.get_all_agents, admin)
    assert [(a.ID, a.UserName, a.IsActive) for a in agents_soap] == [
        (a.id, a.username, a.is_active_agent) for a in agents_ops]
    # Refused alike: the same operation says the same thing through both doors.
    duplicate = await org.CreateUser(*server.admin, "QUINN", "passw0rd-1", "q2@example.com", False, "")
    with pytest.raises(Exception) as refused:
        await threads.deferToThread(run, runtime, ops.create_user, admin, ("QUINN", "passw0rd-1", "q2@example.com",
                                                                          False, ""))
    assert (duplicate.Result, duplicate.ResultCode, duplicate.Message) == (
        False, int(refused.value.code), refused.value.message)

