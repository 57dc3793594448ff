"""svcSpool operations: the incoming spool, mail downloaded from the POP
accounts (stws.operations.spool, rules in stws.mail.spool): list (sorted,
paged, with TotalCount), read a message's raw text, retry, delete (chosen
ones or all of a status), and its
counts alone (GetSpoolCounts includes them too)."""
from __future__ import annotations

from stws.operations import spool as spool_ops
from stws.services.spool.types import NEVER, T, key_values
from stws.soap.operation import binds
from stws.soap.types import ArrayOfString, Bool, Int, Long, String, When

IncomingMessageInfo = T.complex("IncomingMessageInfo", [
    ("AccountId", Int), ("Attempts", Int), ("DateImportedUtc", When), ("DateReceivedUtc", When),
    ("FileName", String), ("From", String), ("ID", Int), ("LastError", String), ("MessageId", String),
    ("Size", Long), ("Status", String), ("Subject", String), ("TicketId", Int),
])
IncomingMessageInfoArrayResult = T.result("IncomingMessageInfoArrayResult",
                                          Messages=T.array_of(IncomingMessageInfo), TotalCount=Int)


def _info(message) -> IncomingMessageInfo:
    return IncomingMessageInfo(
        AccountId=message.account_id or 0, Attempts=message.attempts,
        DateImportedUtc=message.date_imported_utc or NEVER, DateReceivedUtc=message.date_received_utc or NEVER,
        FileName=message.file_name, From=message.from_address, ID=message.id, LastError=message.last_error,
        MessageId=message.message_id, Size=message.size, Status=message.status, Subject=message.subject,
        TicketId=message.ticket_id or 0)


@binds(spool_ops.list_incoming_messages, ("sortField", String), ("sortDescending", Bool), ("offset", Int),
       ("count", Int), returns=IncomingMessageInfoArrayResult)
def GetIncomingMessages(page):
    """A page of the incoming spool. sortField: id, date, from, subject, status, size
    or attempts (empty = id); count 1..1000 (0 = 100)."""
    return {"Messages": [_info(message) for message in page.items], "TotalCount": page.total}


@binds(spool_ops.incoming_message_raw_content, ("messageId", Int), returns=T.StringRequestResult)
def GetIncomingMessageRawContent(raw):
    """The message as it was downloaded (RFC 5322 text)."""
    return {"RequestResult": raw.decode("utf-8", "replace")}


@binds(spool_ops.retry_incoming_messages, ("messageIds", ArrayOfString), returns=T.GenericResult)
def RetryIncomingMessages(retried):
    """Failed (or pending) messages are imported again at the next run, their files
    back from Failed Emails; imported ones are refused (they would be imported twice)."""
    return {"Message": "%d messages will be imported at the next run." % retried}


@binds(spool_ops.retry_all_failed_incoming_messages, returns=T.GenericResult)
def RetryAllFailedIncomingMessages(retried):
    """Every failed message back to pending (its file back from Failed Emails)."""
    return {"Message": "%d failed messages will be imported at the next run." % retried}


@binds(spool_ops.delete_incoming_messages, ("messageIds", ArrayOfString), returns=T.GenericResult)
def DeleteIncomingMessages(deleted):
    """Delete messages (all or nothing) and, for those not imported, their files."""
    return {"Message": "Deleted %d messages." % deleted}


@binds(spool_ops.delete_all_incoming_messages, ("status", String), returns=T.GenericResult)
def DeleteAllIncomingMessages(deleted):
    """Delete every message of ``status`` (pending, imported, duplicate, refused, failed),
    or of every status when empty, and the files of those not imported."""
    return {"Message": "Deleted %d messages." % deleted}


@binds(spool_ops.incoming_spool_counts, returns=T.SettingsRequestResult)
def GetIncomingSpoolCounts(counts):
    """Incoming messages per status, as Key=Value (IncomingPending, IncomingImported,
    IncomingDuplicate, IncomingRefused, IncomingFailed, IncomingTotal); GetSpoolCounts includes them too."""
    return {"RequestResults": key_values(counts)}
