"""Sigma rules over the lake: load, convert to DuckDB SQL with pySigma, run in one scan per table.

Usage::

    from cairn.detect.sigma import load_rules, run_rules

    rules = load_rules(["rules/"])                 # files and folders, recursively (*.yml, *.yaml)
    for entry in rules.failed():                   # never silently dropped
        print(entry.path, entry.reason)
    matches = run_rules(engine, rules, since="2024-07-01T00:00:00Z")   # pyarrow.Table

API:

- :func:`load_rules` ``(paths=(), *, texts=None, placeholders=None, validate=True) -> RuleSet``
  (``texts``: rule name -> YAML, for rules kept elsewhere than files). Every rule
  becomes a :class:`RuleEntry`: ``id`` (the rule's UUID, else its name), ``title``, ``level``,
  ``tags``, ``path``, ``kind`` (``detection``/``correlation``), ``table`` (the lake table its log
  source maps to), ``status`` (``converted``/``failed``) with ``sql`` (a DuckDB predicate over the
  table; a full query for correlations) or ``reason`` (the pySigma error, unsupported modifier,
  unknown field, unknown log source, or DuckDB's message when the SQL does not bind), and
  ``output`` (False for rules referenced by a correlation without ``generate: true``).
  ``placeholders`` fills ``%name%`` values of ``|expand``; ``validate`` compiles each SQL against
  the empty table in an in-memory DuckDB. :class:`RuleSet` offers ``converted()``, ``failed()``,
  ``tables()``, ``for_table()``, ``get(id)``, ``conversion_rate`` and ``status_table()`` (Arrow).
- :func:`run_rules` ``(engine, rules, *, tables=None, since=None, until=None) -> pyarrow.Table``
  runs the converted rules, one statement per table, and returns matches in
  :data:`MATCH_SCHEMA`: ``rule_id, rule_title, rule_level, rule_author, rule_tags, rule_kind, table_name,
  event_uid, event_time, principal_arn, src_ip, account_id, aws_region, entities`` (JSON of the
  table's entity columns) and, for correlations, ``first_time, event_count, event_uids,
  group_values, counted_values``. ``since`` is inclusive, ``until`` exclusive, on ``event_time``;
  a correlation only sees matches inside that range.
- :func:`table_sql` gives the statement :func:`run_rules` runs for one table (for inspection).
- :class:`CairnDuckDBBackend` and :func:`cairn_pipeline` are the pySigma backend and processing
  pipeline, usable on their own (``CairnDuckDBBackend(cairn_pipeline()).convert(collection)``).

Field mapping, supported modifiers and conditions, and what fails and why: docs/detection.md.
"""

from cairn.detect.sigma.backend import CairnDuckDBBackend
from cairn.detect.sigma.loader import RuleEntry, RuleSet, load_rules
from cairn.detect.sigma.pipeline import cairn_pipeline
from cairn.detect.sigma.runner import MATCH_SCHEMA, run_rules, table_sql

__all__ = [
    "MATCH_SCHEMA",
    "CairnDuckDBBackend",
    "RuleEntry",
    "RuleSet",
    "cairn_pipeline",
    "load_rules",
    "run_rules",
    "table_sql",
]
