"""Sigma 1 aggregations (``condition: selection | count() by field > 5`` or ``selection | near other``
with ``timeframe``) as the correlation rules that replaced them.

Sigma 2 dropped the ``| count()`` pipe in favour of correlation rules, and pySigma refuses it; many
rules in the wild (SigmaHQ keeps several AWS ones in ``unsupported/``) still use it. Each rule that
uses it becomes two documents before pySigma reads the file:

- the search: the rule with the part of the condition before ``|`` and no ``timeframe``, under a
  derived id (``uuid5`` of the rule's id), referenced by the correlation only (no alerts of its own);
- the correlation, under the rule's own id, title, level and tags: ``count()`` is ``event_count``,
  ``count(field)`` is ``value_count`` of that field, ``by field`` is its ``group-by``, the
  ``timeframe`` its ``timespan`` and the comparison its ``condition``.

``selection | near a and b`` ("``a`` and ``b`` match within ``timeframe`` of ``selection``") becomes a
search per part (the condition before ``|``, then each search identifier after ``near``) and a
``temporal`` correlation of all of them over the ``timeframe``, without ``group-by`` (``near`` has no
``by``); the parts may match in any order, as ``near`` does not order them.

Other Sigma 1 aggregations (``min``, ``max``, ``avg``, ``sum``, ``near ... and not x``) and
aggregations without a ``timeframe`` are left as they are: pySigma or the loader report them
(:func:`explain` says why).
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import yaml
from sigma.conditions import ConditionAND
from sigma.rule import SigmaDetectionItem, SigmaRule
from sigma.types import SigmaString

from cairn.detect.sigma.sqltext import plain_text

_AGGREGATION = re.compile(
    r"^(?P<search>.+?)\s*\|\s*count\(\s*(?P<field>[\w.-]*)\s*\)\s*(?:by\s+(?P<by>[\w.-]+)\s*)?"
    r"(?P<op>>=|<=|==|>|<|=)\s*(?P<n>\d+)\s*$", re.DOTALL)
_NEAR = re.compile(r"^(?P<search>.+?)\s*\|\s*near\s+(?P<terms>[\w.-]+(?:\s+and\s+[\w.-]+)*)\s*$", re.DOTALL)
_OPS = {">": "gt", ">=": "gte", "<": "lt", "<=": "lte", "==": "eq", "=": "eq"}
_NAMESPACE = uuid.UUID("8b1f6c2e-3d4a-5e6f-9a0b-1c2d3e4f5a6b")
PART_OF = "cairn_part_of"
"""Key of the generated search naming the rule it is part of (pySigma keeps it in ``custom_attributes``)."""
_KEEP = ("title", "id", "name", "status", "description", "references", "author", "date", "modified", "tags",
         "level", "falsepositives", "fields")


def upgrade_aggregations(text: str) -> str | None:
    """``text`` (the YAML of a rule file) with each Sigma 1 ``count()`` aggregation rewritten as a
    search plus an ``event_count``/``value_count`` correlation and each ``near`` as searches plus a
    ``temporal`` correlation; None when there is none (or the file is not YAML: pySigma reports that)."""
    try:
        docs = list(yaml.safe_load_all(text))
    except yaml.YAMLError:
        return None
    out: list[Any] = []
    changed = False
    for doc in docs:
        docs_of = _upgrade(doc)
        if docs_of is None:
            out.append(doc)
        else:
            out += docs_of
            changed = True
    return yaml.safe_dump_all(out, sort_keys=False, allow_unicode=True) if changed else None


def _upgrade(doc: Any) -> list[dict[str, Any]] | None:
    detection = doc.get("detection") if isinstance(doc, dict) else None
    if not isinstance(detection, dict) or not isinstance(detection.get("condition"), str):
        return None
    condition = detection["condition"].strip()
    timeframe = detection.get("timeframe")
    if not timeframe:
        return None
    m = _AGGREGATION.match(condition)
    if m is not None:
        return _count(doc, m, str(timeframe))
    near = _NEAR.match(condition)
    terms = re.split(r"\s+and\s+", near["terms"]) if near else []
    if near is None or "not" in terms:
        return None
    return _near(doc, near["search"].strip(), terms, str(timeframe))


def _rule_id(doc: dict[str, Any]) -> str:
    return str(doc.get("id") or doc.get("name") or doc.get("title") or "")


def _search(doc: dict[str, Any], condition: str, key: str, what: str) -> dict[str, Any]:
    """The generated search of ``doc`` for ``condition`` (id derived from the rule's id and ``key``)."""
    rule_id = _rule_id(doc)
    search = {k: v for k, v in doc.items() if k != "detection"}
    search.update(id=str(uuid.uuid5(_NAMESPACE, f"{rule_id}/{key}")), title=f"{doc.get('title', rule_id)} ({what})")
    search[PART_OF] = rule_id
    search.pop("name", None)
    search["detection"] = {k: v for k, v in doc["detection"].items() if k not in ("condition", "timeframe")}
    search["detection"]["condition"] = condition
    return search


def _correlation(doc: dict[str, Any], correlation: dict[str, Any]) -> dict[str, Any]:
    corr = {k: doc[k] for k in _KEEP if k in doc}
    corr["correlation"] = correlation
    return corr


def _count(doc: dict[str, Any], m: re.Match[str], timeframe: str) -> list[dict[str, Any]]:
    search = _search(doc, m["search"].strip(), "search", "events counted by the correlation")
    condition: dict[str, Any] = {_OPS[m["op"]]: int(m["n"])}
    if m["field"]:
        condition["field"] = m["field"]
    correlation: dict[str, Any] = {
        "type": "value_count" if m["field"] else "event_count",
        "rules": [search["id"]],
        "timespan": timeframe,
        "condition": condition,
    }
    if m["by"]:
        correlation["group-by"] = [m["by"]]
    return [search, _correlation(doc, correlation)]


def _near(doc: dict[str, Any], first: str, terms: list[str], timeframe: str) -> list[dict[str, Any]]:
    what = "events correlated by the rule's near"
    searches = [_search(doc, first, "search", what)]
    searches += [_search(doc, t, f"near/{t}", what) for t in dict.fromkeys(terms)]
    rules = list(dict.fromkeys(s["id"] for s in searches))
    return [*searches, _correlation(doc, {"type": "temporal", "rules": rules, "timespan": timeframe})]


def explain(condition: str, timeframe: object, selections: dict[str, dict[str, set[str]]]) -> str | None:
    """Why a rule with Sigma 1 syntax that :func:`upgrade_aggregations` left alone cannot run, or None.

    ``condition`` and ``timeframe`` are the rule's; ``selections`` maps each search identifier to
    the plain values (lower case) it requires per field (only fields without modifiers)."""
    near = re.search(r"\|\s*near\s+(?P<terms>.+)$", condition.strip(), re.DOTALL)
    if near and not timeframe:
        return ("Sigma 1 'near' without a 'timeframe': the rule gives no window in which its searches "
                "must match (with one it runs as a temporal correlation)")
    if near:
        if re.search(r"\bnot\b", near["terms"]):
            return "Sigma 1 'near ... and not': the absence of a match within the timeframe is not supported"
        return None
    if not timeframe or "|" in condition:
        return None
    why = ("'timeframe' in the detection is Sigma 1 aggregation syntax, but the condition has no "
           "aggregation (count() or near): it is evaluated on each event alone, the timeframe means nothing")
    names = re.split(r"\s+and\s+", condition.strip())
    if len(names) > 1 and all(n in selections for n in names):
        for i, a in enumerate(names):
            for b in names[i + 1:]:
                for name in sorted(selections[a].keys() & selections[b].keys()):
                    va, vb = selections[a][name], selections[b][name]
                    if not {v.lower() for v in va} & {v.lower() for v in vb}:
                        return (f"{why}, and '{a} and {b}' needs one event whose {name} is "
                                f"{_one_of(va)} ({a}) and {_one_of(vb)} ({b}): it never matches. Separate "
                                f"events within {timeframe} are a temporal correlation (Sigma 1: '{a} | near {b}')")
    return why


def explain_rule(rule: SigmaRule) -> str | None:
    """:func:`explain` for a parsed rule."""
    detections = rule.detection.detections
    timeframe = detections.get("timeframe")
    selections: dict[str, dict[str, set[str]]] = {}
    for name, det in detections.items():
        if name == "timeframe" or det.item_linking is not ConditionAND:
            continue
        fields: dict[str, set[str]] = {}
        for item in det.detection_items:
            if isinstance(item, SigmaDetectionItem) and item.field and not item.modifiers and item.value \
                    and all(isinstance(v, SigmaString) and plain_text(v) is not None for v in item.value):
                values = {str(plain_text(v)) for v in item.value if isinstance(v, SigmaString)}
                fields[item.field] = (values if item.field not in fields
                                      else {v for v in fields[item.field] if v.lower() in {w.lower() for w in values}})
        selections[name] = fields
    frame = _timeframe_text(timeframe) if timeframe is not None else None
    return explain(" ".join(rule.detection.condition), frame, selections)


def _timeframe_text(det: object) -> str:
    items = getattr(det, "detection_items", [])
    values = [str(v) for item in items for v in getattr(item, "value", [])]
    return values[0] if len(values) == 1 else "the timeframe"


def _one_of(values: set[str]) -> str:
    return " or ".join(repr(v) for v in sorted(values))
