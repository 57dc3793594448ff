"""The .asmx services, one module (or package) each; ``SERVICES`` lists what is served."""
from stws.services.diagnostics import DiagnosticsService
from stws.services.organization import OrganizationService
from stws.services.providers import ExternalProvidersService
from stws.services.spool import SpoolService
from stws.services.tickets import TicketsService

SERVICES = (OrganizationService, TicketsService, DiagnosticsService, SpoolService, ExternalProvidersService)
