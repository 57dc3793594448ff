"""svcOrganization.asmx: users, agents, roles, brands, departments and groups.

The first seven operations are SmarterTrack's (CreateUser with its exact
parameter names; the others with names that its clients' usage shows). The
rest follow the same conventions for what a hosting company automating its
help desk needs: user, brand, department and group management and agent
membership with distribution mode and ticket limits.

Each is a binding of an operation of stws.operations.organization (the
management interface runs the same ones): the function named as the SOAP
operation only turns what the operation returned into the result's payload.
"""
from __future__ import annotations

import datetime

from spyne import Array, ServiceBase

from stws.domain import organization as org
from stws.operations import organization as ops
from stws.soap.operation import binds
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
UserInfoResult = T.result("UserInfoResult", User=T.payload(UserInfo))
BrandInfoArrayResult = T.result("BrandInfoArrayResult", Brands=T.array_of(BrandInfo))
RoleInfoArrayResult = T.result("RoleInfoArrayResult", Roles=T.array_of(RoleInfo))
RebalanceRuleInfoArrayResult = T.result("RebalanceRuleInfoArrayResult", Rules=T.array_of(RebalanceRuleInfo))


def department_info(department: org.DepartmentEntry):
    return DepartmentInfo(
        BrandID=department.brand_id, EmailAddress=department.email_address,
        FrontLineGroupID=department.front_line_group_id or 0, ID=department.id,
        IsInternal=department.is_internal, Name=department.name,
    )


def group_info(group: org.GroupEntry):
    return GroupInfo(
        DepartmentID=group.department_id, Description=group.description, ID=group.id,
        IsFrontLine=group.is_front_line, Name=group.name,
    )


def agent_info(agent: org.AgentEntry):
    return AgentInfo(
        DisplayName=agent.display_name, EmailAddress=agent.email, ID=agent.id, UserName=agent.username,
        IsActive=agent.is_active_agent, DistributionMode=agent.distribution_mode, IsReceiving=agent.is_receiving,
        MaxTickets=agent.max_tickets, MaxTicketsEnabled=agent.max_tickets_enabled,
    )


def soap_listing(info):
    """What a cached directory listing (stws.domain.directory.Listing) is
    over SOAP: its result objects, made once per listing
    (``Listing.derived``) and written once (RenderedOnce). A cache hit so
    costs the version query and no conversion; GetAllAgents is the hot
    path of bench/soap_throughput.py."""

    def render(entries):
        return RenderedOnce(map(info, entries))

    return render


DEPARTMENT_INFOS = soap_listing(department_info)
GROUP_INFOS = soap_listing(group_info)
AGENT_INFOS = soap_listing(agent_info)


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


def settings_payload(values: org.PropertyValues):
    message = "Unknown keys: %s." % ", ".join(values.unknown) if values.unknown else ""
    return {"RequestResults": values.items, "Message": message}


def changed_payload(keys):
    return {"Message": "Changed: %s." % ", ".join(keys)}


def id_payload(new_id):
    return {"RequestResult": new_id}


# The adapters of operations that return nothing answer ``{}``: a bare
# Result=true.


class OrganizationService(ServiceBase):
    __service_name__ = SERVICE_NAME

    # ---- SmarterTrack's operations ------------------------------------

    @binds(ops.create_user, ("username", String), ("password", String), ("email", String), ("isEmailVerified", Bool),
           ("displayName", String), returns=T.IntRequestResult)
    def CreateUser(user_id):
        """Create a customer account; RequestResult is the new user's id."""
        return id_payload(user_id)

    @binds(ops.get_all_departments, returns=DepartmentInfoArrayResult)
    def GetAllDepartments(departments):
        return {"Departments": departments.derived(DEPARTMENT_INFOS)}

    @binds(ops.get_all_groups, returns=GroupInfoArrayResult)
    def GetAllGroups(groups):
        return {"Groups": groups.derived(GROUP_INFOS)}

    @binds(ops.get_agents_for_group, ("groupId", Int), returns=AgentInfoArrayResult)
    def GetAgentsForGroup(agents):
        return {"Agents": agents.derived(AGENT_INFOS)}

    @binds(ops.get_all_agents, returns=AgentInfoArrayResult)
    def GetAllAgents(agents):
        return {"Agents": agents.derived(AGENT_INFOS)}

    @binds(ops.get_user_properties, ("userID", Int), ("requestedValues", ArrayOfString),
           returns=T.SettingsRequestResult)
    def GetUsersProperties(values):
        """Key=Value items of a user; an empty list returns every key."""
        return settings_payload(values)

    @binds(ops.set_user_properties, ("userID", Int), ("propertyValues", ArrayOfString), returns=T.GenericResult)
    def SetUsersProperties(keys):
        """Set Key=Value items; all or nothing. Users may change their own
        Email, DisplayName, Password, TimeZone and Signature."""
        return changed_payload(keys)

    # ---- Users --------------------------------------------------------

    @binds(ops.get_user, ("userID", Int), returns=UserInfoResult)
    def GetUser(user):
        return {"User": user_info(user)}

    @binds(ops.get_user_by_username, ("username", String), returns=UserInfoResult)
    def GetUserByUsername(user):
        return {"User": user_info(user)}

    @binds(ops.delete_user, ("userID", Int), returns=T.GenericResult)
    def DeleteUser(_):
        return {}

    @binds(ops.get_all_roles, returns=RoleInfoArrayResult)
    def GetAllRoles(all_roles):
        return {"Roles": [
            RoleInfo(Category=r.category, Description=r.description, ID=r.id, IsCustom=r.is_custom, Name=r.name)
            for r in all_roles
        ]}

    # ---- Agents in groups ---------------------------------------------

    @binds(ops.add_agent_to_group, ("groupId", Int), ("userID", Int), ("distributionMode", String),
           ("maxTicketsEnabled", Bool), ("maxTickets", Int), returns=T.GenericResult)
    def AddAgentToGroup(_):
        """Add an agent to a group, or change their membership. distributionMode:
        Queue (pull from queue, the default), Primary or Secondary (round robin)."""
        return {}

    @binds(ops.remove_agent_from_group, ("groupId", Int), ("userID", Int), returns=T.GenericResult)
    def RemoveAgentFromGroup(_):
        return {}

    # ---- Brands -------------------------------------------------------

    @binds(ops.get_all_brands, returns=BrandInfoArrayResult)
    def GetAllBrands(brands):
        return {"Brands": [
            BrandInfo(HostHeader=b.host_header, ID=b.id, IsDefault=b.is_default, Name=b.name) for b in brands
        ]}

    @binds(ops.create_brand, ("name", String), ("hostHeader", String), returns=T.IntRequestResult)
    def CreateBrand(brand_id):
        return id_payload(brand_id)

    @binds(ops.update_brand, ("brandID", Int), ("name", String), ("hostHeader", String), ("isDefault", Bool),
           returns=T.GenericResult)
    def UpdateBrand(_):
        return {}

    @binds(ops.delete_brand, ("brandID", Int), returns=T.GenericResult)
    def DeleteBrand(_):
        return {}

    # ---- Departments --------------------------------------------------

    @binds(ops.create_department, ("brandID", Int), ("name", String), ("emailAddress", String),
           ("frontLineGroupName", String), returns=T.IntRequestResult)
    def CreateDepartment(department_id):
        """Create a department with its front line group (default name "Level 1")."""
        return id_payload(department_id)

    @binds(ops.get_department_properties, ("departmentID", Int), ("requestedValues", ArrayOfString),
           returns=T.SettingsRequestResult)
    def GetDepartmentProperties(values):
        """Settings of a department (auto-close, auto-lock, ...); empty list = all."""
        return settings_payload(values)

    @binds(ops.set_department_properties, ("departmentID", Int), ("propertyValues", ArrayOfString),
           returns=T.GenericResult)
    def SetDepartmentProperties(keys):
        return changed_payload(keys)

    @binds(ops.delete_department, ("departmentID", Int), returns=T.GenericResult)
    def DeleteDepartment(_):
        return {}

    # ---- Groups -------------------------------------------------------

    @binds(ops.create_group, ("departmentID", Int), ("name", String), ("description", String),
           returns=T.IntRequestResult)
    def CreateGroup(group_id):
        return id_payload(group_id)

    @binds(ops.update_group, ("groupId", Int), ("name", String), ("description", String), returns=T.GenericResult)
    def UpdateGroup(_):
        return {}

    @binds(ops.delete_group, ("groupId", Int), returns=T.GenericResult)
    def DeleteGroup(_):
        return {}

    # ---- Rebalance rules (run by the Ticket Watcher) -------------------

    @binds(ops.create_rebalance_rule, ("name", String), ("departmentID", Int), ("groupID", Int),
           ("includeAllAgents", Bool), ("agentIDs", ArrayOfInt), ("executeOnIntervalSeconds", Int),
           ("executeOnAgentActivate", Bool), ("executeOnAgentDeactivate", Bool), ("executeAtTimeUtc1", String),
           ("executeAtTimeUtc2", String), ("executeAtTimeUtc3", String), ("holdSecondsCompose", Int),
           ("holdSecondsRead", Int), ("holdSecondsAssigned", Int), ("holdSecondsPinned", Int),
           returns=T.IntRequestResult)
    def CreateRebalanceRule(rule_id):
        """A rule that spreads a group's active tickets evenly over its
        receiving agents (all of the group's, or agentIDs): every
        executeOnIntervalSeconds (0 = no interval), at up to three times of
        day ("HH:MM" UTC, empty = none) and/or when an agent starts or stops
        receiving. Tickets stay with their agent for the hold seconds after
        being composed on, read, assigned or pinned; pinned tickets never
        move. departmentID 0 = the group's. RequestResult is the rule's id."""
        return id_payload(rule_id)

    @binds(ops.get_rebalance_rules, returns=RebalanceRuleInfoArrayResult)
    def GetRebalanceRules(rules):
        """Every rebalance rule; DateLastRunUtc is 0001-01-01 for a rule that never ran."""
        return {"Rules": [rebalance_rule_info(rule, agent_ids) for rule, agent_ids in rules]}

    @binds(ops.delete_rebalance_rule, ("ruleID", Int), returns=T.GenericResult)
    def DeleteRebalanceRule(_):
        return {}
