"""SMTP Delivery: delivers the outgoing spool. Comes with the email issue.

``run(context) -> items processed`` is the job; while this module has no
``run`` the thread shows "not available yet"."""
