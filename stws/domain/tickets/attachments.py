"""Ticket attachments: chunked uploads into the data directory, signed
download URLs.

Upload
    ``add_attachment`` takes the first chunk and the declared total size
    (``fileLength``); ``append_to_attachment`` adds further chunks until the
    total is reached. Nothing beyond the declared size is accepted, and no
    attachment may be larger than ``Config.max_attachment_size`` (default
    25 MiB). One request is limited by ``max_request_size`` too (base64
    adds a third), and one chunk by the XML parser's 10 MB limit on a text
    node (lxml without XML_PARSE_HUGE: about 7.5 MB of file data, answered
    with a SOAP fault), so large files need several chunks.

Storage
    Files live under the data directory's ``attachments`` folder, under a
    name the server chooses (``ab/abcdef....bin``, sharded by the first two
    hex digits); the client's file name is only stored in the row and sent
    back in the Content-Disposition header, never used as a path.

File and row consistency
    The bytes are written and fsynced *before* the row commits. If the
    transaction rolls back, a rollback hook on the session undoes the write:
    a new file is removed, an appended chunk is truncated away. Appends
    write at the row's length (not at the end of the file), so a leftover
    tail is overwritten by the next chunk. Only a crash between the write
    and the commit can leave bytes without a row: a whole file that no row
    names (the Cleaner's "Orphaned Ticket Attachments" pass moves such files
    to ``orphaned-attachments``), or a tail beyond the row's length, which
    downloads never send (they send exactly the row's length).

Download
    ``download_url`` gives a site-relative URL ``/Attachments/<id>?expires=
    <unix time>&token=<HMAC>``; the HMAC (SHA-256) covers the id and the
    expiry under a secret kept in the data directory (``attachment-url.key``,
    created at first use), so URLs stay valid across restarts and on every
    node sharing the data directory, for ``DOWNLOAD_URL_LIFETIME``. Only
    complete attachments of tickets that are not deleted are listed and served.
"""
from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import os
import re
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import bindparam, select

from stws.db.models import Ticket, TicketAttachment, TicketMessage, User, utcnow
from stws.db.prepared import PreparedQuery
from stws.errors import InvalidArgument, NotFound, OperationError, PermissionDenied, ResultCode
from stws.domain.tickets import core
from stws.security import roles

DOWNLOAD_URL_LIFETIME = dt.timedelta(hours=24)
MAX_FILE_NAME = 255
SECRET_FILE = "attachment-url.key"
READ_CHUNK = 64 * 1024
_UNSAFE_NAME = re.compile(r"[\x00-\x1f\x7f/\\]")


class TooLarge(OperationError):
    code = ResultCode.TOO_LARGE


# ---------------------------------------------------------------- names and paths


def clean_file_name(name: str | None) -> str:
    """The client's file name as we keep it (for display and downloads only)."""
    value = (name or "").strip()
    if not value:
        raise InvalidArgument("The file name is empty.")
    if _UNSAFE_NAME.search(value):
        raise InvalidArgument("The file name %r contains a path separator or control characters; "
                              "give the bare name of the file." % value)
    if value in (".", ".."):
        raise InvalidArgument("%r is not a file name." % value)
    if len(value) > MAX_FILE_NAME:
        raise InvalidArgument("The file name is longer than %d characters." % MAX_FILE_NAME)
    return value


def new_disk_name() -> str:
    token = uuid.uuid4().hex
    return "%s/%s.bin" % (token[:2], token)


def disk_path(root: Path, disk_name: str) -> Path:
    """Where a stored name lives; refuses anything that would leave ``root``."""
    root = Path(root).resolve()
    path = (root / disk_name).resolve()
    if root not in path.parents:
        raise ValueError("attachment name %r leaves the attachments folder" % disk_name)
    return path


def _fsync_directory(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _remove_quietly(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass


def _truncate_quietly(path: Path, length: int) -> None:
    try:
        with open(path, "r+b") as handle:
            handle.truncate(length)
            handle.flush()
            os.fsync(handle.fileno())
    except FileNotFoundError:
        pass


def _sha256_of(path: Path, length: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        remaining = length
        while remaining > 0:
            chunk = handle.read(min(READ_CHUNK, remaining))
            if not chunk:
                break
            digest.update(chunk)
            remaining -= len(chunk)
    return digest.hexdigest()


# ---------------------------------------------------------------- upload


def max_size(call) -> int:
    return call.runtime.config.max_attachment_size


def _check_size(call, declared: int) -> None:
    if declared > max_size(call):
        raise TooLarge("The file (%d bytes) is larger than the largest attachment allowed (%d bytes)."
                       % (declared, max_size(call)))


def add_attachment(call, ticket: Ticket, message_id: int, file_name: str | None, data: bytes | None,
                   file_length: int, date_created: dt.datetime | None) -> TicketAttachment:
    """Attach a file (its first chunk ``data``; ``file_length`` is the total)
    to a ticket, or to one of its messages when ``message_id`` is not 0.

    ``file_length`` 0 with data means the data is the whole file.
    """
    core.require_changeable(call, ticket)
    name = clean_file_name(file_name)
    data = data or b""
    if file_length < 0:
        raise InvalidArgument("fileLength cannot be negative.")
    if file_length == 0:
        file_length = len(data)
    _check_size(call, file_length)
    if len(data) > file_length:
        raise TooLarge("The data (%d bytes) is longer than the declared fileLength (%d bytes)."
                       % (len(data), file_length))
    message = None
    if message_id:
        message = call.session.get(TicketMessage, message_id)
        if message is None or message.ticket_id != ticket.id:
            raise NotFound("Ticket %s has no message with id %s." % (ticket.ticket_number, message_id))
    now = utcnow()
    if date_created is None or date_created.year < 1900:
        date_created = now
    elif date_created > now + dt.timedelta(minutes=5):
        raise InvalidArgument("dateCreatedUTC lies in the future.")

    root = call.runtime.data.attachments
    disk_name = new_disk_name()
    path = disk_path(root, disk_name)
    call.runtime.db.on_rollback(call.session, lambda: _remove_quietly(path))
    path.parent.mkdir(mode=0o750, exist_ok=True)
    with open(path, "xb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    _fsync_directory(path.parent)

    complete = len(data) == file_length
    attachment = TicketAttachment(
        ticket_id=ticket.id, message_id=message.id if message else None, user_id=call.principal.user_id,
        file_name_original=name, file_name_on_disk=disk_name, expected_length=file_length, length=len(data),
        sha256=hashlib.sha256(data).hexdigest() if complete else "", date_created_utc=date_created,
    )
    call.session.add(attachment)
    call.session.flush()
    core.touch(ticket)
    where = "message %d" % message.id if message else "the ticket"
    core.record_event(call, ticket, "AttachmentAdded",
                      "Attachment %s added to %s (%d bytes%s)"
                      % (name, where, file_length, "" if complete else ", upload started"),
                      "attachment %d" % attachment.id)
    return attachment


def append_to_attachment(call, attachment_id: int, data: bytes | None) -> TicketAttachment:
    """Append the next chunk of an upload started by ``add_attachment``."""
    attachment = call.session.scalars(
        select(TicketAttachment).where(TicketAttachment.id == attachment_id).with_for_update()
    ).first()
    if attachment is None or attachment.is_deleted:
        raise NotFound("There is no attachment with id %s." % attachment_id)
    try:
        ticket = core.get_ticket(call, attachment.ticket_id)
    except NotFound:
        raise NotFound("There is no attachment with id %s." % attachment_id) from None
    core.require_changeable(call, ticket)
    if attachment.user_id != call.principal.user_id and not call.principal.has_role(roles.MANAGER):
        raise PermissionDenied("Only the account that started the upload of attachment %s may append to it."
                               % attachment_id)
    data = data or b""
    if not data:
        raise InvalidArgument("No data was given to append.")
    old_length = attachment.length
    new_length = old_length + len(data)
    if new_length > attachment.expected_length:
        raise TooLarge("Attachment %s was declared as %d bytes and has %d; %d more bytes do not fit. Nothing "
                       "was written." % (attachment_id, attachment.expected_length, old_length, len(data)))

    path = disk_path(call.runtime.data.attachments, attachment.file_name_on_disk)
    call.runtime.db.on_rollback(call.session, lambda: _truncate_quietly(path, old_length))
    with open(path, "r+b") as handle:
        handle.seek(old_length)
        handle.write(data)
        handle.truncate(new_length)
        handle.flush()
        os.fsync(handle.fileno())
    attachment.length = new_length
    core.touch(ticket)
    if new_length == attachment.expected_length:
        attachment.sha256 = _sha256_of(path, new_length)
        core.record_event(call, ticket, "AttachmentCompleted",
                          "Attachment %s complete (%d bytes)" % (attachment.file_name_original, new_length),
                          "attachment %d" % attachment.id)
    return attachment


def is_complete(attachment: TicketAttachment) -> bool:
    return attachment.length == attachment.expected_length


# A ticket's complete attachments with their uploader's address and name,
# on the driver (stws.db.prepared): GetTicketAttachments is a read of every
# ticket view, and most tickets have none.
_COMPLETE_OF_TICKET = PreparedQuery(
    select(*TicketAttachment.__table__.columns, User.email.label("sender_email"),
           User.username.label("sender_username"))
    .outerjoin(User, User.id == TicketAttachment.user_id)
    .where(TicketAttachment.ticket_id == bindparam("ticket_id"), TicketAttachment.is_deleted.is_(False),
           TicketAttachment.length == TicketAttachment.expected_length)
    .order_by(TicketAttachment.id))


def ticket_attachments(call, ticket) -> list:
    """The complete attachments of a ticket (a row with its ``id``), oldest
    first: rows of TicketAttachment's columns plus ``sender_email`` and
    ``sender_username`` (the uploader's, None when unknown)."""
    return _COMPLETE_OF_TICKET.all(call.connection, {"ticket_id": ticket.id})


def listings(call, ticket) -> list[Listing]:
    """``listing`` of each of ``ticket_attachments``."""
    root = call.runtime.data.root
    return [Listing(row, row.sender_email or row.sender_username or "", download_url(root, row.id))
            for row in ticket_attachments(call, ticket)]


def sender_of(session, attachment: TicketAttachment) -> str:
    user = session.get(User, attachment.user_id) if attachment.user_id else None
    if user is None:
        return ""
    return user.email or user.username


@dataclass(frozen=True)
class Listing:
    """An attachment as its ticket lists it."""

    attachment: TicketAttachment
    sender: str  # the uploader's email address, else user name; empty when unknown
    download_url: str  # empty until the upload is complete


def listing(call, attachment: TicketAttachment) -> Listing:
    url = download_url(call.runtime.data.root, attachment.id) if is_complete(attachment) else ""
    return Listing(attachment, sender_of(call.session, attachment), url)


# ---------------------------------------------------------------- download URLs

_secrets: dict[Path, bytes] = {}
_secrets_lock = threading.Lock()


def url_secret(data_root: Path) -> bytes:
    """The data directory's key for download URLs, created at first use."""
    path = Path(data_root) / SECRET_FILE
    with _secrets_lock:
        if path in _secrets:
            return _secrets[path]
        if not path.exists():
            temporary = path.with_name("%s.%s.tmp" % (SECRET_FILE, uuid.uuid4().hex))
            descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                os.write(descriptor, base64.b64encode(os.urandom(32)) + b"\n")
                os.fsync(descriptor)
            finally:
                os.close(descriptor)
            try:
                os.link(temporary, path)  # atomic; another process may have won
            except FileExistsError:
                pass
            finally:
                temporary.unlink()
        secret = base64.b64decode(path.read_bytes().strip())
        if len(secret) < 32:
            raise RuntimeError("%s holds no usable key" % path)
        _secrets[path] = secret
        return secret


def _token(secret: bytes, attachment_id: int, expires: int) -> str:
    digest = hmac.new(secret, b"attachment:%d:%d" % (attachment_id, expires), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def download_url(data_root: Path, attachment_id: int, now: float | None = None) -> str:
    expires = int((now if now is not None else time.time()) + DOWNLOAD_URL_LIFETIME.total_seconds())
    return "/Attachments/%d?expires=%d&token=%s" % (attachment_id, expires, _token(url_secret(data_root),
                                                                                  attachment_id, expires))


def token_is_valid(data_root: Path, attachment_id: int, expires: int, token: str, now: float | None = None) -> bool:
    if expires < (now if now is not None else time.time()):
        return False
    expected = _token(url_secret(data_root), attachment_id, expires)
    return hmac.compare_digest(expected.encode("ascii"), (token or "").encode("ascii", "replace"))


@dataclass
class Download:
    path: Path
    length: int
    file_name: str


def find_download(runtime, attachment_id: int) -> Download:
    """What to send for a download (blocking: call it off the reactor)."""
    with runtime.db.transaction(writes=False) as session:
        row = session.execute(
            select(TicketAttachment, Ticket.is_deleted).join(Ticket, Ticket.id == TicketAttachment.ticket_id)
            .where(TicketAttachment.id == attachment_id)
        ).first()
        if row is None:
            raise NotFound("no attachment %d" % attachment_id)
        attachment, ticket_deleted = row
        if attachment.is_deleted or ticket_deleted or not is_complete(attachment):
            raise NotFound("attachment %d is not available" % attachment_id)
        return Download(disk_path(runtime.data.attachments, attachment.file_name_on_disk), attachment.length,
                        attachment.file_name_original)
