"""Tickets: the agents' workspace. The tree of ticket lists with their
counts, a node's list or a search's results sorted and paged on the
server, and the heartbeat the page polls at the Heartbeat Interval for
fresh counts and follow-up reminders (stws.operations.workspace).

Everything works without JavaScript (links and a GET search form); the
script (static/admin.js) only refreshes the counts in place and shows
reminders. A ticket opens at ``/tickets/view?number=...``.
"""
from __future__ import annotations

from dataclasses import dataclass

from stws.errors import OperationError
from stws.domain.tickets.navigation import PAGE_SIZES
from stws.operations import workspace as ops
from stws.web.admin import Page, json_response, route

BASE = "/tickets"
DEFAULT_NODE = "my-active"
# The list's sort keys (in the URL) and what GetTicketsBySearch calls them.
SORTS = {
    "number": "TicketNumber", "subject": "Subject", "customer": "Customer", "status": "Status",
    "priority": "Priority", "activity": "LastReplyDateUtc",
}
# Search form field -> GetTicketsBySearch key.
SEARCH_FIELDS = (("text", "Text"), ("email", "EmailAddress"), ("number", "TicketNumber"), ("subject", "Subject"))
STATES = {"open": ["IsOpen=true"], "closed": ["IsOpen=false"], "": []}


@dataclass(frozen=True)
class View:
    """What the list shows, as kept in its URL."""

    node: str
    search: dict  # form field -> value (SEARCH_FIELDS, state, priority, criteria)
    sort: str
    descending: bool
    offset: int
    size: int

    @classmethod
    def of(cls, page: Page) -> "View":
        arg = page.request.arg
        search = {name: arg(name).strip() for name, _ in SEARCH_FIELDS}
        search.update(state=arg("state") if arg("state") in STATES else "", priority=arg("priority").strip(),
                      criteria=arg("criteria").strip())
        node = arg("node").strip()
        if not node and not any(search.values()):
            node = DEFAULT_NODE
        sort = arg("sort", "activity")
        try:
            offset = max(0, int(arg("offset", "0")))
        except ValueError:
            offset = 0
        try:
            size = int(arg("size", "25"))
        except ValueError:
            size = 25
        return cls(node, search, sort if sort in SORTS else "activity", arg("order", "desc") != "asc", offset,
                   size if size in PAGE_SIZES else 25)

    @property
    def searching(self) -> bool:
        return any(self.search.values())

    def criteria(self) -> list[str]:
        """The search form as GetTicketsBySearch's Key=Value items."""
        items = ["%s=%s" % (key, self.search[name]) for name, key in SEARCH_FIELDS if self.search[name]]
        items += STATES[self.search["state"]]
        if self.search["priority"]:
            items.append("Priority=" + self.search["priority"])
        items += [line.strip() for line in self.search["criteria"].splitlines() if line.strip()]
        return items

    def url(self, page: Page, **changes) -> str:
        values = dict(node=self.node, **self.search, sort=self.sort, order="desc" if self.descending else "asc",
                      offset=self.offset or "", size=self.size if self.size != 25 else "")
        values.update(changes)
        if values.get("node") == DEFAULT_NODE and not any(self.search.values()):
            values["node"] = ""  # the default list's URL is the plain one
        return page.url(BASE, **values)

    def sort_url(self, page: Page, sort: str) -> str:
        """The header link: sort by ``sort``; again reverses the order."""
        descending = not self.descending if sort == self.sort else sort in ("activity", "priority")
        return self.url(page, sort=sort, order="desc" if descending else "asc", offset="")


def _title(tree, node: str, fallback: str) -> str:
    for branch in tree.branches:
        for leaf in branch.nodes:
            if leaf.key == node:
                return "%s: %s" % (branch.label, leaf.label)
    return fallback


@route("GET", BASE)
def tickets_page(page: Page):
    page.section = "tickets"
    view = View.of(page)
    tree = page.run(ops.ticket_tree)
    error, listing = "", None
    try:
        listing = page.run(ops.ticket_list, view.node, view.criteria(), SORTS[view.sort], view.descending,
                           view.offset, view.size)
    except OperationError as failure:
        error = failure.message
    title = _title(tree, view.node, listing.title if listing else "Tickets") if view.node else ""
    if view.searching:
        title = title + " · search results" if title else "Search results"
    return page.render("admin/tickets.html", title=title, tree=tree, view=view, listing=listing, error=error, current_node=view.node,
                       sorts=SORTS, page_sizes=PAGE_SIZES, status=200 if not error else 400)


@route("GET", "/heartbeat", answers_json=True)
def heartbeat(page: Page):
    """The workspace's poll: counts, reminders due by the next poll, and the interval.
    ``due_in_ms``: how long until a reminder falls due (0: due now), so the
    page needs no clock of its own agreeing with the server's. ``?ticket=``
    (an open ticket page): also ``ticket``, its version (null: gone, or no
    longer the caller's to see), for the page to follow it (pages/ticket.py)."""
    number = page.request.arg("ticket").strip()
    beat = page.run(ops.workspace_heartbeat, number)
    now = beat.now_utc
    body = {
        "interval_seconds": beat.interval_seconds,
        "counts": beat.counts,
        "reminders": [{"ticket_number": r.ticket_number, "subject": r.subject,
                       "due_utc": r.due_utc.strftime("%Y-%m-%dT%H:%M:%SZ"),
                       "due_in_ms": max(0, int((r.due_utc - now).total_seconds() * 1000))}
                      for r in beat.reminders],
    }
    if number:
        body["ticket"] = {"number": number, "version": beat.ticket_version}
    return json_response(body)
