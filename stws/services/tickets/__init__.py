"""svcTickets.asmx: SmarterTrack's 56 ticket operations.

The operations themselves are in stws.operations.tickets; the modules here,
by the same areas, bind them to SOAP (parameters, result types, wording)
and are assembled into one spyne service in the order of the reference
WSDL (types.OPERATIONS).
"""
from __future__ import annotations

from stws.services.tickets import (
    agents, attachments, conversation, creation, fields, lifecycle, timelogs, transfer,
)
from stws.services.tickets.types import OPERATIONS, SERVICE_NAME
from stws.soap.operation import assemble_service

TicketsService = assemble_service(
    SERVICE_NAME,
    (creation, conversation, lifecycle, transfer, fields, timelogs, attachments, agents),
    order=OPERATIONS,
)
