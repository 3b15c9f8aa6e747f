"""Command-line entry point (``cairn``)."""
