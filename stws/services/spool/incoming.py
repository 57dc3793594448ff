"""svcSpool operations: incoming (being written)."""
