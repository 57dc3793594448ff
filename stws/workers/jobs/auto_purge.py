"""Auto-Purge Deleted Items: removes items deleted more than 90 days ago (with the exceptions of the reference, section 4.6) and their files.

``run(context) -> items processed`` is the job; while this module has no
``run`` the thread shows "not available yet"."""
