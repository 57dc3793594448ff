"""The pages of the management interface, one module per area; importing
this package registers their routes (stws.web.admin.route)."""
from stws.web.pages import (  # noqa: F401
    diagnostics, home, mail_accounts, new_ticket, organization, providers, signin, spool, ticket, tickets, users,
)
