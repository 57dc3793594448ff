"""Call Log Watcher: deletes call logs older than 7 days, honouring the departments' call-log auto-delete settings.

The rule: a live call log is deleted once it was created
(``date_created_utc``) more than N days before the run, where N is

- its department's ``auto_delete_call_log_days`` when that department has
  ``auto_delete_call_log_enabled`` (shorter or longer than 7: the
  department's own setting takes precedence), and
- ``DEFAULT_DAYS`` = 7 otherwise (the spec: "automatically delete call logs
  older than 7 days").

Switching a department's setting off therefore means the 7-day default,
not "keep for ever"; a department that keeps its call logs longer sets a
long period instead. Deleted departments' call logs follow the
same rule. Stopping the thread stops all call-log deletion.

Deletion is soft (``is_deleted``, ``date_deleted_utc``): the Auto-Purge
thread removes the rows 90 days later. The thread waits while database
maintenance is in progress (``waits_for_maintenance``, in the registry).
Work goes in batches of ``BATCH`` rows per transaction, at most
``RUN_LIMIT`` per run (a backlog drains over the next hourly runs).
Returns the number of call logs deleted.
"""
from __future__ import annotations

import datetime as dt

from sqlalchemy import select, update

from stws.db.models import CallLog, Department

DEFAULT_DAYS = 7
BATCH = 1_000
RUN_LIMIT = 50_000


def retention_days(department) -> int:
    """How many days a department's call logs are kept."""
    if department.auto_delete_call_log_enabled:
        return department.auto_delete_call_log_days
    return DEFAULT_DAYS


def delete_batch(session, department_id: int, cutoff: dt.datetime, now: dt.datetime, limit: int) -> int:
    """Soft-delete up to ``limit`` of the department's live call logs created
    before ``cutoff`` (oldest first, ix_call_logs_department_created)."""
    ids = list(session.scalars(
        select(CallLog.id).where(CallLog.is_deleted.is_(False), CallLog.department_id == department_id,
                                 CallLog.date_created_utc < cutoff)
        .order_by(CallLog.date_created_utc, CallLog.id).limit(limit).with_for_update(skip_locked=True)
    ))
    if ids:
        session.execute(update(CallLog).where(CallLog.id.in_(ids)).values(
            is_deleted=True, date_deleted_utc=now, date_modified_utc=now,
        ).execution_options(synchronize_session=False))
    return len(ids)


def run(context) -> int:
    db, now = context.runtime.db, context.now
    with db.transaction(writes=False) as session:
        departments = session.execute(select(
            Department.id, Department.auto_delete_call_log_enabled, Department.auto_delete_call_log_days,
        ).order_by(Department.id)).all()
    deleted = 0
    for department in departments:
        cutoff = now - dt.timedelta(days=retention_days(department))
        while deleted < RUN_LIMIT:
            wanted = min(BATCH, RUN_LIMIT - deleted)
            with db.transaction() as session:
                done = delete_batch(session, department.id, cutoff, now, wanted)
            deleted += done
            if done < wanted:
                break
    if deleted:
        context.log.info("Call Log Watcher: %d call logs deleted", deleted)
    return deleted
