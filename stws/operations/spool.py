"""Operations on the mail spools and the SMTP and POP accounts, for
administrators: what svcSpool.asmx and the management interface both run.

Each takes the call's ``Context`` first and returns plain values: a
``Page`` of ``OutgoingSummary`` / ``IncomingSummary`` (stws.mail.spool),
ORM rows of the accounts (never read their passwords back to a client: say
whether there is one), counts as ``int`` or ``{name: int}``. Failures are
``OperationError``s (stws.errors) whose message a person can act on.

Operations on chosen messages take their ``ids`` (ints, or their text) and
change all of them or none; each has an all-messages variant for "select
all": ``retry_all_failed_*`` (``retry_all_outgoing_messages``: failed and
waiting ones) and ``delete_all_*``. The rules of the spools
are in stws.mail.spool, those of the accounts in stws.mail.accounts and
stws.mail.pop_accounts.
"""
from __future__ import annotations

from stws.db.models import PopAccount, SmtpAccount
from stws.mail import accounts as smtp, pop_accounts as pop, spool
from stws.mail.spool import DEFAULT_PAGE, Page
from stws.operations.runner import operation
from stws.security import roles

ADMIN = roles.ADMINISTRATOR

# ---------------------------------------------------------------- outgoing spool


@operation(role=ADMIN, writes=False)
def list_outgoing_messages(context, sort="id", descending=False, offset=0, count=DEFAULT_PAGE) -> Page:
    """A page of the outgoing spool (OutgoingSummary items), sorted by a key of
    ``stws.mail.spool.OUTGOING_SORTS`` then id; ``count`` 1..1000."""
    return spool.list_outgoing(context, sort, descending, offset, count)


@operation(role=ADMIN, writes=False)
def outgoing_message_raw_content(context, message_id: int) -> bytes:
    """The complete message as it is (or was) sent (RFC 5322)."""
    return spool.outgoing_raw_content(context, message_id)


@operation(role=ADMIN)
def retry_outgoing_messages(context, ids) -> int:
    """Queued or failed messages go out at the next delivery run, their
    attempts kept and the retry (who, when) in the SMTP log; refused for
    sent ones and those being sent. How many."""
    return spool.retry_outgoing(context, ids)


@operation(role=ADMIN)
def retry_all_failed_outgoing_messages(context) -> int:
    """Every failed message queued again, due now, attempts kept, each retry
    in the SMTP log; how many."""
    return spool.retry_all_failed_outgoing(context)


@operation(role=ADMIN)
def retry_all_outgoing_messages(context) -> int:
    """Every failed or waiting message (queued, or sending under a lapsed
    claim) queued again, due now, attempts kept; sent ones and those being
    sent are left alone. How many. (Not in svcSpool: the management
    interface's "select all, retry".)"""
    return spool.retry_all_outgoing(context)


@operation(role=ADMIN)
def delete_outgoing_messages(context, ids) -> int:
    """Delete messages (refused for any being sent right now); how many."""
    return spool.delete_outgoing(context, ids)


@operation(role=ADMIN)
def delete_all_outgoing_messages(context, status="") -> int:
    """Delete every message of ``status`` (queued, sending, sent, failed; empty:
    all) except those being sent right now; how many."""
    return spool.delete_all_outgoing(context, status)


@operation(role=ADMIN, writes=False)
def spool_counts(context) -> dict[str, int]:
    """Messages per spool and status: {"OutgoingQueued": n, ..., "OutgoingDue": n,
    "OutgoingTotal": n, "IncomingPending": n, ..., "IncomingTotal": n}."""
    return spool.spool_counts(context)


# ---------------------------------------------------------------- incoming spool


@operation(role=ADMIN, writes=False)
def list_incoming_messages(context, sort="id", descending=False, offset=0, count=DEFAULT_PAGE) -> Page:
    """A page of the incoming spool (IncomingSummary items), sorted by a key of
    ``stws.mail.spool.INCOMING_SORTS`` then id; ``count`` 1..1000."""
    return spool.list_incoming(context, sort, descending, offset, count)


@operation(role=ADMIN, writes=False)
def incoming_message_raw_content(context, message_id: int) -> bytes:
    """The message as it was downloaded (RFC 5322)."""
    return spool.incoming_raw_content(context, message_id)


@operation(role=ADMIN)
def retry_incoming_messages(context, ids) -> int:
    """Failed (or pending) messages are imported at the next run, their files
    back from Failed Emails; refused for imported ones. How many."""
    return spool.retry_incoming(context, ids)


@operation(role=ADMIN)
def retry_all_failed_incoming_messages(context) -> int:
    """Every failed message pending again; how many."""
    return spool.retry_all_failed_incoming(context)


@operation(role=ADMIN)
def delete_incoming_messages(context, ids) -> int:
    """Delete messages, and the files of those not imported; how many."""
    return spool.delete_incoming(context, ids)


@operation(role=ADMIN)
def delete_all_incoming_messages(context, status="") -> int:
    """Delete every message of ``status`` (pending, imported, duplicate, failed;
    empty: all), and the files of those not imported; how many."""
    return spool.delete_all_incoming(context, status)


@operation(role=ADMIN, writes=False)
def incoming_spool_counts(context) -> dict[str, int]:
    """Incoming messages per status: {"IncomingPending": n, ..., "IncomingTotal": n}."""
    return spool.incoming_counts(context)


# ---------------------------------------------------------------- SMTP accounts


@operation(role=ADMIN)
def create_smtp_account(context, name, server, port, security, use_authentication, username, password,
                        from_address, from_name, is_default) -> SmtpAccount:
    """A new SMTP account; ``security`` is none, ssl or starttls."""
    return smtp.create_smtp_account(context.session, name, server, port, security, use_authentication, username,
                                    password, from_address, from_name, is_default)


@operation(role=ADMIN, writes=False)
def list_smtp_accounts(context) -> list[SmtpAccount]:
    """Every SMTP account, by name."""
    return smtp.smtp_accounts(context.session)


@operation(role=ADMIN, writes=False)
def get_smtp_account(context, account_id: int) -> SmtpAccount:
    """One SMTP account (NotFound). (Not in svcSpool.)"""
    return smtp.get_smtp_account(context.session, account_id)


@operation(role=ADMIN)
def update_smtp_account(context, account_id: int, assignments) -> list[str]:
    """Change properties given as "Key=Value" strings, all or nothing: Name,
    Server, Port, Security, UseAuthentication, Username, Password,
    FromAddress, FromName, IsDefault. The keys changed."""
    return smtp.update_smtp_account(context.session, account_id, assignments)


@operation(role=ADMIN)
def delete_smtp_account(context, account_id: int) -> None:
    """Delete an account no brand or department uses (else InUse, naming them)."""
    smtp.delete_smtp_account(context.session, account_id)


@operation(role=ADMIN)
def set_department_smtp_account(context, department_id: int, account_id: int) -> None:
    """The account the department's mail goes out through; 0 = its brand's (or the default)."""
    smtp.set_department_smtp_account(context.session, department_id, account_id)


@operation(role=ADMIN, writes=False)
def get_department_smtp_account(context, department_id: int) -> int:
    """The account the department names; 0 = none. (Not in svcSpool: the
    department page shows it.)"""
    return smtp.department_smtp_account(context.session, department_id)


@operation(role=ADMIN)
def set_brand_smtp_account(context, brand_id: int, account_id: int) -> None:
    """The account the brand's mail goes out through; 0 = the default account."""
    smtp.set_brand_smtp_account(context.session, brand_id, account_id)


# ---------------------------------------------------------------- POP accounts


@operation(role=ADMIN)
def create_pop_account(context, department_id, email_address, server, port, security, username, password,
                       leave_on_server, import_frequency_minutes, is_enabled,
                       new_ticket_restriction) -> PopAccount:
    """A new POP account whose mail becomes tickets of the department;
    ``security`` none, ssl or starttls; ``new_ticket_restriction`` anyone,
    registered or nobody."""
    return pop.create_pop_account(context.session, department_id, email_address, server, port, security, username,
                                  password, leave_on_server, import_frequency_minutes, is_enabled,
                                  new_ticket_restriction)


@operation(role=ADMIN, writes=False)
def list_pop_accounts(context) -> list[PopAccount]:
    """Every POP account, by address."""
    return pop.pop_accounts(context.session)


@operation(role=ADMIN, writes=False)
def get_pop_account(context, account_id: int) -> PopAccount:
    """One POP account (NotFound). (Not in svcSpool.)"""
    return pop.get_pop_account(context.session, account_id)


@operation(role=ADMIN)
def update_pop_account(context, account_id: int, assignments) -> list[str]:
    """Change properties given as "Key=Value" strings, all or nothing:
    DepartmentId, EmailAddress, Server, Port, Security, Username, Password,
    LeaveOnServer, ImportFrequencyMinutes, IsEnabled, NewTicketRestriction.
    The keys changed."""
    return pop.update_pop_account(context.session, account_id, assignments)


@operation(role=ADMIN)
def delete_pop_account(context, account_id: int) -> None:
    """Delete a POP account; the messages it downloaded stay in the incoming spool."""
    pop.delete_pop_account(context.session, account_id)
