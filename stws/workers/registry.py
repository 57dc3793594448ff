"""The 14 background threads of the spec, with their intervals.

A thread whose job is None is registered and shown with the honest status
"not available yet" until the issue that brings it lands; it never
pretends to run.
"""
from __future__ import annotations

import importlib

from stws.background_threads import THREADS, interval_of
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


def job_module(name: str):
    return importlib.import_module("stws.workers.jobs." + JOB_MODULES[name])


def job_of(name: str):
    """The ``run`` function of a thread's job module, or None if it has none yet."""
    return getattr(job_module(name), "run", None)


def definitions(intervals: dict | None = None) -> list[ThreadDefinition]:
    """The threads of stws.background_threads with their jobs, ``intervals``
    {name: seconds} overriding the default intervals. A job module's
    ``WAKE_AT_START = True`` asks for a run as soon as its thread starts."""
    return [ThreadDefinition(t.name, interval_of(t.name, intervals), t.description, job_of(t.name),
                             t.waits_for_maintenance, getattr(job_module(t.name), "WAKE_AT_START", False))
            for t in THREADS]
