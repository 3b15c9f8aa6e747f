"""``--filter`` expressions to Security Hub ``GetFindings`` filters (``AwsSecurityFindingFilters``).

The key is a member of ``AwsSecurityFindingFilters`` (checked against the botocore service model);
the operator depends on the member's type:

| type | forms | filter |
|---|---|---|
| string | ``K=V``, ``K!=V``, ``K^=V`` (prefix), ``K!^=V``, ``K~=V`` (contains), ``K!~=V`` | StringFilter |
| map | ``K.sub=V``, ``K.sub!=V``, ``K.sub~=V``, ``K.sub!~=V`` (``UserDefinedFields``, ``ResourceTags``...) | MapFilter |
| number | ``K=N``, ``K>=N``, ``K<=N``, ``K>N``, ``K<N`` | NumberFilter |
| date | ``K>=TIME``, ``K<=TIME`` (ISO 8601), ``K=7d`` (the last 7 days) | DateFilter |
| boolean | ``K=true`` / ``K=false`` | BooleanFilter |
| IP | ``K=CIDR`` | IpFilter |
| keyword | ``K=V`` | KeywordFilter |

Several filters on one key are combined as Security Hub does (OR for EQUALS/PREFIX/CONTAINS, AND
for the negations).
"""

from __future__ import annotations

import difflib
import re
from datetime import UTC, datetime
from functools import cache
from typing import Any

from cairn.errors import ConfigError

_OPS = ("!^=", "!~=", "!=", "^=", "~=", ">=", "<=", "=", ">", "<")
_STRING = {"=": "EQUALS", "!=": "NOT_EQUALS", "^=": "PREFIX", "!^=": "PREFIX_NOT_EQUALS", "~=": "CONTAINS",
           "!~=": "NOT_CONTAINS"}
_MAP = {"=": "EQUALS", "!=": "NOT_EQUALS", "~=": "CONTAINS", "!~=": "NOT_CONTAINS"}
_NUMBER = {"=": "Eq", ">=": "Gte", "<=": "Lte", ">": "Gt", "<": "Lt"}
_DAYS = re.compile(r"^(\d+)d$")


@cache
def filter_types() -> dict[str, str]:
    """Member name -> shape name (``StringFilterList``, ...) of ``AwsSecurityFindingFilters``."""
    import botocore.session

    model = botocore.session.get_session().get_service_model("securityhub")
    return {k: v.name for k, v in model.shape_for("AwsSecurityFindingFilters").members.items()}


def _split(expr: str) -> tuple[str, str, str]:
    best: tuple[int, str] | None = None
    for op in _OPS:
        i = expr.find(op)
        if i > 0 and (best is None or i < best[0] or (i == best[0] and len(op) > len(best[1]))):
            best = (i, op)
    if best is None:
        raise ConfigError(f"--filter {expr!r}: expected KEY=VALUE (or !=, ^=, ~=, >=, <=; see docs/aws.md)")
    i, op = best
    return expr[:i].strip(), op, expr[i + len(op):].strip()


def _time(text: str, expr: str) -> str:
    try:
        t = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(f"--filter {expr!r}: {text!r} is not an ISO 8601 time") from None
    t = t if t.tzinfo else t.replace(tzinfo=UTC)
    return t.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_filter(expr: str) -> tuple[str, dict[str, Any]]:
    """One ``--filter`` expression as ``(member, filter object)``."""
    key, op, value = _split(expr)
    sub = None
    types = filter_types()
    if key not in types and "." in key:
        key, sub = key.split(".", 1)
    kind = types.get(key)
    if kind is None:
        near = difflib.get_close_matches(key, list(types), n=3)
        hint = f"; did you mean {', '.join(near)}?" if near else ""
        raise ConfigError(f"--filter {expr!r}: {key!r} is not a Security Hub finding filter{hint}")
    if kind == "MapFilterList":
        if not sub or op not in _MAP:
            raise ConfigError(f"--filter {expr!r}: {key} is a map: use {key}.KEY=VALUE (=, !=, ~=, !~=)")
        return key, {"Key": sub, "Value": value, "Comparison": _MAP[op]}
    if sub is not None:
        raise ConfigError(f"--filter {expr!r}: {key} is not a map filter")
    if kind == "StringFilterList" and op in _STRING:
        return key, {"Value": value, "Comparison": _STRING[op]}
    if kind == "NumberFilterList" and op in _NUMBER:
        try:
            return key, {_NUMBER[op]: float(value)}
        except ValueError:
            raise ConfigError(f"--filter {expr!r}: {value!r} is not a number") from None
    if kind == "DateFilterList":
        m = _DAYS.match(value)
        if op == "=" and m:
            return key, {"DateRange": {"Value": int(m[1]), "Unit": "DAYS"}}
        if op in (">=", ">"):
            return key, {"Start": _time(value, expr)}
        if op in ("<=", "<"):
            return key, {"End": _time(value, expr)}
    if kind == "BooleanFilterList" and op == "=" and value.lower() in ("true", "false"):
        return key, {"Value": value.lower() == "true"}
    if kind == "IpFilterList" and op == "=":
        return key, {"Cidr": value}
    if kind == "KeywordFilterList" and op == "=":
        return key, {"Value": value}
    raise ConfigError(f"--filter {expr!r}: operator {op!r} does not apply to {key} ({kind.removesuffix('List')})")


def build_filters(exprs: list[str]) -> dict[str, list[dict[str, Any]]]:
    """``AwsSecurityFindingFilters`` of several ``--filter`` expressions."""
    out: dict[str, list[dict[str, Any]]] = {}
    for e in exprs:
        key, f = parse_filter(e)
        same = out.setdefault(key, [])
        # A date bound joins the other bound of the same key: UpdatedAt>=A with UpdatedAt<=B is one range.
        partner = next((g for g in same if set(f) <= {"Start", "End"} and set(g) <= {"Start", "End"}
                        and not set(f) & set(g)), None)
        if partner is not None:
            partner.update(f)
        else:
            same.append(f)
    return out
