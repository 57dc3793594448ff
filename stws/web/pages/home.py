"""The first page after signing in: what this account may open."""
from __future__ import annotations

from stws.web.admin import Page, route


@route("GET", "/")
def home(page: Page):
    page.section = "home"
    return page.render("admin/home.html", title="Home")
