"""Auto-Inactive: agents whose session sent no heartbeat for the configured time are set inactive and their active tickets handed off.

``run(context) -> items processed`` is the job; while this module has no
``run`` the thread shows "not available yet"."""
