"""cairn: enrich AWS security logs and findings so a responder understands an alert in seconds.

The data path, one folder per stage: ``sources`` -> ``lake`` -> (intel,
context, enrich) -> (detect, triage) -> (actions, outputs), with ``engines``
running the SQL. Entry points: ``cairn.cli`` (the ``cairn`` command).
"""

__version__ = "0.1.0"
