"""Auto-Purge Deleted Items: removes items deleted more than 90 days ago (with the exceptions of the reference, section 4.6) and their files.

Deletion is soft everywhere (``is_deleted``, ``date_deleted_utc``); this
thread removes the rows for good once they have been deleted for
``RETENTION`` (90 days, fixed as in SmarterTrack), in dependency order:

1. tickets, with everything that hangs off them through ``ON DELETE
   CASCADE`` keys (messages, comments, attachment rows, time logs, events,
   links, custom values; the spool keeps its rows with the ticket unset),
   and then their attachment files under the data directory's
   ``attachments`` folder. Kept, as section 4.6 says:

   * a ticket with a Resolution comment (comment type 2) is never purged;
   * a ticket related (``ticket_links``, in either direction) to a ticket
     or call log that is not deleted is kept until that item is deleted too;

2. call logs, except those related to a ticket that is not deleted;
3. users, 4. groups, 5. departments: only those no remaining row still
   refers to through a key without ``ON DELETE`` (a ticket, a message, an
   event, a call log, a group of the department...): such rows are found
   from the schema itself (``blocking_references``), so a table added later
   is respected without touching this module. Memberships and role
   assignments (``ON DELETE CASCADE``) go with them. A deleted department
   whose front-line group is due too has that key cleared first (the two
   refer to each other).

Each kind is purged in transactions of at most ``BATCH`` rows, oldest
deletion first, with a short pause between them, and a run purges at most
``MAX_PER_RUN`` rows of each kind, so no transaction holds SQLite's write
lock for long; what is left waits for the next run. Every key into the
purged tables has an index on its referring column (models.py,
``_referring_index``), so both "is it still referred to?" and the
database's own key checks on DELETE are index lookups. The conditions are applied again in the DELETE itself, so a row
that changed since it was selected (say, got a Resolution comment) stays.

Attachment files are unlinked after the transaction committed: a crash in
between leaves files no row names, which the Cleaner moves to
``orphaned-attachments`` and deletes after a week.

The job returns how many tickets, call logs, users, groups and departments
it purged.
"""
from __future__ import annotations

import datetime as dt
import logging
import time

from sqlalchemy import and_, delete, exists, not_, or_, select, true, update

from stws.db.models import (
    Base, CallLog, Department, Group, Ticket, TicketAttachment, TicketComment, TicketLink, User,
)
from stws.domain.tickets.attachments import disk_path

log = logging.getLogger("stws.threads")

RETENTION = dt.timedelta(days=90)
RESOLUTION_COMMENT = 2  # comment_types: Resolution
# Rows per transaction: deleting 100 tickets (each with a message, three
# events and their full-text removals) holds SQLite's write lock for about
# a quarter of a second on a database of a million tickets (figures in the
# commit that set it).
BATCH = 100
MAX_PER_RUN = 5000
# Between two batches, so writers waiting for the lock get it first.
PAUSE_SECONDS = 0.05


def run(context) -> int:
    runtime = context.runtime
    cutoff = context.now - RETENTION
    purged = {}
    purged["tickets"] = _in_batches(lambda limit: purge_tickets(runtime, cutoff, limit))
    purged["call logs"] = _in_batches(lambda limit: _purge(runtime, CallLog, cutoff, limit, _call_log_kept()))
    purged["users"] = _in_batches(lambda limit: _purge(runtime, User, cutoff, limit))
    with runtime.db.transaction() as session:
        release_front_line_groups(session, cutoff)
    purged["groups"] = _in_batches(lambda limit: _purge(runtime, Group, cutoff, limit))
    purged["departments"] = _in_batches(lambda limit: _purge(runtime, Department, cutoff, limit))
    total = sum(purged.values())
    if total:
        log.info("Auto-Purge: purged %s", ", ".join("%d %s" % (n, kind) for kind, n in purged.items() if n))
    return total


def _in_batches(purge_batch) -> int:
    total = 0
    while total < MAX_PER_RUN:
        limit = min(BATCH, MAX_PER_RUN - total)
        done = purge_batch(limit)
        total += done
        if done < limit:
            break
        time.sleep(PAUSE_SECONDS)
    return total


def _due(model, cutoff):
    return and_(model.is_deleted.is_(True), model.date_deleted_utc < cutoff)


# --------------------------------------------------------------- references


def blocking_references(model) -> list:
    """Columns of other rows that refer to ``model``'s rows by a key without
    ``ON DELETE`` (CASCADE or SET NULL): a row they refer to must stay."""
    target = model.__table__
    columns = []
    for table in Base.metadata.sorted_tables:
        for key in table.foreign_keys:
            if key.column.table is target and (key.ondelete or "").upper() not in ("CASCADE", "SET NULL"):
                columns.append(key.parent)
    return columns


def _unreferenced(model):
    target_id = model.__table__.c.id
    return and_(true(), *[
        not_(exists().where(column == target_id)) for column in blocking_references(model)
    ])


# --------------------------------------------------------------- tickets


def ticket_kept():
    """Section 4.6's exceptions, as a condition on ``Ticket``."""
    other = Ticket.__table__.alias("other_ticket")
    resolved = exists().where(TicketComment.ticket_id == Ticket.id,
                              TicketComment.comment_type_id == RESOLUTION_COMMENT)
    links_to_live_ticket = exists().where(
        TicketLink.ticket_id == Ticket.id, other.c.id == TicketLink.linked_ticket_id,
        other.c.is_deleted.is_(False))
    linked_from_live_ticket = exists().where(
        TicketLink.linked_ticket_id == Ticket.id, other.c.id == TicketLink.ticket_id,
        other.c.is_deleted.is_(False))
    links_to_live_call_log = exists().where(
        TicketLink.ticket_id == Ticket.id, CallLog.id == TicketLink.linked_call_log_id,
        CallLog.is_deleted.is_(False))
    return or_(resolved, links_to_live_ticket, linked_from_live_ticket, links_to_live_call_log)


def purge_tickets(runtime, cutoff: dt.datetime, limit: int) -> int:
    condition = and_(_due(Ticket, cutoff), not_(ticket_kept()), _unreferenced(Ticket))
    with runtime.db.transaction() as session:
        ids = list(session.scalars(
            select(Ticket.id).where(condition).order_by(Ticket.date_deleted_utc, Ticket.id).limit(limit)))
        if not ids:
            return 0
        files = session.execute(
            select(TicketAttachment.ticket_id, TicketAttachment.file_name_on_disk)
            .where(TicketAttachment.ticket_id.in_(ids))).all()
        purged = set(session.scalars(
            delete(Ticket).where(Ticket.id.in_(ids), condition).returning(Ticket.id)
            .execution_options(synchronize_session=False)))
    _remove_files(runtime, [name for ticket_id, name in files if ticket_id in purged])
    return len(purged)


def _remove_files(runtime, names) -> None:
    for name in names:
        try:
            disk_path(runtime.data.attachments, name).unlink()
        except FileNotFoundError:
            pass
        except (OSError, ValueError) as error:  # the Cleaner moves it aside later
            log.warning("Auto-Purge: cannot remove attachment file %s: %s", name, error)


# --------------------------------------------------------------- call logs and accounts


def _call_log_kept():
    ticket = Ticket.__table__.alias("linking_ticket")
    return exists().where(TicketLink.linked_call_log_id == CallLog.id, ticket.c.id == TicketLink.ticket_id,
                          ticket.c.is_deleted.is_(False))


def _purge(runtime, model, cutoff: dt.datetime, limit: int, kept=None) -> int:
    condition = and_(_due(model, cutoff), _unreferenced(model), not_(kept) if kept is not None else true())
    with runtime.db.transaction() as session:
        ids = list(session.scalars(
            select(model.id).where(condition).order_by(model.date_deleted_utc, model.id).limit(limit)))
        if not ids:
            return 0
        return len(list(session.scalars(
            delete(model).where(model.id.in_(ids), condition).returning(model.id)
            .execution_options(synchronize_session=False))))


def release_front_line_groups(session, cutoff: dt.datetime) -> int:
    """Clear the front-line key of due departments whose front-line group
    is due too, so the group (then the department) can go."""
    due_groups = select(Group.id).where(_due(Group, cutoff))
    return session.execute(
        update(Department)
        .where(_due(Department, cutoff), Department.front_line_group_id.in_(due_groups))
        .values(front_line_group_id=None)
        .execution_options(synchronize_session=False)
    ).rowcount

