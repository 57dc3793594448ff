"""Diagnostics: options, tracing, log files and the self-diagnostic."""
