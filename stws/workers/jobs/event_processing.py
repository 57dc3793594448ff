"""Event Processing: keeps ticket counts current and runs the system events.

``run(context) -> items processed`` is the job; while this module has no
``run`` the thread shows "not available yet"."""
