"""A small, independent reading of Sigma selections in Python: which rules *could* fire on a record.

Used to build the Stratus technique -> expected rules table from the rules' own content instead of by
hand. Each non-filter selection (a mapping of field -> values) is tested on every record with plain
equality, ``contains``, ``startswith``, ``endswith``, ``all`` and ``re`` (Python's engine) (case-insensitive, ``*`` wildcards,
dotted paths, any element of a list). Selections with other modifiers are not evaluated. Conditions
are evaluated (``and``, ``or``, parentheses, ``1 of``/``all of`` with wildcards) except that ``not X`` and
selections that cannot be evaluated count as true, so filters are ignored on purpose and the table
over-approximates: tests list the exceptions.
"""

from __future__ import annotations

import fnmatch
import re
from pathlib import Path
from typing import Any

import yaml

_SUPPORTED = {"contains", "startswith", "endswith", "all", "re"}


def _values(record: Any, path: list[str]) -> list[Any]:
    if not path:
        return record if isinstance(record, list) else [record]
    if isinstance(record, list):
        return [v for item in record for v in _values(item, path)]
    if isinstance(record, dict) and path[0] in record:
        return _values(record[path[0]], path[1:])
    return []


def _text(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v).lower()


def _field_matches(record: dict[str, Any], key: str, expected: Any) -> bool | None:
    name, *mods = key.split("|")
    if set(mods) - _SUPPORTED:
        return None
    wanted = expected if isinstance(expected, list) else [expected]
    got = [g for g in _values(record, name.split(".")) if g is not None and not isinstance(g, dict | list)]
    if any(w is None for w in wanted) and not got:
        return True

    def one(w: Any) -> bool:
        if w is None:
            return not got
        if "re" in mods:
            return any(re.search(str(w), str(g)) for g in got)
        pattern = _text(w)
        if "contains" in mods:
            pattern = f"*{pattern}*"
        elif "startswith" in mods:
            pattern = f"{pattern}*"
        elif "endswith" in mods:
            pattern = f"*{pattern}"
        return any(fnmatch.fnmatchcase(_text(g), pattern) for g in got)

    return all(one(w) for w in wanted) if "all" in mods else any(one(w) for w in wanted)


def selection_matches(record: dict[str, Any], selection: Any) -> bool | None:
    """True/False for a selection (a mapping, or a list of mappings OR-ed); None when not evaluable."""
    if isinstance(selection, list):
        results = [selection_matches(record, s) for s in selection if isinstance(s, dict)]
        if not results or any(r is None for r in results):
            return None
        return any(results)
    if not isinstance(selection, dict) or not selection:
        return None
    results = [_field_matches(record, k, v) for k, v in selection.items()]
    if any(r is None for r in results):
        return None
    return all(results)


_TOKEN = re.compile(r"\(|\)|[^\s()]+")


def condition_matches(condition: str, values: dict[str, bool]) -> bool:
    """Evaluate a Sigma condition over selection results (``not`` counts as true: filters ignored)."""
    tokens = _TOKEN.findall(condition)
    pos = 0

    def group(pattern: str) -> list[bool]:
        names = list(values) if pattern == "them" else [k for k in values if fnmatch.fnmatchcase(k, pattern)]
        return [values[k] for k in names]

    def atom() -> bool:
        nonlocal pos
        tok = tokens[pos]
        pos += 1
        if tok == "(":
            v = expr()
            pos += 1  # ")"
            return v
        if tok == "not":
            atom()
            return True
        if tok in ("1", "all") and pos < len(tokens) and tokens[pos] == "of":
            got = group(tokens[pos + 1])
            pos += 2
            return any(got) if tok == "1" else bool(got) and all(got)
        return values.get(tok, True)

    def conj() -> bool:
        nonlocal pos
        v = atom()
        while pos < len(tokens) and tokens[pos] == "and":
            pos += 1
            v = atom() and v
        return v

    def expr() -> bool:
        nonlocal pos
        v = conj()
        while pos < len(tokens) and tokens[pos] == "or":
            pos += 1
            v = conj() or v
        return v

    return expr()


def rule_could_match(detection: dict[str, Any], record: dict[str, Any]) -> bool:
    """Could the rule's detection match ``record`` (filters ignored, see the module docstring)?"""
    sels = {k: v for k, v in detection.items() if k not in ("condition", "timeframe")}
    values = {k: (True if k.startswith("filter") else selection_matches(record, v)) for k, v in sels.items()}
    values = {k: True if v is None else v for k, v in values.items()}
    conditions = detection["condition"] if isinstance(detection["condition"], list) else [detection["condition"]]
    return any(condition_matches(c, values) for c in conditions)


def candidate_rules(rules_dir: Path, records: list[dict[str, Any]]) -> set[str]:
    """Stems of the rules that could match one of ``records``."""
    out = set()
    for path in sorted(rules_dir.glob("*.yml")):
        detection = yaml.safe_load(path.read_text(encoding="utf-8"))["detection"]
        if any(rule_could_match(detection, r) for r in records):
            out.add(path.stem)
    return out
