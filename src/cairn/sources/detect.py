"""Content-based detection of an input's source."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq

from cairn.sources import SOURCES
from cairn.sources.base import Sniff, Source
from cairn.sources.files import PARQUET_MAGIC, InputFile, read_head


def sniff(f: InputFile) -> Sniff:
    """Read the first bytes (decompressed) of an input, and Parquet column names."""
    head = read_head(f.path)
    if head[:4] == PARQUET_MAGIC:
        try:
            cols = tuple(pq.read_schema(Path(f.path)).names)
        except Exception:  # noqa: BLE001 - damaged Parquet is quarantined later
            cols = ()
        return Sniff(f.origin, head, is_parquet=True, parquet_columns=cols)
    return Sniff(f.origin, head)


def detect(s: Sniff) -> Source | None:
    """The most likely source, or None when nothing claims the input."""
    best: tuple[int, Source | None] = (0, None)
    for source in SOURCES.values():
        score = source.detect(s)
        if score > best[0]:
            best = (score, source)
    return best[1] if best[0] >= 50 else None


def is_json_lines(s: Sniff) -> bool:
    """True when the input holds one JSON value per line rather than one document.

    A document spanning several lines (pretty-printed) or a single-line document
    is not JSON lines; two or more lines that each start with ``{`` and the
    first of which is a complete JSON value are.
    """
    import json

    text = s.head.decode("utf-8", "replace").lstrip("\ufeff")
    lines = [ln for ln in text.split("\n") if ln.strip()]
    if len(lines) < 2 or not lines[0].lstrip().startswith("{"):
        return False
    if not lines[1].lstrip().startswith("{"):
        return False
    try:
        json.loads(lines[0])
    except ValueError:
        return False
    return True
