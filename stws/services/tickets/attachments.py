"""svcTickets operations: attachments (being written)."""
