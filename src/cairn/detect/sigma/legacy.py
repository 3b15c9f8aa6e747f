"""Sigma 1 aggregations (``condition: selection | count() by field > 5`` with ``timeframe``) as the
correlation rules that replaced them.

Sigma 2 dropped the ``| count()`` pipe in favour of correlation rules, and pySigma refuses it; many
rules in the wild (SigmaHQ keeps several AWS ones in ``unsupported/``) still use it. Each rule that
uses it becomes two documents before pySigma reads the file:

- the search: the rule with the part of the condition before ``|`` and no ``timeframe``, under a
  derived id (``uuid5`` of the rule's id), referenced by the correlation only (no alerts of its own);
- the correlation, under the rule's own id, title, level and tags: ``count()`` is ``event_count``,
  ``count(field)`` is ``value_count`` of that field, ``by field`` is its ``group-by``, the
  ``timeframe`` its ``timespan`` and the comparison its ``condition``.

Other Sigma 1 aggregations (``min``, ``max``, ``avg``, ``sum``, ``near``) and aggregations without a
``timeframe`` are left as they are: pySigma or the loader report them.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import yaml

_AGGREGATION = re.compile(
    r"^(?P<search>.+?)\s*\|\s*count\(\s*(?P<field>[\w.-]*)\s*\)\s*(?:by\s+(?P<by>[\w.-]+)\s*)?"
    r"(?P<op>>=|<=|==|>|<|=)\s*(?P<n>\d+)\s*$", re.DOTALL)
_OPS = {">": "gt", ">=": "gte", "<": "lt", "<=": "lte", "==": "eq", "=": "eq"}
_NAMESPACE = uuid.UUID("8b1f6c2e-3d4a-5e6f-9a0b-1c2d3e4f5a6b")
PART_OF = "cairn_part_of"
"""Key of the generated search naming the rule it is part of (pySigma keeps it in ``custom_attributes``)."""
_KEEP = ("title", "id", "name", "status", "description", "references", "author", "date", "modified", "tags",
         "level", "falsepositives", "fields")


def upgrade_aggregations(text: str) -> str | None:
    """``text`` (the YAML of a rule file) with each Sigma 1 ``count()`` aggregation rewritten as a
    search plus an ``event_count``/``value_count`` correlation; None when there is none (or the file
    is not YAML: pySigma reports that)."""
    try:
        docs = list(yaml.safe_load_all(text))
    except yaml.YAMLError:
        return None
    out: list[Any] = []
    changed = False
    for doc in docs:
        pair = _upgrade(doc)
        if pair is None:
            out.append(doc)
        else:
            out += pair
            changed = True
    return yaml.safe_dump_all(out, sort_keys=False, allow_unicode=True) if changed else None


def _upgrade(doc: Any) -> tuple[dict[str, Any], dict[str, Any]] | None:
    detection = doc.get("detection") if isinstance(doc, dict) else None
    if not isinstance(detection, dict) or not isinstance(detection.get("condition"), str):
        return None
    m = _AGGREGATION.match(detection["condition"].strip())
    timeframe = detection.get("timeframe")
    if m is None or not timeframe:
        return None
    rule_id = str(doc.get("id") or doc.get("name") or doc.get("title") or "")
    search_id = str(uuid.uuid5(_NAMESPACE, f"{rule_id}/search"))
    search = {k: v for k, v in doc.items() if k != "detection"}
    search.update(id=search_id, title=f"{doc.get('title', rule_id)} (events counted by the correlation)")
    search[PART_OF] = rule_id
    search.pop("name", None)
    search["detection"] = {k: v for k, v in detection.items() if k not in ("condition", "timeframe")}
    search["detection"]["condition"] = m["search"].strip()
    condition: dict[str, Any] = {_OPS[m["op"]]: int(m["n"])}
    if m["field"]:
        condition["field"] = m["field"]
    correlation: dict[str, Any] = {
        "type": "value_count" if m["field"] else "event_count",
        "rules": [search_id],
        "timespan": str(timeframe),
        "condition": condition,
    }
    if m["by"]:
        correlation["group-by"] = [m["by"]]
    corr = {k: doc[k] for k in _KEEP if k in doc}
    corr["correlation"] = correlation
    return search, corr
