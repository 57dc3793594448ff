"""Indexing: keeps the full-text index of tickets, messages and notes up to date.

``run(context) -> items processed`` is the job; while this module has no
``run`` the thread shows "not available yet"."""
