"""The enrichment engine: every lake observable joined with intel, ownership and organisational context.

- :func:`refresh` keeps the lake tables ``enriched_observables`` and ``intel_matches`` (and the views
  ``<table>_enriched``) up to date, incrementally;
- :func:`enrich_relation` enriches any relation shaped like ``observables`` into temp tables;
- :mod:`cairn.enrich.api` is the notebook API; :mod:`cairn.enrich.retrohunt` lists new matches.
"""

from cairn.enrich.materialize import EnrichSummary, refresh
from cairn.enrich.relation import enrich_relation

__all__ = ["EnrichSummary", "enrich_relation", "refresh"]
