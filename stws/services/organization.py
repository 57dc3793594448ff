"""svcOrganization.asmx: users, agents, roles, brands, departments and groups.

The first seven operations are SmarterTrack's (CreateUser with its exact
parameter names; the others with names that its clients' usage shows). The
rest follow the same conventions for what a hosting company automating its
help desk needs: user, brand, department and group management and agent
membership with distribution mode and ticket limits.
"""
from __future__ import annotations

import datetime

from spyne import Array, ServiceBase

from stws.domain import organization as org
from stws.security import roles
from stws.soap.operation import operation
from stws.soap.types import ArrayOfString, Bool, Int, String, TypeFactory, When, service_namespace
from stws.soap.writer import RenderedOnce

SERVICE_NAME = "svcOrganization"
T = TypeFactory(service_namespace(SERVICE_NAME))

DepartmentInfo = T.complex("DepartmentInfo", [
    ("BrandID", Int), ("EmailAddress", String), ("FrontLineGroupID", Int), ("ID", Int),
    ("IsInternal", Bool), ("Name", String),
])
GroupInfo = T.complex("GroupInfo", [
    ("DepartmentID", Int), ("Description", String), ("ID", Int), ("IsFrontLine", Bool), ("Name", String),
])
AgentInfo = T.complex("AgentInfo", [
    ("DisplayName", String), ("DistributionMode", String), ("EmailAddress", String), ("ID", Int),
    ("IsActive", Bool), ("IsReceiving", Bool), ("MaxTickets", Int), ("MaxTicketsEnabled", Bool),
    ("UserName", String),
])
UserInfo = T.complex("UserInfo", [
    ("DateCreatedUtc", When), ("DisplayName", String), ("EmailAddress", String), ("ID", Int),
    ("IsAgent", Bool), ("IsEmailVerified", Bool), ("IsLockedOut", Bool), ("Roles", ArrayOfString),
    ("TimeZone", String), ("UserName", String),
])
BrandInfo = T.complex("BrandInfo", [("HostHeader", String), ("ID", Int), ("IsDefault", Bool), ("Name", String)])
RoleInfo = T.complex("RoleInfo", [
    ("Category", String), ("Description", String), ("ID", Int), ("IsCustom", Bool), ("Name", String),
])

# int[] as <ArrayOfInt><int>1</int>...</ArrayOfInt>; its items are plain
# xs:int like every value type here (no minOccurs="0": tests/test_wsdl.py).
ArrayOfInt = Array(Int, type_name="ArrayOfInt").customize(min_occurs=0, nillable=False)
RebalanceRuleInfo = T.complex("RebalanceRuleInfo", [
    ("AgentIDs", ArrayOfInt), ("DateLastRunUtc", When), ("DepartmentID", Int), ("ExecuteAtTimeUtc1", String),
    ("ExecuteAtTimeUtc2", String), ("ExecuteAtTimeUtc3", String), ("ExecuteOnAgentActivate", Bool),
    ("ExecuteOnAgentDeactivate", Bool), ("ExecuteOnIntervalSeconds", Int), ("GroupID", Int),
    ("HoldSecondsAssigned", Int), ("HoldSecondsCompose", Int), ("HoldSecondsPinned", Int), ("HoldSecondsRead", Int),
    ("ID", Int), ("IncludeAllAgents", Bool), ("Name", String),
])

DepartmentInfoArrayResult = T.result("DepartmentInfoArrayResult", Departments=T.array_of(DepartmentInfo))
GroupInfoArrayResult = T.result("GroupInfoArrayResult", Groups=T.array_of(GroupInfo))
AgentInfoArrayResult = T.result("AgentInfoArrayResult", Agents=T.array_of(AgentInfo))
UserInfoResult = T.result("UserInfoResult", User=T.member(UserInfo))
BrandInfoArrayResult = T.result("BrandInfoArrayResult", Brands=T.array_of(BrandInfo))
RoleInfoArrayResult = T.result("RoleInfoArrayResult", Roles=T.array_of(RoleInfo))
RebalanceRuleInfoArrayResult = T.result("RebalanceRuleInfoArrayResult", Rules=T.array_of(RebalanceRuleInfo))


def department_info(department):
    return DepartmentInfo(
        BrandID=department.brand_id, EmailAddress=department.email_address,
        FrontLineGroupID=department.front_line_group_id or 0, ID=department.id,
        IsInternal=department.is_internal, Name=department.name,
    )


def group_info(group):
    return GroupInfo(
        DepartmentID=group.department_id, Description=group.description, ID=group.id,
        IsFrontLine=group.department.front_line_group_id == group.id, Name=group.name,
    )


def agent_info(user, membership=None):
    return AgentInfo(
        DisplayName=user.display_name, EmailAddress=user.email, ID=user.id, UserName=user.username,
        IsActive=user.is_active_agent,
        DistributionMode=membership.distribution_mode if membership else "",
        IsReceiving=bool(membership and membership.is_receiving),
        MaxTickets=membership.max_tickets if membership else 0,
        MaxTicketsEnabled=bool(membership and membership.max_tickets_enabled),
    )


def listing(call, key, items):
    """The result objects ``items()`` makes, shared by every call until the
    directory changes (stws.domain.directory): a hit costs one single-row
    query, and the XML is written once (RenderedOnce). Failures (an
    unknown group) are not cached."""
    return call.runtime.directory.get(call.connection, key, lambda: RenderedOnce(items()))


def user_info(user):
    return UserInfo(
        DateCreatedUtc=user.date_created_utc, DisplayName=user.display_name, EmailAddress=user.email,
        ID=user.id, IsAgent=org.is_agent(user), IsEmailVerified=user.is_email_verified,
        IsLockedOut=user.is_locked_out, Roles=sorted(role.name for role in user.roles),
        TimeZone=user.time_zone, UserName=user.username,
    )


# A rule that never ran reports .NET's DateTime.MinValue.
NEVER = datetime.datetime(1, 1, 1, tzinfo=datetime.timezone.utc)


def rebalance_rule_info(rule, agent_ids):
    def time_text(value):
        return value.strftime("%H:%M") if value else ""

    return RebalanceRuleInfo(
        AgentIDs=agent_ids, DateLastRunUtc=rule.date_last_run_utc or NEVER, DepartmentID=rule.department_id,
        ExecuteAtTimeUtc1=time_text(rule.execute_at_time_utc_1),
        ExecuteAtTimeUtc2=time_text(rule.execute_at_time_utc_2),
        ExecuteAtTimeUtc3=time_text(rule.execute_at_time_utc_3), ExecuteOnAgentActivate=rule.execute_on_agent_activate,
        ExecuteOnAgentDeactivate=rule.execute_on_agent_deactivate,
        ExecuteOnIntervalSeconds=rule.execute_on_interval_seconds, GroupID=rule.group_id,
        HoldSecondsAssigned=rule.hold_seconds_assigned, HoldSecondsCompose=rule.hold_seconds_compose,
        HoldSecondsPinned=rule.hold_seconds_pinned, HoldSecondsRead=rule.hold_seconds_read, ID=rule.id,
        IncludeAllAgents=rule.include_all_agents, Name=rule.name,
    )


def settings_payload(items_and_unknown):
    items, unknown = items_and_unknown
    message = "Unknown keys: %s." % ", ".join(unknown) if unknown else ""
    return {"RequestResults": items, "Message": message}


class OrganizationService(ServiceBase):
    __service_name__ = SERVICE_NAME

    # ---- SmarterTrack's operations ------------------------------------

    @operation(("username", String), ("password", String), ("email", String), ("isEmailVerified", Bool),
               ("displayName", String), returns=T.IntRequestResult, role=roles.ADMINISTRATOR,
               prepare=lambda args: (args[0], org.prepare_password(args[1])) + tuple(args[2:]))
    def CreateUser(call, username, password, email, isEmailVerified, displayName):
        """Create a customer account; RequestResult is the new user's id."""
        user = org.create_user(call, username, password, email, isEmailVerified, displayName)
        return {"RequestResult": user.id}

    # The four directory listings answer every caller alike (the role check
    # is made before the body): served from the node's directory cache.

    @operation(returns=DepartmentInfoArrayResult, role=roles.AGENT, writes=False)
    def GetAllDepartments(call):
        return {"Departments": listing(call, "departments", lambda: map(department_info, org.all_departments(call)))}

    @operation(returns=GroupInfoArrayResult, role=roles.AGENT, writes=False)
    def GetAllGroups(call):
        return {"Groups": listing(call, "groups", lambda: map(group_info, org.all_groups(call)))}

    @operation(("groupId", Int), returns=AgentInfoArrayResult, role=roles.AGENT, writes=False)
    def GetAgentsForGroup(call, groupId):
        return {"Agents": listing(call, ("group-agents", groupId), lambda: (
            agent_info(user, member) for user, member in org.agents_of_group(call, groupId)))}

    @operation(returns=AgentInfoArrayResult, role=roles.AGENT, writes=False)
    def GetAllAgents(call):
        return {"Agents": listing(call, "agents", lambda: map(agent_info, org.all_agents(call)))}

    @operation(("userID", Int), ("requestedValues", ArrayOfString), returns=T.SettingsRequestResult,
               role=roles.EVERYONE, writes=False)
    def GetUsersProperties(call, userID, requestedValues):
        """Key=Value items of a user; an empty list returns every key."""
        return settings_payload(org.get_user_properties(call, userID, requestedValues))

    @operation(("userID", Int), ("propertyValues", ArrayOfString), returns=T.GenericResult, role=roles.EVERYONE)
    def SetUsersProperties(call, userID, propertyValues):
        """Set Key=Value items; all or nothing. Users may change their own
        Email, DisplayName, Password, TimeZone and Signature."""
        changed = org.set_user_properties(call, userID, propertyValues)
        return {"Message": "Changed: %s." % ", ".join(changed)}

    # ---- Users --------------------------------------------------------

    @operation(("userID", Int), returns=UserInfoResult, role=roles.AGENT, writes=False)
    def GetUser(call, userID):
        return {"User": user_info(org.get_user(call, userID))}

    @operation(("username", String), returns=UserInfoResult, role=roles.AGENT, writes=False)
    def GetUserByUsername(call, username):
        return {"User": user_info(org.find_user(call, username))}

    @operation(("userID", Int), returns=T.GenericResult, role=roles.ADMINISTRATOR)
    def DeleteUser(call, userID):
        org.delete_user(call, userID)
        return {}

    @operation(returns=RoleInfoArrayResult, role=roles.AGENT, writes=False)
    def GetAllRoles(call):
        return {"Roles": [
            RoleInfo(Category=r.category, Description=r.description, ID=r.id, IsCustom=r.is_custom, Name=r.name)
            for r in org.all_roles(call)
        ]}

    # ---- Agents in groups ---------------------------------------------

    @operation(("groupId", Int), ("userID", Int), ("distributionMode", String), ("maxTicketsEnabled", Bool),
               ("maxTickets", Int), returns=T.GenericResult, role=roles.ADMINISTRATOR)
    def AddAgentToGroup(call, groupId, userID, distributionMode, maxTicketsEnabled, maxTickets):
        """Add an agent to a group, or change their membership. distributionMode:
        Queue (pull from queue, the default), Primary or Secondary (round robin)."""
        org.add_agent_to_group(call, groupId, userID, distributionMode, maxTicketsEnabled, maxTickets)
        return {}

    @operation(("groupId", Int), ("userID", Int), returns=T.GenericResult, role=roles.ADMINISTRATOR)
    def RemoveAgentFromGroup(call, groupId, userID):
        org.remove_agent_from_group(call, groupId, userID)
        return {}

    # ---- Brands -------------------------------------------------------

    @operation(returns=BrandInfoArrayResult, role=roles.AGENT, writes=False)
    def GetAllBrands(call):
        return {"Brands": [
            BrandInfo(HostHeader=b.host_header, ID=b.id, IsDefault=b.is_default, Name=b.name)
            for b in org.all_brands(call)
        ]}

    @operation(("name", String), ("hostHeader", String), returns=T.IntRequestResult, role=roles.ADMINISTRATOR)
    def CreateBrand(call, name, hostHeader):
        return {"RequestResult": org.create_brand(call, name, hostHeader).id}

    @operation(("brandID", Int), ("name", String), ("hostHeader", String), ("isDefault", Bool),
               returns=T.GenericResult, role=roles.ADMINISTRATOR)
    def UpdateBrand(call, brandID, name, hostHeader, isDefault):
        org.update_brand(call, brandID, name, hostHeader, isDefault)
        return {}

    @operation(("brandID", Int), returns=T.GenericResult, role=roles.ADMINISTRATOR)
    def DeleteBrand(call, brandID):
        org.delete_brand(call, brandID)
        return {}

    # ---- Departments --------------------------------------------------

    @operation(("brandID", Int), ("name", String), ("emailAddress", String), ("frontLineGroupName", String),
               returns=T.IntRequestResult, role=roles.ADMINISTRATOR)
    def CreateDepartment(call, brandID, name, emailAddress, frontLineGroupName):
        """Create a department with its front line group (default name "Level 1")."""
        return {"RequestResult": org.create_department(call, brandID, name, emailAddress, frontLineGroupName).id}

    @operation(("departmentID", Int), ("requestedValues", ArrayOfString), returns=T.SettingsRequestResult,
               role=roles.AGENT, writes=False)
    def GetDepartmentProperties(call, departmentID, requestedValues):
        """Settings of a department (auto-close, auto-lock, ...); empty list = all."""
        return settings_payload(org.get_department_properties(call, departmentID, requestedValues))

    @operation(("departmentID", Int), ("propertyValues", ArrayOfString), returns=T.GenericResult,
               role=roles.ADMINISTRATOR)
    def SetDepartmentProperties(call, departmentID, propertyValues):
        changed = org.set_department_properties(call, departmentID, propertyValues)
        return {"Message": "Changed: %s." % ", ".join(changed)}

    @operation(("departmentID", Int), returns=T.GenericResult, role=roles.ADMINISTRATOR)
    def DeleteDepartment(call, departmentID):
        org.delete_department(call, departmentID)
        return {}

    # ---- Groups -------------------------------------------------------

    @operation(("departmentID", Int), ("name", String), ("description", String), returns=T.IntRequestResult,
               role=roles.ADMINISTRATOR)
    def CreateGroup(call, departmentID, name, description):
        return {"RequestResult": org.create_group(call, departmentID, name, description).id}

    @operation(("groupId", Int), ("name", String), ("description", String), returns=T.GenericResult,
               role=roles.ADMINISTRATOR)
    def UpdateGroup(call, groupId, name, description):
        org.update_group(call, groupId, name, description)
        return {}

    @operation(("groupId", Int), returns=T.GenericResult, role=roles.ADMINISTRATOR)
    def DeleteGroup(call, groupId):
        org.delete_group(call, groupId)
        return {}

    # ---- Rebalance rules (run by the Ticket Watcher) -------------------

    @operation(("name", String), ("departmentID", Int), ("groupID", Int), ("includeAllAgents", Bool),
               ("agentIDs", ArrayOfInt), ("executeOnIntervalSeconds", Int), ("executeOnAgentActivate", Bool),
               ("executeOnAgentDeactivate", Bool), ("executeAtTimeUtc1", String), ("executeAtTimeUtc2", String),
               ("executeAtTimeUtc3", String), ("holdSecondsCompose", Int), ("holdSecondsRead", Int),
               ("holdSecondsAssigned", Int), ("holdSecondsPinned", Int), returns=T.IntRequestResult,
               role=roles.ADMINISTRATOR)
    def CreateRebalanceRule(call, name, departmentID, groupID, includeAllAgents, agentIDs, executeOnIntervalSeconds,
                            executeOnAgentActivate, executeOnAgentDeactivate, executeAtTimeUtc1, executeAtTimeUtc2,
                            executeAtTimeUtc3, holdSecondsCompose, holdSecondsRead, holdSecondsAssigned,
                            holdSecondsPinned):
        """A rule that spreads a group's active tickets evenly over its
        receiving agents (all of the group's, or agentIDs): every
        executeOnIntervalSeconds (0 = no interval), at up to three times of
        day ("HH:MM" UTC, empty = none) and/or when an agent starts or stops
        receiving. Tickets stay with their agent for the hold seconds after
        being composed on, read, assigned or pinned; pinned tickets never
        move. departmentID 0 = the group's. RequestResult is the rule's id."""
        rule = org.create_rebalance_rule(
            call, name, departmentID, groupID, includeAllAgents, agentIDs, executeOnIntervalSeconds,
            executeOnAgentActivate, executeOnAgentDeactivate, [executeAtTimeUtc1, executeAtTimeUtc2, executeAtTimeUtc3],
            holdSecondsCompose, holdSecondsRead, holdSecondsAssigned, holdSecondsPinned)
        return {"RequestResult": rule.id}

    @operation(returns=RebalanceRuleInfoArrayResult, role=roles.ADMINISTRATOR, writes=False)
    def GetRebalanceRules(call):
        """Every rebalance rule; DateLastRunUtc is 0001-01-01 for a rule that never ran."""
        return {"Rules": [rebalance_rule_info(rule, agent_ids) for rule, agent_ids in org.rebalance_rules(call)]}

    @operation(("ruleID", Int), returns=T.GenericResult, role=roles.ADMINISTRATOR)
    def DeleteRebalanceRule(call, ruleID):
        org.delete_rebalance_rule(call, ruleID)
        return {}
