"""Credentials: password hashing, login checks with lockout, role rules."""
