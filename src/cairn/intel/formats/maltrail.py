"""maltrail static trails: the upstream text files and their flattened CSV.

**Trail text files** (``trails/static/<category>/<trail>.txt`` upstream)::

    # Copyright (c) 2014-2026 Maltrail developers (https://maltrail.github.io/)
    # See the file 'LICENSE' for copying permission

    # Reference: https://example.org/report-1
    evil.example
    203.0.113.9:443
    # Reference: https://example.org/report-2
    evil.example/gate.php

Every ``# Reference:`` line sets the reference of the indicators below it (up to the next
one); other comments are skipped. The trail name is the file name without ``.txt`` (option
``trail=``), the category the parent folder name when it is one of maltrail's (option
``category=``; default ``malware``).

**Flattened CSV** ``indicator,indicator_type,category,trail,reference`` (the shared data
set's layout; ``indicator_type`` domain | ip | ip_port | cidr | url | domain_port).

Mapping (both layouts): ``threat_type`` = category with ``mass_scanner_cidr`` folded into
``mass_scanner``; for category ``malware`` the trail is the ``malware_family``; every row
gets the tag ``maltrail:<trail>`` (for the other categories the trail names a list such as
``dynamic_domain``, not a family). Not representable, reported as unsupported: regular
expression trails (``^[a-z]{3}\\.top$``) and URL *path* trails without a host
(``/w00tw00t.at.ISC.SANS.DFind:)``), which maltrail matches against HTTP request paths.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import PurePosixPath

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from cairn.intel.formats._common import Builder, ParseContext, text_lines
from cairn.intel.inputs import FeedInput, head, origin_path
from cairn.intel.model import PARSED_SCHEMA, ParsedChunk, Reject

CATEGORIES = ("malware", "malicious", "suspicious", "mass_scanner", "mass_scanner_cidr")
CSV_HEADER = ["indicator", "indicator_type", "category", "trail", "reference"]
_TYPES = {"domain": "domain", "domain_port": "domain", "ip": "ip", "ip_port": "ip", "cidr": "ip", "url": "url"}
_REGEX = re.compile(r"\\[.dws-]|\[[^\]]*-[^\]]*\]|\{[0-9]+(?:,[0-9]*)?\}|^\^|\$$|\(.*\|.*\)|\.\*|\.\+")
"""Regular-expression trails: escapes, character ranges, counted repeats, anchors, alternations, .* / .+"""


def _add(b: Builder, value: str, type_: str | None, category: str, trail: str, reference: str | None,
         loc: str) -> None:
    if value.startswith("/"):
        b.unsupported_entry(loc, "URL path trail without host (maltrail matches request paths)", value)
        return
    if _REGEX.search(value):
        b.unsupported_entry(loc, "regular expression trail (cairn matches literal values)", value)
        return
    b.add(
        type_, value, loc,
        threat_type="mass_scanner" if category.startswith("mass_scanner") else category,
        malware_family=[trail] if category == "malware" and trail else None,
        tags=[f"maltrail:{trail}"] if trail else None,
        reference=reference or None,
    )


def parse(inp: FeedInput, ctx: ParseContext) -> Iterator[ParsedChunk]:
    """Parse a trail text file or the flattened CSV (told apart by the CSV header)."""
    first = head(inp, size=256)
    if first.lstrip(b"\xef\xbb\xbf").startswith(b"indicator,indicator_type"):
        yield from _parse_csv(inp, ctx)
    else:
        yield from _parse_trail(inp, ctx)


def _parse_trail(inp: FeedInput, ctx: ParseContext) -> Iterator[ParsedChunk]:
    path = PurePosixPath(origin_path(inp.origin).replace("\\", "/"))
    trail = ctx.options.get("trail") or path.name.removesuffix(".gz").removesuffix(".txt")
    parent = path.parent.name
    category = ctx.options.get("category") or (parent if parent in CATEGORIES else "malware")
    b = Builder(ctx)
    reference: str | None = None
    with inp.open() as fh:
        for no, line in text_lines(fh):
            text = line.strip()
            if not text:
                continue
            if text.startswith("#"):
                m = re.match(r"#\s*Reference:\s*(\S.*)$", text, re.IGNORECASE)
                if m:
                    reference = m[1].strip()
                continue
            value = text.split("#", 1)[0].strip() if " #" in text else text
            _add(b, value, None, category, trail, reference, f"line {no}")
            if b.full:
                yield b.flush()
    yield from b.tail()


def _parse_csv(inp: FeedInput, ctx: ParseContext) -> Iterator[ParsedChunk]:
    """Vectorised: Arrow's CSV reader streams blocks, Arrow compute maps the columns."""
    bad: list[Reject] = []

    def invalid(row: pacsv.InvalidRow) -> str:
        bad.append(Reject(f"line {row.number}", f"{row.actual_columns} fields, expected 5", row.text))
        return "skip"

    with inp.open() as fh:
        reader = pacsv.open_csv(
            fh,
            read_options=pacsv.ReadOptions(use_threads=False, block_size=4 << 20),
            parse_options=pacsv.ParseOptions(invalid_row_handler=invalid),
            convert_options=pacsv.ConvertOptions(
                column_types={c: pa.string() for c in CSV_HEADER}, strings_can_be_null=False,
                include_columns=CSV_HEADER,
            ),
        )
        line = 2
        for batch in reader:
            chunk = _csv_batch(batch, line)
            line += batch.num_rows
            chunk.rejects.extend(bad)
            bad.clear()
            yield chunk
    if bad:
        yield ParsedChunk(PARSED_SCHEMA.empty_table(), list(bad), [])


def _csv_batch(batch: pa.RecordBatch, first_line: int) -> ParsedChunk:
    n = batch.num_rows
    value = pc.utf8_trim_whitespace(batch.column("indicator"))
    itype, category, trail, reference = (batch.column(c) for c in CSV_HEADER[1:])
    locator = pc.binary_join_element_wise(
        "line ", pc.cast(pa.array(range(first_line, first_line + n), pa.int64()), pa.string()), ""
    )
    known = pc.is_in(itype, value_set=pa.array(list(_TYPES)))
    regex = pc.match_substring_regex(value, _REGEX.pattern)
    path = pc.starts_with(value, "/")
    why = pc.case_when(
        pc.make_struct(pc.invert(known), path, regex),
        pc.binary_join_element_wise("indicator_type '", itype, "' unknown", ""),
        pa.scalar("URL path trail without host (maltrail matches request paths)"),
        pa.scalar("regular expression trail (cairn matches literal values)"),
    )
    unsupported = [
        Reject(loc, reason, raw)
        for loc, reason, raw in zip(
            pc.filter(locator, pc.is_valid(why)).to_pylist(),
            pc.filter(why, pc.is_valid(why)).to_pylist(),
            pc.filter(value, pc.is_valid(why)).to_pylist(),
            strict=True,
        )
    ]
    keep = pc.is_null(why)
    b = batch.filter(keep)
    value, itype, category, trail, reference = (
        pc.filter(value, keep), *(b.column(c) for c in CSV_HEADER[1:])
    )
    m = len(value)
    offsets = pa.array(range(m + 1), pa.int32())
    is_malware = pc.equal(category, "malware")
    types = pc.take(pa.array(list(_TYPES.values())), pc.index_in(itype, value_set=pa.array(list(_TYPES))))
    cols = {
        "type": types,
        "value": value,
        "threat_type": pc.if_else(pc.starts_with(category, "mass_scanner"), "mass_scanner", category),
        "malware_family": pa.ListArray.from_arrays(
            offsets, pc.cast(trail, pa.string()), mask=pc.invert(is_malware)),
        "tags": pa.ListArray.from_arrays(offsets, pc.binary_join_element_wise("maltrail:", trail, "")),
        "reference": pc.if_else(pc.equal(reference, ""), pa.scalar(None, pa.string()), reference),
        "locator": pc.filter(locator, keep),
    }
    full = {f.name: cols.get(f.name, pa.nulls(m, f.type)) for f in PARSED_SCHEMA}
    return ParsedChunk(pa.table(full, schema=PARSED_SCHEMA), [], unsupported)


def detect(sample: str, name: str) -> int:
    """Score: the CSV header, or the maltrail copyright / Reference comments."""
    if sample.lstrip("\ufeff").startswith("indicator,indicator_type,category,trail"):
        return 95
    if "Maltrail developers" in sample[:2000]:
        return 90
    if re.search(r"(?m)^# Reference: ", sample[:4000]):
        return 50
    return 0
