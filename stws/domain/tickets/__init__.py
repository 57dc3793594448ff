"""Ticket domain logic, one module per area; ``core`` holds what all share."""
