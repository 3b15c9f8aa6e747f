"""Framing: turning input files into items (one candidate record each).

Three ways, all giving rows of ``(origin, locator, item, header)``:

* :func:`document_items_sql` - JSON documents (``{"Records": [...]}``, arrays,
  envelopes) are read and unwrapped by the engine, many files per statement.
* :func:`line_items` - line-oriented files (JSON lines, flow log text) are split
  in Python (exact line numbers; no JSON parsing here); :func:`line_table` does the
  same in bulk with Arrow compute for files that are valid UTF-8 (nearly all).
* :func:`salvage_document` - documents the engine cannot read (truncated, bad
  bytes, invalid JSON) are walked element by element so that every intact
  record is kept and the damaged rest is quarantined with its byte offset.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

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


def document_items_sql(max_object_size: int, compression: str = "auto", *, multi: bool = True) -> str:
    """SQL reading the JSON documents bound as ``$files`` (and listed with their
    origins in ``_paths(path, origin)``) into items.

    A document that is an array yields its elements; an object with a
    ``Records`` / ``Events`` / ``Findings`` / ``findings`` array yields that
    array's elements; any other value is one item. Locators look like
    ``Records[12]`` (1-based), prefixed with ``doc N`` when a file holds
    several concatenated documents. ``compression`` is ``gzip``, ``none`` or
    ``auto`` (by file name); callers that know it from the bytes pass it.
    ``multi=False`` is for files known to hold one document each: it skips the
    per-file numbering of documents, which would hold every document in memory.
    """
    container_case = " ".join(
        f"WHEN json_type(doc, '$.{c}') = 'ARRAY' THEN '{c}'" for c in CONTAINERS
    )
    items_case = " ".join(
        f"WHEN '{c}' THEN json_extract(doc, '$.{c}[*]')" for c in CONTAINERS
    )
    numbering = (
        "row_number() OVER (PARTITION BY filename) AS doc_no, "
        "count(*) OVER (PARTITION BY filename) AS docs_in_file"
        if multi
        else "1 AS doc_no, 1 AS docs_in_file"
    )
    return f"""
WITH docs AS (
    SELECT filename AS path, json AS doc, {numbering}
    FROM read_json_objects($files, format = 'unstructured',
                           filename = true, maximum_object_size = {int(max_object_size)},
                           compression = '{compression}')
), c AS (
    SELECT path, doc_no, docs_in_file, doc,
           -- a trail file's text opens with its Records array: spare it two parses of the document
           CASE WHEN regexp_matches(doc, '^\\s*\\{{\\s*"Records"\\s*:\\s*\\[') THEN 'Records'
                WHEN json_type(doc) = 'ARRAY' THEN '' {container_case} ELSE NULL END AS container
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


def is_multi_document(head: bytes) -> bool:
    """True when the first bytes of a JSON input hold more than one top-level value.

    A first value that does not end within ``head`` is taken as the only one when
    it opens a record array (a large trail file: ``[`` or ``{"Records": [``);
    anything else that cannot be told apart (JSON lines whose first line is
    longer than ``head``, Firehose concatenations) counts as several, so that
    locators number the documents (``doc N``).
    """
    text = head.decode("utf-8", "replace").lstrip("\ufeff \t\r\n")
    try:
        _, end = json.JSONDecoder().raw_decode(text)
    except ValueError:
        return not _OPENS_RECORD_ARRAY.match(text)
    return bool(text[end:].strip())


_OPENS_RECORD_ARRAY = re.compile(r'\[|\{\s*"(?:' + "|".join(CONTAINERS) + r')"\s*:\s*\[')


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


LINE_TABLE_SCHEMA = pa.schema([("n", pa.int64()), ("item", pa.string())])
_NOT_BLANK = "[^ \\t\\n\\r\\x0b\\x0c]"  # bytes.strip() removes exactly these
LINE_CHUNK = 16_384
"""Rows per Arrow record batch of :func:`line_table` (the engine reads batches in parallel)."""


def line_table(data: bytes) -> pa.Table | None:
    """:func:`line_items` in bulk: the non-blank lines of ``data`` with their 1-based numbers
    (:data:`LINE_TABLE_SCHEMA`), one trailing CR removed; None when ``data`` is not valid UTF-8
    (then :func:`line_items` tells the bad lines from the good ones)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    lines = pc.replace_substring_regex(pa.array(text.split("\n"), pa.string()), "\r$", "", max_replacements=1)
    keep = pc.match_substring_regex(lines, _NOT_BLANK)
    numbers = np.flatnonzero(keep.to_numpy(zero_copy_only=False)) + 1
    table = pa.table([pa.array(numbers, pa.int64()), lines.filter(keep)], schema=LINE_TABLE_SCHEMA)
    return pa.Table.from_batches(table.to_batches(max_chunksize=LINE_CHUNK), LINE_TABLE_SCHEMA)


def line_items_table(origin: str, lines: pa.Table, header: pa.Array | None = None) -> pa.Table:
    """Items (:data:`ITEMS_SCHEMA`) of the lines of :func:`line_table` from ``origin``: locator
    ``line N``, and ``header`` (one per line) when given, else null."""
    n = lines.num_rows
    return pa.table([
        pa.repeat(pa.scalar(origin, pa.string()), n),
        pc.binary_join_element_wise("line ", pc.cast(lines["n"], pa.string()), ""),
        lines["item"],
        header if header is not None else pa.nulls(n, pa.string()),
    ], schema=ITEMS_SCHEMA)


def items_table(rows: list[tuple[str, str, str, str | None]]) -> pa.Table:
    """Arrow table of items in :data:`ITEMS_SCHEMA`."""
    if not rows:
        return ITEMS_SCHEMA.empty_table()
    cols = list(zip(*rows, strict=True))
    return pa.table([pa.array(list(c), pa.string()) for c in cols], schema=ITEMS_SCHEMA)


def salvage_document(
    origin: str, data: bytes, damage: str | None = None
) -> tuple[list[tuple[str, str, str, str | None]], list[Rejected]]:
    """Recover the intact records of a damaged JSON document (or of several
    concatenated documents, such as JSON lines).

    Walks each document's record array (``Records``/``Events``/``Findings`` or a
    top-level array) element by element. Intact elements become items holding
    their original text; elements with bad UTF-8 and the unreadable remainder
    are rejected with their original bytes and byte offsets. A damaged document
    that is not a record array is skipped up to the next line that starts a
    document, so one bad line of a JSON-lines file loses only that line.
    Locators match :func:`document_items_sql` (``Records[3]``, ``[2]``,
    ``document``, prefixed with ``doc N`` when the file holds several documents).
    """
    text = data.decode("utf-8", "surrogateescape")
    dec = json.JSONDecoder()
    # (doc number, locator, item text) and (doc number, Rejected with a bare locator)
    found: list[tuple[int, str, str]] = []
    bad: list[tuple[int, Rejected]] = []

    def offset(pos: int) -> int:
        return len(text[:pos].encode("utf-8", "surrogateescape"))

    def reject_span(doc: int, start: int, stop: int | None, reason: str, locator: str | None = None) -> None:
        raw = text[start:stop].encode("utf-8", "surrogateescape")
        if raw.strip():
            bad.append((doc, Rejected(origin, locator or f"byte {offset(start)}", reason, raw)))

    def keep(doc: int, label: str, start: int, end: int) -> None:
        raw = text[start:end]
        if _has_surrogates(raw):
            bad.append((doc, Rejected(origin, f"{label} (byte {offset(start)})", "not valid UTF-8",
                                      raw.encode("utf-8", "surrogateescape"))))
        else:
            found.append((doc, label, raw))

    pos = _skip_ws(text, 0)
    if pos >= len(text):
        return [], [Rejected(origin, "byte 0", damage or "empty file", data)]
    doc = 0
    while pos < len(text):
        doc += 1
        start = pos
        container, pos = _find_array(text, pos)
        if container is None:
            # A single value: it is the record, or this document is beyond repair.
            try:
                _, end = dec.raw_decode(text, start)
            except json.JSONDecodeError as exc:
                nxt = _next_document(text, start)
                reject_span(doc, start, nxt, _why(damage if nxt is None else None,
                                                  f"invalid JSON: {exc.msg} (byte {offset(exc.pos)})"))
                if nxt is None:
                    break
                pos = nxt
                continue
            keep(doc, "document", start, end)
            pos = _skip_ws(text, end)
            continue
        index = 0
        closed = False
        while True:
            pos = _skip_ws(text, pos)
            if pos < len(text) and text[pos] == "]" and index == 0:
                closed = True
                break
            index += 1
            label = f"{container}[{index}]"
            try:
                _, end = dec.raw_decode(text, pos)
            except json.JSONDecodeError as exc:
                reject_span(doc, pos, None, _why(
                    damage, f"invalid JSON in {label}: {exc.msg} (byte {offset(exc.pos)})"))
                break
            keep(doc, label, pos, end)
            pos = _skip_ws(text, end)
            if pos < len(text) and text[pos] == ",":
                pos += 1
                continue
            if pos < len(text) and text[pos] == "]":
                closed = True
                break
            reject_span(doc, pos, None, _why(damage, f"record array ends unexpectedly after {label}"))
            break
        if not closed:
            break
        # The record array is intact: find where its document ends.
        try:
            end = pos + 1 if container == "" else _object_rest(dec, text, pos + 1)
        except json.JSONDecodeError as exc:
            reject_span(doc, pos + 1, None, _why(
                damage, f"invalid JSON after the record array: {exc.msg} (byte {offset(exc.pos)})"))
            break
        pos = _skip_ws(text, end)
    if damage and not any(r.reason.startswith(damage) for _, r in bad):
        # The data stops at a clean boundary, but the input was cut: say so.
        bad.append((doc, Rejected(origin, f"byte {len(data)}", damage, b"")))
    # Documents are numbered when the file holds several (as the engine does); trailing
    # garbage after a single document does not count as one.
    readable = {n for n, _, _ in found} | {n for n, r in bad if not r.locator.startswith("byte ")}
    prefix = (lambda n: f"doc {n} ") if len(readable) > 1 else (lambda n: "")
    items = [(origin, prefix(n) + label, raw, None) for n, label, raw in found]
    rejected = [
        r if r.locator.startswith("byte ") else Rejected(r.origin, prefix(n) + r.locator, r.reason, r.raw)
        for n, r in bad
    ]
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


def _next_document(text: str, pos: int) -> int | None:
    """Start of the next line after ``pos`` that opens a JSON object or array."""
    while True:
        nl = text.find("\n", pos)
        if nl < 0:
            return None
        j = _skip_ws(text, nl + 1)
        if j < len(text) and text[j] in "{[":
            return j
        pos = nl + 1


def _find_array(text: str, pos: int) -> tuple[str | None, int]:
    """Locate a document's record array: (container name or '', index after '[').

    Only top-level keys count (a nested ``"Events": [`` is not a container); the
    first of :data:`CONTAINERS` found wins, as in :func:`document_items_sql`.
    """
    if text[pos] == "[":
        return "", pos + 1
    if text[pos] != "{":
        return None, pos
    dec = json.JSONDecoder()
    found: dict[str, int] = {}
    j = _skip_ws(text, pos + 1)
    while j < len(text) and text[j] == '"':
        try:
            key, j = dec.raw_decode(text, j)
        except json.JSONDecodeError:
            break
        j = _skip_ws(text, j)
        if j >= len(text) or text[j] != ":":
            break
        j = _skip_ws(text, j + 1)
        if j < len(text) and text[j] == "[" and key in CONTAINERS and key not in found:
            found[key] = j + 1
            if key == CONTAINERS[0]:
                break
        try:
            _, j = dec.raw_decode(text, j)
        except json.JSONDecodeError:
            break
        j = _skip_ws(text, j)
        if j < len(text) and text[j] == ",":
            j = _skip_ws(text, j + 1)
    for name in CONTAINERS:
        if name in found:
            return name, found[name]
    return None, pos


def _object_rest(dec: json.JSONDecoder, text: str, j: int) -> int:
    """Index after the ``}`` closing an object whose remaining members start at ``j``."""
    while True:
        j = _skip_ws(text, j)
        if j < len(text) and text[j] == "}":
            return j + 1
        if j >= len(text) or text[j] != ",":
            raise json.JSONDecodeError("expected ',' or '}'", text, j)
        _, j = dec.raw_decode(text, _skip_ws(text, j + 1))  # the key
        j = _skip_ws(text, j)
        if j >= len(text) or text[j] != ":":
            raise json.JSONDecodeError("expected ':'", text, j)
        _, j = dec.raw_decode(text, _skip_ws(text, j + 1))  # the value
