"""svcTickets operations: lifecycle (being written)."""
