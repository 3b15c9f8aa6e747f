"""CSV feeds with a column mapping (``--map value=dst_ip,first_seen=first_seen_utc``).

The mapping names, for each cairn field, the feed column holding it:

    value (required), type, port, first_seen, last_seen, valid_from, valid_until,
    confidence (0-100), severity, threat_type, malware_family (comma list), tags (comma list),
    reference, tlp, detect

Header handling: the header is the first line, commented (``# a,b,c``) or not, quoted or
not, that holds every mapped column name; banner comments before it and comment lines
after it (``# Number of entries: 12``) are skipped. Values may be quoted and may follow the
separator after a space (``"a", "b"``); empty values and the literal ``None`` are null.
Option ``header=none`` reads files without a header: the mapping then gives 1-based column
numbers (``value=2``). Option ``delimiter`` sets the separator (default ``,``; ``\\t`` for tab).

A ``type`` column is read through :data:`TYPE_ALIASES` (``ip:port`` -> ip, ``md5_hash`` -> a
hash declared md5, whose length is then checked, ...); without one the type is inferred per value. Rows whose type names something
cairn does not match are reported as unsupported. A ``port`` cell that is not a number or is
above 65535 rejects the row (``port 99999 out of range``); an empty one means no port.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator, Mapping
from typing import Any

from cairn.errors import InputError
from cairn.intel.formats._common import Builder, ParseContext, as_int, parse_time, split_list, text_lines
from cairn.intel.inputs import FeedInput
from cairn.intel.model import ParsedChunk

FIELDS = (
    "value", "type", "port", "first_seen", "last_seen", "valid_from", "valid_until", "confidence",
    "severity", "threat_type", "malware_family", "tags", "reference", "tlp", "detect",
)
TYPE_ALIASES: dict[str, str | None] = {
    **{k: "ip" for k in ("ip", "ipv4", "ipv6", "ip:port", "ip_port", "ip-src", "ip-dst", "cidr",
                         "ipv4-addr", "ipv6-addr", "ip address", "ipaddress", "netblock")},
    **{k: "domain" for k in ("domain", "hostname", "fqdn", "host", "domain-name", "domain_port")},
    **{k: "url" for k in ("url", "uri", "link")},
    **{k: "email" for k in ("email", "email-src", "email-dst", "email-addr", "e-mail")},
    **{k: "hash" for k in ("hash", "filehash", "file_hash")},
    **{k: algorithm for algorithm in ("md5", "sha1", "sha256", "sha512")  # the declared algorithm is checked
       for k in (algorithm, f"{algorithm}_hash", f"filehash-{algorithm}")},
}
SEVERITIES = ("informational", "low", "medium", "high", "critical")
TLPS = ("clear", "green", "amber", "amber+strict", "red")
"""TLP 2.0 labels, least restrictive first (TLP 1.0 ``white`` is read as ``clear``)."""
_NULLS = ("", "None", "none", "NULL", "null", "N/A", "n/a")


def read_rows(
    inp: FeedInput, ctx: ParseContext, needed: set[str], *, delimiter: str = ","
) -> Iterator[tuple[int, dict[str, str | None]]]:
    """``(line number, {column: value})`` for each data row; see the module doc for the header."""
    headerless = ctx.options.get("header", "").lower() in ("none", "no", "false")
    with inp.open() as fh:
        lines = text_lines(fh)
        header: list[str] | None = None
        if not headerless:
            header = _find_header(lines, needed, delimiter, inp.origin)
        current = [0]

        def data() -> Iterator[str]:
            for no, line in lines:
                if not line.strip() or line.lstrip().startswith("#"):
                    continue
                current[0] = no
                yield line

        for row in csv.reader(data(), delimiter=delimiter, skipinitialspace=True):
            names = header or [str(i) for i in range(1, len(row) + 1)]
            if header is not None and len(row) != len(header):
                yield current[0], {"__error__": f"{len(row)} fields, the header has {len(header)}",
                                   "__raw__": delimiter.join(row)}
                continue
            yield current[0], {k: (None if v.strip() in _NULLS else v.strip()) for k, v in zip(names, row, strict=False)}


def _find_header(lines: Iterator[tuple[int, str]], needed: set[str], delimiter: str, origin: str) -> list[str]:
    seen = 0
    for _no, line in lines:
        text = line.strip()
        if not text:
            continue
        seen += 1
        cells = next(csv.reader([text.lstrip("#").strip()], delimiter=delimiter, skipinitialspace=True), [])
        cells = [c.strip() for c in cells]
        if needed <= set(cells):
            return cells
        if seen > 200:
            break
    raise InputError(
        f"no header line with the mapped column(s) {', '.join(sorted(needed))} in the first 200 lines "
        "(use header=none and column numbers for files without a header)",
        origin=origin,
    )


def convert(field: str, value: str | None) -> Any:
    """A CSV cell as the parsed field's type (None when empty or unreadable)."""
    if value is None:
        return None
    if field in ("first_seen", "last_seen", "valid_from", "valid_until"):
        return parse_time(value)
    if field == "confidence":
        return as_int(value)
    if field == "port":
        return port_or_reason(value)[0]
    if field in ("malware_family", "tags"):
        return split_list(value)
    if field == "detect":
        return value.strip().lower() in ("1", "true", "yes", "y", "t")
    if field == "severity":
        v = value.strip().lower()
        return v if v in SEVERITIES else None
    if field == "tlp":
        return tlp_name(value)
    return value


def port_or_reason(value: str | None) -> tuple[int | None, str | None]:
    """A port cell as ``(port, None)``, ``(None, None)`` when empty, or ``(None, reason)`` when refused
    (the reasons match the plain path's: ``port 99999 out of range``)."""
    text = (value or "").strip()
    if not text:
        return None, None
    if not text.isdigit():
        return None, f"port {text!r} is not a number"
    port = int(text)
    if port > 65535:
        return None, f"port {port} out of range"
    return port, None


def tlp_name(value: str | None) -> str | None:
    """``TLP:AMBER+STRICT`` / ``tlp:white`` / ``green`` -> ``amber+strict`` / ``clear`` / ``green``."""
    if not value:
        return None
    v = value.strip().lower().removeprefix("tlp:").strip()
    v = {"white": "clear"}.get(v, v)
    return v if v in TLPS else None


def parse(inp: FeedInput, ctx: ParseContext) -> Iterator[ParsedChunk]:
    """Parse a CSV feed with ``ctx.columns``."""
    mapping = dict(ctx.columns)
    if "value" not in mapping:
        raise InputError("csv needs a column mapping with at least value=<column> (--map)", origin=inp.origin)
    unknown = sorted(set(mapping) - set(FIELDS))
    if unknown:
        raise InputError(f"unknown mapped field(s) {', '.join(unknown)}; fields are {', '.join(FIELDS)}",
                         origin=inp.origin)
    delimiter = ctx.options.get("delimiter", ",").replace("\\t", "\t")
    yield from parse_mapped(inp, ctx, mapping, delimiter=delimiter)


def parse_mapped(
    inp: FeedInput, ctx: ParseContext, mapping: Mapping[str, str], *, delimiter: str = ",",
    fixed: Mapping[str, Any] | None = None, required: set[str] | None = None,
    status_tags: Mapping[str, str] | None = None,
) -> Iterator[ParsedChunk]:
    """The mapped-CSV loop, shared with the abuse.ch presets.

    ``fixed`` fields are set on every row; ``required`` columns must be in the header (default:
    every mapped column); ``status_tags`` maps a column to a tag prefix (``url_status`` ->
    ``url_status:online``).
    """
    b = Builder(ctx)
    needed = required if required is not None else set(mapping.values())
    for no, row in read_rows(inp, ctx, needed, delimiter=delimiter):
        loc = f"line {no}"
        if "__error__" in row:
            b.reject(loc, str(row["__error__"]), row["__raw__"])
            continue
        fields = {f: convert(f, row.get(col)) for f, col in mapping.items() if f not in ("value", "type", "port")}
        if "port" in mapping:
            fields["port"], reason = port_or_reason(row.get(mapping["port"]))
            if reason:
                b.reject(loc, reason, delimiter.join(v or "" for v in row.values()))
                continue
        extra = dict(fixed or {})
        value, type_ = row.get(mapping["value"]), extra.pop("type", None)
        if "type" in mapping:
            raw_type = (row.get(mapping["type"]) or "").strip().lower()
            if raw_type:
                if raw_type not in TYPE_ALIASES:
                    b.unsupported_entry(loc, f"indicator type {raw_type!r} is not one cairn matches", row)
                    continue
                type_ = TYPE_ALIASES[raw_type]
        for col, prefix in (status_tags or {}).items():
            if row.get(col):
                fields["tags"] = [*(fields.get("tags") or []), f"{prefix}:{row[col]}"]
        b.add(type_, value, loc, **{**extra, **{k: v for k, v in fields.items() if v is not None}})
        if b.full:
            yield b.flush()
    yield from b.tail()


def detect(sample: str, name: str) -> int:
    """CSV needs a mapping, so it is never auto-detected."""
    return 0
