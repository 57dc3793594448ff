"""Email Import (POP): turns downloaded .eml files into tickets. Comes with the email issue.

``run(context) -> items processed`` is the job; while this module has no
``run`` the thread shows "not available yet"."""
