"""Email: composing outgoing messages into the spool (delivery and POP import
are background threads)."""
