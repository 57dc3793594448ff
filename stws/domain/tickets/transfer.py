"""Moving tickets: to another group or agent, to another help desk server,
and later (follow-ups).

Transfer within this desk (``transfer_ticket``)
    The ticket moves to the target group (and that group's department and
    brand) and/or agent. Agent 0 hands it to the target group's
    distribution (round robin or the queue); an explicit agent must be a
    member of the target group. Staying in the same group with agent 0 is
    a hand-off: the current agent is not picked again. The comment, if any,
    is stored as a Transfer comment; the status changes if one is named.

Transfer to another instance (``transfer_to_instance``)
    The ticket is recreated on another SmarterTrack-compatible server (a
    row of ``transfer_servers``) through that server's own SOAP API:
    CreateTicketFromCustomerWithDate with the first message, then
    AddMessageToTicketWithDate for each further message in order, the
    ticket's notes (AddTicketNoteHtmlWithDate, dated as here), its complete
    attachments (AddTicketAttachment and AppendToTicketAttachment in chunks,
    on the remote copy of the message they belong to), a remote
    TransferTicket when an agent was asked for, and a note (AddTicketNote)
    with the transfer comment. Only then is the local ticket changed: a
    Transfer comment "Transferred to <server> as <remote number>", status
    Closed (or the status asked for) and an event.

    The remote calls are blocking (stws.remote's PeerClient, in the SOAP
    worker thread) and can take a while, so they run outside any
    transaction: holding SQLite's write lock for them would stall every
    other writer (and deadlock a server transferring to itself), and even
    a read transaction would pin a connection and a snapshot meanwhile.
    The operation (declared without a transaction) therefore reads what it
    sends in a read-only transaction that ends before the first call, and
    writes its outcome in a transaction of its own afterwards; a failure
    is recorded in the history the same way, so the failed attempt stays
    on record while the operation reports Result=false. If the remote
    server fails half way, the partial copy there is deleted (best effort)
    and the message says what became of it. One transfer of a ticket at a
    time: it claims the ticket in the database (``ticket_transfer_claims``,
    so nodes sharing the database see each other's), and a second one is
    refused while the claim lasts.

Follow-ups (``set_follow_up`` / ``remove_follow_up`` / ``apply_due_follow_ups``)
    A follow-up stores when the ticket comes back and to which group,
    agent and status (each None = keep), whether to pin it, and a
    Follow-Up comment. While one is pending the ticket shows in the
    follow-up view. The Ticket Watcher calls ``apply_due_follow_ups``.
"""
from __future__ import annotations

import datetime as dt
import html
import logging
import os
import socket
import urllib.parse
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import and_, case, delete, exists, func, insert, literal, null, or_, select, update
from sqlalchemy.orm import aliased

from stws.db.models import (
    FOLLOW_UP_SCHEDULED, CommentType, Department, Group, GroupAgent, Ticket, TicketAttachment, TicketComment,
    TicketEvent, TicketMessage, TicketStatus, TicketTransferClaim, TransferServer, User, UtcDateTime, utcnow,
)
from stws.db.insert_once import insert_once
from stws.domain import organization as org
from stws.domain import validation
from stws.domain.context import Context
from stws.errors import AlreadyExists, InvalidArgument, InvalidState, NotFound, OperationError
from stws.domain.tickets import attachments, core
from stws.remote import PeerClient, RemoteFailure, TimeBudget

GENERAL_COMMENT, TRANSFER_COMMENT, FOLLOW_UP_COMMENT = 1, 3, 4

# A single request to a transfer server may take this long; the whole
# transfer (all its requests) at most TOTAL_TIMEOUT_SECONDS.
REQUEST_TIMEOUT_SECONDS = 20.0
TOTAL_TIMEOUT_SECONDS = 120.0
# A transfer's claim on its ticket (ticket_transfer_claims) outlasts its
# remote part (TOTAL_TIMEOUT_SECONDS at most) with room to spare; a node that
# dies mid-transfer blocks the ticket no longer than this.
CLAIM_SECONDS = 2 * TOTAL_TIMEOUT_SECONDS
# Attachments go to the transfer server in chunks of this size (a request each).
ATTACHMENT_CHUNK_BYTES = 1024 * 1024
# A follow-up date this far in the past is still accepted (clock skew).
PAST_TOLERANCE = dt.timedelta(minutes=1)
FOLLOW_UP_BATCH = 500


def add_comment(call, ticket: Ticket, type_id: int, text: str) -> TicketComment:
    comment = TicketComment(ticket_id=ticket.id, comment_type_id=type_id, user_id=call.principal.user_id
                            if getattr(call, "principal", None) else None, text=text, date_entered_utc=utcnow())
    call.session.add(comment)
    call.session.flush()
    return comment


def _agent_label(session, agent_id: int | None) -> str:
    if not agent_id:
        return "the queue"
    user = session.get(User, agent_id)
    return user.username if user else "agent %s" % agent_id


def _place(session, ticket: Ticket) -> str:
    group = session.get(Group, ticket.group_id)
    department = session.get(Department, ticket.department_id)
    return "%s / %s (%s)" % (department.name, group.name, _agent_label(session, ticket.agent_id))


def _live_group(call, group_id: int) -> Group:
    group = org.get_group(call, group_id)
    department = call.session.get(Department, group.department_id)
    if department is None or department.is_deleted:
        raise NotFound("There is no group with id %s." % group_id)
    return group


def _member_agent(call, group: Group, agent_id: int) -> User:
    agent = org.get_user(call, agent_id)
    if call.session.get(GroupAgent, (group.id, agent.id)) is None:
        raise InvalidArgument("%s is not an agent of group %s (%s); add them to the group first or pick "
                              "one of its agents." % (agent.username, group.id, group.name))
    return agent


def _optional_status(call, text: str | None) -> TicketStatus | None:
    if not (text or "").strip():
        return None
    return core.status_by_name(call.session, text)


# --------------------------------------------------------------------------
# Transfer within this desk
# --------------------------------------------------------------------------


def transfer_ticket(call, ticket_number: str, target_group_id: int, target_agent_id: int,
                    comment: str | None, status_name: str | None) -> Ticket:
    ticket = core.get_ticket_by_number(call, ticket_number)
    core.require_changeable(call, ticket)
    if target_group_id is None or target_group_id < 0 or target_agent_id is None or target_agent_id < 0:
        raise InvalidArgument("targetGroupID and targetAgentID must be ids, or 0.")
    group = _live_group(call, target_group_id) if target_group_id else call.session.get(Group, ticket.group_id)
    agent = _member_agent(call, group, target_agent_id) if target_agent_id else None
    status = _optional_status(call, status_name)
    comment = (comment or "").strip()

    session = call.session
    before = _place(session, ticket)
    same_group = group.id == ticket.group_id
    previous_agent = ticket.agent_id
    department = session.get(Department, group.department_id)
    ticket.group_id, ticket.department_id, ticket.brand_id = group.id, department.id, department.brand_id
    now = utcnow()
    core.touch(ticket, now)
    transfer_event = core.record_event(call, ticket, "Transferred", "", comment)
    if comment:
        add_comment(call, ticket, TRANSFER_COMMENT, comment)
    if status is not None:
        core.set_status(call, ticket, status, "transfer")
    if agent is not None:
        if agent.id != previous_agent:
            ticket.agent_id = agent.id
            ticket.hold_start_assigned_utc = now
            core.record_event(call, ticket, "Assigned", "Assigned to %s" % agent.username)
        ticket.is_pinned_to_agent = False
        session.get(GroupAgent, (group.id, agent.id)).last_assigned_utc = now
    elif core.status_of(session, ticket).is_open:
        core.distribute(call, ticket, exclude_agent_id=previous_agent if same_group else None)
        ticket.is_pinned_to_agent = False
    elif ticket.agent_id is not None:
        ticket.agent_id, ticket.is_pinned_to_agent = None, False
        core.record_event(call, ticket, "Queued", "Placed in the queue of its group")
    transfer_event.description = ("Transferred from %s to %s" % (before, _place(session, ticket)))[:1000]
    return ticket


# --------------------------------------------------------------------------
# Transfer servers
# --------------------------------------------------------------------------


def normalize_base_url(text: str | None) -> str:
    """``https://desk.example.com`` from that or ``.../Services2/svcTickets.asmx``."""
    value = (text or "").strip()
    parsed = urllib.parse.urlsplit(value)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise InvalidArgument("%r is not an http:// or https:// base URL of a help desk server." % text)
    path = parsed.path
    marker = path.lower().find("/services2")
    if marker >= 0:
        path = path[:marker]
    return urllib.parse.urlunsplit((parsed.scheme, parsed.netloc, path.rstrip("/"), "", ""))


def create_transfer_server(session, name: str, base_url: str, username: str, password: str,
                           is_enabled: bool = True) -> TransferServer:
    name = validation.name(name, "transfer server name")
    base_url = normalize_base_url(base_url)
    username = validation.name(username, "user name of the transfer server")
    if not password:
        raise InvalidArgument("The password for the transfer server is empty.")
    taken = session.scalars(select(TransferServer.id).where(func.lower(TransferServer.name) == name.lower()))
    if taken.first() is not None:
        raise AlreadyExists("A transfer server named %r exists already." % name)
    server = TransferServer(name=name, base_url=base_url, username=username, password=password,
                            is_enabled=bool(is_enabled))
    session.add(server)
    session.flush()
    return server


def list_transfer_servers(session) -> list[TransferServer]:
    return list(session.scalars(select(TransferServer).order_by(TransferServer.name, TransferServer.id)))


def get_transfer_server(session, server_id: int) -> TransferServer:
    server = session.get(TransferServer, server_id) if server_id else None
    if server is None:
        raise NotFound("There is no transfer server with id %s." % server_id)
    return server


def delete_transfer_server(session, server_id: int) -> None:
    session.delete(get_transfer_server(session, server_id))
    session.flush()


# --------------------------------------------------------------------------
# Transfer to another instance
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class RemoteMessage:
    incoming: bool
    from_address: str
    to_address: str
    cc_address: str
    subject: str
    body: str
    is_html: bool
    date: dt.datetime


@dataclass(frozen=True)
class RemoteTarget:
    department_id: int
    department_name: str
    group_id: int
    group_name: str
    agent_id: int
    user_name: str


@dataclass(frozen=True)
class RemoteNote:
    type_name: str  # the comment type's English name, as AddTicketNote takes it
    html: str
    date: dt.datetime


@dataclass(frozen=True)
class RemoteFile:
    message_index: int | None  # in TicketCopy.messages; None: attached to the ticket itself
    file_name: str
    path: Path
    length: int
    date: dt.datetime


@dataclass
class TicketCopy:
    """What is sent: the ticket as read at the start of the transfer."""

    ticket_id: int
    number: str
    customer_email: str
    subject: str
    opened: dt.datetime
    idle_start: dt.datetime
    messages: list[RemoteMessage] = field(default_factory=list)
    notes: list[RemoteNote] = field(default_factory=list)
    files: list[RemoteFile] = field(default_factory=list)


def _notes(session, ticket: Ticket) -> list[RemoteNote]:
    names = dict(session.execute(select(CommentType.id, CommentType.english_name)).all())
    comments = session.scalars(select(TicketComment).where(TicketComment.ticket_id == ticket.id)
                               .order_by(TicketComment.date_entered_utc, TicketComment.id))
    # Sent as HTML, the one note operation that keeps the date.
    return [RemoteNote(names.get(c.comment_type_id, "General"),
                       c.text if c.is_html else html.escape(c.text or "").replace("\n", "<br>\n"),
                       c.date_entered_utc) for c in comments]


def _files(session, ticket: Ticket, message_ids: list[int], root: Path) -> list[RemoteFile]:
    index_of = {message_id: index for index, message_id in enumerate(message_ids)}
    rows = session.scalars(select(TicketAttachment).where(
        TicketAttachment.ticket_id == ticket.id, TicketAttachment.is_deleted.is_(False))
        .order_by(TicketAttachment.date_created_utc, TicketAttachment.id))
    # Incomplete uploads are not files yet; those of drafts stay with the draft.
    return [RemoteFile(index_of.get(row.message_id) if row.message_id else None, row.file_name_original,
                       attachments.disk_path(root, row.file_name_on_disk), row.length, row.date_created_utc)
            for row in rows if attachments.is_complete(row) and (not row.message_id or row.message_id in index_of)]


def _copy(session, ticket: Ticket, attachment_root: Path) -> TicketCopy:
    rows = session.scalars(
        select(TicketMessage).where(TicketMessage.ticket_id == ticket.id, TicketMessage.is_draft.is_(False))
        .order_by(TicketMessage.date_received_utc, TicketMessage.id)
    ).all()
    if not rows:
        raise InvalidState("Ticket %s has no message to transfer." % ticket.ticket_number)
    messages = [RemoteMessage(
        incoming=row.direction == core.INCOMING,
        from_address=row.from_address or (ticket.customer_email if row.direction == core.INCOMING else ""),
        to_address=row.to_address or (ticket.customer_email if row.direction == core.OUTGOING else ""),
        cc_address=row.cc_address or "", subject=row.subject or ticket.subject,
        body=row.body_html or row.body_text or "", is_html=bool(row.body_html), date=row.date_received_utc,
    ) for row in rows]
    return TicketCopy(ticket.id, ticket.ticket_number, ticket.customer_email, ticket.subject,
                      ticket.date_opened_utc, ticket.idle_start_utc, messages, _notes(session, ticket),
                      _files(session, ticket, [row.id for row in rows], attachment_root))


class RemoteDesk:
    """svcTickets/svcOrganization of a transfer server, through the runtime's
    PeerClient (stws.remote: cached WSDL, timeouts, circuit breaker, failures
    as RemoteFailure, the providers log).

    Every request has ``request_seconds``, and all of them together
    ``total_seconds``; besides what the client reports, Result=false is a
    RemoteFailure with the remote server's message. Runs on a worker thread,
    outside any write transaction (see the module docstring).
    """

    def __init__(self, client: PeerClient, server: TransferServer, request_seconds: float, total_seconds: float):
        self.client = client
        self.name = server.name
        self.base_url = server.base_url
        self.credentials = (server.username, server.password)
        self.request_seconds = request_seconds
        self.budget = TimeBudget(total_seconds, "The transfer to %s took longer than %g seconds and was abandoned."
                                 % (server.name, total_seconds))

    def call(self, service_name: str, operation: str, *args, check: bool = True):
        url = "%s/Services2/%s.asmx" % (self.base_url, service_name)
        result = self.client.call(url, operation, *self.credentials, *args, peer=self.name,
                                  timeout=self.request_seconds, budget=self.budget)
        if check and not getattr(result, "Result", False):
            raise RemoteFailure("%s refused %s: %s (result code %s)" % (
                self.name, operation, getattr(result, "Message", None) or "no reason given",
                getattr(result, "ResultCode", "?")))
        return result

    # ---- resolving names on the remote server

    def resolve(self, target: RemoteTarget) -> tuple[int, int]:
        """(department id, group id) on the remote server; group 0 = its front line."""
        department_id, group_id = target.department_id, target.group_id
        groups = None
        if not department_id and target.department_name:
            departments = self.call("svcOrganization", "GetAllDepartments").Departments
            department_id = _find_by_name(departments and departments.DepartmentInfo, target.department_name,
                                          "%s has no department named %r." % (self.name, target.department_name))
        if not group_id and target.group_name:
            groups = self._groups()
            candidates = [g for g in groups if not department_id
                          or getattr(g, "DepartmentID", department_id) == department_id]
            group_id = _find_by_name(candidates, target.group_name,
                                     "%s has no group named %r%s." % (self.name, target.group_name,
                                                                     " in that department" if department_id else ""))
            if not department_id:
                department_id = getattr(_by_id(groups, group_id), "DepartmentID", 0) or 0
        if group_id and not department_id:
            groups = groups if groups is not None else self._groups()
            found = _by_id(groups, group_id)
            if found is None:
                raise NotFound("%s has no group with id %s." % (self.name, group_id))
            department_id = getattr(found, "DepartmentID", 0) or 0
        if not department_id:
            raise InvalidArgument("Say which department of %s gets the ticket: targetDepartmentID or "
                                  "targetDepartmentName (or a group whose department the server reports)."
                                  % self.name)
        return department_id, group_id

    def _groups(self) -> list:
        groups = self.call("svcOrganization", "GetAllGroups").Groups
        return list(groups.GroupInfo) if groups else []

    def agent_id(self, target: RemoteTarget) -> int:
        if target.agent_id or not target.user_name:
            return target.agent_id
        agents = self.call("svcOrganization", "GetAllAgents").Agents
        return _find_by_name(agents and agents.AgentInfo, target.user_name,
                             "%s has no agent named %r." % (self.name, target.user_name), attribute="UserName")

    # ---- the transfer

    def send(self, copy: TicketCopy, target: RemoteTarget, note: str) -> str:
        """Recreate the ticket remotely; returns the remote ticket number."""
        department_id, group_id = self.resolve(target)
        agent_id = self.agent_id(target)
        first, rest = copy.messages[0], copy.messages[1:]
        number = self.call("svcTickets", "CreateTicketFromCustomerWithDate", department_id, group_id, 0,
                           copy.customer_email, copy.subject, first.body, first.is_html, False,
                           copy.opened, copy.idle_start, first.date).RequestResult
        if not number:
            raise RemoteFailure("%s created the ticket but did not say its number." % self.name)
        try:
            part_ids = [None]  # remote message ids, in copy.messages' order; the first one's asked when needed
            for message in rest:
                part = self.call("svcTickets", "AddMessageToTicketWithDate", number, message.from_address,
                                 message.to_address, message.cc_address, message.subject, message.body,
                                 message.is_html, not message.incoming, False, message.date).Part
                part_ids.append(part.PartId if part is not None else 0)
            for earlier in copy.notes:
                self.call("svcTickets", "AddTicketNoteHtmlWithDate", number, earlier.type_name, earlier.html,
                          earlier.date)
            if any(file.message_index == 0 for file in copy.files):
                part_ids[0] = self._first_message_id(number)
            for file in copy.files:
                self._send_file(number, part_ids[file.message_index] if file.message_index is not None else 0,
                                file)
            if agent_id:
                remote_group = group_id or self.call("svcTickets", "GetTicketInfoByTicketNumber", number).Ticket.IdGroup
                self.call("svcTickets", "TransferTicket", number, remote_group, agent_id, "", "")
            if self.call("svcTickets", "AddTicketNote", number, "Transfer", note, check=False).Result is not True:
                self.call("svcTickets", "AddTicketNote", number, "general", note)
        except OperationError as failure:  # the remote server's, or an attachment gone from disk
            failure.message += " " + self.discard(number)
            raise
        except Exception:
            self.discard(number)  # our own bug: still leave no half copy there
            raise
        return number

    def _first_message_id(self, number: str) -> int:
        ticket_id = self.call("svcTickets", "GetTicketInfoByTicketNumber", number).Ticket.ID
        parts = self.call("svcTickets", "GetTicketConversationPartList", ticket_id).Parts
        messages = [part.PartId for part in (parts.TicketPartInfo if parts else []) if part.Type == 1]
        if not messages:
            raise RemoteFailure("%s lists no message in its copy %s of the ticket." % (self.name, number))
        return messages[0]

    def _send_file(self, number: str, message_id: int, file: RemoteFile) -> None:
        """One attachment, read from disk and sent in chunks."""
        try:
            with open(file.path, "rb") as data:
                chunk = data.read(ATTACHMENT_CHUNK_BYTES)
                listed = self.call("svcTickets", "AddTicketAttachment", number, message_id or 0, file.file_name,
                                   chunk, file.length, file.date).File
                sent = len(chunk)
                while sent < file.length:
                    chunk = data.read(ATTACHMENT_CHUNK_BYTES)
                    if not chunk:
                        break
                    self.call("svcTickets", "AppendToTicketAttachment", listed.fileId, chunk)
                    sent += len(chunk)
        except OSError as error:
            raise InvalidState("The attachment %s of this ticket cannot be read from disk (%s); nothing was "
                               "transferred." % (file.file_name, error.strerror or error)) from None
        if sent != file.length:
            raise InvalidState("The attachment %s of this ticket is shorter on disk than recorded; nothing was "
                               "transferred." % file.file_name)

    def discard(self, number: str) -> str:
        """Delete the partial remote copy; says what happened."""
        try:
            ticket_id = self.call("svcTickets", "GetTicketInfoByTicketNumber", number).Ticket.ID
            self.call("svcTickets", "DeleteTicket", ticket_id)
        except RemoteFailure as failure:
            return "The partial copy %s on %s could not be deleted (%s); delete it there." % (
                number, self.name, failure.message)
        return "The partial copy %s on %s was deleted." % (number, self.name)


def _find_by_name(items, name: str, missing: str, attribute: str = "Name") -> int:
    wanted = name.strip().lower()
    for item in items or []:
        if (getattr(item, attribute, None) or "").strip().lower() == wanted:
            return item.ID
    raise NotFound(missing)


def _by_id(items, item_id: int):
    return next((item for item in items or [] if item.ID == item_id), None)


error_log = logging.getLogger("stws.error")


def _claim_transfer(db, ticket_id: int, number: str) -> str:
    """Claim the ticket for this transfer, on every node sharing the
    database; returns the claim's token. InvalidState while another
    transfer of it goes on (here or on another node); a claim past its
    expiry (its node died) is taken over."""
    token = "%s:%d:%s" % (socket.gethostname(), os.getpid(), uuid.uuid4().hex)
    now = utcnow()
    with db.transaction() as session:
        session.execute(delete(TicketTransferClaim).where(TicketTransferClaim.expires_utc < now))
        claimed = insert_once(session, TicketTransferClaim, dict(
            ticket_id=ticket_id, claimed_by=token, claimed_utc=now,
            expires_utc=now + dt.timedelta(seconds=CLAIM_SECONDS)))
    if not claimed:
        raise InvalidState("Ticket %s is being transferred already." % number)
    return token


def _release_transfer(db, ticket_id: int, token: str) -> None:
    """End the claim (only our own: one that expired and was taken over
    belongs to the other transfer now)."""
    try:
        with db.transaction() as session:
            session.execute(delete(TicketTransferClaim).where(TicketTransferClaim.ticket_id == ticket_id,
                                                              TicketTransferClaim.claimed_by == token))
    except Exception:  # the transfer's outcome stands; the claim lapses by itself
        error_log.exception("transfer of ticket %s: its claim could not be released (it expires in %d s)",
                            ticket_id, CLAIM_SECONDS)


def transfer_to_instance(call, ticket_number: str, server_id: int, target: RemoteTarget,
                         comment: str | None, status_name: str | None) -> str:
    """Send the ticket to a transfer server; returns the success message.

    ``call`` has no transaction (the operation is declared without one):
    what is sent is read in a read-only transaction that ends before the
    first remote call, and the outcome, success or failure, is written in a
    transaction of its own afterwards.
    """
    with call.runtime.db.transaction(writes=False) as session:
        reader = Context.in_session(session, call.principal, call.runtime)
        server, copy, status, comment, note = _prepare_transfer(reader, ticket_number, server_id, target, comment,
                                                                status_name)
    claim = _claim_transfer(call.runtime.db, copy.ticket_id, copy.number)
    try:
        desk = RemoteDesk(call.runtime.remote, server, REQUEST_TIMEOUT_SECONDS, TOTAL_TIMEOUT_SECONDS)
        try:
            number = desk.send(copy, target, note)
        except OperationError as failure:
            _record_failed_transfer(call, copy.ticket_id, server, failure.message)
            raise
        except Exception as error:
            _record_failed_transfer(call, copy.ticket_id, server, "internal error: %s" % type(error).__name__)
            raise
        return _record_transfer(call, copy.ticket_id, server, number, status.id, comment)
    finally:
        _release_transfer(call.runtime.db, copy.ticket_id, claim)


def _prepare_transfer(call, ticket_number: str, server_id: int, target: RemoteTarget, comment: str | None,
                      status_name: str | None):
    """Check the request and read what is sent (in ``call``'s transaction)."""
    session = call.session
    ticket = core.get_ticket_by_number(call, ticket_number)
    core.require_changeable(call, ticket)
    server = get_transfer_server(session, server_id)
    if not server.is_enabled:
        raise InvalidState("Transfer server %s is disabled." % server.name)
    for value, what in ((target.department_id, "targetDepartmentID"), (target.group_id, "targetGroupID"),
                        (target.agent_id, "targetAgentID")):
        if value is None or value < 0:
            raise InvalidArgument("%s must be an id, or 0." % what)
    if not (target.department_id or target.department_name.strip() or target.group_id or target.group_name.strip()):
        raise InvalidArgument("Say where the ticket goes on %s: a target department or group, by id or name."
                              % server.name)
    status = core.status_by_name(session, status_name, default=core.CLOSED)
    comment = (comment or "").strip()
    copy = _copy(session, ticket, call.runtime.data.attachments)
    note = "Transferred from ticket %s by %s." % (copy.number, call.principal.username)
    if comment:
        note += "\n\n" + comment
    return server, copy, status, comment, note


def _record_failed_transfer(call, ticket_id: int, server: TransferServer, reason: str) -> None:
    with call.runtime.db.transaction() as session:
        ticket = session.get(Ticket, ticket_id)
        core.record_event(Context.in_session(session, call.principal, call.runtime), ticket, "TransferToInstanceFailed",
                          "Transfer to %s failed" % server.name, reason)


def _record_transfer(call, ticket_id: int, server: TransferServer, number: str, status_id: int,
                     comment: str) -> str:
    summary = "Transferred to %s as %s" % (server.name, number)
    with call.runtime.db.transaction() as session:
        inner = Context.in_session(session, call.principal, call.runtime)
        ticket = session.get(Ticket, ticket_id)
        add_comment(inner, ticket, TRANSFER_COMMENT, summary + ("\n\n" + comment if comment else ""))
        core.record_event(inner, ticket, "TransferredToInstance", "%s (%s)" % (summary, server.base_url), comment)
        status = session.get(TicketStatus, status_id)
        # The remote copy exists now; a ticket locked meanwhile keeps its status.
        if not core.status_of(session, ticket).is_locked:
            core.set_status(inner, ticket, status, "transferred to %s" % server.name)
        if not status.is_open and ticket.requires_follow_up:
            _clear_follow_up(ticket)
            core.record_event(inner, ticket, "FollowUpRemoved", "Follow-up removed: the ticket left this desk")
        core.touch(ticket)
    return summary + "."


# --------------------------------------------------------------------------
# Follow-ups
# --------------------------------------------------------------------------


def _clear_follow_up(ticket: Ticket) -> None:
    ticket.requires_follow_up = ticket.show_in_follow_up_view = ticket.follow_up_pin = False
    ticket.date_follow_up_utc = ticket.follow_up_group_id = ticket.follow_up_agent_id = None
    ticket.follow_up_status_id = ticket.follow_up_comment_id = None


def set_follow_up(call, ticket_id: int, when: dt.datetime | None, group_id: int, agent_id: int,
                  status_name: str | None, pin: bool, comment: str | None) -> Ticket:
    session = call.session
    ticket = core.get_ticket(call, ticket_id)
    core.require_changeable(call, ticket)
    now = utcnow()
    if when is None:
        raise InvalidArgument("followUpDateUtc is missing.")
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    if when < now - PAST_TOLERANCE:
        raise InvalidArgument("followUpDateUtc (%s) lies in the past; a follow-up is scheduled for later."
                              % when.isoformat())
    if group_id is None or group_id < 0 or agent_id is None or agent_id < 0:
        raise InvalidArgument("newGroupId and newAgentId must be ids, or 0 to keep the current one.")
    group = _live_group(call, group_id) if group_id else None
    effective_group = group or session.get(Group, ticket.group_id)
    agent = _member_agent(call, effective_group, agent_id) if agent_id else None
    status = _optional_status(call, status_name)
    if pin and agent is None and ticket.agent_id is None:
        raise InvalidArgument("pinToAgent needs an agent: give newAgentId (the ticket has no agent now).")
    comment = (comment or "").strip()

    replacing = ticket.requires_follow_up
    ticket.requires_follow_up = ticket.show_in_follow_up_view = True
    ticket.date_follow_up_utc = when
    ticket.follow_up_group_id = group.id if group else None
    ticket.follow_up_agent_id = agent.id if agent else None
    ticket.follow_up_status_id = status.id if status else None
    ticket.follow_up_pin = bool(pin)
    ticket.follow_up_comment_id = add_comment(call, ticket, FOLLOW_UP_COMMENT, comment).id if comment else None
    core.touch(ticket, now)
    details = "; ".join([
        "group: %s" % (group.name if group else "unchanged"),
        "agent: %s" % (agent.username if agent else "unchanged"),
        "status: %s" % (status.display_name if status else "unchanged"),
        "pinned" if pin else "not pinned",
    ] + (["comment: %s" % comment[:500]] if comment else []))
    core.record_event(call, ticket, "FollowUpChanged" if replacing else "FollowUpSet",
                      "Follow-up %s for %s" % ("moved" if replacing else "scheduled",
                                               when.astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")),
                      details)
    return ticket


def remove_follow_up(call, ticket_id: int) -> Ticket:
    ticket = core.get_ticket(call, ticket_id)
    if not ticket.requires_follow_up:
        raise InvalidState("Ticket %s has no follow-up to remove." % ticket.ticket_number)
    core.require_changeable(call, ticket)
    when = ticket.date_follow_up_utc
    _clear_follow_up(ticket)
    core.touch(ticket)
    core.record_event(call, ticket, "FollowUpRemoved", "Follow-up removed",
                      "was due %s" % when.strftime("%Y-%m-%d %H:%M UTC") if when else "")
    return ticket


def apply_due_follow_ups(session, now: dt.datetime, limit: int = FOLLOW_UP_BATCH) -> int:
    """Apply the follow-ups due at ``now`` (at most ``limit``); returns how many
    were processed, so a caller repeats while it gets ``limit``.

    Each due ticket goes to its follow-up group (if that still exists),
    status and agent (if still a member of the ticket's group; pinned if
    asked); with no agent given the current one stays if a member of the
    group. An open ticket left without a member agent goes to its group's
    distribution. Tickets closed and locked meanwhile keep their state;
    their follow-up is dropped. Everything but distribution is done with
    set-based statements; each ticket gets one event.
    """
    when = literal(now, UtcDateTime())
    due = select(Ticket.id).where(
        FOLLOW_UP_SCHEDULED, Ticket.date_follow_up_utc <= now, Ticket.is_deleted.is_(False),
    ).order_by(Ticket.date_follow_up_utc, Ticket.id).limit(limit)
    ids = list(session.scalars(due))
    if not ids:
        return 0
    locked_ids = set(session.scalars(
        select(Ticket.id).join(TicketStatus, TicketStatus.id == Ticket.status_id)
        .where(Ticket.id.in_(ids), TicketStatus.is_locked.is_(True))
    ))
    apply_ids = [ticket_id for ticket_id in ids if ticket_id not in locked_ids]
    sync = {"synchronize_session": False}
    event_columns = ["ticket_id", "date_utc", "user_id", "user_name", "event_type", "description", "details"]

    if locked_ids:
        session.execute(insert(TicketEvent).from_select(event_columns, select(
            Ticket.id, when, null(), literal("system"), literal("FollowUpDropped"),
            literal("Follow-up due but the ticket is closed and locked; follow-up removed"), literal(""),
        ).where(Ticket.id.in_(sorted(locked_ids)))))

    if apply_ids:
        old_status, new_status = aliased(TicketStatus), aliased(TicketStatus)
        old_group, new_group = aliased(Group), aliased(Group)
        new_agent = aliased(User)
        details = (literal("status: ") + func.coalesce(new_status.display_name, old_status.display_name)
                   + literal("; group: ") + func.coalesce(new_group.name, old_group.name)
                   + literal("; agent: ") + func.coalesce(new_agent.username, literal("unchanged"))
                   + case((Ticket.follow_up_pin.is_(True), literal("; pinned")), else_=literal("")))
        session.execute(insert(TicketEvent).from_select(event_columns, select(
            Ticket.id, when, null(), literal("system"), literal("FollowUpApplied"),
            literal("Follow-up due: ticket returned"), details,
        ).select_from(Ticket)
            .join(old_status, old_status.id == Ticket.status_id)
            .join(old_group, old_group.id == Ticket.group_id)
            .outerjoin(new_status, new_status.id == Ticket.follow_up_status_id)
            .outerjoin(new_group, and_(new_group.id == Ticket.follow_up_group_id, new_group.is_deleted.is_(False)))
            .outerjoin(new_agent, new_agent.id == Ticket.follow_up_agent_id)
            .where(Ticket.id.in_(apply_ids))))

        # Status (the right-hand sides see the old row, so old_open is the old status).
        new_open = select(TicketStatus.is_open).where(TicketStatus.id == Ticket.follow_up_status_id) \
            .scalar_subquery()
        old_open = select(TicketStatus.is_open).where(TicketStatus.id == Ticket.status_id).scalar_subquery()
        session.execute(update(Ticket).where(
            Ticket.id.in_(apply_ids), Ticket.follow_up_status_id.is_not(None),
            Ticket.follow_up_status_id != Ticket.status_id,
        ).values(
            status_id=Ticket.follow_up_status_id,
            date_closed_utc=case((new_open.is_(True), null()), (old_open.is_(True), when),
                                 else_=Ticket.date_closed_utc),
        ).execution_options(**sync))

        # Group (and its department and brand), if it still exists.
        live_group = select(Group.id).join(Department, Department.id == Group.department_id).where(
            Group.id == Ticket.follow_up_group_id, Group.is_deleted.is_(False), Department.is_deleted.is_(False))
        session.execute(update(Ticket).where(
            Ticket.id.in_(apply_ids), Ticket.follow_up_group_id.is_not(None), exists(live_group),
        ).values(
            group_id=Ticket.follow_up_group_id,
            department_id=select(Group.department_id).where(Group.id == Ticket.follow_up_group_id)
            .scalar_subquery(),
            brand_id=select(Department.brand_id).join(Group, Group.department_id == Department.id)
            .where(Group.id == Ticket.follow_up_group_id).scalar_subquery(),
        ).execution_options(**sync))

        # An explicit agent who (still) belongs to the ticket's group.
        def member(agent_column):
            return exists(select(GroupAgent.user_id).where(GroupAgent.group_id == Ticket.group_id,
                                                           GroupAgent.user_id == agent_column))

        session.execute(update(Ticket).where(
            Ticket.id.in_(apply_ids), Ticket.follow_up_agent_id.is_not(None), member(Ticket.follow_up_agent_id),
        ).values(
            agent_id=Ticket.follow_up_agent_id, hold_start_assigned_utc=when,
        ).execution_options(**sync))
        session.execute(update(Ticket).where(
            Ticket.id.in_(apply_ids), Ticket.follow_up_pin.is_(True), Ticket.agent_id.is_not(None),
            member(Ticket.agent_id),
        ).values(is_pinned_to_agent=True, hold_start_pinned_utc=when).execution_options(**sync))

        # Open tickets without an agent of their group: distribution.
        open_ids = select(TicketStatus.id).where(TicketStatus.is_open.is_(True))
        to_distribute = session.scalars(select(Ticket).where(
            Ticket.id.in_(apply_ids), Ticket.status_id.in_(open_ids),
            or_(Ticket.agent_id.is_(None), ~member(Ticket.agent_id)),
        ).order_by(Ticket.date_follow_up_utc, Ticket.id).execution_options(populate_existing=True)).all()
        context = Context.in_session(session, None)
        for ticket in to_distribute:
            core.distribute(context, ticket)

    session.flush()
    session.execute(update(Ticket).where(Ticket.id.in_(ids)).values(
        requires_follow_up=False, show_in_follow_up_view=False, date_follow_up_utc=None,
        follow_up_group_id=None, follow_up_agent_id=None, follow_up_status_id=None, follow_up_pin=False,
        follow_up_comment_id=None,
    ).execution_options(**sync))
    if apply_ids:
        session.execute(update(Ticket).where(Ticket.id.in_(apply_ids)).values(
            idle_start_utc=when, date_modified_utc=when, is_indexed=False,
        ).execution_options(**sync))
    return len(ids)
