"""svcSpool.asmx: the mail spool (outgoing and incoming) and the SMTP and POP
accounts, for administrators. Not a SmarterTrack service; same conventions.

The operations are stws.operations.spool; the modules here bind them, by
area, and map their results to the contract's types."""
from __future__ import annotations

from stws.services.spool import accounts, incoming, outgoing
from stws.services.spool.types import SERVICE_NAME
from stws.soap.operation import assemble_service

SpoolService = assemble_service(SERVICE_NAME, (accounts, outgoing, incoming))
