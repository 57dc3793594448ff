"""Call Log Watcher: deletes call logs older than 7 days, honouring the departments' call-log auto-delete settings.

``run(context) -> items processed`` is the job; while this module has no
``run`` the thread shows "not available yet"."""
