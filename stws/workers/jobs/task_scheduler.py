"""Task Scheduler: creates recurring tasks. Not available yet: tasks are not built.

``run(context) -> items processed`` is the job; while this module has no
``run`` the thread shows "not available yet"."""
