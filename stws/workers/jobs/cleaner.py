"""Cleaner: cleans the data folders with an age rule each, and log files older than Delete Log Files After.

``run(context) -> items processed`` is the job; while this module has no
``run`` the thread shows "not available yet"."""
