"""The pages of the management interface, one module per area; importing
this package registers their routes (stws.web.admin.route)."""
from stws.web.pages import (  # noqa: F401
    diagnostics, home, mail_accounts, organization, providers, signin, spool, tickets, users,
)
