"""svcTickets operations: conversation (being written)."""
