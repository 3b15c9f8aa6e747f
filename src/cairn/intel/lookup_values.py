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
from cairn.lake.addresses import PLAIN_V4, plain_v4_table, plain_v6

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


def prepare_values(values: Sequence[str | None]) -> pa.Table:
    """:data:`INPUT_SCHEMA` rows for ``values`` in their order; None and blank values are left out."""
    texts = pa.array(values, pa.string())
    fast = pc.fill_null(pc.match_substring_regex(texts, PLAIN_V4), False)
    is_fast = fast.to_numpy(zero_copy_only=False)
    fast_pos = np.flatnonzero(is_fast)
    parts = [plain_v4_table(texts.filter(fast), INPUT_SCHEMA)]
    done: dict[str, _Row] = {}
    rows: list[_Row] = []
    slow_pos: list[int] = []
    for i in np.flatnonzero(~is_fast).tolist():
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
