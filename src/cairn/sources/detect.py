"""Content-based detection of an input's source."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pyarrow.parquet as pq

from cairn.sources import SOURCES
from cairn.sources.base import Sniff, Source
from cairn.sources.eventbridge import routed
from cairn.sources.files import PARQUET_MAGIC, InputFile, read_head
from cairn.sources.framing import CONTAINERS


def sniff(f: InputFile) -> Sniff:
    """Read the first bytes (decompressed) of an input, and Parquet column names."""
    head = read_head(f.path)
    if head[:4] == PARQUET_MAGIC:
        try:
            cols = tuple(pq.read_schema(Path(f.path)).names)
        except Exception:
            cols = ()
        return Sniff(f.origin, head, is_parquet=True, parquet_columns=cols)
    return Sniff(f.origin, head)


def detect(s: Sniff) -> Source | None:
    """The most likely source, or None when nothing claims the input.

    An input holding EventBridge envelopes is read per record: the source found routes the
    envelopes of other sources to their tables (:func:`cairn.sources.eventbridge.routed`).
    """
    best: tuple[int, Source | None] = (0, None)
    for source in SOURCES.values():
        score = source.detect(s)
        if score > best[0]:
            best = (score, source)
    return routed(best[1] if best[0] >= 50 else None, s)


# CloudWatch Logs exports to S3 put the event's timestamp before each message.
CWL_PREFIX = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z (?=[{\[])")


def is_json_lines(s: Sniff) -> bool:
    """True when the input holds one JSON object per line rather than one document.

    Two or more lines that each start with ``{`` (optionally after a CloudWatch
    Logs export timestamp) are JSON lines when at least one complete line among
    the first ones is a JSON value on its own, the first line does not end like
    the opening of a multi-line document (``[``, ``{``) and no line is a document
    wrapping a record array (``{"Records": [...]}`` per line is read as
    documents). A bad first line does not hide the layout of the lines after it.
    """
    text = s.head.decode("utf-8", "replace").lstrip("\ufeff")
    raw_lines = text.split("\n")
    last_cut = not text.endswith("\n")
    lines = [
        (CWL_PREFIX.sub("", ln.strip()), i == len(raw_lines) - 1 and last_cut)
        for i, ln in enumerate(raw_lines)
        if ln.strip()
    ]
    if len(lines) < 2 or not (lines[0][0].startswith("{") and lines[1][0].startswith("{")):
        return False
    if lines[0][0].endswith(("[", "{")):
        return False
    parsed = 0
    for line, cut in lines[:20]:
        if cut:
            break
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict) and any(isinstance(value.get(c), list) for c in CONTAINERS):
            return False
        parsed += 1
    return parsed > 0
