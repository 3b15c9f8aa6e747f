"""The indicator model shared by feed parsers, the intel store, lookup and enrichment.

A parser streams a feed as :class:`ParsedChunk` batches: rows of :data:`PARSED_SCHEMA`
(values not yet normalised) plus rejects and unsupported entries; the store
(``cairn.intel.store``) normalises them (``cairn.intel.normalize`` / ``normsql``),
applies sanity checks (``cairn.intel.sanity``) and writes one *feed version* of
:data:`INDICATOR_SCHEMA` rows, and the entries that did not make it as
:data:`REJECT_SCHEMA` rows (table ``intel_rejects``). IP indicators (single addresses and CIDRs, IPv4 and IPv6) carry their
range as 16-byte big-endian ``range_start``/``range_end`` (IPv4 mapped into
IPv6, see :mod:`cairn.lake.addresses`), the same form as the lake's ``*_bin``
columns, so matching is a byte-order range or equality join on any engine.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

import pyarrow as pa

IndicatorType = Literal["ip", "domain", "url", "hash", "email"]
"""``ip`` covers single addresses and CIDRs; ``domain`` covers hostnames too."""

HASH_TYPES = {32: "md5", 40: "sha1", 64: "sha256", 128: "sha512"}

# What a parser emits: raw-ish values, one row per indicator.
PARSED_SCHEMA = pa.schema(
    [
        ("type", pa.string()),            # ip | domain | url | hash | email (parser's best guess); a hash may
                                          # be declared by algorithm (md5 | sha1 | sha256 | sha512): checked
        ("value", pa.string()),           # as found in the feed (refanging etc. happens later)
        ("port", pa.int32()),             # ip:port and MISP ip|port composites
        ("first_seen", pa.timestamp("us", tz="UTC")),
        ("last_seen", pa.timestamp("us", tz="UTC")),
        ("valid_from", pa.timestamp("us", tz="UTC")),
        ("valid_until", pa.timestamp("us", tz="UTC")),
        ("confidence", pa.int32()),       # 0-100, null when the feed says nothing
        ("severity", pa.string()),        # informational|low|medium|high|critical or null
        ("threat_type", pa.string()),     # e.g. malware, c2, phishing, scanner, tor, botnet
        ("malware_family", pa.list_(pa.string())),
        ("tags", pa.list_(pa.string())),
        ("reference", pa.string()),       # URL or id of the report/event
        ("tlp", pa.string()),             # clear|green|amber|amber+strict|red or null
        ("detect", pa.bool_()),           # false = context only (MISP to_ids false)
        ("locator", pa.string()),         # where in the feed: line N, indicator id, event uuid/attribute
    ]
)

# One row per indicator in a stored feed version.
INDICATOR_SCHEMA = pa.schema(
    [
        ("indicator_uid", pa.string()),   # sha256(source, type, value, port)
        ("source", pa.string()),          # feed name given by the user (--source NAME)
        ("feed_version", pa.string()),    # version id of the load that produced this row
        ("type", pa.string()),            # ip | domain | url | hash | email
        ("value", pa.string()),           # canonical: IP/CIDR text, lower-case IDNA domain, ...
        ("hash_type", pa.string()),       # md5|sha1|sha256|sha512 for type hash
        ("range_start", pa.binary()),     # 16 bytes, type ip only
        ("range_end", pa.binary()),       # 16 bytes, type ip only
        ("prefix_len", pa.int32()),       # 32/128 for single addresses (IPv4 counted in its own 32)
        ("ip_version", pa.int8()),
        ("port", pa.int32()),
        ("first_seen", pa.timestamp("us", tz="UTC")),
        ("last_seen", pa.timestamp("us", tz="UTC")),
        ("valid_from", pa.timestamp("us", tz="UTC")),
        ("valid_until", pa.timestamp("us", tz="UTC")),
        ("confidence", pa.int32()),
        ("severity", pa.string()),
        ("threat_type", pa.string()),
        ("malware_family", pa.list_(pa.string())),
        ("tags", pa.list_(pa.string())),
        ("reference", pa.string()),
        ("tlp", pa.string()),
        ("detect", pa.bool_()),
        ("locator", pa.string()),
        ("loaded_at", pa.timestamp("us", tz="UTC")),
    ]
)


@dataclass(frozen=True)
class Reject:
    """A feed entry that could not become an indicator."""

    locator: str
    reason: str
    raw: str


@dataclass
class ParseResult:
    """What a format parser returns."""

    indicators: pa.Table
    rejects: list[Reject] = field(default_factory=list)
    unsupported: list[Reject] = field(default_factory=list)
    """Entries understood but not representable (e.g. STIX patterns with AND/FOLLOWEDBY)."""
    meta: dict[str, object] = field(default_factory=dict)
    """Feed-level facts: name, generator, published time, default TLP, ..."""


@dataclass
class ParsedChunk:
    """One bounded batch a streaming parser yields (see :mod:`cairn.intel.formats`)."""

    indicators: pa.Table
    rejects: list[Reject] = field(default_factory=list)
    unsupported: list[Reject] = field(default_factory=list)


def collect(chunks: Iterable[ParsedChunk], meta: dict[str, object] | None = None) -> ParseResult:
    """Gather a parser's chunks into one :class:`ParseResult` (tests and small feeds)."""
    tables, rejects, unsupported = [], [], []
    for c in chunks:
        tables.append(c.indicators)
        rejects.extend(c.rejects)
        unsupported.extend(c.unsupported)
    table = pa.concat_tables(tables) if tables else PARSED_SCHEMA.empty_table()
    return ParseResult(table, rejects, unsupported, dict(meta or {}))


REJECT_KINDS = ("parse", "unsupported", "normalize", "sanity")
"""Why an entry is in ``intel_rejects``: the parser could not read it, cairn cannot represent it,
its value is not a valid indicator, or a sanity check refused it."""

REJECT_SCHEMA = pa.schema(
    [
        ("kind", pa.string()),            # one of REJECT_KINDS
        ("locator", pa.string()),
        ("reason", pa.string()),
        ("raw", pa.string()),
    ]
)
