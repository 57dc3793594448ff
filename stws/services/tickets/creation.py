"""svcTickets operations: creating tickets (as an agent or as if from a
customer) and reading them. Bound to stws.operations.tickets.creation."""
from __future__ import annotations

from stws.operations.tickets import creation as ops
from stws.services.tickets import types as T
from stws.services.tickets.convert import ticket_info
from stws.soap.operation import binds
from stws.soap.types import Bool, Int, String, When

AGENT_TICKET = (("departmentID", Int), ("groupId", Int), ("userIdOfAgent", Int), ("toAddress", String),
                ("subject", String), ("body", String), ("isHtml", Bool), ("setWaiting", Bool), ("sendEmail", Bool))
CUSTOMER_TICKET = (("fromAddress", String), ("subject", String), ("body", String), ("isHtml", Bool),
                   ("sendAutoResponder", Bool))
BACK_DATES = (("dateOpenedUTC", When), ("dateIdleStartTimeUTC", When), ("dateFirstMessageReceived", When))


def _ticket_number(number):
    return {"RequestResult": number}


@binds(ops.create_ticket, *AGENT_TICKET, returns=T.StringRequestResult)
def CreateTicket(number):
    """A ticket started by an agent, addressed to ``toAddress``; RequestResult is its number."""
    return _ticket_number(number)


@binds(ops.create_ticket, *AGENT_TICKET, *BACK_DATES, returns=T.StringRequestResult)
def CreateTicketWithDate(number):
    """CreateTicket, back-dated (for migrations and imports)."""
    return _ticket_number(number)


@binds(ops.create_ticket_from_customer, ("departmentId", Int), *CUSTOMER_TICKET, returns=T.StringRequestResult)
def CreateTicketFromCustomer(number):
    """A ticket as if the customer at ``fromAddress`` had written in."""
    return _ticket_number(number)


@binds(ops.create_ticket_from_customer_with_date, ("departmentId", Int), ("groupId", Int), ("userId", Int),
       *CUSTOMER_TICKET, *BACK_DATES, returns=T.StringRequestResult)
def CreateTicketFromCustomerWithDate(number):
    """CreateTicketFromCustomer into a given group for a given user, back-dated."""
    return _ticket_number(number)


# The hot read path: one conversion of the row the prebuilt query returned.
@binds(ops.ticket_info, ("ticketId", Int), returns=T.TicketInfoResult)
def GetTicketInfo(row):
    return {"Ticket": ticket_info(row)}


@binds(ops.ticket_info_by_number, ("ticketNumber", String), returns=T.TicketInfoResult)
def GetTicketInfoByTicketNumber(row):
    return {"Ticket": ticket_info(row)}


@binds(ops.ping_service, ("dataUsername", String), returns=T.IsAvailableResult, auth_user_param="authUsername",
       on_failure=lambda error: T.IsAvailableResult(IsAvailable=False))
def PingService(available):
    """True when the credentials work and ``dataUsername`` (if given) is an account."""
    return T.IsAvailableResult(IsAvailable=available)
