"""Framing: turning input files into items (one candidate record each).

Three ways, all giving rows of ``(origin, locator, item, header)``:

* :func:`document_items_sql` - JSON documents (``{"Records": [...]}``, arrays,
  envelopes) are read and unwrapped by the engine, many files per statement.
* :func:`line_items` - line-oriented files (JSON lines, flow log text) are split
  in Python (exact line numbers; no JSON parsing here).
* :func:`salvage_document` - documents the engine cannot read (truncated, bad
  bytes, invalid JSON) are walked element by element so that every intact
  record is kept and the damaged rest is quarantined with its byte offset.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pyarrow as pa

ITEMS_SCHEMA = pa.schema(
    [
        ("origin", pa.string()),
        ("locator", pa.string()),
        ("item", pa.string()),
        ("header", pa.string()),
    ]
)

# Containers a JSON document may wrap its records in, checked in this order.
CONTAINERS = ("Records", "Events", "Findings", "findings")


@dataclass
class Rejected:
    """A piece of input that cannot become an item."""

    origin: str
    locator: str
    reason: str
    raw: bytes


def document_items_sql(max_object_size: int) -> str:
    """SQL reading the JSON documents listed in ``_paths(path, origin)`` into items.

    A document that is an array yields its elements; an object with a
    ``Records`` / ``Events`` / ``Findings`` / ``findings`` array yields that
    array's elements; any other value is one item. Locators look like
    ``Records[12]`` (1-based), prefixed with ``doc N`` when a file holds
    several concatenated documents.
    """
    container_case = " ".join(
        f"WHEN json_type(doc, '$.{c}') = 'ARRAY' THEN '{c}'" for c in CONTAINERS
    )
    items_case = " ".join(
        f"WHEN '{c}' THEN json_extract(doc, '$.{c}[*]')" for c in CONTAINERS
    )
    return f"""
WITH docs AS (
    SELECT filename AS path, json AS doc,
           row_number() OVER (PARTITION BY filename) AS doc_no,
           count(*) OVER (PARTITION BY filename) AS docs_in_file
    FROM read_json_objects((SELECT list(path) FROM _paths), format = 'unstructured',
                           filename = true, maximum_object_size = {int(max_object_size)})
), c AS (
    SELECT path, doc_no, docs_in_file, doc,
           CASE WHEN json_type(doc) = 'ARRAY' THEN '' {container_case} ELSE NULL END AS container
    FROM docs
), l AS (
    SELECT path, doc_no, docs_in_file, container,
           CASE container WHEN '' THEN json_extract(doc, '$[*]') {items_case}
                ELSE [doc::JSON] END AS items
    FROM c
)
SELECT p.origin,
       CASE WHEN l.docs_in_file > 1 THEN 'doc ' || l.doc_no || ' ' ELSE '' END
       || CASE WHEN l.container IS NULL THEN 'document'
               ELSE l.container || '[' || u.i || ']' END AS locator,
       u.item::VARCHAR AS item,
       CAST(NULL AS VARCHAR) AS header
FROM l
JOIN _paths p ON p.path = l.path,
LATERAL (SELECT unnest(l.items) AS item, unnest(range(1, len(l.items) + 1)) AS i) u
"""


def line_items(
    origin: str, data: bytes, *, header: str | None = None
) -> tuple[list[tuple[str, str, str, str | None]], list[Rejected]]:
    """Split ``data`` into one item per non-blank line (``line N``, 1-based).

    Lines that are not valid UTF-8 are rejected with their bytes.
    """
    items: list[tuple[str, str, str, str | None]] = []
    rejected: list[Rejected] = []
    for n, raw in enumerate(data.split(b"\n"), start=1):
        if raw.endswith(b"\r"):
            raw = raw[:-1]
        if not raw.strip():
            continue
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            rejected.append(
                Rejected(origin, f"line {n}", f"not valid UTF-8 at column {exc.start + 1}", raw)
            )
            continue
        items.append((origin, f"line {n}", text, header))
    return items, rejected


def items_table(rows: list[tuple[str, str, str, str | None]]) -> pa.Table:
    """Arrow table of items in :data:`ITEMS_SCHEMA`."""
    if not rows:
        return ITEMS_SCHEMA.empty_table()
    cols = list(zip(*rows, strict=True))
    return pa.table([pa.array(list(c), pa.string()) for c in cols], schema=ITEMS_SCHEMA)


def salvage_document(
    origin: str, data: bytes, damage: str | None = None
) -> tuple[list[tuple[str, str, str, str | None]], list[Rejected]]:
    """Recover the intact records of a damaged JSON document.

    Walks the document's record array (``Records``/``Events``/``Findings`` or a
    top-level array) element by element. Intact elements become items; elements
    with bad UTF-8 and the unreadable remainder are rejected with byte offsets.
    """
    text = data.decode("utf-8", "surrogateescape")
    dec = json.JSONDecoder()
    items: list[tuple[str, str, str, str | None]] = []
    rejected: list[Rejected] = []

    def offset(pos: int) -> int:
        return len(text[:pos].encode("utf-8", "surrogateescape"))

    def reject_rest(pos: int, reason: str) -> None:
        rest = text[pos:].encode("utf-8", "surrogateescape")
        if rest.strip():
            rejected.append(Rejected(origin, f"byte {offset(pos)}", reason, rest))

    pos = _skip_ws(text, 0)
    if pos >= len(text):
        rejected.append(Rejected(origin, "byte 0", damage or "empty file", data))
        return items, rejected
    container, pos = _find_array(text, pos)
    if container is None:
        # A single value: it is the record, or the document is beyond repair.
        try:
            value, end = dec.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            reject_rest(pos, _why(damage, f"invalid JSON: {exc.msg} at byte {offset(exc.pos)}"))
            return items, rejected
        raw = text[pos:end]
        if _has_surrogates(raw):
            rejected.append(Rejected(origin, "document", "not valid UTF-8", raw.encode("utf-8", "surrogateescape")))
        else:
            items.append((origin, "document", json.dumps(value, ensure_ascii=False), None))
        reject_rest(_skip_ws(text, end), _why(damage, "unexpected data after the JSON document"))
        return items, rejected
    index = 0
    while True:
        pos = _skip_ws(text, pos)
        if pos < len(text) and text[pos] == "]":
            return items, rejected
        index += 1
        label = f"{container}[{index}]" if container else f"[{index}]"
        try:
            value, end = dec.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            reject_rest(
                pos,
                _why(damage, f"invalid JSON in {label}: {exc.msg} at byte {offset(exc.pos)}"),
            )
            return items, rejected
        raw = text[pos:end]
        if _has_surrogates(raw):
            rejected.append(
                Rejected(origin, f"{label} (byte {offset(pos)})", "not valid UTF-8",
                         raw.encode("utf-8", "surrogateescape"))
            )
        else:
            items.append((origin, label, json.dumps(value, ensure_ascii=False), None))
        pos = _skip_ws(text, end)
        if pos < len(text) and text[pos] == ",":
            pos += 1
            continue
        if pos < len(text) and text[pos] == "]":
            return items, rejected
        reject_rest(pos, _why(damage, f"record array ends unexpectedly after {label}"))
        return items, rejected


def _why(damage: str | None, reason: str) -> str:
    return f"{damage}; {reason}" if damage else reason


def _has_surrogates(s: str) -> bool:
    return any("\udc80" <= ch <= "\udcff" for ch in s)


def _skip_ws(text: str, pos: int) -> int:
    n = len(text)
    while pos < n and text[pos] in " \t\r\n\ufeff":
        pos += 1
    return pos


def _find_array(text: str, pos: int) -> tuple[str | None, int]:
    """Locate the record array: returns (container name or '', index after '[')."""
    if text[pos] == "[":
        return "", pos + 1
    if text[pos] != "{":
        return None, pos
    for name in CONTAINERS:
        key = f'"{name}"'
        k = text.find(key, pos, pos + 4096)
        if k < 0:
            continue
        j = _skip_ws(text, k + len(key))
        if j < len(text) and text[j] == ":":
            j = _skip_ws(text, j + 1)
            if j < len(text) and text[j] == "[":
                return name, j + 1
    return None, pos
