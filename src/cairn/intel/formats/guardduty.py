"""GuardDuty ThreatIntelSet / IPSet list formats (formats.md 2.6).

GuardDuty accepts six ``format`` values. The AWS guide names them but does not give every
layout; the layouts below follow the formats' public descriptions and are **not verified
against live files** except where noted:

| cairn format | GuardDuty | layout |
|---|---|---|
| ``guardduty-txt`` | TXT | one IP or CIDR per line (documented by AWS); the plain-list parser with ``type=ip`` |
| ``guardduty-stix`` | STIX | a STIX document; the :mod:`.stix` parser |
| ``guardduty-otx`` | OTX_CSV | [unverified] AlienVault OTX pulse CSV export with header ``Indicator type,Indicator,Description``; types through ``csv_mapped.TYPE_ALIASES`` (IPv4, IPv6, CIDR, domain, hostname, URL, URI, FileHash-MD5/SHA1/SHA256, email); Description -> reference |
| ``guardduty-alienvault`` | ALIEN_VAULT | [unverified] AlienVault IP reputation ``IP#reliability#risk#activity#country#city#lat,lon#x``: reliability 1-10 -> confidence x10, risk 1-10 -> severity (1-3 low, 4-6 medium, 7-8 high, 9-10 critical), activity (``;``-separated) -> threat_type (first, lower-case) and tags |
| ``guardduty-proofpoint`` | PROOF_POINT | [unverified] Proofpoint ET Intelligence reputation ``ip, category, score`` or ``domain, category, score`` (optional header): score 0-127 -> confidence (score*100/127), category id -> threat_type via :data:`ET_CATEGORIES` (unknown ids -> ``et-category-<n>``) |
| ``guardduty-fireeye`` | FIRE_EYE | [unverified] FireEye iSIGHT indicator CSV: one row per report entry; the columns ``ip``, ``domain``, ``url``, ``md5``, ``sha1``, ``sha256``, ``senderAddress``, ``cidr`` that are filled each give an indicator; malwareFamily -> malware_family, actor -> tag, publishDate -> first_seen, webLink/reportLink -> reference |
"""

from __future__ import annotations

import csv
from collections.abc import Iterator

from cairn.intel.formats import csv_mapped, plain, stix
from cairn.intel.formats._common import Builder, ParseContext, as_int, text_lines
from cairn.intel.inputs import FeedInput
from cairn.intel.model import ParsedChunk

ET_CATEGORIES = {
    1: "c2", 2: "bot", 3: "spam", 4: "drop", 5: "spyware-c2", 6: "online-gaming", 7: "drive-by-source",
    9: "chat-server", 10: "tor", 13: "compromised", 15: "p2p", 16: "proxy", 17: "ip-check", 19: "utility",
    20: "ddos-target", 21: "scanner", 23: "brute-forcer", 24: "fake-av", 25: "dynamic-dns",
    26: "undesirable", 27: "abused-tld", 28: "self-signed-ssl", 29: "blackhole", 30: "remote-access",
    31: "p2p-c2", 33: "parking", 34: "vpn", 35: "exe-source", 37: "mobile-c2", 38: "mobile-spyware-c2",
    39: "skype-supernode", 40: "bitcoin", 41: "ddos-attacker",
}
FIREEYE_COLUMNS = {"ip": "ip", "domain": "domain", "url": "url", "md5": "md5", "sha1": "sha1",
                   "sha256": "sha256", "senderAddress": "email", "cidr": "ip"}


def parse_txt(inp: FeedInput, ctx: ParseContext) -> Iterator[ParsedChunk]:
    """TXT: one IP or CIDR per line."""
    return plain.parse(inp, ParseContext(ctx.columns, {**ctx.options, "type": "ip"}, ctx.name,
                                         ctx.batch_rows, ctx.meta))


def parse_stix(inp: FeedInput, ctx: ParseContext) -> Iterator[ParsedChunk]:
    """STIX: delegated to the STIX parser."""
    return stix.parse(inp, ctx)


def parse_otx(inp: FeedInput, ctx: ParseContext) -> Iterator[ParsedChunk]:
    """OTX_CSV: ``Indicator type,Indicator,Description``."""
    return csv_mapped.parse_mapped(
        inp, ctx, {"value": "Indicator", "type": "Indicator type", "reference": "Description"},
        required={"Indicator", "Indicator type"},
    )


def _severity(risk: int | None) -> str | None:
    if risk is None:
        return None
    return "low" if risk <= 3 else "medium" if risk <= 6 else "high" if risk <= 8 else "critical"


def parse_alienvault(inp: FeedInput, ctx: ParseContext) -> Iterator[ParsedChunk]:
    """ALIEN_VAULT: ``IP#reliability#risk#activity#country#city#lat,lon#x``."""
    b = Builder(ctx)
    with inp.open() as fh:
        for no, line in text_lines(fh):
            text = line.strip()
            if not text or text.startswith("#"):
                continue
            parts = text.split("#")
            if len(parts) < 4:
                b.reject(f"line {no}", f"{len(parts)} '#'-separated fields, expected at least 4", line)
                continue
            reliability, risk = as_int(parts[1], 0, 10), as_int(parts[2], 0, 10)
            activities = [a.strip() for a in parts[3].split(";") if a.strip()]
            b.add("ip", parts[0], f"line {no}",
                  confidence=reliability * 10 if reliability is not None else None,
                  severity=_severity(risk),
                  threat_type=activities[0].lower() if activities else None,
                  tags=activities or None)
            if b.full:
                yield b.flush()
    yield from b.tail()


def parse_proofpoint(inp: FeedInput, ctx: ParseContext) -> Iterator[ParsedChunk]:
    """PROOF_POINT: ``ip|domain, category, score``."""
    b = Builder(ctx)
    with inp.open() as fh:
        for no, line in text_lines(fh):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            cells = [c.strip() for c in next(csv.reader([line], skipinitialspace=True), [])]
            if cells and cells[0].lower() in ("ip", "domain"):
                continue
            if len(cells) < 3:
                b.reject(f"line {no}", f"{len(cells)} fields, expected value, category, score", line)
                continue
            category, score = as_int(cells[1], 0, 10_000), as_int(cells[2], 0, 127)
            b.add(None, cells[0], f"line {no}",
                  threat_type=ET_CATEGORIES.get(category or -1, f"et-category-{cells[1]}"),
                  confidence=round(score * 100 / 127) if score is not None else None)
            if b.full:
                yield b.flush()
    yield from b.tail()


def parse_fireeye(inp: FeedInput, ctx: ParseContext) -> Iterator[ParsedChunk]:
    """FIRE_EYE: iSIGHT indicator CSV (one indicator per filled indicator column)."""
    b = Builder(ctx)
    for no, row in csv_mapped.read_rows(inp, ctx, {"reportId"}):
        loc = f"line {no}"
        if "__error__" in row:
            b.reject(loc, str(row["__error__"]), row["__raw__"])
            continue
        family = csv_mapped.convert("malware_family", row.get("malwareFamily"))
        fields = {
            "malware_family": family,
            "tags": [f"actor:{row['actor']}"] if row.get("actor") else None,
            "first_seen": csv_mapped.convert("first_seen", row.get("publishDate")),
            "reference": row.get("webLink") or row.get("reportLink") or row.get("reportId"),
        }
        found = False
        for col, type_ in FIREEYE_COLUMNS.items():
            if row.get(col):
                found = True
                b.add(type_, row[col], f"{loc} {col}", **fields)
        if not found:
            b.unsupported_entry(loc, "row has no ip, domain, url, hash, sender or cidr value", row)
        if b.full:
            yield b.flush()
    yield from b.tail()


def detect_otx(sample: str, name: str) -> int:
    """Score: the OTX CSV header."""
    return 85 if sample.lstrip("\ufeff").lower().startswith("indicator type,indicator") else 0


def detect_alienvault(sample: str, name: str) -> int:
    """Score: ``IP#n#n#...`` lines."""
    lines = [ln for ln in sample.splitlines()[:20] if ln.strip() and not ln.startswith("#")]
    ok = lines and all(ln.count("#") >= 6 and ln.split("#")[1].strip().isdigit() for ln in lines)
    return 70 if ok else 0


def detect_fireeye(sample: str, name: str) -> int:
    """Score: the iSIGHT header."""
    first = sample.lstrip("\ufeff").split("\n", 1)[0]
    return 70 if "reportId" in first and "ThreatScape" in first else 0
