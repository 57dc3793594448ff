"""svcTickets operations: fields (being written)."""
