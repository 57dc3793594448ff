"""Email Report: sends scheduled reports by email. Not available yet: reports are not built.

``run(context) -> items processed`` is the job; while this module has no
``run`` the thread shows "not available yet"."""
