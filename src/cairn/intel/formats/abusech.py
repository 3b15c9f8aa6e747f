"""abuse.ch CSV feeds as presets of :mod:`.csv_mapped` (formats.md 8.4).

| preset | recognised by header | value | mapping |
|---|---|---|---|
| ``feodo`` (Feodo Tracker ``ipblocklist*.csv``) | ``first_seen_utc, dst_ip, dst_port, c2_status, last_online, malware`` | ``dst_ip`` (type ip) | port = dst_port, first_seen = first_seen_utc, last_seen = last_online, malware_family = malware, tag ``c2_status:<status>``, threat_type ``c2`` |
| ``urlhaus`` (URLhaus ``csv_recent`` / ``csv_online`` / dump) | ``# id, dateadded, url, url_status, ...`` | ``url`` (type url) | first_seen = dateadded, last_seen = last_online, threat_type = threat, tags = tags + ``url_status:<status>``, reference = urlhaus_link |
| ``threatfox`` (ThreatFox CSV export) | ``# "first_seen_utc", "ioc_id", "ioc_value", "ioc_type", ...`` | ``ioc_value`` (type from ioc_type: ip:port, domain, url, md5/sha1/sha256_hash) | first_seen = first_seen_utc, last_seen = last_seen_utc, confidence = confidence_level, threat_type = threat_type, malware_family = malware_printable, tags = tags, reference = reference |

Only ``value`` (and ``type`` for ThreatFox) must be in the header; older exports that lack
other columns load with those fields empty. ``--format abusech`` picks the preset from the
header; option ``preset=feodo|urlhaus|threatfox`` forces one.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from cairn.errors import InputError
from cairn.intel.formats import csv_mapped
from cairn.intel.formats._common import ParseContext
from cairn.intel.inputs import FeedInput, head
from cairn.intel.model import ParsedChunk


@dataclass(frozen=True)
class Preset:
    """One abuse.ch layout."""

    mapping: dict[str, str]
    required: frozenset[str]
    signature: frozenset[str]
    """Column names that identify the layout in a header."""
    fixed: dict[str, Any] = field(default_factory=dict)
    status_tags: dict[str, str] = field(default_factory=dict)


PRESETS: dict[str, Preset] = {
    "feodo": Preset(
        mapping={"value": "dst_ip", "port": "dst_port", "first_seen": "first_seen_utc",
                 "last_seen": "last_online", "malware_family": "malware"},
        required=frozenset({"dst_ip"}),
        signature=frozenset({"dst_ip", "c2_status"}),
        fixed={"type": "ip", "threat_type": "c2", "reference": "https://feodotracker.abuse.ch/"},
        status_tags={"c2_status": "c2_status"},
    ),
    "urlhaus": Preset(
        mapping={"value": "url", "first_seen": "dateadded", "last_seen": "last_online",
                 "threat_type": "threat", "tags": "tags", "reference": "urlhaus_link"},
        required=frozenset({"url"}),
        signature=frozenset({"url", "url_status"}),
        fixed={"type": "url"},
        status_tags={"url_status": "url_status"},
    ),
    "threatfox": Preset(
        mapping={"value": "ioc_value", "type": "ioc_type", "first_seen": "first_seen_utc",
                 "last_seen": "last_seen_utc", "confidence": "confidence_level",
                 "threat_type": "threat_type", "malware_family": "malware_printable",
                 "tags": "tags", "reference": "reference"},
        required=frozenset({"ioc_value", "ioc_type"}),
        signature=frozenset({"ioc_value", "ioc_type"}),
    ),
}


def which(sample: str) -> str | None:
    """The preset whose signature columns appear in the sample's first lines."""
    import csv

    for line in sample.splitlines()[:60]:
        cells = {c.strip() for c in next(csv.reader([line.lstrip("#").strip()], skipinitialspace=True), [])}
        for name, p in PRESETS.items():
            if p.signature <= cells:
                return name
    return None


def parse(inp: FeedInput, ctx: ParseContext) -> Iterator[ParsedChunk]:
    """Parse an abuse.ch CSV (preset from ``ctx.options['preset']`` or the header)."""
    name = ctx.options.get("preset") or which(head(inp).decode("utf-8", "replace"))
    if name not in PRESETS:
        raise InputError(
            f"not a known abuse.ch CSV layout (presets: {', '.join(PRESETS)}); use --format csv --map ...",
            origin=inp.origin,
        )
    p = PRESETS[name]
    ctx.meta["preset"] = name
    yield from csv_mapped.parse_mapped(
        inp, ctx, p.mapping, fixed=p.fixed, required=set(p.required), status_tags=p.status_tags
    )


def detect(sample: str, name: str) -> int:
    """Score: a known header."""
    return 80 if which(sample) else 0
