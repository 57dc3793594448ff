"""svcSpool.asmx with real .NET clients (Mono): the ``wsdl`` proxy (SOAP 1.1
and 1.2) has plain wrapped signatures, and a C# program calls every svcSpool
operation through it (csharp/SpoolAsmx.cs): SMTP and POP accounts, the
outgoing and incoming spools and their counts, and one in-band failure.
Proxies are generated and compiled once per module and pointed at each
test's own server; the spool rows are put in directly through the runtime's
database beforehand.
"""
from __future__ import annotations

import os
import re

import pytest
from sqlalchemy import select, update
from twisted.internet.threads import deferToThread

import dotnet
from mail.conftest import queue
from mail.pop_server import incoming_rows, make_mail
from stws.db.models import Brand, Department, IncomingMessage, OutgoingMessage, SmtpAccount
from stws.mail import pop
from stws.services.spool import SpoolService

pytestmark = dotnet.requires_mono()

NAMESPACE = "http://www.smartertools.com/SmarterTrack/Services2/svcSpool.asmx"
SCENARIO = "SpoolAsmx.cs"
OPERATIONS = sorted(SpoolService.public_methods)

AUTH = "string authUserName, string authPassword"
SIGNATURES = [
    "IntRequestResult CreateSmtpAccount(%s, string name, string server, int port, string security, "
    "bool useAuthentication, string username, string password, string fromAddress, string fromName, "
    "bool isDefault)",
    "SmtpAccountInfoArrayResult GetSmtpAccounts(%s)",
    "GenericResult UpdateSmtpAccount(%s, int accountId, string[] propertyValues)",
    "GenericResult DeleteSmtpAccount(%s, int accountId)",
    "GenericResult SetDepartmentSmtpAccount(%s, int departmentId, int accountId)",
    "GenericResult SetBrandSmtpAccount(%s, int brandId, int accountId)",
    "IntRequestResult CreatePopAccount(%s, int departmentId, string emailAddress, string server, int port, "
    "string security, string username, string password, bool leaveOnServer, int importFrequencyMinutes, "
    "bool isEnabled, string newTicketRestriction)",
    "PopAccountInfoArrayResult GetPopAccounts(%s)",
    "GenericResult UpdatePopAccount(%s, int accountId, string[] propertyValues)",
    "GenericResult DeletePopAccount(%s, int accountId)",
    "OutgoingMessageInfoArrayResult GetOutgoingMessages(%s, string sortField, bool sortDescending, int offset, "
    "int count)",
    "StringRequestResult GetOutgoingMessageRawContent(%s, int messageId)",
    "GenericResult RetryOutgoingMessages(%s, string[] messageIds)",
    "GenericResult RetryAllFailedOutgoingMessages(%s)",
    "GenericResult DeleteOutgoingMessages(%s, string[] messageIds)",
    "GenericResult DeleteAllOutgoingMessages(%s, string status)",
    "SettingsRequestResult GetSpoolCounts(%s)",
    "IncomingMessageInfoArrayResult GetIncomingMessages(%s, string sortField, bool sortDescending, int offset, "
    "int count)",
    "StringRequestResult GetIncomingMessageRawContent(%s, int messageId)",
    "GenericResult RetryIncomingMessages(%s, string[] messageIds)",
    "GenericResult RetryAllFailedIncomingMessages(%s)",
    "GenericResult DeleteIncomingMessages(%s, string[] messageIds)",
    "GenericResult DeleteAllIncomingMessages(%s, string status)",
    "SettingsRequestResult GetIncomingSpoolCounts(%s)",
]
SIGNATURES = [s % AUTH for s in SIGNATURES]

DECLARATIONS = [
    "public bool Result {", "public int ResultCode {", "public string Message {", "public int RequestResult {",
    "public string RequestResult {", "public string[] RequestResults {", "public int TotalCount {",
    "public SmtpAccountInfo[] Accounts {", "public PopAccountInfo[] Accounts {",
    "public OutgoingMessageInfo[] Messages {", "public IncomingMessageInfo[] Messages {",
    "public int ID {", "public int Port {", "public bool HasPassword {", "public bool IsDefault {",
    "public bool UseAuthentication {", "public int DepartmentId {", "public int ImportFrequencyMinutes {",
    "public bool IsEnabled {", "public bool LeaveOnServer {", "public System.DateTime LastCheckUtc {",
    "public int Attempts {", "public bool IsBeingSent {", "public long Size {", "public int SmtpAccountId {",
    "public int TicketId {", "public int AccountId {", "public System.DateTime DateSentUtc {",
    "public System.DateTime DateImportedUtc {", "public System.DateTime DateReceivedUtc {",
]


@pytest.fixture(scope="module")
def builds(tmp_path_factory):
    return dotnet.Builds(tmp_path_factory.mktemp("dotnet-spool"))


@pytest.mark.parametrize("soap12", [False, True], ids=["soap11", "soap12"])
async def test_wsdl_proxy_has_plain_wrapped_signatures(server, builds, soap12):
    client = await builds.asmx_client(server.url("svcSpool"), SCENARIO, soap12=soap12)
    proxy = client.proxy

    dotnet.assert_asmx_proxy_class(proxy, "svcSpool", NAMESPACE, soap12)
    dotnet.assert_wrapped_signatures(proxy, NAMESPACE, SIGNATURES, OPERATIONS)
    # Every public operation method has the credentials first.
    methods = re.findall(r"public \w+ (\w+)\(([^)]*)\) \{", proxy)
    wrapped = [(name, params) for name, params in methods if name in OPERATIONS]
    assert sorted(name for name, _ in wrapped) == OPERATIONS
    assert all(params.startswith(AUTH) for _, params in wrapped)
    dotnet.assert_wrapped_in_own_namespace(proxy)
    dotnet.assert_no_nullable_value_types(proxy)
    dotnet.assert_declares(proxy, DECLARATIONS)


def fill_spools(runtime) -> dict:
    """Two queued and one failed outgoing message; one pending and two failed
    incoming ones (their files in Failed Emails). Blocking: run in a thread."""
    outgoing = queue(runtime, 2) + queue(runtime, 1, to="zed@example.com", status="failed", attempts=10,
                                          last_error="550 no")
    pending = pop.store_message(runtime, None, make_mail(subject="Printer on fire"))
    broken = [pop.store_message(runtime, None, make_mail(subject="Broken %d" % n)) for n in (1, 2)]
    runtime.data.failed_emails.mkdir(parents=True, exist_ok=True)
    with runtime.db.transaction() as session:
        session.execute(update(IncomingMessage).where(IncomingMessage.id.in_(broken))
                        .values(status="failed", attempts=1, last_error="unreadable"))
        names = list(session.scalars(select(IncomingMessage.file_name).where(IncomingMessage.id.in_(broken))))
    for name in names:
        os.replace(runtime.data.email / name, runtime.data.failed_emails / name)
    return {"outgoing": outgoing, "pending": pending, "broken": broken}


@pytest.mark.parametrize("soap12", [False, True], ids=["soap11", "soap12"])
async def test_every_operation_through_the_wsdl_proxy(server, builds, soap12):
    runtime = server.runtime
    client = await builds.asmx_client(server.url("svcSpool"), SCENARIO, soap12=soap12)
    spooled = await deferToThread(fill_spools, runtime)

    run = await builds.run(client, server.url("svcSpool"), *server.admin)
    run.assert_succeeded()
    ok = run.ok
    # Every operation was called (and printed its OK line).
    assert set(OPERATIONS) <= set(ok), sorted(set(OPERATIONS) - set(ok))
    assert ok["Proxy"]["soapVersion"] == ("Soap12" if soap12 else "Default")
    assert ok["GetSmtpAccounts"] == {"count": "1", "port": "587", "hasPassword": "True"}
    assert ok["UpdateSmtpAccount"] == {"port": "465", "security": "ssl", "hasPassword": "False"}
    assert ok["DeleteSmtpAccountInUse"] == {"code": "10"}
    assert ok["DeleteSmtpAccount"]["left"] == "1"
    assert ok["GetPopAccounts"] == {"count": "1", "port": "995", "lastCheckYear": "1"}
    assert ok["UpdatePopAccount"] == {"port": "110", "leaveOnServer": "False"}
    assert ok["GetSpoolCounts"] == {"OutgoingQueued": "2", "OutgoingFailed": "1", "OutgoingTotal": "3",
                                    "IncomingFailed": "2"}
    assert ok["GetIncomingSpoolCounts"] == {"IncomingPending": "1", "IncomingFailed": "2", "IncomingTotal": "3"}
    assert ok["GetOutgoingMessages"] == {"total": "3", "failedAttempts": "10"}
    assert ok["GetOutgoingMessageRawContent"]["id"] == str(spooled["outgoing"][0])
    assert ok["RetryAllFailedOutgoingMessages"] == {"queued": "3", "maxAttempts": "10"}
    assert ok["DeleteOutgoingMessages"] == {"total": "2"}
    assert ok["DeleteAllOutgoingMessages"] == {"total": "0"}
    assert ok["GetIncomingMessages"] == {"total": "3", "pendingSubject": "Printer_on_fire"}
    assert ok["GetIncomingMessageRawContent"]["id"] == str(spooled["broken"][0])
    assert ok["DeleteIncomingMessages"] == {"id": str(spooled["pending"]), "total": "2"}
    assert ok["DeleteAllIncomingMessages"] == {"total": "2"}

    # Server side.
    def state():
        with runtime.db.transaction(writes=False) as session:
            return (list(session.scalars(select(SmtpAccount.name))),
                    session.get(Department, 1).smtp_account_id, session.get(Brand, 1).smtp_account_id,
                    session.scalar(select(OutgoingMessage.id)))

    assert await deferToThread(state) == (["Kept"], None, None, None)
    rows = await deferToThread(incoming_rows, runtime)
    assert [(r.id, r.status, r.attempts) for r in rows] == [(i, "pending", 0) for i in spooled["broken"]]
    for row in rows:  # back from Failed Emails, where the import looks for them
        assert (runtime.data.email / row.file_name).exists()
        assert not (runtime.data.failed_emails / row.file_name).exists()
    assert len(list(runtime.data.email.glob("*.eml"))) == 2  # the pending one's file went with it
