"""Shared parser helpers: the row builder, line reading, timestamps and the parse context."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, BinaryIO

import pyarrow as pa

from cairn.intel.model import PARSED_SCHEMA, ParsedChunk, Reject

BATCH_ROWS = 50_000
RAW_LIMIT = 4096
"""Raw text kept with a reject (longer entries are cut, with a marker)."""


@dataclass
class ParseContext:
    """What a parser is told, and where it leaves feed-level facts."""

    columns: Mapping[str, str] = field(default_factory=dict)
    """cairn field -> feed column (csv-style formats)."""
    options: Mapping[str, str] = field(default_factory=dict)
    """Format-specific options (``--option key=value``)."""
    name: str = ""
    """File name of the input (maltrail takes the malware family from it)."""
    batch_rows: int = BATCH_ROWS
    meta: dict[str, Any] = field(default_factory=dict)
    """Feed-level facts the parser found (title, generator, counts of skipped entries, ...)."""

    def count(self, key: str, n: int = 1) -> None:
        """Add to a counter in :attr:`meta` (e.g. skipped deleted MISP attributes)."""
        counts = self.meta.setdefault("counts", {})
        counts[key] = counts.get(key, 0) + n


_FIELDS = [f.name for f in PARSED_SCHEMA]
_OPTIONAL = frozenset(_FIELDS) - {"type", "value", "locator"}


class Builder:
    """Collects parsed rows column-wise and hands out bounded chunks."""

    def __init__(self, ctx: ParseContext) -> None:
        self.ctx = ctx
        self._reset()

    def _reset(self) -> None:
        self.types: list[str | None] = []
        self.values: list[str | None] = []
        self.locators: list[str] = []
        self.sparse: dict[str, list[Any]] = {}
        self.rejects: list[Reject] = []
        self.unsupported: list[Reject] = []

    def add(self, type_: str | None, value: str | None, locator: str, **fields: Any) -> None:
        """One indicator row; the other PARSED_SCHEMA fields by name (None = not given)."""
        n = len(self.values)
        self.types.append(type_)
        self.values.append(value)
        self.locators.append(locator)
        for k, v in fields.items():
            if v is None:
                continue
            col = self.sparse.get(k)
            if col is None:
                if k not in _OPTIONAL:
                    raise TypeError(f"unknown parsed field {k!r}")
                col = self.sparse[k] = []
            if len(col) < n:
                col.extend([None] * (n - len(col)))
            col.append(v)

    def reject(self, locator: str, reason: str, raw: object) -> None:
        """An entry the parser could not read."""
        self.rejects.append(Reject(locator, reason, _raw(raw)))

    def unsupported_entry(self, locator: str, reason: str, raw: object) -> None:
        """An entry understood but not representable as an indicator."""
        self.unsupported.append(Reject(locator, reason, _raw(raw)))

    @property
    def full(self) -> bool:
        """True when a chunk should be handed out."""
        return len(self.values) + len(self.rejects) + len(self.unsupported) >= self.ctx.batch_rows

    def flush(self) -> ParsedChunk:
        """The rows collected so far, as a chunk; the builder starts empty again."""
        n = len(self.values)
        cols: dict[str, list[Any]] = {"type": self.types, "value": self.values, "locator": self.locators}
        for f in _OPTIONAL:
            col = self.sparse.get(f, [])
            cols[f] = col + [None] * (n - len(col))
        chunk = ParsedChunk(pa.table(cols, schema=PARSED_SCHEMA), self.rejects, self.unsupported)
        self._reset()
        return chunk

    def tail(self) -> Iterator[ParsedChunk]:
        """The last chunk, if anything is left."""
        if self.values or self.rejects or self.unsupported:
            yield self.flush()


def _raw(raw: object) -> str:
    text = raw if isinstance(raw, str) else repr(raw)
    return text if len(text) <= RAW_LIMIT else text[:RAW_LIMIT] + "...[cut]"


def text_lines(fh: BinaryIO) -> Iterator[tuple[int, str]]:
    """``(line number, text)`` without line endings (LF or CRLF); invalid UTF-8 is replaced."""
    reader = io.TextIOWrapper(fh, encoding="utf-8", errors="replace", newline="")
    for no, line in enumerate(reader, 1):
        if no == 1:
            line = line.lstrip("\ufeff")
        yield no, line.rstrip("\r\n")


_EPOCH = re.compile(r"^-?\d+(\.\d+)?$")


def parse_time(value: object) -> datetime | None:
    """A UTC timestamp from ISO 8601 / RFC 3339 text, ``YYYY-MM-DD[ HH:MM:SS]``, or epoch
    seconds (milliseconds when above 1e11); None for empty or unreadable values."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return _epoch(float(value))
    text = str(value).strip()
    if not text or text.lower() in ("none", "null", "nan", "-"):
        return None
    if _EPOCH.match(text):
        return _epoch(float(text))
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        try:
            d = date.fromisoformat(text[:10])
        except ValueError:
            return None
        dt = datetime(d.year, d.month, d.day)
    return dt.astimezone(UTC) if dt.tzinfo else dt.replace(tzinfo=UTC)


def _epoch(v: float) -> datetime | None:
    if v <= 0:
        return None
    if v > 1e11:
        v /= 1000.0
    try:
        return datetime.fromtimestamp(v, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def as_int(value: object, lo: int = 0, hi: int = 100) -> int | None:
    """An integer in ``[lo, hi]`` or None (for confidence-like fields)."""
    try:
        n = int(float(str(value).strip()))
    except (TypeError, ValueError):
        return None
    return n if lo <= n <= hi else None


def split_list(value: object, sep: str = ",") -> list[str] | None:
    """A comma list (or a JSON-ish list) as clean strings; None when empty."""
    if value is None:
        return None
    items = value if isinstance(value, list) else str(value).split(sep)
    out = [str(i).strip() for i in items if str(i).strip() and str(i).strip().lower() != "none"]
    return out or None
