"""What context a value gets: the engine behind ``cairn context match``.

Each value is typed the way the lake's observables are (an IP address, a
12-digit account id, an ARN, an access key id; anything else is tried as a
user name and as a resource id), put into a small registered Arrow table of
``(type, value, ip_bin)`` and run through the same SQL matchers the enrichment
engine uses (:mod:`cairn.context.match`).
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from cairn.context import values as v
from cairn.context.match import MATCH_KINDS, locator_order_sql, match_sql
from cairn.engines.duckdb_engine import DuckDBEngine
from cairn.lake.addresses import ip_to_bin, parse_ip

OBSERVABLE_TYPES = ("ip", "account", "arn", "resource", "user", "access_key")
"""The observable types context matches."""
_PROBE = "_ctx_probe"


def classify(value: str, type_: str | None = None) -> list[tuple[str, str, bytes | None]]:
    """``(type, value, ip_bin)`` observables for ``value`` (one per plausible type)."""
    t = value.strip()
    addr = parse_ip(t) if type_ in (None, "ip") else None
    if addr is not None:
        return [("ip", str(addr), ip_to_bin(addr))]
    if type_ is not None:
        return [] if type_ == "ip" else [(type_, t, None)]
    if v.ACCOUNT_RE.match(t):
        return [("account", t, None)]
    if t.startswith("arn:"):
        return [("arn", t, None)]
    if v.ACCESS_KEY_RE.match(t):
        return [("access_key", t, None)]
    if t.startswith("AWS::::Account:"):
        return [("resource", t, None)]
    return [("user", t, None), ("resource", t, None)]


def match_values(engine: DuckDBEngine, values: list[str], type_: str | None = None) -> list[dict[str, Any]]:
    """One entry per input: ``{input, observables: [[type, value]], matches: [{kind, ...row}]}``,
    matches ordered by kind, best first, then specificity."""
    if type_ is not None and type_ not in OBSERVABLE_TYPES:
        raise ValueError(f"unknown type {type_!r}; choose one of {', '.join(OBSERVABLE_TYPES)}")
    probes = {val: classify(val, type_) for val in values}
    rows = sorted({p for ps in probes.values() for p in ps}, key=lambda p: (p[0], p[1]))
    table = pa.table({"type": pa.array([r[0] for r in rows], pa.string()),
                      "value": pa.array([r[1] for r in rows], pa.string()),
                      "ip_bin": pa.array([r[2] for r in rows], pa.binary())})
    engine.register(_PROBE, table)
    try:
        found: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for kind in MATCH_KINDS:
            res = engine.arrow(f"SELECT * FROM ({match_sql(kind, _PROBE)}) "
                               f"ORDER BY type, value, best DESC, specificity DESC, ctx_file, {locator_order_sql('ctx_locator')}")
            for r in res.to_pylist():
                found.setdefault((r["type"], r["value"]), []).append({"kind": kind, **plain(r)})
    finally:
        engine.unregister(_PROBE)
    out = []
    for val in values:
        obs = probes[val]
        matches = [m for t, value, _ in obs for m in found.get((t, value), [])]
        out.append({"input": val, "observables": [[t, value] for t, value, _ in obs], "matches": matches})
    return out


def plain(row: dict[str, Any]) -> dict[str, Any]:
    """A row with Arrow MAP values (a list of key/value pairs) turned into dicts."""
    return {k: dict(val) if k == "tags" and isinstance(val, list) else val for k, val in row.items()}


def describe(match: dict[str, Any], sep: str = " ") -> str:
    """A summary of a match row for people: the matched entry, then its non-empty attributes."""
    kind = match["kind"]
    if kind == "networks":
        head, keys = match["cidr"], ("name", "zone", "vpc_id", "subnet_id", "site", "owner", "account_id",
                                      "environment")
    elif kind == "accounts":
        head, keys = f"{match['account_id']} {match.get('name') or ''}".strip(), ("ou_path", "environment",
                                                                                    "owner")
    elif kind == "identities":
        head, keys = f"{match['identity_kind']} {match['identity_value']}", ("person", "email", "team")
    else:
        head, keys = match["resource_id"], ("resource_type", "name", "owner", "team", "criticality",
                                            "environment")
    parts = [f"{k}={match[k]}" for k in keys if match.get(k) not in (None, "")]
    tags = match.get("tags") or {}
    if tags:
        parts.append("tags=" + ",".join(f"{k}:{val}" for k, val in tags.items()))
    return sep.join([head, *parts])
