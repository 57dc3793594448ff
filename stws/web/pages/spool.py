"""Settings > Tools > Spool: the outgoing and incoming mail spools, a sorted
page at a time, with Raw Content, Select All, Retry, View (sort order) and
Delete, through stws.operations.spool (the operations svcSpool runs).

"Select all" means every message of the spool, not just the page shown: the
form then sends ``all=1`` and the all-messages operations run.
"""
from __future__ import annotations

from dataclasses import dataclass

from stws.errors import OperationError
from stws.operations import spool as ops
from stws.operations.runner import OperationSpec
from stws.web.admin import ROOT, Page, route
from stws.web.http import local_path

BASE = "/settings/spool"
PAGE_SIZE = 50
# Raw content beyond this is not put in the page (a message with large
# attachments would make a page of many megabytes); the page says so.
RAW_SHOWN_BYTES = 512 * 1024


@dataclass(frozen=True)
class Spool:
    """One tab: its operations and what the page says about them."""

    name: str
    title: str
    total_key: str  # its total in spool_counts
    statuses: tuple[str, ...]  # its statuses, in the order the page counts them
    sorts: tuple[tuple[str, str], ...]  # (sort key of the list operation, label)
    list: OperationSpec
    raw: OperationSpec
    retry: OperationSpec
    retry_all: OperationSpec
    retry_all_done: str  # what retrying every message did (after "Retried N messages")
    delete: OperationSpec
    delete_all: OperationSpec


SPOOLS = {
    "outgoing": Spool(
        "outgoing", "Outgoing", "OutgoingTotal", ("Queued", "Sending", "Sent", "Failed"),
        (("date", "Date"), ("from", "From"), ("to", "To"), ("subject", "Subject"), ("status", "Status"),
         ("attempts", "Attempts"), ("id", "Id")),
        ops.list_outgoing_messages, ops.outgoing_message_raw_content, ops.retry_outgoing_messages,
        ops.retry_all_outgoing_messages, "every failed or waiting message goes out at the next delivery run",
        ops.delete_outgoing_messages, ops.delete_all_outgoing_messages),
    "incoming": Spool(
        "incoming", "Incoming", "IncomingTotal", ("Pending", "Imported", "Duplicate", "Failed"),
        (("date", "Date"), ("from", "From"), ("subject", "Subject"), ("status", "Status"), ("size", "Size"),
         ("attempts", "Attempts"), ("id", "Id")),
        ops.list_incoming_messages, ops.incoming_message_raw_content, ops.retry_incoming_messages,
        ops.retry_all_failed_incoming_messages, "every failed message is imported again at the next run",
        ops.delete_incoming_messages, ops.delete_all_incoming_messages),
}


def _messages(number: int) -> str:
    return "{:,} message{}".format(number, "" if number == 1 else "s")


@dataclass(frozen=True)
class View:
    """What the list shows, as kept in its URL: tab, sort order and page."""

    spool: Spool
    sort: str
    descending: bool
    offset: int

    @classmethod
    def of(cls, page: Page) -> "View":
        """The view a request asks for; anything unknown falls back to the default (newest first)."""
        arg = page.request.arg
        spool = SPOOLS.get(arg("tab"), SPOOLS["outgoing"])
        sort = arg("sort", "date")
        if sort not in dict(spool.sorts):
            sort = "date"
        try:
            offset = max(0, int(arg("offset", "0")))
        except ValueError:
            offset = 0
        return cls(spool, sort, arg("order", "desc") != "asc", offset)

    def url(self, page: Page, offset: int | None = None) -> str:
        return page.url(BASE, tab=self.spool.name, sort=self.sort, order="desc" if self.descending else "asc",
                        offset=(self.offset if offset is None else offset) or "")


@route("GET", BASE)
def spool_page(page: Page):
    page.section = "spool"
    view = View.of(page)
    spool = view.spool
    counts = page.run(ops.spool_counts)
    listed = page.run(spool.list, view.sort, view.descending, view.offset, PAGE_SIZE)
    if not listed.items and listed.total and view.offset:
        # Past the end (messages were deleted meanwhile): the last page instead.
        view = View(spool, view.sort, view.descending, (listed.total - 1) // PAGE_SIZE * PAGE_SIZE)
        listed = page.run(spool.list, view.sort, view.descending, view.offset, PAGE_SIZE)
    last_offset = max(0, (listed.total - 1) // PAGE_SIZE * PAGE_SIZE)
    return page.render("admin/spool.html", title="Spool", spool=spool, spools=SPOOLS.values(), view=view,
                       counts=counts, status_counts=[(s, counts[spool.title + s]) for s in spool.statuses],
                       messages=listed.items, total=listed.total, page_size=PAGE_SIZE, last_offset=last_offset,
                       count_messages=_messages)


def _raw_url(page: Page, spool: Spool, message_id, back: str) -> str:
    return page.url(BASE + "/raw", tab=spool.name, id=message_id, back=back)


@route("GET", BASE + "/raw")
def raw_content(page: Page):
    """A message's raw text: the pop-up of a row, and a page of its own without JavaScript."""
    page.section = "spool"
    spool = SPOOLS.get(page.request.arg("tab"), SPOOLS["outgoing"])
    message_id = page.request.arg("id")
    try:
        raw = page.run(spool.raw, int(message_id))
    except ValueError:
        raw = None
        error = "%r is not a message id." % message_id
    except OperationError as failure:
        raw = None
        error = failure.message
    text = raw[:RAW_SHOWN_BYTES].decode("utf-8", "replace") if raw is not None else ""
    return page.render("admin/spool_raw.html", status=200 if raw is not None else 404,
                       title="Raw content of %s message %s" % (spool.name, message_id), spool=spool,
                       message_id=message_id, text=text, size=len(raw) if raw is not None else 0,
                       shown=RAW_SHOWN_BYTES, error="" if raw is not None else error,
                       back=local_path(page.request.arg("back"), ROOT, page.url(BASE, tab=spool.name)))


def _action(page: Page):
    """(spool, where to go back to, the ids selected, whether every message is) of an action's form."""
    spool = SPOOLS.get(page.request.field("tab"), SPOOLS["outgoing"])
    back = page.back(page.url(BASE, tab=spool.name))
    ids = [i for i in page.request.fields("id") if i.strip()]
    return spool, back, ids, page.request.field("all") == "1"


NOTHING_SELECTED = "Select messages first."


@route("POST", BASE + "/raw")
def raw_content_of_selected(page: Page):
    """The toolbar's Raw Content without JavaScript: the first selected message's page."""
    spool, back, ids, _ = _action(page)
    if not ids:
        return page.done(back, "Select a message first.", error=True)
    return page.done(_raw_url(page, spool, ids[0], back))


@route("POST", BASE + "/retry")
def retry(page: Page):
    spool, back, ids, every = _action(page)
    try:
        if every:
            number = page.run(spool.retry_all)
            return page.done(back, "Retried %s: %s." % (_messages(number), spool.retry_all_done))
        if not ids:
            return page.done(back, NOTHING_SELECTED, error=True)
        return page.done(back, "Retried %s." % _messages(page.run(spool.retry, ids)))
    except OperationError as failure:
        return page.failed(back, failure)


@route("POST", BASE + "/delete")
def delete(page: Page):
    spool, back, ids, every = _action(page)
    try:
        if every:
            return page.done(back, "Deleted %s." % _messages(page.run(spool.delete_all, "")))
        if not ids:
            return page.done(back, NOTHING_SELECTED, error=True)
        return page.done(back, "Deleted %s." % _messages(page.run(spool.delete, ids)))
    except OperationError as failure:
        return page.failed(back, failure)
