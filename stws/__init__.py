"""stws: a help desk server whose primary API is SmarterTrack-compatible SOAP."""

__version__ = "0.1.0"
