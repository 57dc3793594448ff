"""Ticket Watcher: auto-close, auto-lock, auto-delete, due follow-ups, rebalance rules and assignment of queued tickets.

Each run, in this order (the rules are in ``stws.domain.tickets.watcher``):

1. auto-close waiting tickets, 2. auto-lock closed ones, 3. auto-delete old
closed ones (per department settings), 4. apply due follow-ups
(``transfer.apply_due_follow_ups``), 5. run the due rebalance rules,
6. deal queued tickets to the receiving round-robin agents of their groups
(``agents.assign_queued_tickets``).

Work is bounded: each step changes at most ``BATCH`` tickets per
transaction (``watcher.NOTICE_BATCH`` where closing notices are composed)
so SQLite's write lock is never held for long and other writers get in
between batches, and at most ``RUN_LIMIT`` tickets per run;
a larger backlog drains over the following runs. A step that fails is
logged and the others still run; the run then reports the failure. Returns
the number of tickets changed.
"""
from __future__ import annotations

import logging

from stws.domain.tickets import transfer, watcher

BATCH = 1_000
RUN_LIMIT = 5_000

error_log = logging.getLogger("stws.error")


def _drain(db, step, run_limit: int | None = None, batch: int | None = None) -> int:
    """Call ``step(session, limit)`` in one transaction per batch until it
    changes nothing or the run's limit is reached. (A step may change less
    than asked and still have more: auto-close takes fewer tickets per
    transaction where it emails closing notices.)"""
    run_limit = RUN_LIMIT if run_limit is None else run_limit
    batch = batch or BATCH
    done = 0
    while done < run_limit:
        wanted = min(batch, run_limit - done)
        with db.transaction() as session:
            changed = step(session, wanted)
        done += changed
        if not changed:
            break
    return done


def rebalance(db, now, run_limit: int | None = None) -> int:
    run_limit = RUN_LIMIT if run_limit is None else run_limit
    with db.transaction(writes=False) as session:
        due = watcher.due_rule_ids(session, now)
    moved = 0
    for rule_id, reason in due:
        if moved >= run_limit:
            break  # the rest stay due for the next run
        with db.transaction() as session:
            moved += watcher.run_rule(session, rule_id, reason, now, run_limit - moved)
    return moved


def assign_queue(db, now, run_limit: int | None = None) -> int:
    run_limit = RUN_LIMIT if run_limit is None else run_limit
    with db.transaction(writes=False) as session:
        groups = watcher.groups_with_queue(session)
    assigned = 0
    for group_id in groups:
        if assigned >= run_limit:
            break
        assigned += _drain(db, lambda session, limit: watcher.assign_queued(session, group_id, now, limit),
                           run_limit - assigned)
    return assigned


def steps(now):
    """(name, function(db) -> tickets changed), in the order they run."""
    return [
        ("closed", lambda db: _drain(db, lambda session, limit: watcher.auto_close(session, now, limit))),
        ("locked", lambda db: _drain(db, lambda session, limit: watcher.auto_lock(session, now, limit))),
        ("deleted", lambda db: _drain(db, lambda session, limit: watcher.auto_delete(session, now, limit))),
        ("followed up", lambda db: _drain(db, lambda session, limit: transfer.apply_due_follow_ups(session, now,
                                                                                                   limit))),
        ("rebalanced", lambda db: rebalance(db, now)),
        ("assigned", lambda db: assign_queue(db, now)),
    ]


def run(context) -> int:
    db = context.runtime.db
    total, counts, failures = 0, [], []
    for name, step in steps(context.now):
        try:
            changed = step(db)
        except Exception as exc:  # the other steps still run
            error_log.exception("Ticket Watcher: %s step failed", name)
            failures.append("%s: %s: %s" % (name, type(exc).__name__, exc))
            continue
        total += changed
        if changed:
            counts.append("%d %s" % (changed, name))
    if counts:
        context.log.info("Ticket Watcher: %s", ", ".join(counts))
    if failures:
        raise RuntimeError("; ".join(failures) + " (%d tickets changed by the other steps)" % total)
    return total
