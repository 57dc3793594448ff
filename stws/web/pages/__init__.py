"""The pages of the management interface, one module per area; importing
this package registers their routes (stws.web.admin.route)."""
from stws.web.pages import diagnostics, home, providers, signin, spool  # noqa: F401
