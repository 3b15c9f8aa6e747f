"""Feed formats: one module per format, listed in :data:`FORMATS`.

Each :class:`Format` has a streaming ``parse(inp, ctx)`` that yields bounded
:class:`~cairn.intel.model.ParsedChunk` batches (rows of
:data:`~cairn.intel.model.PARSED_SCHEMA` plus rejects and unsupported entries), a
``detect(sample, name)`` score 0-100 for ``--format auto``, and optionally a
``fingerprint`` (the content hash deciding "unchanged"; default: hash of all bytes).

To add a format: write ``formats/<name>.py`` with ``parse`` and ``detect``, add it to
:data:`FORMATS`, document it in docs/intel.md and add a fixture test.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

from cairn.errors import ConfigError, InputError
from cairn.intel.formats import abusech, csv_mapped, guardduty, maltrail, misp, plain, stix
from cairn.intel.formats._common import ParseContext
from cairn.intel.inputs import FeedInput, content_hash, head, origin_path
from cairn.intel.model import ParsedChunk
from cairn.intel.normalize import HASH_ALGORITHMS, TYPES

Parse = Callable[[FeedInput, ParseContext], Iterator[ParsedChunk]]
Detect = Callable[[str, str], int]


@dataclass(frozen=True)
class Format:
    """A feed format."""

    name: str
    description: str
    parse: Parse
    detect: Detect | None = None
    fingerprint: Callable[[FeedInput], str] = content_hash
    reads_folders: bool = False


FORMATS: dict[str, Format] = {
    "stix": Format("stix", "STIX 2.1 bundle, TAXII envelope or object list", stix.parse, stix.detect),
    "misp": Format("misp", "MISP feed (manifest.json + events) or event JSON export", misp.parse, misp.detect,
                   misp.fingerprint, reads_folders=True),
    "csv": Format("csv", "CSV with a column mapping (--map value=col,...)", csv_mapped.parse, csv_mapped.detect),
    "abusech": Format("abusech", "abuse.ch Feodo / URLhaus / ThreatFox CSV", abusech.parse, abusech.detect),
    "plain": Format("plain", "one indicator per line (comments, hosts-file lines, ip:port)", plain.parse,
                    plain.detect),
    "ipsum": Format("ipsum", "stamparm/ipsum IP<TAB>count", plain.parse_ipsum, plain.detect_ipsum),
    "maltrail": Format("maltrail", "maltrail trail file or flattened trails CSV", maltrail.parse, maltrail.detect),
    "guardduty-txt": Format("guardduty-txt", "GuardDuty TXT: one IP/CIDR per line", guardduty.parse_txt),
    "guardduty-stix": Format("guardduty-stix", "GuardDuty STIX", guardduty.parse_stix),
    "guardduty-otx": Format("guardduty-otx", "GuardDuty OTX_CSV [unverified layout]", guardduty.parse_otx,
                            guardduty.detect_otx),
    "guardduty-alienvault": Format("guardduty-alienvault", "GuardDuty ALIEN_VAULT reputation [unverified layout]",
                                   guardduty.parse_alienvault, guardduty.detect_alienvault),
    "guardduty-proofpoint": Format("guardduty-proofpoint", "GuardDuty PROOF_POINT ET reputation [unverified layout]",
                                   guardduty.parse_proofpoint),
    "guardduty-fireeye": Format("guardduty-fireeye", "GuardDuty FIRE_EYE iSIGHT CSV [unverified layout]",
                                guardduty.parse_fireeye, guardduty.detect_fireeye),
}
ALIASES = {
    "txt": "guardduty-txt", "otx_csv": "guardduty-otx", "alien_vault": "guardduty-alienvault",
    "proof_point": "guardduty-proofpoint", "fire_eye": "guardduty-fireeye", "taxii": "stix",
    "feodo": "abusech", "urlhaus": "abusech", "threatfox": "abusech", "text": "plain",
}


OPTIONS: dict[str, dict[str, tuple[str, ...] | None]] = {
    "csv": {"header": ("none", "no", "false", "yes", "true"), "delimiter": None},
    "abusech": {"preset": tuple(abusech.PRESETS)},
    "plain": {"type": (*TYPES, *HASH_ALGORITHMS)},
    "ipsum": {"type": (*TYPES, *HASH_ALGORITHMS)},
    "maltrail": {"trail": None, "category": None},
}
"""Format options (``--option`` / ``options = {...}``) by format: allowed values (None: any text)."""


def check_arguments(fmt: Format, columns: Mapping[str, str], options: Mapping[str, str]) -> None:
    """Refuse options and column mappings ``fmt`` does not know, naming the offending key."""
    known = OPTIONS.get(fmt.name, {})
    for key, value in options.items():
        if key not in known:
            takes = f"its options are {', '.join(known)}" if known else "it takes no options"
            raise ConfigError(f"format option {key!r} is not an option of format {fmt.name} ({takes})")
        allowed = known[key]
        if not str(value).strip():
            raise ConfigError(f"format option {key} of format {fmt.name} is empty")
        if allowed is not None and str(value).strip().lower() not in allowed:
            raise ConfigError(f"format option {key}={value!r} of format {fmt.name}: must be one of "
                              f"{', '.join(allowed)}")
    if fmt.name == "csv" and "delimiter" in options:
        delimiter = options["delimiter"].replace("\\t", "\t")
        if len(delimiter) != 1:
            raise ConfigError(f"format option delimiter={options['delimiter']!r}: must be one character (\\t: tab)")
    if not columns:
        return
    if fmt.name != "csv":
        raise ConfigError(f"column mapping (--map / columns) is read by the csv format only, not by {fmt.name}")
    unknown = sorted(set(columns) - set(csv_mapped.FIELDS))
    if unknown:
        raise ConfigError(f"column mapping (--map / columns): unknown field(s) {', '.join(unknown)}; "
                          f"fields are {', '.join(csv_mapped.FIELDS)}")
    if not str(columns.get("value", "")).strip():
        raise ConfigError("column mapping (--map / columns) needs value=<column>")


def get_format(name: str) -> Format:
    """The format called ``name`` (or an alias such as GuardDuty's ``OTX_CSV``)."""
    key = name.lower()
    key = ALIASES.get(key, key)
    if key not in FORMATS:
        raise ConfigError(f"unknown feed format {name!r}; formats are auto, {', '.join(FORMATS)}")
    return FORMATS[key]


def detect(inp: FeedInput) -> Format:
    """Pick a format by content (``--format auto``)."""
    if inp.is_dir:
        if inp.exists("manifest.json") or any(True for _ in inp.members(".json")):
            return FORMATS["misp"]
        raise InputError("folder without manifest.json or JSON files; pass --format", origin=inp.origin)
    sample = head(inp).decode("utf-8", "replace")
    if _is_misp_manifest(sample):
        raise InputError("this is a MISP feed manifest: load the feed folder or URL ending in /",
                         origin=inp.origin)
    name = origin_path(inp.origin).rsplit("/", 1)[-1]
    scores = [(f.detect(sample, name), f.name) for f in FORMATS.values() if f.detect is not None]
    best, fmt = max(scores)
    if best <= 0:
        raise InputError("cannot tell the feed format; pass --format", origin=inp.origin)
    return FORMATS[fmt]


def _is_misp_manifest(sample: str) -> bool:
    s = sample.lstrip("\ufeff").lstrip()
    if not s.startswith("{") or '"Event"' in s[:4000]:
        return False
    try:
        doc = json.loads(s)
    except ValueError:
        return False
    return isinstance(doc, dict) and bool(doc) and all(isinstance(v, dict) and "info" in v for v in doc.values())


__all__ = ["ALIASES", "FORMATS", "OPTIONS", "Format", "ParseContext", "check_arguments", "detect", "get_format"]
