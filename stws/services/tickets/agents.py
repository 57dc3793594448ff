"""svcTickets operations: agents (being written)."""
