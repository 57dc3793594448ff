"""Developer tools run with ``python -m stws.tools.<name>``."""
