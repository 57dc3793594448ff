"""Ticket Watcher: auto-close, auto-lock, auto-delete, due follow-ups, rebalance rules and assignment of queued tickets.

``run(context) -> items processed`` is the job; while this module has no
``run`` the thread shows "not available yet"."""
