"""svcTickets.asmx: SmarterTrack's 56 ticket operations.

The operations live in modules by area; this package assembles them into
one spyne service in the order of the reference WSDL (types.OPERATIONS).
"""
from __future__ import annotations

from spyne import ServiceBase

from stws.services.tickets import (
    agents, attachments, conversation, creation, fields, lifecycle, timelogs, transfer,
)
from stws.services.tickets.types import OPERATIONS, SERVICE_NAME

_MODULES = (creation, conversation, lifecycle, transfer, fields, timelogs, attachments, agents)


def _collect(modules) -> dict:
    found = {}
    for module in modules:
        for name, value in vars(module).items():
            if hasattr(value, "stws_spec"):
                if name in found:
                    raise RuntimeError("operation %s is defined twice" % name)
                found[name] = value
    unknown = set(found) - set(OPERATIONS)
    if unknown:
        raise RuntimeError("operations outside the svcTickets contract: %s" % ", ".join(sorted(unknown)))
    return {name: found[name] for name in OPERATIONS if name in found}


TicketsService = type("TicketsService", (ServiceBase,), {
    "__service_name__": SERVICE_NAME,
    "__module__": __name__,
    **_collect(_MODULES),
})
