"""The 14 background threads of the spec: names, default intervals and what
each does. What reports on threads (Diagnostics, the self-diagnostic, the
ticket counts' freshness) reads this table; ``stws.workers.registry`` adds
the jobs that run them.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ThreadInfo:
    name: str  # as the spec names it, e.g. "Ticket Watcher"
    interval: float  # default seconds between runs
    description: str
    # Its job waits while maintenance work of the Cleaner runs.
    waits_for_maintenance: bool = False
    # False while the issue that brings its job is open: shown as "not
    # available yet", never pretending to run (tests/workers check that
    # exactly these threads have a job).
    available: bool = True


THREADS = (
    ThreadInfo("Auto-Inactive", 30, "Sets agents without a heartbeat inactive and hands off their tickets"),
    ThreadInfo("Auto-Purge Deleted Items", 3600, "Removes items deleted more than 90 days ago"),
    ThreadInfo("Call Log Watcher", 3600, "Deletes old call logs", waits_for_maintenance=True),
    ThreadInfo("Chat Manager", 30, "Live chat wait times, assignment and clean-up", available=False),
    ThreadInfo("Cleaner", 3600, "Cleans the data folders (temp, raw content, failed emails, logs, ...)"),
    ThreadInfo("Email Import (POP)", 10, "Turns downloaded .eml files into tickets"),
    ThreadInfo("Email Report", 300, "Sends scheduled reports by email", available=False),
    ThreadInfo("Event Processing", 60, "Ticket counts and system events", waits_for_maintenance=True),
    ThreadInfo("Indexing", 10, "Keeps the full-text search index up to date"),
    ThreadInfo("POP Download", 60, "Downloads mail from the POP accounts"),
    ThreadInfo("SMTP Delivery", 5, "Delivers the outgoing spool over SMTP"),
    ThreadInfo("Task Watcher", 60, "Runs due tasks and deletes old completed tasks", available=False),
    ThreadInfo("Ticket Watcher", 60, "Auto-close, auto-lock, auto-delete, follow-ups, rebalancing, assignment"),
    ThreadInfo("Task Scheduler", 60, "Creates recurring tasks", available=False),
)


def interval_of(name: str, intervals: dict | None = None) -> float:
    """The seconds between runs of thread ``name``, ``intervals`` overriding the default."""
    for thread in THREADS:
        if thread.name == name:
            return float((intervals or {}).get(name, thread.interval))
    raise KeyError(name)


def find(name: str) -> ThreadInfo | None:
    """The thread called ``name``, matched case-insensitively."""
    wanted = (name or "").strip().lower()
    return next((t for t in THREADS if t.name.lower() == wanted), None)
