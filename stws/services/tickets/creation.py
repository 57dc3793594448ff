"""Creating tickets (as an agent or as if from a customer) and reading them."""
from __future__ import annotations

from stws.domain import organization as org
from stws.domain.tickets import core
from stws.domain.tickets.auto_responder import send_auto_responder
from stws.mail.outgoing import queue_ticket_email
from stws.security import roles
from stws.services.tickets import types as T
from stws.services.tickets.convert import ticket_info
from stws.soap.operation import operation
from stws.soap.types import Bool, Int, String, When

AGENT_TICKET = (("departmentID", Int), ("groupId", Int), ("userIdOfAgent", Int), ("toAddress", String),
                ("subject", String), ("body", String), ("isHtml", Bool), ("setWaiting", Bool), ("sendEmail", Bool))
CUSTOMER_TICKET = (("fromAddress", String), ("subject", String), ("body", String), ("isHtml", Bool),
                   ("sendAutoResponder", Bool))
BACK_DATES = (("dateOpenedUTC", When), ("dateIdleStartTimeUTC", When), ("dateFirstMessageReceived", When))


def _agent_ticket(call, departmentID, groupId, userIdOfAgent, toAddress, subject, body, isHtml, setWaiting,
                  sendEmail, opened=None, idle_start=None, first_message=None):
    created = core.create_ticket(
        call, department_id=departmentID, group_id=groupId, agent_id=userIdOfAgent or call.principal.user_id,
        customer_address=toAddress, subject=subject, body=body, is_html=isHtml, direction=core.OUTGOING,
        status_id=core.WAITING if setWaiting else core.ACTIVE, opened=opened, idle_start=idle_start,
        first_message=first_message,
    )
    if sendEmail:
        ticket = created.ticket
        queue_ticket_email(call.session, ticket, created.message, [ticket.customer_email], reply=False)
    return {"RequestResult": created.ticket_number}


def _customer_ticket(call, departmentId, groupId, userId, fromAddress, subject, body, isHtml, sendAutoResponder,
                     opened=None, idle_start=None, first_message=None):
    if userId:
        customer = org.get_user(call, userId)
        fromAddress = fromAddress or customer.email
    created = core.create_ticket(
        call, department_id=departmentId, group_id=groupId, agent_id=None, customer_address=fromAddress,
        subject=subject, body=body, is_html=isHtml, direction=core.INCOMING, status_id=core.ACTIVE,
        opened=opened, idle_start=idle_start, first_message=first_message, customer_id=userId or None,
    )
    if sendAutoResponder and created.department.auto_responder_enabled:
        send_auto_responder(call, created, created.department)
    return {"RequestResult": created.ticket_number}


@operation(*AGENT_TICKET, returns=T.StringRequestResult, role=roles.AGENT)
def CreateTicket(call, departmentID, groupId, userIdOfAgent, toAddress, subject, body, isHtml, setWaiting,
                 sendEmail):
    """A ticket started by an agent, addressed to ``toAddress``; RequestResult is its number."""
    return _agent_ticket(call, departmentID, groupId, userIdOfAgent, toAddress, subject, body, isHtml,
                         setWaiting, sendEmail)


@operation(*AGENT_TICKET, *BACK_DATES, returns=T.StringRequestResult, role=roles.AGENT)
def CreateTicketWithDate(call, departmentID, groupId, userIdOfAgent, toAddress, subject, body, isHtml, setWaiting,
                         sendEmail, dateOpenedUTC, dateIdleStartTimeUTC, dateFirstMessageReceived):
    """CreateTicket, back-dated (for migrations and imports)."""
    return _agent_ticket(call, departmentID, groupId, userIdOfAgent, toAddress, subject, body, isHtml,
                         setWaiting, sendEmail, dateOpenedUTC, dateIdleStartTimeUTC, dateFirstMessageReceived)


@operation(("departmentId", Int), *CUSTOMER_TICKET, returns=T.StringRequestResult, role=roles.AGENT)
def CreateTicketFromCustomer(call, departmentId, fromAddress, subject, body, isHtml, sendAutoResponder):
    """A ticket as if the customer at ``fromAddress`` had written in."""
    return _customer_ticket(call, departmentId, 0, 0, fromAddress, subject, body, isHtml, sendAutoResponder)


@operation(("departmentId", Int), ("groupId", Int), ("userId", Int), *CUSTOMER_TICKET, *BACK_DATES,
           returns=T.StringRequestResult, role=roles.AGENT)
def CreateTicketFromCustomerWithDate(call, departmentId, groupId, userId, fromAddress, subject, body, isHtml,
                                     sendAutoResponder, dateOpenedUTC, dateIdleStartTimeUTC,
                                     dateFirstMessageReceived):
    """CreateTicketFromCustomer into a given group for a given user, back-dated."""
    return _customer_ticket(call, departmentId, groupId, userId, fromAddress, subject, body, isHtml,
                            sendAutoResponder, dateOpenedUTC, dateIdleStartTimeUTC, dateFirstMessageReceived)


@operation(("ticketId", Int), returns=T.TicketInfoResult, role=roles.EVERYONE, writes=False)
def GetTicketInfo(call, ticketId):
    return {"Ticket": ticket_info(core.ticket_info_row(call, ticketId))}


@operation(("ticketNumber", String), returns=T.TicketInfoResult, role=roles.EVERYONE, writes=False)
def GetTicketInfoByTicketNumber(call, ticketNumber):
    return {"Ticket": ticket_info(core.ticket_info_row_by_number(call, ticketNumber))}


@operation(("dataUsername", String), returns=T.IsAvailableResult, role=roles.EVERYONE, writes=False,
           auth_user_param="authUsername", on_failure=lambda error: T.IsAvailableResult(IsAvailable=False))
def PingService(call, dataUsername):
    """True when the credentials work and ``dataUsername`` (if given) is an account."""
    if dataUsername and dataUsername.strip():
        org.find_user(call, dataUsername)
    return T.IsAvailableResult(IsAvailable=True)
