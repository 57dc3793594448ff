"""svcOrganization.asmx through zeep against a live server: every operation's
success and its failure cases (credentials, lockout, roles, bad arguments,
unknown ids), and that the cached directory listings show every change."""
from __future__ import annotations

import pytest
import pytest_twisted
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool
from twisted.internet import threads

from conftest import strings
from stws.errors import ResultCode

pytestmark = pytest.mark.usefixtures("server")


@pytest_twisted.async_fixture
async def org(server):
    return await server.client("svcOrganization")


async def new_user(org, admin, name, roles=None, password="passw0rd-1"):
    result = await org.CreateUser(*admin, name, password, "%s@example.com" % name, True, name.title())
    assert result.Result, result.Message
    if roles:
        changed = await org.SetUsersProperties(*admin, result.RequestResult, strings("Roles=%s" % roles))
        assert changed.Result, changed.Message
    return result.RequestResult


def properties(result) -> dict:
    return dict(item.split("=", 1) for item in result.RequestResults.string)


def assert_failed(result, code: ResultCode, *words):
    assert result.Result is False
    assert result.ResultCode == int(code), (result.ResultCode, result.Message)
    for word in words:
        assert word.lower() in result.Message.lower(), result.Message


# ------------------------------------------------------------------ users


async def test_create_user_then_read_its_properties(server, org):
    user_id = await new_user(org, server.admin, "carol")
    result = await org.GetUsersProperties(*server.admin, user_id, strings("UserName", "email", "IsEmailVerified", "Roles"))
    assert result.Result
    assert properties(result) == {
        "UserName": "carol", "Email": "carol@example.com", "IsEmailVerified": "true",
        "Roles": "Everyone,Registered Users with Verified Email",
    }


async def test_create_user_rejects_bad_input_and_duplicates(server, org):
    admin = server.admin
    assert_failed(await org.CreateUser(*admin, "", "passw0rd-1", "a@example.com", False, ""),
                  ResultCode.INVALID_ARGUMENT, "user name")
    assert_failed(await org.CreateUser(*admin, "has space", "passw0rd-1", "a@example.com", False, ""),
                  ResultCode.INVALID_ARGUMENT, "may only contain")
    assert_failed(await org.CreateUser(*admin, "dave", "short", "a@example.com", False, ""),
                  ResultCode.INVALID_ARGUMENT, "at least 8")
    assert_failed(await org.CreateUser(*admin, "dave", "passw0rd-1", "not-an-email", False, ""),
                  ResultCode.INVALID_ARGUMENT, "not a valid email")
    await new_user(org, admin, "dave")
    assert_failed(await org.CreateUser(*admin, "DAVE", "passw0rd-1", "d2@example.com", False, ""),
                  ResultCode.ALREADY_EXISTS, "taken")


async def test_new_user_can_log_in_with_the_password_given(server, org):
    await new_user(org, server.admin, "erin", password="erin-secret-1")
    # A plain registered user has no agent rights, but the credentials work.
    result = await org.GetAllDepartments("erin", "erin-secret-1")
    assert_failed(result, ResultCode.PERMISSION_DENIED, "Agent role")
    result = await org.GetAllDepartments("erin", "wrong-password")
    assert_failed(result, ResultCode.AUTHENTICATION_FAILED)


async def test_set_users_properties_is_all_or_nothing(server, org):
    user_id = await new_user(org, server.admin, "frank")
    result = await org.SetUsersProperties(*server.admin, user_id, strings("DisplayName=Franky", "Bogus=1", "TimeZone=Mars/Base"))
    assert_failed(result, ResultCode.INVALID_ARGUMENT, "no property 'Bogus'", "TimeZone")
    props = properties(await org.GetUsersProperties(*server.admin, user_id, strings("DisplayName", "TimeZone")))
    assert props == {"DisplayName": "Frank", "TimeZone": "UTC"}

    result = await org.SetUsersProperties(
        *server.admin, user_id,
        strings("displayname=Franky", "TimeZone=Europe/Berlin", "ForcePasswordChange=true", "Roles=Agent"))
    assert result.Result, result.Message
    props = properties(await org.GetUsersProperties(*server.admin, user_id, strings()))
    assert props["DisplayName"] == "Franky"
    assert props["TimeZone"] == "Europe/Berlin"
    assert props["ForcePasswordChange"] == "true"
    assert props["IsAgent"] == "true"
    assert "Password" not in props  # never readable


async def test_a_failing_call_changes_nothing(server, org):
    """Each call is one transaction: DisplayName is applied before Roles fails,
    and is rolled back with it."""
    admin_id = (await org.GetUserByUsername(*server.admin, "admin")).User.ID
    result = await org.SetUsersProperties(*server.admin, admin_id, strings("DisplayName=Changed", "Roles=Agent"))
    assert_failed(result, ResultCode.INVALID_STATE, "Administrator role")
    props = properties(await org.GetUsersProperties(*server.admin, admin_id, strings("DisplayName", "Roles")))
    assert props["DisplayName"] == "Administrator"
    assert "Administrator" in props["Roles"]


async def test_get_users_properties_reports_unknown_keys(server, org):
    user_id = await new_user(org, server.admin, "gina")
    result = await org.GetUsersProperties(*server.admin, user_id, strings("Email", "ShoeSize"))
    assert result.Result
    assert properties(result) == {"Email": "gina@example.com"}
    assert "ShoeSize" in result.Message


async def test_password_change_invalidates_the_old_password_at_once(server, org):
    user_id = await new_user(org, server.admin, "hank", roles="Agent", password="old-password-1")
    assert (await org.GetAllDepartments("hank", "old-password-1")).Result  # now cached
    result = await org.SetUsersProperties(*server.admin, user_id, strings("Password=new-password-1"))
    assert result.Result, result.Message
    assert_failed(await org.GetAllDepartments("hank", "old-password-1"), ResultCode.AUTHENTICATION_FAILED)
    assert (await org.GetAllDepartments("hank", "new-password-1")).Result


async def test_users_may_change_only_their_own_profile(server, org):
    ivy = await new_user(org, server.admin, "ivy", password="ivy-password-1")
    jack = await new_user(org, server.admin, "jack")
    assert (await org.SetUsersProperties("ivy", "ivy-password-1", ivy, strings("DisplayName=Ivy B"))).Result
    assert_failed(await org.SetUsersProperties("ivy", "ivy-password-1", ivy, strings("Roles=Administrator")),
                  ResultCode.PERMISSION_DENIED, "roles")
    assert_failed(await org.SetUsersProperties("ivy", "ivy-password-1", jack, strings("DisplayName=x")),
                  ResultCode.PERMISSION_DENIED, "another user")
    assert_failed(await org.GetUsersProperties("ivy", "ivy-password-1", jack, strings()),
                  ResultCode.PERMISSION_DENIED)
    props = properties(await org.GetUsersProperties(*server.admin, ivy, strings("Roles")))
    assert "Administrator" not in props["Roles"]


async def test_get_user_and_by_username_and_not_found(server, org):
    user_id = await new_user(org, server.admin, "kate")
    by_id = await org.GetUser(*server.admin, user_id)
    by_name = await org.GetUserByUsername(*server.admin, "KATE")
    assert by_id.Result and by_name.Result
    assert by_id.User.UserName == by_name.User.UserName == "kate"
    assert by_id.User.EmailAddress == "kate@example.com"
    assert by_id.User.IsEmailVerified is True
    assert by_id.User.DateCreatedUtc.tzinfo is not None
    assert_failed(await org.GetUser(*server.admin, 9999), ResultCode.NOT_FOUND, "9999")
    assert_failed(await org.GetUserByUsername(*server.admin, "nobody"), ResultCode.NOT_FOUND, "nobody")
    assert_failed(await org.GetUsersProperties(*server.admin, 9999, strings()), ResultCode.NOT_FOUND)
    assert_failed(await org.SetUsersProperties(*server.admin, 9999, strings("DisplayName=x")), ResultCode.NOT_FOUND)


async def test_delete_user(server, org):
    user_id = await new_user(org, server.admin, "liam", password="liam-password-1")
    assert (await org.DeleteUser(*server.admin, user_id)).Result
    assert_failed(await org.GetUser(*server.admin, user_id), ResultCode.NOT_FOUND)
    assert_failed(await org.GetAllDepartments("liam", "liam-password-1"), ResultCode.AUTHENTICATION_FAILED)
    # The name is free again.
    assert (await org.CreateUser(*server.admin, "liam", "passw0rd-2", "l@example.com", False, "")).Result
    assert_failed(await org.DeleteUser(*server.admin, user_id), ResultCode.NOT_FOUND)
    admin_id = (await org.GetUserByUsername(*server.admin, "admin")).User.ID
    assert_failed(await org.DeleteUser(*server.admin, admin_id), ResultCode.INVALID_STATE)


# ------------------------------------------------------------------ auth


async def test_wrong_credentials_are_reported_in_band(server, org):
    assert_failed(await org.GetAllGroups("admin", "nope"), ResultCode.AUTHENTICATION_FAILED, "incorrect")
    assert_failed(await org.GetAllGroups("ghost", "nope"), ResultCode.AUTHENTICATION_FAILED, "incorrect")
    assert_failed(await org.GetAllGroups("", ""), ResultCode.AUTHENTICATION_FAILED, "empty")
    assert_failed(await org.GetAllGroups(None, None), ResultCode.AUTHENTICATION_FAILED)


async def test_eleven_failures_in_five_minutes_lock_the_account(server, org):
    await new_user(org, server.admin, "mona", roles="Agent", password="mona-password-1")
    for _ in range(10):
        assert_failed(await org.GetAllGroups("mona", "bad"), ResultCode.AUTHENTICATION_FAILED)
    # The 11th failure locks the account; then even the right password is refused.
    assert_failed(await org.GetAllGroups("mona", "bad"), ResultCode.AUTHENTICATION_FAILED)
    assert_failed(await org.GetAllGroups("mona", "mona-password-1"), ResultCode.ACCOUNT_LOCKED, "seconds")
    # An administrator unlocks by resetting the password.
    user_id = (await org.GetUserByUsername(*server.admin, "mona")).User.ID
    assert (await org.SetUsersProperties(*server.admin, user_id, strings("Password=mona-password-2"))).Result
    assert (await org.GetAllGroups("mona", "mona-password-2")).Result


async def test_failures_count_within_the_window_only(server, org):
    """Ten failures alone do not lock the account."""
    await new_user(org, server.admin, "nina", roles="Agent", password="nina-password-1")
    for _ in range(10):
        await org.GetAllGroups("nina", "bad")
    assert (await org.GetAllGroups("nina", "nina-password-1")).Result


async def test_administrative_lock(server, org):
    user_id = await new_user(org, server.admin, "otto", roles="Agent", password="otto-password-1")
    assert (await org.GetAllGroups("otto", "otto-password-1")).Result
    assert (await org.SetUsersProperties(*server.admin, user_id, strings("IsLockedOut=true"))).Result
    assert_failed(await org.GetAllGroups("otto", "otto-password-1"), ResultCode.ACCOUNT_LOCKED, "administrator")
    assert (await org.SetUsersProperties(*server.admin, user_id, strings("IsLockedOut=false"))).Result
    assert (await org.GetAllGroups("otto", "otto-password-1")).Result


async def test_agents_cannot_call_administrator_operations(server, org):
    await new_user(org, server.admin, "pete", roles="Agent", password="pete-password-1")
    agent = ("pete", "pete-password-1")
    assert (await org.GetAllDepartments(*agent)).Result
    for call in (
        org.CreateUser(*agent, "x1", "passw0rd-1", "x@example.com", False, ""),
        org.CreateBrand(*agent, "B", ""),
        org.CreateDepartment(*agent, 1, "Sales", "", ""),
        org.CreateGroup(*agent, 1, "Level 2", ""),
        org.AddAgentToGroup(*agent, 1, 1, "Queue", False, 0),
        org.DeleteUser(*agent, 1),
    ):
        assert_failed(await call, ResultCode.PERMISSION_DENIED, "Administrator role")


async def test_removing_roles_takes_effect_at_once(server, org):
    user_id = await new_user(org, server.admin, "quinn", roles="Agent", password="quinn-password-1")
    assert (await org.GetAllAgents("quinn", "quinn-password-1")).Result
    assert (await org.SetUsersProperties(*server.admin, user_id, strings("Roles=Registered Users"))).Result
    assert_failed(await org.GetAllAgents("quinn", "quinn-password-1"), ResultCode.PERMISSION_DENIED)


# ------------------------------------------------------------- organisation


async def test_default_organisation(server, org):
    departments = (await org.GetAllDepartments(*server.admin)).Departments.DepartmentInfo
    assert [(d.Name, d.BrandID) for d in departments] == [("Support", 1)]
    groups = (await org.GetAllGroups(*server.admin)).Groups.GroupInfo
    assert [(g.Name, g.DepartmentID, g.IsFrontLine) for g in groups] == [("Level 1", departments[0].ID, True)]
    brands = (await org.GetAllBrands(*server.admin)).Brands.BrandInfo
    assert [(b.Name, b.IsDefault) for b in brands] == [("Default", True)]
    roles = [r.Name for r in (await org.GetAllRoles(*server.admin)).Roles.RoleInfo]
    assert roles == ["Everyone", "Registered Users", "Registered Users with Verified Email",
                     "Agent", "Manager", "Administrator"]
    agents = (await org.GetAllAgents(*server.admin)).Agents.AgentInfo
    assert [a.UserName for a in agents] == ["admin"]


async def test_brands_lifecycle(server, org):
    admin = server.admin
    created = await org.CreateBrand(*admin, "Reseller", "help.reseller.example")
    assert created.Result
    brand_id = created.RequestResult
    assert_failed(await org.CreateBrand(*admin, "reseller", ""), ResultCode.ALREADY_EXISTS)
    assert_failed(await org.CreateBrand(*admin, "  ", ""), ResultCode.INVALID_ARGUMENT)
    assert (await org.UpdateBrand(*admin, brand_id, "Reseller Ltd", "help.example", True)).Result
    brands = {b.ID: b for b in (await org.GetAllBrands(*admin)).Brands.BrandInfo}
    assert brands[brand_id].IsDefault and brands[brand_id].Name == "Reseller Ltd"
    assert not brands[1].IsDefault
    assert_failed(await org.DeleteBrand(*admin, brand_id), ResultCode.IN_USE, "default")
    assert (await org.UpdateBrand(*admin, 1, "Default", "", True)).Result
    dept = await org.CreateDepartment(*admin, brand_id, "Billing", "billing@example.com", "")
    assert_failed(await org.DeleteBrand(*admin, brand_id), ResultCode.IN_USE, "Billing")
    assert (await org.DeleteDepartment(*admin, dept.RequestResult)).Result
    assert (await org.DeleteBrand(*admin, brand_id)).Result
    assert_failed(await org.UpdateBrand(*admin, brand_id, "x", "", False), ResultCode.NOT_FOUND)


async def test_departments_and_their_settings(server, org):
    admin = server.admin
    created = await org.CreateDepartment(*admin, 1, "Sales", "sales@example.com", "Front Desk")
    assert created.Result, created.Message
    dept_id = created.RequestResult
    groups = [g for g in (await org.GetAllGroups(*admin)).Groups.GroupInfo if g.DepartmentID == dept_id]
    assert [(g.Name, g.IsFrontLine) for g in groups] == [("Front Desk", True)]
    assert_failed(await org.CreateDepartment(*admin, 1, "sales", "", ""), ResultCode.ALREADY_EXISTS)
    assert_failed(await org.CreateDepartment(*admin, 77, "Other", "", ""), ResultCode.NOT_FOUND, "brand")
    assert_failed(await org.CreateDepartment(*admin, 1, "Other", "bad address", ""), ResultCode.INVALID_ARGUMENT)

    result = await org.SetDepartmentProperties(
        *admin, dept_id, strings("AutoCloseEnabled=true", "AutoCloseHours=48", "AutoLockEnabled=yes", "AutoLockHours=24"))
    assert result.Result, result.Message
    props = properties(await org.GetDepartmentProperties(*admin, dept_id, strings()))
    assert props["AutoCloseEnabled"] == "true" and props["AutoCloseHours"] == "48"
    assert props["AutoLockEnabled"] == "true" and props["AutoLockHours"] == "24"
    assert props["FrontLineGroupID"] == str(groups[0].ID)
    assert_failed(await org.SetDepartmentProperties(*admin, dept_id, strings("AutoCloseHours=0")),
                  ResultCode.INVALID_ARGUMENT, "AutoCloseHours")
    assert_failed(await org.SetDepartmentProperties(*admin, dept_id, strings("FrontLineGroupID=1")),
                  ResultCode.INVALID_ARGUMENT, "another department")
    assert_failed(await org.SetDepartmentProperties(*admin, dept_id, strings("DepartmentID=3")),
                  ResultCode.INVALID_ARGUMENT, "cannot be changed")
    assert_failed(await org.GetDepartmentProperties(*admin, 999, strings()), ResultCode.NOT_FOUND)
    assert (await org.DeleteDepartment(*admin, dept_id)).Result
    assert dept_id not in [d.ID for d in (await org.GetAllDepartments(*admin)).Departments.DepartmentInfo]
    assert_failed(await org.DeleteDepartment(*admin, dept_id), ResultCode.NOT_FOUND)


async def test_groups_lifecycle(server, org):
    admin = server.admin
    created = await org.CreateGroup(*admin, 1, "Level 2", "Escalations")
    assert created.Result
    group_id = created.RequestResult
    assert_failed(await org.CreateGroup(*admin, 1, "level 2", ""), ResultCode.ALREADY_EXISTS)
    assert_failed(await org.CreateGroup(*admin, 42, "X", ""), ResultCode.NOT_FOUND, "department")
    assert (await org.UpdateGroup(*admin, group_id, "Level Two", "Hard cases")).Result
    groups = {g.ID: g for g in (await org.GetAllGroups(*admin)).Groups.GroupInfo}
    assert (groups[group_id].Name, groups[group_id].Description) == ("Level Two", "Hard cases")
    assert_failed(await org.UpdateGroup(*admin, group_id, "Level 1", ""), ResultCode.ALREADY_EXISTS)
    assert_failed(await org.DeleteGroup(*admin, 1), ResultCode.IN_USE, "front line")
    assert (await org.DeleteGroup(*admin, group_id)).Result
    assert_failed(await org.DeleteGroup(*admin, group_id), ResultCode.NOT_FOUND)


async def test_agents_in_groups(server, org):
    admin = server.admin
    agent_id = await new_user(org, admin, "rita", roles="Agent")
    customer_id = await new_user(org, admin, "sam")
    assert_failed(await org.AddAgentToGroup(*admin, 1, customer_id, "Queue", False, 0),
                  ResultCode.INVALID_ARGUMENT, "not an agent")
    assert_failed(await org.AddAgentToGroup(*admin, 1, agent_id, "Sideways", False, 0),
                  ResultCode.INVALID_ARGUMENT, "distribution mode")
    assert_failed(await org.AddAgentToGroup(*admin, 1, agent_id, "Primary", True, -1),
                  ResultCode.INVALID_ARGUMENT, "maxTickets")
    assert_failed(await org.AddAgentToGroup(*admin, 99, agent_id, "Primary", False, 0), ResultCode.NOT_FOUND)
    assert (await org.AddAgentToGroup(*admin, 1, agent_id, "Round Robin Primary", True, 5)).Result
    agents = (await org.GetAgentsForGroup(*admin, 1)).Agents.AgentInfo
    assert [(a.UserName, a.DistributionMode, a.MaxTicketsEnabled, a.MaxTickets) for a in agents] == [
        ("rita", "primary", True, 5)]
    # Changing the membership updates it in place.
    assert (await org.AddAgentToGroup(*admin, 1, agent_id, "secondary", False, 0)).Result
    agents = (await org.GetAgentsForGroup(*admin, 1)).Agents.AgentInfo
    assert [(a.DistributionMode, a.MaxTicketsEnabled) for a in agents] == [("secondary", False)]
    assert {a.UserName for a in (await org.GetAllAgents(*admin)).Agents.AgentInfo} == {"admin", "rita"}
    assert (await org.RemoveAgentFromGroup(*admin, 1, agent_id)).Result
    assert (await org.GetAgentsForGroup(*admin, 1)).Agents is None
    assert_failed(await org.RemoveAgentFromGroup(*admin, 1, agent_id), ResultCode.NOT_FOUND)
    assert_failed(await org.GetAgentsForGroup(*admin, 99), ResultCode.NOT_FOUND)


# ------------------------------------------------------- directory cache
#
# GetAllAgents, GetAllDepartments, GetAllGroups and GetAgentsForGroup are
# served from the node's directory cache (stws.domain.directory). Each test
# reads every listing first, so what follows a change would be a cache hit
# if the change were missed.


async def listings(org, admin, group_id=1) -> dict:
    """What the four cached operations answer, as comparable tuples."""
    agents = (await org.GetAllAgents(*admin)).Agents
    members = await org.GetAgentsForGroup(*admin, group_id)
    assert members.Result, members.Message
    departments = (await org.GetAllDepartments(*admin)).Departments
    groups = (await org.GetAllGroups(*admin)).Groups
    return dict(
        agents=[(a.UserName, a.DisplayName, a.EmailAddress, a.IsActive) for a in agents.AgentInfo] if agents else [],
        members=[(a.UserName, a.DistributionMode, a.IsReceiving, a.MaxTicketsEnabled, a.MaxTickets)
                 for a in members.Agents.AgentInfo] if members.Agents else [],
        departments=[(d.ID, d.Name) for d in departments.DepartmentInfo] if departments else [],
        groups=[(g.ID, g.Name, g.DepartmentID, g.IsFrontLine) for g in groups.GroupInfo] if groups else [],
    )


async def test_directory_listings_show_every_change_at_once(server, org):
    admin = server.admin
    cache = server.runtime.directory
    before = await listings(org, admin)
    hits = cache.hits
    assert await listings(org, admin) == before
    assert cache.hits == hits + 4  # nothing changed: all four served from the cache

    uma = await new_user(org, admin, "uma", roles="Agent")
    assert ("uma", "Uma", "uma@example.com", False) in (await listings(org, admin))["agents"]

    assert (await org.SetUsersProperties(*admin, uma, strings("DisplayName=Uma T", "Email=uma@example.net"))).Result
    assert ("uma", "Uma T", "uma@example.net", False) in (await listings(org, admin))["agents"]

    assert (await org.AddAgentToGroup(*admin, 1, uma, "Primary", True, 3)).Result
    assert (await listings(org, admin))["members"] == [("uma", "primary", False, True, 3)]
    assert (await org.AddAgentToGroup(*admin, 1, uma, "Queue", False, 0)).Result
    assert (await listings(org, admin))["members"] == [("uma", "queue", False, False, 0)]
    assert (await org.RemoveAgentFromGroup(*admin, 1, uma)).Result
    assert (await listings(org, admin))["members"] == []

    assert (await org.UpdateGroup(*admin, 1, "First Line", "")).Result
    assert (await listings(org, admin))["groups"][0][1] == "First Line"

    department = (await org.CreateDepartment(*admin, 1, "Sales", "", "Sales Desk")).RequestResult
    now = await listings(org, admin)
    assert (department, "Sales") in now["departments"]
    assert [g[1:] for g in now["groups"] if g[2] == department] == [("Sales Desk", department, True)]

    assert (await org.SetUsersProperties(*admin, uma, strings("Roles=Registered Users"))).Result
    assert "uma" not in [a[0] for a in (await listings(org, admin))["agents"]]

    vera = await new_user(org, admin, "vera", roles="Agent")
    assert (await org.AddAgentToGroup(*admin, 1, vera, "Queue", False, 0)).Result
    assert [a[0] for a in (await listings(org, admin))["members"]] == ["vera"]
    assert (await org.DeleteUser(*admin, vera)).Result
    now = await listings(org, admin)
    assert "vera" not in [a[0] for a in now["agents"]] and now["members"] == []


def run_sql(url: str, *statements: str) -> None:
    """Statements in one transaction on a connection of its own: another
    node, or the Auto-Inactive thread's Core update, as the server sees it."""
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.begin() as connection:
            for statement in statements:
                connection.execute(text(statement))
    finally:
        engine.dispose()


async def test_changes_made_behind_the_servers_back_show_at_once(server, org, database_url):
    admin = server.admin
    wendy = await new_user(org, admin, "wendy", roles="Agent")
    assert (await org.AddAgentToGroup(*admin, 1, wendy, "Queue", False, 0)).Result
    before = await listings(org, admin)
    assert ("wendy", "Wendy", "wendy@example.com", False) in before["agents"]
    assert before["members"] == [("wendy", "queue", False, False, 0)]

    # What the Auto-Inactive thread and an agent going active do, as SQL.
    await threads.deferToThread(run_sql, database_url, "UPDATE users SET is_active_agent = true WHERE id = %d" % wendy,
                                "UPDATE group_agents SET is_receiving = true WHERE user_id = %d" % wendy)
    now = await listings(org, admin)
    assert ("wendy", "Wendy", "wendy@example.com", True) in now["agents"]
    assert now["members"] == [("wendy", "queue", True, False, 0)]
    await threads.deferToThread(run_sql, database_url, "UPDATE users SET is_active_agent = false WHERE id = %d" % wendy)
    assert ("wendy", "Wendy", "wendy@example.com", False) in (await listings(org, admin))["agents"]

    await threads.deferToThread(run_sql, database_url, "UPDATE groups SET name = 'Tier 1' WHERE id = 1",
                                "UPDATE departments SET name = 'Help' WHERE id = 1",
                                "UPDATE users SET display_name = 'W.' WHERE id = %d" % wendy)
    now = await listings(org, admin)
    assert now["groups"][0][1] == "Tier 1" and now["departments"][0][1] == "Help"
    assert ("wendy", "W.", "wendy@example.com", False) in now["agents"]

    await threads.deferToThread(run_sql, database_url, "DELETE FROM user_roles WHERE user_id = %d AND role_id IN "
                                "(SELECT id FROM roles WHERE name = 'Agent')" % wendy)
    assert "wendy" not in [a[0] for a in (await listings(org, admin))["agents"]]


async def test_a_change_through_another_node_shows_on_this_one(server, org, make_config, start_server, tmp_path):
    """Two servers (runtimes with caches of their own) on one database."""
    other = await start_server.started(make_config(data_dir=tmp_path / "node2"))
    other_org = await other.client("svcOrganization")
    admin = server.admin
    before = await listings(org, admin)
    xena = await new_user(other_org, admin, "xena", roles="Agent")
    assert (await other_org.AddAgentToGroup(*admin, 1, xena, "Secondary", True, 7)).Result
    assert (await other_org.UpdateGroup(*admin, 1, "Level One", "")).Result
    now = await listings(org, admin)
    assert now != before
    assert ("xena", "Xena", "xena@example.com", False) in now["agents"]
    assert now["members"] == [("xena", "secondary", False, True, 7)]
    assert now["groups"][0][1] == "Level One"
