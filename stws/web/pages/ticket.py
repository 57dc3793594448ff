"""A ticket in the agents' workspace: ``/admin/tickets/view?number=...`` and
its actions, each a POST through the operation its SOAP twin runs
(stws.operations.tickets), wrapped by ``if_unchanged`` so that a change
made from a page older than the ticket is refused with who changed it
(stws.domain.tickets.workspace).

Reading: one operation (``ticket_view``) gathers the page in one
transaction; an agent who may not see the ticket (GetTicketInfo's rule)
gets "not found", as SOAP says it. Message HTML is shown only through
stws.web.sanitize.

After an action the browser is redirected to the ticket with a notice
(POST/redirect/GET). A refused action shows the ticket as it is now, with
the Message, and what the agent entered kept in its form.

Following the ticket: the page is on the workspace base (the tree beside
it), and its heartbeat (tickets.heartbeat) also answers the open ticket's
version. When that changed, the script fetches ``/tickets/view/live``:
the same template and operation, only the page's parts (``LIVE``), plus
what changed since the page's version (``since``). Forms the agent has not
touched are replaced by their current state and version; a touched form
keeps what it holds and the version it was begun at, so sending it after
someone else's change is refused as from any older page ("changed by X
meanwhile", the entry kept) instead of overwriting what the agent has not
seen. Without JavaScript, a reload shows the changes.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from stws.errors import InvalidArgument, NotFound, OperationError, PermissionDenied
from stws.operations import providers
from stws.operations import workspace as workspace_ops
from stws.operations.tickets import attachments, conversation, fields, lifecycle, timelogs, transfer
from stws.operations.tickets.workspace import ChangedMeanwhile, if_unchanged, ticket_view
from stws.security import roles
from stws.web import sanitize
from stws.web.admin import Page, route
from stws.web.forms import form_id
from stws.web.http import CONTENT_SECURITY_POLICY, CSP
from markupsafe import Markup

BASE = "/tickets"
VIEW = BASE + "/view"
LIVE = VIEW + "/live"
TABS = (("conversation", "Conversation"), ("communication", "Communication"), ("history", "History"))
# A reload that shows a message's remote images may load them from anywhere.
CSP_WITH_REMOTE_IMAGES = CONTENT_SECURITY_POLICY.replace("img-src 'self' data:", "img-src 'self' data: http: https:")
# <input type="datetime-local"> (the page says its times are UTC).
DATE_INPUT = "%Y-%m-%dT%H:%M"


def view_url(page: Page, number: str, tab: str = "", **query) -> str:
    return page.url(VIEW, number=number, tab="" if tab == "conversation" else tab, **query)


def customer_information(page: Page, number: str) -> list[tuple[str, str]] | None:
    """The user information provider's ``Key=Value`` pairs about the
    ticket's customer (the same operation as SOAP's GetTicketUserInformation),
    or None while no provider is enabled: the tab then shows the customer's
    other tickets only. A provider that fails shows its Message as one pair
    instead of failing the page."""
    try:
        information = page.run(providers.ticket_user_information, number)
    except OperationError as failure:
        return [("Provider", failure.message)]
    return list(information.pairs) if information.provider_enabled else None


@dataclass(frozen=True)
class Shown:
    """An entry of the conversation as the page shows it."""

    entry: object  # workspace.Entry
    html: str  # sanitised markup, or empty: show ``entry.text`` as text
    blocked_images: int


def _shown(entry, images: str) -> Shown:
    if entry.html:
        safe = sanitize.clean(entry.html, show_images=images in ("all", str(entry.id)) and entry.kind != "note")
        return Shown(entry, safe.html, safe.blocked_images)
    return Shown(entry, "", 0)


def when(moment: dt.datetime | None) -> Markup:
    """A UTC time that breaks between its day and its hour only (a function,
    not a template macro: the page shows hundreds and macros cost ten times more)."""
    if moment is None:
        return Markup("—")
    return Markup('<span class="nobreak">%s</span> <span class="nobreak">%s</span>'
                  % (moment.strftime("%Y-%m-%d"), moment.strftime("%H:%M")))


def _utc_input(moment: dt.datetime) -> str:
    return moment.astimezone(dt.timezone.utc).strftime(DATE_INPUT)


def show(page: Page, number: str, *, status: int = 200, error: str = "", entered: dict | None = None,
         action: str = "", live: bool = False):
    """The ticket's page; ``error``, ``entered`` and ``action``: a refused
    action's Message, what its form held, and which form it was; ``live``:
    only its parts, for an open page that follows the ticket."""
    page.section = "ticket"
    tab = page.request.arg("tab", "conversation")
    if tab not in dict(TABS):
        tab = "conversation"
    try:
        view = page.run(ticket_view, number, tab, page.request.arg("since") if live else "")
    except NotFound as failure:
        return page.render("admin/refused.html", status=404, title="Not found", message=failure.message)
    images = page.request.arg("images")
    shown = [_shown(entry, images) for entry in view.conversation]
    departments = {d.id: d.name for d in view.departments}
    groups = [(g.id, "%s / %s" % (departments.get(g.department_id, "?"), g.name)) for g in view.groups]
    now = dt.datetime.now(dt.timezone.utc)
    defaults = {
        "follow_up_when": _utc_input(now + dt.timedelta(days=1)),
        "start": _utc_input(now - dt.timedelta(minutes=15)), "end": _utc_input(now),
    }
    if live:
        layout = dict(base="admin/ticket_live.html")
    else:
        layout = dict(base="admin/workspace.html", tree=page.run(workspace_ops.ticket_tree), current_node="")
    response = page.render(
        "admin/ticket.html", status=status, title="Ticket %s" % view.header.number, view=view, t=view.header,
        live_url=page.url(LIVE, number=view.header.number, tab="" if tab == "conversation" else tab, images=images),
        **layout,
        tab=tab, tabs=TABS, shown=shown, images=images, error=error, entered=entered or {}, action=action,
        defaults=defaults, groups=groups, when=when, group_agents=view.group_agents, me=page.principal.user_id,
        is_manager=page.may(roles.MANAGER),
        other_tickets=view.other_tickets, provider_pairs=customer_information(page, view.header.number) if tab == "communication"
        else None, view_url=lambda tab="", **q: view_url(page, view.header.number, tab, **q),
        # + a message's id: built once, not once per message.
        show_images_url=view_url(page, view.header.number) + "&images=")
    if images and any(s.entry.html for s in shown):
        response.headers.append((CSP, CSP_WITH_REMOTE_IMAGES))
    return response


@route("GET", VIEW)
def view_page(page: Page):
    number = page.request.arg("number").strip()
    if not number:
        return page.render("admin/refused.html", status=404, title="Not found",
                           message="Which ticket? Open it by its number: %s?number=168-24F24A57-000E"
                                   % page.url(VIEW))
    return show(page, number)


@route("GET", LIVE)
def live_parts(page: Page):
    """The page's parts (no layout, no tree) for its script, when the
    heartbeat said the ticket changed; ``since``: the version the page showed."""
    return show(page, page.request.arg("number").strip(), live=True)


# ---------------------------------------------------------------- actions


def _form(page: Page) -> dict:
    """What the form held (for showing it again), without its token."""
    return {name: values[0] for name, values in page.request.form.items() if name != "csrf_token" and values}


# The HTTP status of a refused action's page (others: 400).
_STATUS = {ChangedMeanwhile: 409, PermissionDenied: 403}


def _act(page: Page, action: str, spec, args, notice: str, tab: str = "conversation", location: str = ""):
    """Run ``spec`` with ``args`` if the ticket is still at the form's version,
    then go to ``location`` (default: the ticket's ``tab``)."""
    number = page.request.field("number").strip()
    version = page.request.field("version")
    try:
        page.run(if_unchanged(spec), number, version, *args)
    except NotFound as failure:
        return page.render("admin/refused.html", status=404, title="Not found", message=failure.message)
    except OperationError as failure:
        return show(page, number, status=_STATUS.get(type(failure), 400), error=failure.message,
                    entered=_form(page), action=action)
    return page.done(location or view_url(page, number, tab), notice)


def _refused(page: Page, action: str, message: str):
    return show(page, page.request.field("number").strip(), status=400, error=message, entered=_form(page),
                action=action)


def _utc(text: str, what: str) -> dt.datetime:
    """A datetime-local input's value, read as UTC."""
    try:
        return dt.datetime.strptime(text.strip(), DATE_INPUT).replace(tzinfo=dt.timezone.utc)
    except ValueError:
        raise InvalidArgument("%s: %r is not a date and time (YYYY-MM-DD HH:MM, UTC)." % (what, text)) from None


@route("POST", BASE + "/reply")
def reply(page: Page):
    field = page.request.field
    return _act(page, "reply", conversation.add_message_to_ticket,
                (field("number"), "", "", field("cc"), "", field("body"), False, True, True),
                "Reply sent: it is in the outgoing spool.")


@route("POST", BASE + "/note")
def note(page: Page):
    field = page.request.field
    return _act(page, "note", conversation.add_ticket_note, (field("number"), field("note_type"), field("note")),
                "Note added.")


@route("POST", BASE + "/properties")
def properties(page: Page):
    field = page.request.field
    return _act(page, "properties", fields.set_ticket_properties,
                (field("number"), ["TicketStatusID=%s" % field("status_id"), "Priority=%s" % field("priority_id")]),
                "Status and priority saved.")


@route("POST", BASE + "/transfer")
def transfer_to_group(page: Page):
    field = page.request.field
    return _act(page, "transfer", transfer.transfer_ticket,
                (field("number"), form_id(page.request, "group_id"), form_id(page.request, "agent_id"),
                 field("comment"), field("transfer_status")),
                "Ticket transferred.")


@route("POST", BASE + "/assign")
def assign(page: Page):
    """Take (the agent_id is the caller's) or assign to an agent of the group (0: the queue)."""
    agent_id = page.principal.user_id if page.request.field("take") == "1" else form_id(page.request, "agent_id")
    return _act(page, "assign", fields.set_ticket_properties,
                (page.request.field("number"), ["AgentID=%d" % agent_id]),
                "Ticket assigned." if agent_id else "Ticket placed in the queue of its group.")


@route("POST", BASE + "/close")
def close(page: Page):
    field = page.request.field
    return _act(page, "close", lifecycle.close_ticket, (field("number"), field("closing_comment")),
                "Ticket closed.")


@route("POST", BASE + "/delete")
def delete(page: Page):
    """Managers only (the operation's role); the ticket's page is gone afterwards."""
    number = page.request.field("number").strip()
    return _act(page, "delete", lifecycle.delete_ticket, (form_id(page.request, "id"),),
                "Ticket %s deleted." % number, location=page.url("/"))


@route("POST", BASE + "/follow-up")
def follow_up(page: Page):
    field = page.request.field
    try:
        when = _utc(field("follow_up_when"), "Follow-up")
    except InvalidArgument as failure:
        return _refused(page, "follow_up", failure.message)
    return _act(page, "follow_up", transfer.set_follow_up,
                (form_id(page.request, "id"), when, 0, 0, field("follow_up_status"), False, field("follow_up_comment")),
                "Follow-up set for %s UTC." % when.strftime("%Y-%m-%d %H:%M"))


@route("POST", BASE + "/follow-up/remove")
def remove_follow_up(page: Page):
    return _act(page, "follow_up", transfer.remove_follow_up, (form_id(page.request, "id"),), "Follow-up removed.")


@route("POST", BASE + "/time-log")
def time_log(page: Page):
    field = page.request.field
    try:
        start, end = _utc(field("start"), "Start"), _utc(field("end"), "End")
    except InvalidArgument as failure:
        return _refused(page, "time_log", failure.message)
    return _act(page, "time_log", timelogs.add_ticket_time_log,
                (form_id(page.request, "id"), field("subject"), 0, form_id(page.request, "category_id"),
                 field("description"), start, end, field("billable") == "on"),
                "Time log added.")


@route("POST", BASE + "/custom-fields")
def custom_fields(page: Page):
    """Each field is posted as ``field:<display name>``; a checkbox that is not ticked sends nothing."""
    request = page.request
    items = ["%s=%s" % (name, request.field("field:" + name)) for name in request.fields("field_name")]
    return _act(page, "custom_fields", fields.set_ticket_custom_fields, (request.field("number"), items),
                "Custom fields saved.")


@route("POST", BASE + "/related")
def related(page: Page):
    field = page.request.field
    return _act(page, "related", lifecycle.add_related_item, (field("number"), field("related_number")),
                "Related item added.")


@route("POST", BASE + "/attachment")
def attachment(page: Page):
    """A multipart upload; its size is checked by the operation (max-attachment-size)."""
    uploads = [upload for upload in page.request.files.get("file", []) if upload.file_name]
    if not uploads:
        return _refused(page, "attachment", "Choose a file to upload first.")
    upload = uploads[0]
    return _act(page, "attachment", attachments.add_ticket_attachment,
                (page.request.field("number"), 0, upload.file_name, upload.data, 0, None),
                "%s uploaded (%s bytes)." % (upload.file_name, "{:,}".format(len(upload.data))))
