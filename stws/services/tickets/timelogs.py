"""svcTickets operations: timelogs (being written)."""
