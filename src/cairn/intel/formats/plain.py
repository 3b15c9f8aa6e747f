"""Plain lists: one indicator per line.

- ``#`` and ``;`` start comments, on their own line or after white space at the end of a
  value (``1.2.3.0/24 ; SBL123``); blank lines and CRLF endings are fine;
- hosts-file lines ``0.0.0.0 evil.example [more.example ...]`` (also ``127.0.0.1``, ``::``,
  ``::1``) give the names, not the sink address;
- ``ip:port`` and ``[v6]:port`` keep the port (normalisation splits it);
- any other extra fields on a line are ignored, except in the ``ipsum`` variant.

``ipsum`` (stamparm/ipsum ``IP<TAB>count``): count is the number of public blocklists
listing the address. It becomes ``confidence = min(100, 20 * count)`` (1 list = 20, 3 lists
= 60, 5 or more = 100) and a tag ``blocklists:<count>``.

Option ``type=ip|domain|url|hash|email`` declares the type of every line (otherwise it is
inferred per value). ``guardduty-txt`` (:mod:`.guardduty`) is this parser with ``type=ip``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from cairn.intel.formats._common import Builder, ParseContext, text_lines
from cairn.intel.inputs import FeedInput
from cairn.intel.model import ParsedChunk

_TRAILING_COMMENT = re.compile(r"[\t ]+[#;].*$")
_SINKS = {"0.0.0.0", "127.0.0.1", "::", "::1", "0", "255.255.255.255"}


def parse(inp: FeedInput, ctx: ParseContext) -> Iterator[ParsedChunk]:
    """Parse a plain list."""
    return _parse(inp, ctx, ipsum=False)


def parse_ipsum(inp: FeedInput, ctx: ParseContext) -> Iterator[ParsedChunk]:
    """Parse stamparm/ipsum ``IP<TAB>count``."""
    return _parse(inp, ctx, ipsum=True)


def _parse(inp: FeedInput, ctx: ParseContext, *, ipsum: bool) -> Iterator[ParsedChunk]:
    b = Builder(ctx)
    declared = ctx.options.get("type")
    with inp.open() as fh:
        for no, line in text_lines(fh):
            text = line.strip()
            if not text or text[0] in "#;":
                continue
            text = _TRAILING_COMMENT.sub("", text)
            fields = text.split()
            loc = f"line {no}"
            if len(fields) >= 2 and fields[0] in _SINKS:
                for name in fields[1:]:
                    b.add(declared or "domain", name, loc)
            elif ipsum:
                count = fields[1] if len(fields) > 1 else None
                if count is not None and not count.isdigit():
                    b.reject(loc, "ipsum line: second field is not a count", line)
                    continue
                n = int(count) if count else None
                b.add(declared or "ip", fields[0], loc,
                      confidence=min(100, 20 * n) if n else None,
                      tags=[f"blocklists:{n}"] if n else None)
            else:
                b.add(declared, fields[0], loc)
            if b.full:
                yield b.flush()
    yield from b.tail()


def detect(sample: str, name: str) -> int:
    """Score: lines of single tokens (low: plain is the fallback)."""
    lines = [ln for ln in sample.splitlines()[:50] if ln.strip() and not ln.lstrip().startswith(("#", ";"))]
    if not lines:
        return 1
    if all(len(ln.split()) <= 2 for ln in lines) and not any("," in ln for ln in lines):
        return 10
    return 1


def detect_ipsum(sample: str, name: str) -> int:
    """Score: the ipsum banner or ``IP<TAB>number`` lines."""
    if "IPsum Threat Intelligence Feed" in sample[:500]:
        return 90
    body = [ln for ln in sample.splitlines()[:50] if ln and not ln.startswith("#")]
    if body and all(re.match(r"^[0-9.:a-fA-F]+\t\d+$", ln) for ln in body):
        return 60
    return 0
