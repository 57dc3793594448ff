"""svcSpool operations: accounts (being written)."""
