"""svcSpool operations: the incoming spool (mail downloaded from the POP accounts).

List (sorted, paged, with TotalCount), read a message's raw text (its .eml
file: in the email folder while pending, in raw content once imported, in
Failed Emails when unreadable), retry (failed -> pending,
the file moved back from Failed Emails), delete (row and file). Imported
rows are not retried (they would be imported twice); their files stay
referenced by the ticket message (``raw_content_path``) and are not deleted.
The incoming counts join GetSpoolCounts (``SPOOL_COUNTERS``); GetIncomingSpoolCounts
reports them alone.
"""
from __future__ import annotations

import os

from sqlalchemy import select

from stws.db.models import IncomingMessage, utcnow
from stws.domain.errors import InvalidState, NotFound
from stws.security import roles
from stws.services.spool import outgoing as _outgoing
from stws.services.spool.listing import NEVER, locked_rows, page, status_counts
from stws.services.spool.types import T
from stws.soap.operation import operation
from stws.soap.types import ArrayOfString, Bool, Int, Long, String, When

INCOMING_STATUSES = ("pending", "imported", "duplicate", "failed")

IncomingMessageInfo = T.complex("IncomingMessageInfo", [
    ("AccountId", Int), ("Attempts", Int), ("DateImportedUtc", When), ("DateReceivedUtc", When),
    ("FileName", String), ("From", String), ("ID", Int), ("LastError", String), ("MessageId", String),
    ("Size", Long), ("Status", String), ("Subject", String), ("TicketId", Int),
])
IncomingMessageInfoArrayResult = T.result("IncomingMessageInfoArrayResult",
                                          Messages=T.array_of(IncomingMessageInfo), TotalCount=Int)

SORT_FIELDS = {
    "id": IncomingMessage.id,
    "date": IncomingMessage.date_received_utc,
    "from": IncomingMessage.from_address,
    "subject": IncomingMessage.subject,
    "status": IncomingMessage.status,
    "size": IncomingMessage.size,
    "attempts": IncomingMessage.attempts,
}


def _info(row) -> IncomingMessageInfo:
    key = row.dedupe_key or ""
    return IncomingMessageInfo(
        AccountId=row.account_id or 0, Attempts=row.attempts, DateImportedUtc=row.date_imported_utc or NEVER,
        DateReceivedUtc=row.date_received_utc or NEVER, FileName=row.file_name, From=row.from_address, ID=row.id,
        LastError=row.last_error or "", MessageId="" if key.startswith("sha256:") else key, Size=row.size or 0,
        Status=row.status, Subject=row.subject, TicketId=row.ticket_id or 0)


def _file_of(runtime, row):
    """Where the row's file is now: the email folder, raw content (imported) or
    Failed Emails (None: gone, e.g. an imported one past its retention)."""
    for folder in (runtime.data.email, runtime.data.raw_content, runtime.data.failed_emails):
        path = folder / row.file_name
        if path.exists():
            return path
    return None


@operation(("sortField", String), ("sortDescending", Bool), ("offset", Int), ("count", Int),
           returns=IncomingMessageInfoArrayResult, role=roles.ADMINISTRATOR, writes=False)
def GetIncomingMessages(call, sortField, sortDescending, offset, count):
    """A page of the incoming spool. sortField: id, date, from, subject, status, size
    or attempts (empty = id); count 1..1000 (0 = 100)."""
    total, statement = page(call.session, IncomingMessage, SORT_FIELDS, sortField, sortDescending, offset, count)
    return {"Messages": [_info(row) for row in call.session.scalars(statement)], "TotalCount": total}


@operation(("messageId", Int), returns=T.StringRequestResult, role=roles.ADMINISTRATOR, writes=False)
def GetIncomingMessageRawContent(call, messageId):
    """The message as it was downloaded (RFC 5322 text)."""
    row = call.session.get(IncomingMessage, messageId) if messageId else None
    if row is None:
        raise NotFound("There is no incoming message with id %s." % messageId)
    path = _file_of(call.runtime, row)
    if path is None:
        raise NotFound("The file of incoming message %s (%s) is gone." % (messageId, row.file_name))
    return {"RequestResult": path.read_bytes().decode("utf-8", "replace")}


def _retry(runtime, rows) -> None:
    """Failed rows back to pending, their files back in the email folder (moved after the commit)."""
    for row in rows:
        row.status = "pending"
        row.last_error = ""
        row.attempts = 0


def _restore_files(runtime, names) -> None:
    from stws.mail.pop import fsync_directory

    moved = False
    runtime.data.email.mkdir(parents=True, exist_ok=True)
    for name in names:
        source = runtime.data.failed_emails / name
        if source.exists():
            os.replace(source, runtime.data.email / name)
            moved = True
    if moved:
        fsync_directory(runtime.data.email)


def _move_back_now(call, rows):
    # The file is moved back before the commit (a pending row must find its
    # file); if the transaction rolls back, the import finds it failed and
    # the file where RetryIncomingMessages looks for it either way.
    _restore_files(call.runtime, [r.file_name for r in rows])


@operation(("messageIds", ArrayOfString), returns=T.GenericResult, role=roles.ADMINISTRATOR)
def RetryIncomingMessages(call, messageIds):
    """Failed (or pending) messages are imported again at the next run, their files
    back from Failed Emails; imported ones are refused (they would be imported twice)."""
    rows = locked_rows(call.session, IncomingMessage, messageIds, "incoming", "retried")
    done = [r.id for r in rows if r.status not in ("failed", "pending")]
    if done:
        raise InvalidState("Message %s was already imported; nothing was retried." % ", ".join(map(str, done)))
    _move_back_now(call, rows)
    _retry(call.runtime, rows)
    return {"Message": "%d messages will be imported at the next run." % len(rows)}


@operation(returns=T.GenericResult, role=roles.ADMINISTRATOR)
def RetryAllFailedIncomingMessages(call):
    """Every failed message back to pending (its file back from Failed Emails)."""
    rows = list(call.session.scalars(select(IncomingMessage).where(IncomingMessage.status == "failed")
                                     .with_for_update()))
    _move_back_now(call, rows)
    _retry(call.runtime, rows)
    return {"Message": "%d failed messages will be imported at the next run." % len(rows)}


@operation(("messageIds", ArrayOfString), returns=T.GenericResult, role=roles.ADMINISTRATOR)
def DeleteIncomingMessages(call, messageIds):
    """Delete messages (all or nothing) and, for those not imported, their files."""
    rows = locked_rows(call.session, IncomingMessage, messageIds, "incoming", "deleted")
    files = []
    for row in rows:
        if row.status != "imported":
            path = _file_of(call.runtime, row)
            if path is not None:
                files.append(path)
        call.session.delete(row)

    def remove():
        for path in files:
            try:
                path.unlink()
            except FileNotFoundError:
                pass

    call.after_commit.append(remove)
    return {"Message": "Deleted %d messages." % len(rows)}


def incoming_counts(session, now):
    counts = status_counts(session, IncomingMessage, INCOMING_STATUSES)
    items = [("Incoming%s" % status.title(), counts[status]) for status in INCOMING_STATUSES]
    items.append(("IncomingTotal", sum(counts.values())))
    return items


if hasattr(_outgoing, "SPOOL_COUNTERS") and incoming_counts not in _outgoing.SPOOL_COUNTERS:
    _outgoing.SPOOL_COUNTERS.append(incoming_counts)


@operation(returns=T.SettingsRequestResult, role=roles.ADMINISTRATOR, writes=False)
def GetIncomingSpoolCounts(call):
    """Incoming messages per status, as Key=Value (IncomingPending, IncomingImported,
    IncomingDuplicate, IncomingFailed, IncomingTotal); GetSpoolCounts includes them too."""
    return {"RequestResults": ["%s=%s" % item for item in incoming_counts(call.session, utcnow())]}
