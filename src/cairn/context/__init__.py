"""Organisational context: accounts, networks, identities and assets from inventory files.

Inventory files (YAML or CSV, docs/context.md) are checked record by record
(:mod:`~cairn.context.kinds`, :mod:`~cairn.context.values`) and loaded into the
lake tables ``ctx_accounts``, ``ctx_networks``, ``ctx_identities`` and
``ctx_assets`` (:mod:`~cairn.context.tables`), one catalog transaction per
command, each file replacing what it loaded before (:mod:`~cairn.context.store`).
:mod:`~cairn.context.match` joins any relation of observables
``(type, value, ip_bin)`` to them in SQL.

For the enrichment engine::

    from cairn.context import create_match_views, match_sql, summary_sql

    sql = match_sql("networks", "observables")        # one SELECT per kind
    views = create_match_views(engine, "my_observables")  # temp views ctx_match_<kind>, ctx_match_summary
"""

from cairn.context.kinds import KINDS
from cairn.context.match import MATCH_KINDS, MATCHERS, create_match_views, match_sql, summary_sql
from cairn.context.problems import InventoryError, Problem
from cairn.context.settings import ContextSettings, bundled_inventory, context_settings
from cairn.context.store import LoadReport, load_files, unload_files

__all__ = [
    "KINDS",
    "MATCHERS",
    "MATCH_KINDS",
    "ContextSettings",
    "InventoryError",
    "LoadReport",
    "Problem",
    "bundled_inventory",
    "context_settings",
    "create_match_views",
    "load_files",
    "match_sql",
    "summary_sql",
    "unload_files",
]
