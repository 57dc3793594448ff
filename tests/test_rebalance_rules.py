"""svcOrganization's rebalance-rule operations through zeep against a live
server: CreateRebalanceRule (every check), GetRebalanceRules,
DeleteRebalanceRule; and a created rule run by the Ticket Watcher."""
from __future__ import annotations

import datetime as dt

import pytest
import pytest_twisted
from sqlalchemy import func, select
from twisted.internet import threads

from stws.db.models import GroupAgent, RebalanceRuleAgent, Ticket, utcnow
from stws.errors import ResultCode
from stws.workers.framework import JobContext, ThreadDefinition
from stws.workers.jobs import ticket_watcher
from test_organization import assert_failed, new_user

pytestmark = pytest.mark.usefixtures("server")


@pytest_twisted.async_fixture
async def org(server):
    return await server.client("svcOrganization")


def ints(*values):
    return {"int": list(values)}


class Rules:
    """A department "Hosting" (group "Level 1" and "Level 2") with agents ann and ben in Level 1."""

    def __init__(self, server, org):
        self.server, self.org, self.admin = server, org, server.admin

    async def setup(self):
        created = await self.org.CreateDepartment(*self.admin, 1, "Hosting", "", "")
        assert created.Result, created.Message
        self.department = created.RequestResult
        groups = (await self.org.GetAllGroups(*self.admin)).Groups.GroupInfo
        self.group = next(g.ID for g in groups if g.DepartmentID == self.department)
        self.other_group = (await self.org.CreateGroup(*self.admin, self.department, "Level 2", "")).RequestResult
        self.ann = await new_user(self.org, self.admin, "ann", roles="Agent")
        self.ben = await new_user(self.org, self.admin, "ben", roles="Agent")
        self.eve = await new_user(self.org, self.admin, "eve", roles="Agent")  # in no group
        for agent in (self.ann, self.ben):
            assert (await self.org.AddAgentToGroup(*self.admin, self.group, agent, "Queue", False, 0)).Result
        return self

    def create(self, name="Even out", department=None, group=None, include_all=True, agents=None, interval=3600,
               on_activate=False, on_deactivate=False, times=("", "", ""), holds=(0, 0, 0, 0), credentials=None):
        return self.org.CreateRebalanceRule(
            *(credentials or self.admin), name, self.department if department is None else department,
            self.group if group is None else group, include_all, ints(*agents) if agents is not None else None,
            interval, on_activate, on_deactivate, *times, *holds)


@pytest_twisted.async_fixture
async def rules(server, org):
    return await Rules(server, org).setup()


async def test_create_then_get_a_rule_with_every_setting(rules, org):
    created = await rules.create(name="Night shift", include_all=False, agents=[rules.ben, rules.ann], interval=0,
                                 on_activate=True, on_deactivate=True, times=("08:00", "", "7:05"),
                                 holds=(30, 60, 90, 120))
    assert created.Result, created.Message
    other = await rules.create(name="Day shift", department=0)  # department 0: the group's
    assert other.Result, other.Message

    result = await org.GetRebalanceRules(*rules.admin)
    assert result.Result, result.Message
    night, day = result.Rules.RebalanceRuleInfo
    assert (night.ID, night.Name, night.DepartmentID, night.GroupID) == (
        created.RequestResult, "Night shift", rules.department, rules.group)
    assert (night.IncludeAllAgents, sorted(night.AgentIDs.int)) == (False, sorted([rules.ann, rules.ben]))
    assert (night.ExecuteOnIntervalSeconds, night.ExecuteOnAgentActivate, night.ExecuteOnAgentDeactivate) == (
        0, True, True)
    times = (night.ExecuteAtTimeUtc1, night.ExecuteAtTimeUtc2 or "", night.ExecuteAtTimeUtc3)
    assert times == ("08:00", "", "07:05")
    assert (night.HoldSecondsCompose, night.HoldSecondsRead, night.HoldSecondsAssigned, night.HoldSecondsPinned) == (
        30, 60, 90, 120)
    assert night.DateLastRunUtc.year == 1  # never ran: DateTime.MinValue
    assert (day.Name, day.DepartmentID, day.IncludeAllAgents, day.AgentIDs, day.ExecuteOnIntervalSeconds) == (
        "Day shift", rules.department, True, None, 3600)


async def test_create_rejects_what_cannot_work(rules, org):
    cases = [
        (dict(name=""), ResultCode.INVALID_ARGUMENT, "rule name"),
        (dict(group=0), ResultCode.INVALID_ARGUMENT, "groupID"),
        (dict(group=9999), ResultCode.NOT_FOUND, "group"),
        (dict(department=1), ResultCode.INVALID_ARGUMENT, "belongs to department"),
        (dict(include_all=False), ResultCode.INVALID_ARGUMENT, "agentIDs"),
        (dict(include_all=True, agents=[rules.ann]), ResultCode.INVALID_ARGUMENT, "must be empty"),
        (dict(include_all=False, agents=[rules.eve]), ResultCode.INVALID_ARGUMENT, "not an agent of group"),
        (dict(include_all=False, agents=[4242]), ResultCode.NOT_FOUND, "no user"),
        (dict(interval=-5), ResultCode.INVALID_ARGUMENT, "executeOnIntervalSeconds"),
        (dict(interval=0), ResultCode.INVALID_ARGUMENT, "never run"),
        (dict(times=("25:00", "", "")), ResultCode.INVALID_ARGUMENT, "executeAtTimeUtc1"),
        (dict(times=("", "8h", "")), ResultCode.INVALID_ARGUMENT, "HH:MM"),
        (dict(holds=(0, -1, 0, 0)), ResultCode.INVALID_ARGUMENT, "holdSecondsRead"),
        (dict(holds=(0, 0, 0, 10 ** 9)), ResultCode.INVALID_ARGUMENT, "holdSecondsPinned"),
    ]
    for arguments, code, words in cases:
        assert_failed(await rules.create(**arguments), code, words)
    assert (await rules.create(name="Taken")).Result
    assert_failed(await rules.create(name="TAKEN"), ResultCode.ALREADY_EXISTS, "exists")
    assert len((await org.GetRebalanceRules(*rules.admin)).Rules.RebalanceRuleInfo) == 1  # nothing half-made


async def test_only_administrators_manage_rules(rules, org):
    await new_user(org, rules.admin, "agnes", roles="Agent", password="agnes-passw0rd")
    agent = ("agnes", "agnes-passw0rd")
    assert_failed(await rules.create(credentials=agent), ResultCode.PERMISSION_DENIED, "Administrator")
    assert_failed(await org.GetRebalanceRules(*agent), ResultCode.PERMISSION_DENIED)
    assert_failed(await org.DeleteRebalanceRule(*agent, 1), ResultCode.PERMISSION_DENIED)
    assert_failed(await org.GetRebalanceRules("admin", "wrong"), ResultCode.AUTHENTICATION_FAILED)


async def test_delete_a_rule_and_its_agents(rules, org, server):
    rule_id = (await rules.create(include_all=False, agents=[rules.ann])).RequestResult
    assert (await org.DeleteRebalanceRule(*rules.admin, rule_id)).Result
    assert (await org.GetRebalanceRules(*rules.admin)).Rules is None

    def leftovers():
        with server.runtime.db.transaction(writes=False) as session:
            return session.scalar(select(func.count()).select_from(RebalanceRuleAgent))

    assert await threads.deferToThread(leftovers) == 0
    assert_failed(await org.DeleteRebalanceRule(*rules.admin, rule_id), ResultCode.NOT_FOUND, "no rebalance rule")


async def test_a_created_rule_is_run_by_the_ticket_watcher(rules, org, server):
    rule_id = (await rules.create(interval=60)).RequestResult
    db = server.runtime.db

    def prepare():
        with db.transaction() as session:
            for agent in (rules.ann, rules.ben):
                session.get(GroupAgent, (rules.group, agent)).is_receiving = True
            for n in range(4):
                session.add(Ticket(ticket_number="T-%d" % n, brand_id=1, department_id=rules.department,
                                   group_id=rules.group, agent_id=rules.ann, subject="t", status_id=1,
                                   priority_id=2))

    def run_and_count():
        definition = ThreadDefinition("Ticket Watcher", 60, "test", job=ticket_watcher.run)
        moved = ticket_watcher.run(JobContext(server.runtime, definition, utcnow() + dt.timedelta(minutes=2)))
        with db.transaction(writes=False) as session:
            return moved, session.scalar(select(func.count(Ticket.id)).where(Ticket.agent_id == rules.ben))

    await threads.deferToThread(prepare)
    assert await threads.deferToThread(run_and_count) == (2, 2)
    (info,) = (await org.GetRebalanceRules(*rules.admin)).Rules.RebalanceRuleInfo
    assert info.ID == rule_id and info.DateLastRunUtc.year > 2000
