"""Which thread pool a SOAP call runs on (stws.soap.hosting.SoapPools):
on SQLite, operations declared read-only run on a small pool of their own;
writes, undeclared operations and requests that name no operation run on
the general pool; on PostgreSQL there is one pool."""
from __future__ import annotations

from twisted.web.test.requesthelper import DummyRequest

from stws.soap.hosting import requested_operation
from stws.soap.types import service_namespace

TICKETS = service_namespace("svcTickets")


def soap_request(soap_action: str | None = None, content_type: str = "text/xml; charset=utf-8") -> DummyRequest:
    request = DummyRequest([b""])
    request.method = b"POST"
    request.requestHeaders.setRawHeaders(b"content-type", [content_type.encode()])
    if soap_action is not None:
        request.requestHeaders.setRawHeaders(b"soapaction", [soap_action.encode()])
    return request


def test_the_operation_comes_from_soapaction_or_the_soap12_action():
    assert requested_operation(soap_request('"%s/GetTicketInfo"' % TICKETS)) == "GetTicketInfo"
    assert requested_operation(soap_request("%s/CloseTicket" % TICKETS)) == "CloseTicket"
    soap12 = 'application/soap+xml; charset=utf-8; action="%s/GetTicketInfo"' % TICKETS
    assert requested_operation(soap_request(content_type=soap12)) == "GetTicketInfo"
    assert requested_operation(soap_request()) is None
    assert requested_operation(soap_request('""')) is None


def tickets_resource(server):
    return server.web.site.root.getChild(b"services2", None).getChild(b"svctickets.asmx", None)


async def test_reads_run_on_their_own_pool_on_sqlite(server):
    pools = server.web.pools
    resource = tickets_resource(server)
    read = resource.wsgi_for(soap_request('"%s/GetTicketInfo"' % TICKETS))
    write = resource.wsgi_for(soap_request('"%s/CloseTicket"' % TICKETS))
    unnamed = resource.wsgi_for(soap_request())
    if not server.runtime.db.is_sqlite:
        assert pools.reads is pools.general
        assert read is write is unnamed
        return
    assert pools.reads is not pools.general and pools.reads.max < pools.general.max
    assert read._threadpool is pools.reads
    assert write._threadpool is pools.general and unnamed._threadpool is pools.general
    assert {"GetTicketInfo", "GetTicketsBySearch", "GetTicketCounts_Global"} <= resource.endpoint.read_only_operations
    # Writes, and reads that wait on another server, stay on the general pool.
    assert not {"CloseTicket", "CreateTicketFromCustomer", "TransferTicketToInstance"} & \
        resource.endpoint.read_only_operations
    transfer = resource.wsgi_for(soap_request('"%s/TransferTicketToInstance"' % TICKETS))
    assert transfer._threadpool is pools.general


async def test_both_pools_serve_calls(server):
    """A read (read pool) and a write (general pool) both answer."""
    org = await server.client("svcOrganization")
    agents = await org.GetAllAgents(*server.admin)
    assert agents.Result, agents.Message
    created = await org.CreateUser(*server.admin, "poolcheck", "pool-Passw0rd!", "pool@example.com", True, "Pool")
    assert created.Result, created.Message



async def test_the_self_diagnostic_waits_on_mail_servers_so_it_is_not_a_quick_read(server):
    directory = server.web.site.root.getChild(b"services2", None)
    diagnostics = directory.getChild(b"svcdiagnostics.asmx", None).endpoint
    assert "GetThreadStatuses" in diagnostics.read_only_operations
    assert "RunSelfDiagnostic" not in diagnostics.read_only_operations
