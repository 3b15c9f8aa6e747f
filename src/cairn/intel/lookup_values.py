"""Lookup inputs in bulk: refang, type and canonicalise many values at once.

The result is exactly what :func:`cairn.intel.normalize.normalize` gives value by value,
without its per-value cost on the common shapes:

- plain dotted IPv4 addresses (no port, prefix, padding or defanging) are recognised and
  packed by Arrow compute, vectorised;
- plain IPv6 addresses (hex digits and colons) are packed and printed by the C library
  (:func:`cairn.lake.addresses.plain_v6`); IPv4-mapped and dotted forms take the general path;
- everything else goes through ``normalize`` once per distinct value.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from cairn.intel import normalize as norm
from cairn.lake.addresses import PLAIN_V4, plain_v4_bins, plain_v6

INPUT_SCHEMA = pa.schema(
    [("input", pa.string()), ("type", pa.string()), ("value", pa.string()), ("ip_bin", pa.binary()),
     ("error", pa.string())]
)
_Row = tuple[str, str | None, str | None, bytes | None, str | None]


def normalize_one(raw: str) -> _Row:
    """``(input, type, value, ip_bin, error)`` of one non-blank value."""
    fast = plain_v6(raw)
    if fast is not None:
        return raw, "ip", fast[0], fast[1], None
    n = norm.normalize(raw)
    if n.value is None:
        return raw, n.type, None, None, n.reason
    ip_bin = n.range_start if n.type == "ip" and n.range_start == n.range_end else None
    return raw, n.type, n.value, ip_bin, None


def _v4_rows(texts: pa.Array) -> pa.Table:
    """Rows of plain dotted IPv4 addresses: value as given, ``ip_bin`` the IPv4-mapped 16 bytes."""
    n = len(texts)
    return pa.table([texts, pa.array(["ip"] * n, pa.string()), texts, plain_v4_bins(texts),
                     pa.nulls(n, pa.string())], schema=INPUT_SCHEMA)


def prepare_values(values: Sequence[str | None]) -> pa.Table:
    """:data:`INPUT_SCHEMA` rows for ``values`` in their order; None and blank values are left out."""
    texts = pa.array(values, pa.string())
    fast = pc.fill_null(pc.match_substring_regex(texts, PLAIN_V4), False)
    fast_pos = np.flatnonzero(fast.to_numpy(zero_copy_only=False))
    parts = [_v4_rows(texts.filter(fast))]
    done: dict[str, _Row] = {}
    rows: list[_Row] = []
    slow_pos: list[int] = []
    slow_idx = np.flatnonzero(~fast.to_numpy(zero_copy_only=False)).tolist()
    for i in slow_idx:
        raw = values[i]
        if raw is None or not raw.strip():
            continue
        row = done.get(raw)
        if row is None:
            row = done[raw] = normalize_one(raw)
        rows.append(row)
        slow_pos.append(i)
    if rows:
        parts.append(pa.table(list(map(list, zip(*rows, strict=True))), schema=INPUT_SCHEMA))
    table = pa.concat_tables(parts)
    if not rows or not len(fast_pos):
        return table
    order = np.argsort(np.concatenate([fast_pos, np.asarray(slow_pos, dtype=np.int64)]), kind="stable")
    return table.take(pa.array(order))
