"""The 14 background threads of the spec, with their intervals.

A thread whose job is None is registered and shown with the honest status
"not available yet" until the issue that brings it lands; it never
pretends to run.
"""
from __future__ import annotations

import importlib

from stws.workers.framework import ThreadDefinition

# thread name -> module in stws.workers.jobs whose ``run(context)`` is the job.
JOB_MODULES = {
    "Auto-Inactive": "auto_inactive",
    "Auto-Purge Deleted Items": "auto_purge",
    "Call Log Watcher": "call_log_watcher",
    "Chat Manager": "chat_manager",
    "Cleaner": "cleaner",
    "Email Import (POP)": "email_import",
    "Email Report": "email_report",
    "Event Processing": "event_processing",
    "Indexing": "indexing",
    "POP Download": "pop_download",
    "SMTP Delivery": "smtp_delivery",
    "Task Watcher": "task_watcher",
    "Ticket Watcher": "ticket_watcher",
    "Task Scheduler": "task_scheduler",
}


def job_of(name: str):
    """The ``run`` function of a thread's job module, or None if it has none yet."""
    module = importlib.import_module("stws.workers.jobs." + JOB_MODULES[name])
    return getattr(module, "run", None)


def definitions(intervals: dict | None = None) -> list[ThreadDefinition]:
    """The threads, with ``intervals`` {name: seconds} overriding the defaults."""
    intervals = intervals or {}

    def thread(name, interval, description, waits_for_maintenance=False):
        return ThreadDefinition(name, float(intervals.get(name, interval)), description, job_of(name),
                                waits_for_maintenance)

    return [
        thread("Auto-Inactive", 30, "Sets agents without a heartbeat inactive and hands off their tickets"),
        thread("Auto-Purge Deleted Items", 3600, "Removes items deleted more than 90 days ago"),
        thread("Call Log Watcher", 3600, "Deletes old call logs", waits_for_maintenance=True),
        thread("Chat Manager", 30, "Live chat wait times, assignment and clean-up"),
        thread("Cleaner", 3600, "Cleans the data folders (temp, raw content, failed emails, logs, ...)"),
        thread("Email Import (POP)", 10, "Turns downloaded .eml files into tickets"),
        thread("Email Report", 300, "Sends scheduled reports by email"),
        thread("Event Processing", 60, "Ticket counts and system events", waits_for_maintenance=True),
        thread("Indexing", 10, "Keeps the full-text search index up to date"),
        thread("POP Download", 60, "Downloads mail from the POP accounts"),
        thread("SMTP Delivery", 5, "Delivers the outgoing spool over SMTP"),
        thread("Task Watcher", 60, "Runs due tasks and deletes old completed tasks"),
        thread("Ticket Watcher", 60, "Auto-close, auto-lock, auto-delete, follow-ups, rebalancing, assignment"),
        thread("Task Scheduler", 60, "Creates recurring tasks"),
    ]
