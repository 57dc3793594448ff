"""svcSpool operations: the outgoing spool (stws.operations.spool, rules in
stws.mail.spool): list (sorted, paged, with TotalCount), read a message's
raw text, retry, delete, and the counts of both spools."""
from __future__ import annotations

from stws.operations import spool as spool_ops
from stws.services.spool.types import NEVER, T, key_values
from stws.soap.operation import binds
from stws.soap.types import ArrayOfString, Bool, Int, Long, String, When

OutgoingMessageInfo = T.complex("OutgoingMessageInfo", [
    ("Attempts", Int), ("DateCreatedUtc", When), ("DateLastAttemptUtc", When), ("DateNextAttemptUtc", When),
    ("DateSentUtc", When), ("From", String), ("ID", Int), ("IsBeingSent", Bool), ("LastError", String),
    ("MessageId", String), ("Size", Long), ("SmtpAccountId", Int), ("Status", String), ("Subject", String),
    ("TicketId", Int), ("To", String),
])
OutgoingMessageInfoArrayResult = T.result("OutgoingMessageInfoArrayResult",
                                          Messages=T.array_of(OutgoingMessageInfo), TotalCount=Int)


def _info(message) -> OutgoingMessageInfo:
    return OutgoingMessageInfo(
        Attempts=message.attempts, DateCreatedUtc=message.date_created_utc or NEVER,
        DateLastAttemptUtc=message.last_attempt_utc or NEVER, DateNextAttemptUtc=message.next_attempt_utc or NEVER,
        DateSentUtc=message.date_sent_utc or NEVER, From=message.from_address, ID=message.id,
        IsBeingSent=message.is_being_sent, LastError=message.last_error, MessageId=message.message_id_header,
        Size=message.size, SmtpAccountId=message.smtp_account_id or 0, Status=message.status,
        Subject=message.subject, TicketId=message.ticket_id or 0, To=message.recipients,
    )


@binds(spool_ops.list_outgoing_messages, ("sortField", String), ("sortDescending", Bool), ("offset", Int),
       ("count", Int), returns=OutgoingMessageInfoArrayResult)
def GetOutgoingMessages(page):
    """A page of the outgoing spool. sortField: id, date, from, to, subject,
    status or attempts (empty = id); count 1..1000 (0 = 100)."""
    return {"Messages": [_info(message) for message in page.items], "TotalCount": page.total}


@binds(spool_ops.outgoing_message_raw_content, ("messageId", Int), returns=T.StringRequestResult)
def GetOutgoingMessageRawContent(raw):
    """The complete message as it is (or was) sent (RFC 5322 text)."""
    return {"RequestResult": raw.decode("utf-8", "replace")}


@binds(spool_ops.retry_outgoing_messages, ("messageIds", ArrayOfString), returns=T.GenericResult)
def RetryOutgoingMessages(retried):
    """Queued or failed messages are sent at the next run; their Attempts are
    kept (past the maximum, each retry is one more attempt) and the SMTP log
    records who retried them when. Sent ones are refused (they would go out twice)."""
    return {"Message": "%d messages will be sent at the next run." % retried}


@binds(spool_ops.retry_all_failed_outgoing_messages, returns=T.GenericResult)
def RetryAllFailedOutgoingMessages(retried):
    """Every failed message back to the queue, due now, Attempts kept; each
    retry is in the SMTP log."""
    return {"Message": "%d failed messages will be sent at the next run." % retried}


@binds(spool_ops.delete_outgoing_messages, ("messageIds", ArrayOfString), returns=T.GenericResult)
def DeleteOutgoingMessages(deleted):
    """Delete messages (all or nothing; not those being sent right now)."""
    return {"Message": "Deleted %d messages." % deleted}


@binds(spool_ops.delete_all_outgoing_messages, ("status", String), returns=T.GenericResult)
def DeleteAllOutgoingMessages(deleted):
    """Delete every message of ``status`` (queued, sending, sent, failed), or
    of every status when empty; never those being sent right now."""
    return {"Message": "Deleted %d messages." % deleted}


@binds(spool_ops.spool_counts, returns=T.SettingsRequestResult)
def GetSpoolCounts(counts):
    """Messages per spool and status, as Key=Value (OutgoingQueued, OutgoingSending,
    OutgoingSent, OutgoingFailed, OutgoingDue, OutgoingTotal, ...)."""
    return {"RequestResults": key_values(counts)}
