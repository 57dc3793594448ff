"""Custom fields (definitions per department template, values per ticket) and
ticket properties (the Key=Value bag of a ticket)."""
from __future__ import annotations

from conftest import failed, strings
from stws.errors import ResultCode
from stws.domain.tickets import fields


def bag(result) -> dict:
    assert result.Result, result.Message
    items = result.RequestResults.string if result.RequestResults else []
    pairs = [item.split("=", 1) for item in items]
    assert all(len(pair) == 2 for pair in pairs)
    return dict(pairs)


def define(desk, department_id=None):
    """Custom fields on a template of the department (Support by default):
    Account (text, sort 1), Plan (list, default Basic, sort 2), Seats (number,
    sort 3), Renewal (date, sort 4), Managed (checkbox, sort 5, hidden from
    users), Notes (textarea, sort 6, required by agents); ids by name."""
    with desk.server.runtime.db.transaction() as session:
        template = fields.create_template(session, "Hosting %s" % (department_id or desk.department_id))
        specs = [
            ("Account", "text", "", (), {}),
            ("Plan", "list", "Basic", ("Basic", "Pro", "Enterprise"), {"required_by_users": True}),
            ("Seats", "number", "", (), {}),
            ("Renewal", "date", "", (), {}),
            ("Managed", "checkbox", "false", (), {"visible_to_users": False}),
            ("Notes", "textarea", "", (), {"required_by_agents": True, "required_by_agents_to_close": True}),
        ]
        ids = {}
        for order, (name, kind, default, options, flags) in enumerate(specs, start=1):
            definition = fields.create_field(session, name, kind, default, options)
            # Sort order deliberately not the creation order of the rows' names.
            fields.put_field_on_template(session, template.id, definition.id, order * 10, **flags)
            ids[name] = definition.id
        fields.set_department_template(session, department_id or desk.department_id, template.id)
        return template.id, ids


async def new_ticket(desk, address="cust@example.com", subject="Server down") -> tuple[str, int]:
    created = await desk.tickets.CreateTicketFromCustomer(*desk.agent, desk.department_id, address, subject,
                                                          "It <b>broke</b>.\nPlease help.", False, False)
    assert created.Result, created.Message
    info = (await desk.tickets.GetTicketInfoByTicketNumber(*desk.admin, created.RequestResult)).Ticket
    return created.RequestResult, info.ID


def events(desk, ticket_id):
    return desk.sql("SELECT event_type, description, details, user_name FROM ticket_events "
                    "WHERE ticket_id = :t ORDER BY id", t=ticket_id)


async def second_department(desk) -> tuple[int, int]:
    """A department "Billing" (front line group returned) and a second group in it."""
    created = await desk.org.CreateDepartment(*desk.admin, 1, "Billing", "billing@helpdesk.example", "Billing L1")
    assert created.Result, created.Message
    department_id = created.RequestResult
    groups = (await desk.org.GetAllGroups(*desk.admin)).Groups.GroupInfo
    front = next(g.ID for g in groups if g.Name == "Billing L1")
    second = await desk.org.CreateGroup(*desk.admin, department_id, "Billing L2", "")
    assert second.Result, second.Message
    return department_id, front, second.RequestResult


# ---------------------------------------------------------------- definitions


async def test_custom_field_controls_of_a_department(desk):
    template_id, ids = define(desk)
    result = await desk.tickets.GetCustomFieldControls(*desk.agent, desk.department_id)
    assert result.Result, result.Message
    controls = result.CustomFields.CustomFieldInfo
    assert [c.DisplayName for c in controls] == ["Account", "Plan", "Seats", "Renewal", "Managed", "Notes"]
    assert [c.SortOrder for c in controls] == [10, 20, 30, 40, 50, 60]
    assert {c.CustomTemplateId for c in controls} == {template_id}
    assert {c.DisplayName: c.CustomFieldId for c in controls} == ids
    notes = controls[-1]
    assert notes.IsRequiredByAgents and notes.IsRequiredByAgentsToClose and not notes.IsRequiredByUsers
    plan = controls[1]
    assert plan.IsRequiredByUsers and not plan.IsRequiredByAgents and plan.IsVisibleToUsers
    managed = controls[4]
    assert managed.IsVisibleToAgents and not managed.IsVisibleToUsers


async def test_custom_field_controls_sort_order_and_customers(desk):
    _, ids = define(desk)
    with desk.server.runtime.db.transaction() as session:
        template_id = session.get(fields.Department, desk.department_id).ticket_custom_template_id
        fields.put_field_on_template(session, template_id, ids["Notes"], 1)  # now first
    agent_view = (await desk.tickets.GetCustomFieldControls(*desk.agent, desk.department_id)).CustomFields
    assert agent_view.CustomFieldInfo[0].DisplayName == "Notes"
    customer_view = (await desk.tickets.GetCustomFieldControls(*desk.customer, desk.department_id)).CustomFields
    assert "Managed" not in [c.DisplayName for c in customer_view.CustomFieldInfo]
    assert len(customer_view.CustomFieldInfo) == 5


async def test_custom_field_controls_without_template_and_unknown_department(desk):
    result = await desk.tickets.GetCustomFieldControls(*desk.agent, desk.department_id)
    assert result.Result and not result.CustomFields
    failed(await desk.tickets.GetCustomFieldControls(*desk.agent, 999), ResultCode.NOT_FOUND)
    failed(await desk.tickets.GetCustomFieldControls(desk.agent[0], "wrong-password", desk.department_id),
           ResultCode.AUTHENTICATION_FAILED)


def test_definition_checks(desk):
    with desk.server.runtime.db.transaction() as session:
        fields.create_field(session, "Account")
        for args, code in [
            (("account",), ResultCode.ALREADY_EXISTS),
            (("Key=Value",), ResultCode.INVALID_ARGUMENT),
            (("Color", "colour"), ResultCode.INVALID_ARGUMENT),
            (("Size", "list"), ResultCode.INVALID_ARGUMENT),
            (("Size", "list", "", ("S", "s")), ResultCode.INVALID_ARGUMENT),
            (("Size", "list", "XL", ("S", "M")), ResultCode.INVALID_ARGUMENT),
            (("Count", "number", "", ("1",)), ResultCode.INVALID_ARGUMENT),
            (("Count", "number", "many"), ResultCode.INVALID_ARGUMENT),
        ]:
            try:
                fields.create_field(session, *args)
            except fields.InvalidArgument as error:
                assert code == ResultCode.INVALID_ARGUMENT, args
                assert error.message
            except fields.AlreadyExists:
                assert code == ResultCode.ALREADY_EXISTS, args
            else:
                raise AssertionError("accepted %r" % (args,))
        try:
            fields.put_field_on_template(session, 999, 1)
        except fields.NotFound:
            pass
        else:
            raise AssertionError("placed a field on a missing template")


# ---------------------------------------------------------------- values


async def test_custom_fields_list_shows_defaults_then_set_values(desk):
    define(desk)
    number, ticket_id = await new_ticket(desk)
    values = bag(await desk.tickets.GetTicketCustomFieldsList(*desk.agent, number))
    assert values == {"Account": "", "Plan": "Basic", "Seats": "", "Renewal": "", "Managed": "false", "Notes": ""}

    result = await desk.tickets.SetTicketCustomFields(*desk.agent, number, strings(
        "account=acme=corp", "PLAN=pro", "Seats= 1e2 ", "Renewal=2027-03-01", "Managed=Yes",
        "Notes=line one\nline two"))
    assert result.Result, result.Message
    values = bag(await desk.tickets.GetTicketCustomFieldsList(*desk.agent, number))
    assert values == {"Account": "acme=corp", "Plan": "Pro", "Seats": "100", "Renewal": "2027-03-01",
                      "Managed": "true", "Notes": "line one\nline two"}
    (event,) = [e for e in events(desk, ticket_id) if e.event_type == "CustomFieldsChanged"]
    assert event.description == "Custom fields changed: Account, Plan, Seats, Renewal, Managed, Notes"
    assert "'Basic' -> 'Pro'" in event.details and event.user_name == "alice"


async def test_setting_the_same_values_records_no_event(desk):
    define(desk)
    number, ticket_id = await new_ticket(desk)
    assert (await desk.tickets.SetTicketCustomFields(*desk.agent, number, strings("Account=A1"))).Result
    again = await desk.tickets.SetTicketCustomFields(*desk.agent, number, strings("Account=A1", "Plan=basic"))
    assert again.Result and again.Message == "No value changed."
    assert len([e for e in events(desk, ticket_id) if e.event_type == "CustomFieldsChanged"]) == 1


async def test_get_requested_custom_fields_reports_unknown_names(desk):
    define(desk)
    number, _ = await new_ticket(desk)
    assert (await desk.tickets.SetTicketCustomFields(*desk.agent, number, strings("Seats=12"))).Result
    result = await desk.tickets.GetTicketCustomFields(*desk.agent, number, strings("seats", "Colour", "PLAN"))
    assert bag(result) == {"Seats": "12", "Plan": "Basic"}
    assert "Colour" in result.Message
    everything = await desk.tickets.GetTicketCustomFields(*desk.agent, number, strings())
    assert len(bag(everything)) == 6 and not everything.Message


async def test_set_custom_fields_is_all_or_nothing_and_checks_types(desk):
    define(desk)
    number, ticket_id = await new_ticket(desk)
    message = failed(await desk.tickets.SetTicketCustomFields(*desk.agent, number, strings(
        "Account=ok", "Seats=twelve", "Renewal=next year", "Managed=maybe", "Plan=Gold", "Colour=red",
        "Account")), ResultCode.INVALID_ARGUMENT)
    for name in ("Seats", "Renewal", "Managed", "Gold", "Colour", "'Account'"):
        assert name in message
    assert bag(await desk.tickets.GetTicketCustomFields(*desk.agent, number, strings("Account")))["Account"] == ""
    assert [e for e in events(desk, ticket_id) if e.event_type == "CustomFieldsChanged"] == []
    message = failed(await desk.tickets.SetTicketCustomFields(*desk.agent, number, strings("Seats=1", "seats=2")),
                     ResultCode.INVALID_ARGUMENT)
    assert "more than once" in message
    failed(await desk.tickets.SetTicketCustomFields(*desk.agent, number, strings()), ResultCode.INVALID_ARGUMENT)
    # Notes is required by agents: an agent cannot clear it.
    assert "required" in failed(await desk.tickets.SetTicketCustomFields(*desk.agent, number, strings("Notes=")),
                                ResultCode.INVALID_ARGUMENT)


async def test_unknown_field_when_the_department_has_no_template(desk):
    number, _ = await new_ticket(desk)
    assert bag(await desk.tickets.GetTicketCustomFieldsList(*desk.agent, number)) == {}
    assert "Account" in failed(await desk.tickets.SetTicketCustomFields(*desk.agent, number, strings("Account=1")),
                               ResultCode.INVALID_ARGUMENT)


async def test_customer_sees_and_sets_only_user_visible_fields(desk):
    define(desk)
    number, _ = await new_ticket(desk)
    values = bag(await desk.tickets.GetTicketCustomFieldsList(*desk.customer, number))
    assert "Managed" not in values and values["Plan"] == "Basic"
    assert "Managed" in failed(await desk.tickets.SetTicketCustomFields(*desk.customer, number,
                                                                         strings("Managed=true")),
                               ResultCode.INVALID_ARGUMENT)
    # Plan is required by users: a customer cannot clear it, an agent can.
    failed(await desk.tickets.SetTicketCustomFields(*desk.customer, number, strings("Plan=")),
           ResultCode.INVALID_ARGUMENT)
    assert (await desk.tickets.SetTicketCustomFields(*desk.customer, number, strings("Plan=enterprise"))).Result
    assert bag(await desk.tickets.GetTicketCustomFields(*desk.agent, number, strings("Plan"))) == {
        "Plan": "Enterprise"}
    assert (await desk.tickets.SetTicketCustomFields(*desk.agent, number, strings("Plan="))).Result
    other, _ = await new_ticket(desk, address="someone@example.org")
    failed(await desk.tickets.GetTicketCustomFieldsList(*desk.customer, other), ResultCode.NOT_FOUND)
    failed(await desk.tickets.SetTicketCustomFields(*desk.customer, other, strings("Plan=Pro")), ResultCode.NOT_FOUND)


async def test_custom_fields_of_locked_unknown_and_foreign_tickets(desk):
    define(desk)
    number, _ = await new_ticket(desk)
    # Notes is required to close: an agent must fill it in first.
    assert "Notes" in failed(await desk.tickets.SetTicketProperties(*desk.agent, number,
                                                                     strings("TicketStatusID=4")),
                             ResultCode.INVALID_STATE)
    assert (await desk.tickets.SetTicketCustomFields(*desk.agent, number, strings("Notes=done"))).Result
    assert (await desk.tickets.SetTicketProperties(*desk.agent, number, strings("TicketStatusID=4"))).Result
    assert "locked" in failed(await desk.tickets.SetTicketCustomFields(*desk.agent, number, strings("Seats=3")),
                              ResultCode.INVALID_STATE)
    assert bag(await desk.tickets.GetTicketCustomFields(*desk.agent, number, strings("Seats"))) == {"Seats": ""}
    failed(await desk.tickets.GetTicketCustomFieldsList(*desk.agent, "001-00000000-0000"), ResultCode.NOT_FOUND)
    failed(await desk.tickets.SetTicketCustomFields(*desk.agent, "", strings("Seats=1")), ResultCode.INVALID_ARGUMENT)
    department_id, _, _ = await second_department(desk)
    created = await desk.tickets.CreateTicketFromCustomer(*desk.admin, department_id, "x@example.org", "Bill",
                                                          "x", False, False)
    failed(await desk.tickets.GetTicketCustomFieldsList(*desk.agent, created.RequestResult), ResultCode.NOT_FOUND)
    failed(await desk.tickets.SetTicketCustomFields(*desk.agent, created.RequestResult, strings("Seats=1")),
           ResultCode.NOT_FOUND)


# ---------------------------------------------------------------- properties


async def test_ticket_properties_list(desk):
    number, ticket_id = await new_ticket(desk)
    props = bag(await desk.tickets.GetTicketPropertiesList(*desk.agent, number))
    assert props["TicketID"] == str(ticket_id) and props["TicketNumber"] == number
    assert props["Subject"] == "Server down"
    assert props["TicketStatusID"] == "1" and props["Status"] == "Active"
    assert props["Priority"] == "2" and props["TicketPriorityID"] == "2" and props["PriorityName"] == "Normal"
    assert props["DepartmentID"] == str(desk.department_id) and props["GroupID"] == str(desk.group_id)
    assert props["AgentID"] == "0"
    assert props["CustomerEmailAddress"] == "cust@example.com"
    assert props["UserIdCustomer"] == str(desk.customer_id)
    assert props["IsOpen"] == "true" and props["IsActive"] == "true" and props["IsDeleted"] == "false"
    assert props["IsSpam"] == "false" and props["IsPinnedToAgent"] == "false" and props["RequiresFollowUp"] == "false"
    assert props["DateClosedUtc"] == "" and props["DateFollowUpUtc"] == ""
    assert props["DateReceivedUTC"].endswith("Z") and props["DateOpenedUtc"].endswith("Z")
    assert props["ReplyCountIn"] == "1" and props["ReplyCountOut"] == "0"
    assert props["BodyText"] == "It <b>broke</b>.\nPlease help."
    assert props["BodyHTML"] == "<p>It &lt;b&gt;broke&lt;/b&gt;.<br>Please help.</p>"


async def test_get_ticket_properties_requested_and_unknown_keys(desk):
    number, _ = await new_ticket(desk)
    result = await desk.tickets.GetTicketProperties(*desk.agent, number, strings("subject", "TicketStatusId", "Bogus"))
    assert bag(result) == {"Subject": "Server down", "TicketStatusID": "1"}
    assert "Bogus" in result.Message
    # Customers read their own tickets; other accounts' tickets are not found.
    assert bag(await desk.tickets.GetTicketProperties(*desk.customer, number, strings("Status"))) == {
        "Status": "Active"}
    other, _ = await new_ticket(desk, address="someone@example.org")
    failed(await desk.tickets.GetTicketProperties(*desk.customer, other, strings("Status")), ResultCode.NOT_FOUND)
    failed(await desk.tickets.GetTicketPropertiesList(*desk.agent, "nonsense"), ResultCode.NOT_FOUND)


async def test_set_ticket_properties_and_history(desk):
    number, ticket_id = await new_ticket(desk)
    result = await desk.tickets.SetTicketProperties(*desk.agent, number, strings(
        "Subject=Server down again", "priority=High", "IsSpam=true", "CustomerEmailAddress=new@example.org",
        "AgentID=%d" % desk.agent_id, "IsPinnedToAgent=true"))
    assert result.Result, result.Message
    props = bag(await desk.tickets.GetTicketPropertiesList(*desk.agent, number))
    assert props["Subject"] == "Server down again" and props["Priority"] == "3" and props["IsSpam"] == "true"
    assert props["CustomerEmailAddress"] == "new@example.org"
    assert props["AgentID"] == str(desk.agent_id) and props["IsPinnedToAgent"] == "true"
    kinds = [e.event_type for e in events(desk, ticket_id)]
    for kind in ("SubjectChanged", "PriorityChanged", "IsSpamChanged", "CustomerEmailChanged", "Assigned",
                 "IsPinnedToAgentChanged"):
        assert kind in kinds
    priority_event = [e for e in events(desk, ticket_id) if e.event_type == "PriorityChanged"][0]
    assert priority_event.description == "Priority changed from Normal to High"
    assert priority_event.user_name == "alice"
    # Setting the same value again changes nothing in the history.
    before = len(events(desk, ticket_id))
    assert (await desk.tickets.SetTicketProperties(*desk.agent, number, strings("Priority=3"))).Result
    assert len(events(desk, ticket_id)) == before


async def test_set_status_by_id_and_by_name(desk):
    number, ticket_id = await new_ticket(desk)
    assert (await desk.tickets.SetTicketProperties(*desk.agent, number, strings("TicketStatusID=3"))).Result
    props = bag(await desk.tickets.GetTicketProperties(*desk.agent, number, strings(
        "Status", "IsOpen", "DateClosedUtc")))
    assert props["Status"] == "Closed" and props["IsOpen"] == "false" and props["DateClosedUtc"].endswith("Z")
    assert (await desk.tickets.SetTicketProperties(*desk.agent, number, strings("Status=waiting"))).Result
    props = bag(await desk.tickets.GetTicketProperties(*desk.agent, number, strings(
        "Status", "IsOpen", "IsActive", "DateClosedUtc")))
    assert props == {"Status": "Waiting", "IsOpen": "true", "IsActive": "false", "DateClosedUtc": ""}
    assert [e.description for e in events(desk, ticket_id) if e.event_type == "StatusChanged"] == [
        "Status changed from Active to Closed", "Status changed from Closed to Waiting"]


async def test_set_ticket_properties_rejects_bad_values_and_changes_nothing(desk):
    number, ticket_id = await new_ticket(desk)
    before = len(events(desk, ticket_id))
    for item in ("Priority=9", "TicketPriorityID=zero", "TicketStatusID=7", "Status=Bogus",
                 "CustomerEmailAddress=not-an-address", "IsSpam=perhaps", "Subject=", "TicketNumber=X",
                 "Frobnicate=1", "NoEqualsSign", "AgentID=%d" % desk.customer_id, "IsPinnedToAgent=true"):
        message = failed(await desk.tickets.SetTicketProperties(*desk.agent, number, strings("Subject=Changed", item)),
                         ResultCode.INVALID_ARGUMENT)
        assert "nothing was changed" in message.lower(), item
    failed(await desk.tickets.SetTicketProperties(*desk.agent, number, strings("GroupID=999")), ResultCode.NOT_FOUND)
    failed(await desk.tickets.SetTicketProperties(*desk.agent, number, strings("DepartmentID=999")),
           ResultCode.NOT_FOUND)
    failed(await desk.tickets.SetTicketProperties(*desk.agent, number, strings("AgentID=999")), ResultCode.NOT_FOUND)
    assert "more than once" in failed(await desk.tickets.SetTicketProperties(
        *desk.agent, number, strings("Priority=1", "TicketPriorityID=2")), ResultCode.INVALID_ARGUMENT)
    failed(await desk.tickets.SetTicketProperties(*desk.agent, number, strings()), ResultCode.INVALID_ARGUMENT)
    assert bag(await desk.tickets.GetTicketProperties(*desk.agent, number, strings("Subject")))["Subject"] == \
        "Server down"
    assert len(events(desk, ticket_id)) == before


async def test_department_and_group_moves(desk):
    number, ticket_id = await new_ticket(desk)
    assert (await desk.tickets.SetTicketProperties(*desk.agent, number, strings("AgentID=%d" % desk.agent_id))).Result
    department_id, front, second = await second_department(desk)
    # DepartmentID alone: the department's front line group; alice is no member, so the ticket is queued.
    assert (await desk.tickets.SetTicketProperties(*desk.admin, number,
                                                   strings("DepartmentID=%d" % department_id))).Result
    props = bag(await desk.tickets.GetTicketProperties(*desk.admin, number, strings(
        "DepartmentID", "GroupID", "AgentID")))
    assert props == {"DepartmentID": str(department_id), "GroupID": str(front), "AgentID": "0"}
    # alice no longer sees the ticket.
    failed(await desk.tickets.GetTicketProperties(*desk.agent, number, strings("Subject")), ResultCode.NOT_FOUND)
    # DepartmentID with GroupID: that group; a group of another department is refused.
    failed(await desk.tickets.SetTicketProperties(*desk.admin, number, strings(
        "DepartmentID=%d" % department_id, "GroupID=%d" % desk.group_id)), ResultCode.INVALID_ARGUMENT)
    assert (await desk.tickets.SetTicketProperties(*desk.admin, number, strings(
        "GroupID=%d" % second, "DepartmentID=%d" % department_id))).Result
    assert bag(await desk.tickets.GetTicketProperties(*desk.admin, number, strings("GroupID")))["GroupID"] == \
        str(second)
    # GroupID alone, of another department, moves the department along; AgentID must be a member.
    failed(await desk.tickets.SetTicketProperties(*desk.admin, number, strings(
        "AgentID=%d" % desk.agent_id)), ResultCode.INVALID_ARGUMENT)
    assert (await desk.tickets.SetTicketProperties(*desk.admin, number, strings(
        "AgentID=%d" % desk.agent_id, "GroupID=%d" % desk.group_id))).Result
    props = bag(await desk.tickets.GetTicketProperties(*desk.agent, number, strings(
        "DepartmentID", "GroupID", "AgentID", "GroupName", "AgentUserName")))
    assert props == {"DepartmentID": str(desk.department_id), "GroupID": str(desk.group_id),
                     "AgentID": str(desk.agent_id), "GroupName": "Level 1", "AgentUserName": "alice"}
    assert (await desk.tickets.SetTicketProperties(*desk.agent, number, strings("AgentID=0"))).Result
    assert bag(await desk.tickets.GetTicketProperties(*desk.agent, number, strings("AgentID")))["AgentID"] == "0"
    kinds = [e.event_type for e in events(desk, ticket_id)]
    assert kinds.count("DepartmentChanged") == 2 and kinds.count("GroupChanged") == 3 and "Unassigned" in kinds


async def test_set_ticket_properties_roles_and_locked_tickets(desk):
    number, _ = await new_ticket(desk)
    failed(await desk.tickets.SetTicketProperties(*desk.customer, number, strings("Subject=Mine")),
           ResultCode.PERMISSION_DENIED)
    assert (await desk.tickets.SetTicketProperties(*desk.agent, number, strings("Status=Closed and Locked"))).Result
    assert "locked" in failed(await desk.tickets.SetTicketProperties(*desk.admin, number, strings("Status=Active")),
                              ResultCode.INVALID_STATE)
    props = bag(await desk.tickets.GetTicketProperties(*desk.agent, number, strings("Status", "IsLocked")))
    assert props == {"Status": "Closed and Locked", "IsLocked": "true"}
    department_id, _, _ = await second_department(desk)
    created = await desk.tickets.CreateTicketFromCustomer(*desk.admin, department_id, "x@example.org", "Bill",
                                                          "x", False, False)
    failed(await desk.tickets.SetTicketProperties(*desk.agent, created.RequestResult, strings("Subject=x")),
           ResultCode.NOT_FOUND)
