"""One module per background thread's job: ``run(context) -> items processed``."""
