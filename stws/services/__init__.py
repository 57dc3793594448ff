"""The .asmx services, one module each; ``SERVICES`` lists what is served."""
from stws.services.organization import OrganizationService

SERVICES = (OrganizationService,)
