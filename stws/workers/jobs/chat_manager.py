"""Chat Manager: live chat wait times, assignment and clean-up. Not available yet: live chat is not built.

``run(context) -> items processed`` is the job; while this module has no
``run`` the thread shows "not available yet"."""
