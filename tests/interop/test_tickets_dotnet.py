"""svcTickets.asmx with real .NET clients (Mono): the proxy that ``wsdl``
generates from our WSDL (SOAP 1.1 and 1.2), and a C# program that runs a
whole ticket life against the live server through it.

The generated source is checked against the contract in
/work/shared/research/smartertrack-api.md §2.2: every one of the 56
operations must come out with exactly the C# signature wsdl.exe gives for
SmarterTrack's own WSDL (parameter names and casing, ``long`` ticket
message ids, ``System.DateTime``, ``string[]``, ``byte[]``, nullable
``userID``). The scenario (csharp/TicketsAsmx.cs) checks the values; this
module then checks the server-side state. Proxies are generated and
compiled once per module and pointed at each test's own server.
"""
from __future__ import annotations

import re

import pytest
from sqlalchemy import select

import dotnet
from conftest import strings
from stws.db.models import Ticket, TicketAttachment, TicketStatus
from stws.domain.tickets import fields as ticket_fields
from stws.services.tickets.types import OPERATIONS
from tickets.conftest import AGENT, desk  # noqa: F401 (fixture)

pytestmark = dotnet.requires_mono()

NAMESPACE = "http://www.smartertools.com/SmarterTrack/Services2/svcTickets.asmx"
SCENARIO = "TicketsAsmx.cs"
CUSTOM_FIELD = "Contract"

# §2.2 of the research reference, one row per operation:
# name | inputs (name:type, in wire order) | result type.
CONTRACT = """
AddRelatedItem | authUsername:string, authPassword:string, ticketNumber:string, relatedItemNumber:string | GenericResult
GetTicketNote | authUserName:string, authPassword:string, commentId:int | TicketCommentInfoResult
AddTicketNote | authUserName:string, authPassword:string, ticketNumber:string, messageType:string, notetext:string | GenericResult
AddTicketNoteHtml | authUserName:string, authPassword:string, ticketNumber:string, messageType:string, notetext:string | GenericResult
AddTicketNoteHtmlWithDate | authUserName:string, authPassword:string, ticketNumber:string, messageType:string, notetext:string, dateEnteredUTC:dateTime | GenericResult
EditTicketNote | authUsername:string, authPassword:string, commentId:int, ticketNumber:string, messageType:string, noteText:string | GenericResult
GetTicketsBySearch | authUserName:string, authPassword:string, searchCriteria:string[] (ArrayOfString) | TicketInfoArrayResult
AddTicketTimeLog | authUserName:string, authPassword:string, ticketId:int, subject:string, agentID:int, timeLogCategoryID:int, description:string, dateStartUTC:dateTime, dateEndUTC:dateTime, isBillable:bool | GenericResult
GetTicketTimeLog | authUserName:string, authPassword:string, ticketId:int, timeLogId:int | TimeLogInfoResult
GetTicketTimeLogs | authUserName:string, authPassword:string, ticketId:int | TimeLogInfoArrayResult
GetTicketInfo | authUserName:string, authPassword:string, ticketId:int | TicketInfoResult
GetTicketInfoByTicketNumber | authUserName:string, authPassword:string, ticketNumber:string | TicketInfoResult
GetTicketEventHistory | authUserName:string, authPassword:string, ticketId:int | TicketEventInfoArrayResult
GetTicketMessagePlainText | authUserName:string, authPassword:string, ticketMessageId:long | TicketMessageBodyResult
GetTicketMessageHtml | authUserName:string, authPassword:string, ticketMessageId:long | TicketMessageBodyResult
GetTicketConversationPartList | authUserName:string, authPassword:string, ticketId:int | TicketPartInfoArrayResult
CreateTicketFromCustomer | authUserName:string, authPassword:string, departmentId:int, fromAddress:string, subject:string, body:string, isHtml:bool, sendAutoResponder:bool | StringRequestResult
CreateTicketFromCustomerWithDate | authUserName:string, authPassword:string, departmentId:int, groupId:int, userId:int, fromAddress:string, subject:string, body:string, isHtml:bool, sendAutoResponder:bool, dateOpenedUTC:dateTime, dateIdleStartTimeUTC:dateTime, dateFirstMessageReceived:dateTime | StringRequestResult
CreateTicket | authUserName:string, authPassword:string, departmentID:int, groupId:int, userIdOfAgent:int, toAddress:string, subject:string, body:string, isHtml:bool, setWaiting:bool, sendEmail:bool | StringRequestResult
CreateTicketWithDate | authUserName:string, authPassword:string, departmentID:int, groupId:int, userIdOfAgent:int, toAddress:string, subject:string, body:string, isHtml:bool, setWaiting:bool, sendEmail:bool, dateOpenedUTC:dateTime, dateIdleStartTimeUTC:dateTime, dateFirstMessageReceived:dateTime | StringRequestResult
DeleteTicket | authUserName:string, authPassword:string, ticketId:int | GenericResult
AddMessageToTicket | authUserName:string, authPassword:string, ticketNumber:string, fromAddress:string, toAddress:string, ccAddress:string, subject:string, body:string, isHtml:bool, toCustomer:bool, sendEmail:bool | GenericResult
AddMessageToTicketFromUser | authUserName:string, authPassword:string, ticketNumber:string, fromAddress:string, toAddress:string, ccAddress:string, subject:string, body:string, isHtml:bool, toCustomer:bool, sendEmail:bool, userID:int (nillable) | GenericResult
AddMessageToTicketWithDate | authUserName:string, authPassword:string, ticketNumber:string, fromAddress:string, toAddress:string, ccAddress:string, subject:string, body:string, isHtml:bool, toCustomer:bool, sendEmail:bool, dateMessageReceived:dateTime | TicketPartInfoResult
AddMessageToTicketWithDateFromUser | authUserName:string, authPassword:string, ticketNumber:string, fromAddress:string, toAddress:string, ccAddress:string, subject:string, body:string, isHtml:bool, toCustomer:bool, sendEmail:bool, dateMessageReceived:dateTime, userID:int (nillable) | TicketPartInfoResult
GetTicketCounts_Agent | authUserName:string, authPassword:string | TicketCountInfoArrayResult
GetTicketCounts_Global | authUserName:string, authPassword:string | TicketCountInfoArrayResult
GetTicketCount | authUserName:string, authPassword:string | IntRequestResult
GetGroupTicketInfo | authUserName:string, authPassword:string | SettingsRequestResult
CloseTicket | authUserName:string, authPassword:string, ticketNumber:string, closingComment:string | GenericResult
GetTicketStatus | authUserName:string, authPassword:string, ticketNumber:string | StringRequestResult
SetFollowUp | authUserName:string, authPassword:string, ticketId:int, followUpDateUtc:dateTime, newGroupId:int, newAgentId:int, newStatus:string, pinToAgent:bool, comment:string | GenericResult
RemoveFollowUp | authUserName:string, authPassword:string, ticketId:int | GenericResult
GetCustomFieldControls | authUserName:string, authPassword:string, departmentId:int | CustomFieldInfoArrayResult
GetTicketCustomFieldsList | authUserName:string, authPassword:string, ticketNumber:string | SettingsRequestResult
GetTicketCustomFields | authUserName:string, authPassword:string, ticketNumber:string, requestedValues:string[] (ArrayOfString) | SettingsRequestResult
SetTicketCustomFields | authUserName:string, authPassword:string, ticketNumber:string, customFieldValues:string[] (ArrayOfString) | GenericResult
GetTicketPropertiesList | authUserName:string, authPassword:string, ticketNumber:string | SettingsRequestResult
GetTicketProperties | authUserName:string, authPassword:string, ticketNumber:string, requestedValues:string[] (ArrayOfString) | SettingsRequestResult
SetTicketProperties | authUserName:string, authPassword:string, ticketNumber:string, ticketPropertyValues:string[] (ArrayOfString) | GenericResult
TransferTicket | authUserName:string, authPassword:string, ticketNumber:string, targetGroupID:int, targetAgentID:int, transferComment:string, ticketStatus:string | GenericResult
TransferTicketToInstance | authUserName:string, authPassword:string, ticketNumber:string, transferServerID:int, targetDepartmentID:int, targetDepartmentName:string, targetGroupID:int, targetGroupName:string, targetAgentID:int, targetUserName:string, transferComment:string, ticketStatus:string | GenericResult
GetTicketURL | authUserName:string, authPassword:string, ticketNumber:string | StringRequestResult
AppendToTicketAttachment | authUserName:string, authPassword:string, ticketAttachmentId:int, data:base64Binary | GenericResult
AddTicketAttachment | authUserName:string, authPassword:string, ticketNumber:string, ticketMessageId:long, fileName:string, data:base64Binary, fileLength:int, dateCreatedUTC:dateTime | TicketAttachmentInfoResult
GetTicketAttachments | authUserName:string, authPassword:string, ticketId:int | TicketAttachmentInfoArrayResult
HandOffActiveTickets | authUserName:string, authPassword:string | GenericResult
HandOffActiveTicketsAsAdmin | authUserName:string, authPassword:string, agentUserName:string | GenericResult
SetAgentReceivingStatus | authUserName:string, authPassword:string, receivingStatusArr:ReceivingStatusInfo[] | GenericResult
SetAgentReceivingStatusAsAdmin | authUserName:string, authPassword:string, agentUserName:string, receivingStatusArr:ReceivingStatusInfo[] | GenericResult
GetAgentReceivingStatus | authUserName:string, authPassword:string | ReceivingStatusInfoArrayResult
GetAgentReceivingStatusAsAdmin | authUserName:string, authPassword:string, agentUserName:string | ReceivingStatusInfoArrayResult
SetAgentReceivingStatusForAllGroups | authUserName:string, authPassword:string, receiveTickets:bool | GenericResult
SetAgentReceivingStatusForAllGroupsAsAdmin | authUserName:string, authPassword:string, agentUserName:string, receiveTickets:bool | GenericResult
PingService | authUsername:string, authPassword:string, dataUsername:string | IsAvailableResult
GetAgentsSignature | authUserName:string, authPassword:string, DepartmentID:int, GroupID:int, plainText:bool | StringRequestResult
"""

XSD_TO_CSHARP = {
    "string": "string", "int": "int", "long": "long", "bool": "bool",
    "dateTime": "System.DateTime", "string[] (ArrayOfString)": "string[]",
    # wsdl.exe marks these parameters with the attributes SmarterTrack's own
    # proxies carry too.
    "base64Binary": '[System.Xml.Serialization.XmlElementAttribute(DataType="base64Binary")] byte[]',
    "int (nillable)": "[System.Xml.Serialization.XmlElementAttribute(IsNullable=true)] System.Nullable<int>",
    "ReceivingStatusInfo[]": "ReceivingStatusInfo[]",
}


def contract():
    """[(operation, expected C# signature)] from CONTRACT."""
    rows = []
    for line in CONTRACT.strip().splitlines():
        name, inputs, returns = (part.strip() for part in line.split("|"))
        parameters = []
        for item in inputs.split(", "):
            parameter, kind = item.split(":", 1)
            parameters.append("%s %s" % (XSD_TO_CSHARP[kind], parameter))
        rows.append((name, "%s %s(%s)" % (returns, name, ", ".join(parameters))))
    return rows


CONTRACT_SIGNATURES = contract()


@pytest.fixture(scope="module")
def builds(tmp_path_factory):
    return dotnet.Builds(tmp_path_factory.mktemp("dotnet-tickets"))


def test_contract_table_has_the_56_operations():
    names = [name for name, _ in CONTRACT_SIGNATURES]
    assert len(names) == len(set(names)) == 56
    assert sorted(names) == sorted(OPERATIONS)


# ---------------------------------------------------------------- wsdl.exe


@pytest.mark.parametrize("soap12", [False, True], ids=["soap11", "soap12"])
async def test_wsdl_proxy_has_the_smartertrack_signatures(server, builds, soap12):
    client = await builds.asmx_client(server.url("svcTickets"), SCENARIO, soap12=soap12)
    proxy = client.proxy

    dotnet.assert_asmx_proxy_class(proxy, "svcTickets", NAMESPACE, soap12)

    # The synchronous method of every operation, exactly: document/literal
    # wrapped, SOAPAction = namespace/op, nothing else between the attribute
    # and the method, and the contract's signature.
    generated = re.findall(r"^\s*public (\w+(?:\[\])?) (\w+)\((.*)\) \{$", proxy, re.M)
    methods = {name: "%s %s(%s)" % (returns, name, parameters) for returns, name, parameters in generated
               if not name.endswith("Async") and parameters.startswith("string auth")}
    mismatches = []
    for name, signature in CONTRACT_SIGNATURES:
        if methods.get(name) != signature:
            mismatches.append("expected %s\n     got %s" % (signature, methods.get(name)))
            continue
        pattern = dotnet.wrapped_method_pattern(NAMESPACE, name, r"public %s \{" % re.escape(signature))
        if not re.search(pattern, proxy):
            mismatches.append("%s: not wrapped document/literal with SOAPAction %s/%s" % (name, NAMESPACE, name))
    assert not mismatches, "\n".join(mismatches)
    assert len(methods) == 56, sorted(set(methods) - {name for name, _ in CONTRACT_SIGNATURES})
    # No overloads beside the Async ones.
    for name, signature in CONTRACT_SIGNATURES:
        assert proxy.count("public %s {" % signature) == 1, name
    dotnet.assert_wrapped_in_own_namespace(proxy)

    # Value types plain (no ...Specified twins); only userID is nullable.
    assert 'DataType="integer"' not in proxy
    assert not re.search(r"\w+Specified\s*\{", proxy)
    assert set(re.findall(r"System\.Nullable<\w+> (\w+)", proxy)) == {"userID"}
    assert not re.search(r"public System\.Nullable<", proxy)
    dotnet.assert_declares(proxy, (
        "public bool Result {", "public int ResultCode {", "public string Message {",
        "public string RequestResult {", "public string[] RequestResults {",
        "public TicketInfo[] Tickets {", "public TicketEventInfo[] Events {", "public TicketPartInfo[] Parts {",
        "public TicketAttachmentInfo[] Files {", "public ReceivingStatusInfo[] ReceivingStatus {",
        "public long PartId {", "public long fileSizeInBytes {", "public long ticketMessageId {",
        "public System.DateTime LastReplyDateUtc {", "public int Priority {", "public bool IsAvailable {",
        "public string messageBody {", "public string downloadUrl {",
    ))


def setup_desk(desk):
    """A second group of the department with the agent in it, and a custom
    field on the department's ticket template. Returns the group's id."""
    with desk.server.runtime.db.transaction() as session:
        field = ticket_fields.create_field(session, CUSTOM_FIELD)
        template = ticket_fields.create_template(session, "Interop tickets")
        ticket_fields.put_field_on_template(session, template.id, field.id)
        ticket_fields.set_department_template(session, desk.department_id, template.id)


async def add_group(desk) -> int:
    group = await desk.org.CreateGroup(*desk.admin, desk.department_id, "Hardware", "Printers and such")
    assert group.Result, group.Message
    added = await desk.org.AddAgentToGroup(*desk.admin, group.RequestResult, desk.agent_id, "Primary", False, 0)
    assert added.Result, added.Message
    return group.RequestResult


@pytest.mark.parametrize("soap12", [False, True], ids=["soap11", "soap12"])
async def test_ticket_life_through_the_wsdl_proxy(desk, builds, soap12):
    server = desk.server
    client = await builds.asmx_client(server.url("svcTickets"), SCENARIO, soap12=soap12)
    group_id = await add_group(desk)
    setup_desk(desk)
    customer_email = "cust@example.com"

    run = await builds.run(client, server.url("svcTickets"), *AGENT, customer_email, str(desk.department_id),
                           str(group_id), str(desk.agent_id), CUSTOM_FIELD)
    run.assert_succeeded()
    ok = run.ok
    assert ok["Proxy"]["soapVersion"] == ("Soap12" if soap12 else "Default")
    number = ok["CreateTicketFromCustomer"]["number"]
    ticket_id = int(ok["GetTicketsBySearch"]["id"])
    assert ok["GetTicketsBySearch"]["count"] == "1"
    assert ok["GetTicketsBySearch"]["group"] == str(desk.group_id)
    assert ok["TransferTicket"] == {"group": str(group_id), "agent": str(desk.agent_id)}
    assert ok["SetTicketCustomFields"] == {CUSTOM_FIELD: "GOLD-42"}
    assert ok["SetTicketProperties"]["Priority"] == "3"
    assert ok["GetTicketAttachments"] == {"count": "1", "size": "3000", "name": "wiring.bin"}
    assert ok["AddTicketTimeLog"] == {"minutes": "45", "billable": "True"}
    assert ok["CloseTicket"]["isOpen"] == "False"
    assert ok["UnknownTicket"] == {"result": "False", "code": "5"}
    assert ok["PingService"] == {"available": "True"}
    for operation in ("AddTicketNote", "AddMessageToTicket", "GetTicketConversationPartList",
                      "AppendToTicketAttachment", "GetTicketEventHistory"):
        assert operation in ok, run.describe()

    # The history the scenario printed names the steps it took.
    events = [line[len("EVENT "):] for line in run.stdout.splitlines() if line.startswith("EVENT ")]
    assert int(ok["GetTicketEventHistory"]["count"]) == len(events)
    history = "\n".join(events)
    for step in (
        "Ticket created in Support / Level 1 | from %s" % customer_email,
        "General comment added | Comment 1: Customer called, says it smells.",
        "Reply sent to %s" % customer_email,
        "Transferred from Support / Level 1 (the queue) to Support / Hardware (alice) | Hardware team, please.",
        "Custom fields changed: %s | %s: '' -> 'GOLD-42'" % (CUSTOM_FIELD, CUSTOM_FIELD),
        "Priority changed from Normal to High",
        "Attachment wiring.bin complete (3000 bytes)",
        "Time log 1 added: 45 min for alice",
        "Status changed from Waiting to Closed",
    ):
        assert step in history, (step, history)
    assert all(event.endswith("| alice") for event in events), history

    # Server side: what the .NET client did is in the database.
    with server.runtime.db.transaction(writes=False) as session:
        ticket = session.get(Ticket, ticket_id)
        assert ticket.ticket_number == number
        assert ticket.group_id == group_id and ticket.agent_id == desk.agent_id
        assert ticket.priority_id == 3
        assert not session.get(TicketStatus, ticket.status_id).is_open
        attachment = session.scalars(select(TicketAttachment).where(TicketAttachment.ticket_id == ticket_id)).one()
        assert attachment.length == attachment.expected_length == 3000
        disk_name = attachment.file_name_on_disk
    assert (server.runtime.data.attachments / disk_name).read_bytes() == bytes(i * 7 % 256 for i in range(3000))
    # The reply to the customer went to the outgoing spool.
    assert [m for m in desk.spool() if customer_email in m.recipients]
    # And the custom field value reads back through zeep, too.
    values = await desk.tickets.GetTicketCustomFields(*AGENT, number, strings(CUSTOM_FIELD))
    assert values.RequestResults.string == ["%s=GOLD-42" % CUSTOM_FIELD]


# ---------------------------------------------------------------- svcutil / WCF

WCF_FAILURES_SCENARIO = "TicketsWcfFailures.cs"
# The single-object payloads SmarterTrack's WSDL declares required.
REQUIRED_PAYLOADS = {
    "TicketInfoResult": ("Ticket", "TicketInfo"), "TicketCommentInfoResult": ("Comment", "TicketCommentInfo"),
    "TimeLogInfoResult": ("TimeLog", "TimeLogInfo"), "TicketPartInfoResult": ("Part", "TicketPartInfo"),
    "TicketAttachmentInfoResult": ("File", "TicketAttachmentInfo"),
}


@pytest.fixture(scope="module")
def wcf_builds(tmp_path_factory):
    return dotnet.Builds(tmp_path_factory.mktemp("dotnet-tickets-wcf"))


@pytest.mark.skipif(bool(dotnet.missing_tools(dotnet.WCF_TOOLS)), reason="svcutil not on PATH")
async def test_svcutil_proxy_requires_the_payloads_smartertrack_requires(server, wcf_builds):
    proxy = (await wcf_builds.wcf_client(server.url("svcTickets"), WCF_FAILURES_SCENARIO)).proxy
    data = r"www\.smartertools\.com\.SmarterTrack\.Services2\.svcTickets\.asmx\."
    for result, (member, kind) in REQUIRED_PAYLOADS.items():
        declaration = re.search(r'DataContractAttribute\(Name="%s".*?\n    \}\n' % result, proxy, re.S).group(0)
        assert re.search(r"DataMemberAttribute\(IsRequired=true[^)]*\)\]\s*public %s%s %s \{" % (data, kind, member),
                         declaration), (result, declaration)


@pytest.mark.skipif(bool(dotnet.missing_tools(dotnet.WCF_TOOLS)), reason="svcutil not on PATH")
@pytest.mark.parametrize("binding", ["soap11", "soap12"])
async def test_wcf_client_reads_every_failure_answer(desk, wcf_builds, binding):
    """Wrong password and unknown tickets: each answer carries its required
    payload (.NET defaults), which a DataContract client needs to read it."""
    server = desk.server
    client = await wcf_builds.wcf_client(server.url("svcTickets"), WCF_FAILURES_SCENARIO)
    run = await wcf_builds.run(client, server.url("svcTickets"), *AGENT, binding)
    run.assert_succeeded()
    assert run.ok == {
        "GetTicketNote": {"code": "1"}, "GetTicketInfo": {"code": "5"}, "GetTicketInfoByTicketNumber": {"code": "5"},
        "GetTicketTimeLog": {"code": "5"}, "AddMessageToTicketWithDate": {"code": "5"},
        "AddMessageToTicketWithDateFromUser": {"code": "1"}, "AddTicketAttachment": {"code": "5"},
    }, run.describe()
