"""svcSpool operations: outgoing (being written)."""
