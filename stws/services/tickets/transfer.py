"""svcTickets operations: transfer (being written)."""
