"""Background threads: the framework, the registry of the 14 threads, and
one job module per implemented thread (stws/workers/jobs/)."""
