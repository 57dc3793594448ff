"""Settings > Tools > External Providers: its place in the navigation until
the providers arrive (they are not built yet, and the page says so)."""
from __future__ import annotations

from stws.security import roles
from stws.web.admin import Page, route


@route("GET", "/settings/external-providers")
def external_providers(page: Page):
    page.section = "providers"
    if not page.may(roles.ADMINISTRATOR):
        return page.render("admin/refused.html", status=403, title="Not allowed",
                           message="Settings are for administrators.")
    return page.render("admin/providers.html", title="External Providers")
