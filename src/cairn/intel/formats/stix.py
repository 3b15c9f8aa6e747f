"""STIX 2.1 indicators from a bundle, a TAXII envelope, a list of objects or one object.

Mapping of an ``indicator`` (``pattern_type`` ``stix``; the pattern is reduced by
:mod:`.stix_pattern`):

| STIX | cairn |
|---|---|
| pattern comparisons (``=``, ``IN``, ``ISSUBSET``, OR-combined) | one row per literal value |
| ``valid_from`` / ``valid_until`` | valid_from / valid_until |
| ``confidence`` | confidence |
| ``labels``, ``indicator_types``, ``kill_chain_phases`` | tags (``kill-chain:<chain>:<phase>``) |
| ``indicator_types`` (STIX 2.0: ``labels`` when there are no ``indicator_types``) | threat_type (first of: malicious-activity -> malicious, compromised, anomalous-activity -> suspicious, anonymization, attribution, benign); ``benign`` also sets detect = false |
| ``object_marking_refs`` (TLP 1.0 and 2.0 marking definitions, by well-known id or by a marking-definition object in the same document) | tlp |
| ``created_by_ref`` (identity in the document) | tag ``created-by:<name>`` |
| ``external_references`` (first ``url``, else ``source_name:external_id``; else the indicator id) | reference |
| ``relationship`` ``indicates`` -> ``malware`` object | malware_family (the malware's name) |

The newest ``modified`` (compared as times, else ``created``; the later one in the document
on a tie) wins among objects with the same id; ``revoked`` indicators are
dropped and counted (``meta.counts.revoked``). Indicators with another ``pattern_type`` and
pattern parts cairn cannot represent are reported as unsupported with the reason. The
document is read whole (STIX JSON is not line-oriented); its size bounds the memory used.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from cairn.errors import InputError
from cairn.intel.formats import stix_pattern
from cairn.intel.formats._common import Builder, ParseContext, as_int, parse_time
from cairn.intel.inputs import FeedInput
from cairn.intel.model import ParsedChunk

# Well-known TLP marking-definition ids (STIX 2.1 section 7.2.1.4 and the TLP 2.0 extension).
TLP_MARKINGS = {
    "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9": "clear",
    "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da": "green",
    "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82": "amber",
    "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed": "red",
    "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487": "clear",
    "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb": "green",
    "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421": "amber",
    "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003": "amber+strict",
    "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1": "red",
}
_THREAT_TYPES = (("malicious-activity", "malicious"), ("compromised", "compromised"),
                 ("anomalous-activity", "suspicious"), ("anonymization", "anonymization"),
                 ("attribution", "attribution"), ("benign", "benign"))
_EARLIEST = datetime.min.replace(tzinfo=UTC)
_TLP_RANK = {"clear": 0, "green": 1, "amber": 2, "amber+strict": 3, "red": 4}


def load_objects(data: Any, origin: str) -> list[Any]:
    """The entries of a bundle's or TAXII envelope's ``objects``, of a list, or a single object
    (entries that are not JSON objects are kept: :func:`parse_objects` rejects them)."""
    if isinstance(data, dict) and isinstance(data.get("objects"), list):
        objs = data["objects"]
    elif isinstance(data, list):
        objs = data
    elif isinstance(data, dict) and "type" in data:
        objs = [data]
    else:
        raise InputError("not a STIX bundle, TAXII envelope or list of STIX objects", origin=origin)
    return list(objs)


def parse(inp: FeedInput, ctx: ParseContext) -> Iterator[ParsedChunk]:
    """Parse a STIX 2.1 document."""
    with inp.open() as fh:
        try:
            data = json.load(fh)
        except (ValueError, UnicodeDecodeError) as exc:
            raise InputError(f"not valid JSON: {exc}", origin=inp.origin) from exc
    yield from parse_objects(load_objects(data, inp.origin), ctx)


def parse_objects(objects: list[Any], ctx: ParseContext) -> Iterator[ParsedChunk]:
    """Indicators of a list of STIX objects; entries that are not objects are rejected (``objects[N]``)."""
    b = Builder(ctx)
    newest: dict[str, dict[str, Any]] = {}
    markings: dict[str, str] = dict(TLP_MARKINGS)
    names: dict[str, str] = {}
    for pos, o in enumerate(objects):
        if not isinstance(o, dict):
            b.reject(f"objects[{pos}]", f"not a STIX object (a JSON {_json_kind(o)})", json.dumps(o))
            if b.full:
                yield b.flush()
            continue
        oid, otype = str(o.get("id", "")), o.get("type")
        if otype == "marking-definition":
            tlp = _marking_tlp(o)
            if tlp:
                markings[oid] = tlp
        elif otype in ("identity", "malware"):
            names[oid] = str(o.get("name", ""))
        prev = newest.get(oid)
        if prev is None or _modified(o) >= _modified(prev):
            newest[oid] = o
    families: dict[str, list[str]] = {}
    for o in newest.values():
        if o.get("type") == "relationship" and o.get("relationship_type") == "indicates":
            target = str(o.get("target_ref", ""))
            if target.startswith("malware--") and names.get(target):
                families.setdefault(str(o.get("source_ref")), []).append(names[target])
    for oid, o in newest.items():
        if o.get("type") != "indicator":
            continue
        if o.get("revoked") is True:
            ctx.count("revoked")
            continue
        _indicator(b, oid, o, markings, names, families.get(oid))
        if b.full:
            yield b.flush()
    yield from b.tail()


def _modified(o: dict[str, Any]) -> datetime:
    """An object's ``modified`` time (else ``created``) as a parsed time, for "newest wins"
    (``...00.001Z`` is newer than ``...00Z``); the earliest time when neither is readable."""
    return parse_time(o.get("modified")) or parse_time(o.get("created")) or _EARLIEST


def _json_kind(value: Any) -> str:
    """The JSON name of a decoded value's type."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    return {str: "string", int: "number", float: "number", list: "array"}.get(type(value), type(value).__name__)


def _marking_tlp(o: dict[str, Any]) -> str | None:
    definition = o.get("definition") or {}
    if o.get("definition_type") == "tlp" and isinstance(definition, dict):
        v = str(definition.get("tlp", "")).lower()
    else:
        v = str(o.get("name", "")).lower().removeprefix("tlp:")
    v = {"white": "clear"}.get(v, v)
    return v if v in _TLP_RANK else None


def _indicator(b: Builder, oid: str, o: dict[str, Any], markings: dict[str, str], names: dict[str, str],
               families: list[str] | None) -> None:
    pattern_type = o.get("pattern_type", "stix")
    raw = json.dumps(o, ensure_ascii=False)
    if pattern_type != "stix":
        b.unsupported_entry(oid, f"pattern_type {pattern_type!r} is not supported", raw)
        return
    iocs, reasons = stix_pattern.reduce(str(o.get("pattern", "")))
    for reason in reasons:
        b.unsupported_entry(oid, reason, str(o.get("pattern", "")))
    if not iocs:
        return
    labels = [str(t) for t in o.get("labels") or []]
    types = [str(t) for t in o.get("indicator_types") or []] or labels  # STIX 2.0: the type is in labels
    tags = labels + types
    tags += [f"kill-chain:{k.get('kill_chain_name')}:{k.get('phase_name')}"
             for k in o.get("kill_chain_phases") or [] if isinstance(k, dict)]
    creator = names.get(str(o.get("created_by_ref", "")))
    if creator:
        tags.append(f"created-by:{creator}")
    tlps = [markings[m] for m in o.get("object_marking_refs") or [] if m in markings]
    fields = {
        "valid_from": parse_time(o.get("valid_from")),
        "valid_until": parse_time(o.get("valid_until")),
        "confidence": as_int(o.get("confidence")),
        "threat_type": next((t for k, t in _THREAT_TYPES if k in types), None),
        "tags": list(dict.fromkeys(tags)) or None,
        "tlp": max(tlps, key=_TLP_RANK.__getitem__) if tlps else None,
        "reference": _reference(o) or oid,
        "malware_family": families,
        "detect": "benign" not in types,
    }
    for ioc in iocs:
        b.add(ioc.type, ioc.value, oid, port=ioc.port, **fields)


def _reference(o: dict[str, Any]) -> str | None:
    refs = [r for r in o.get("external_references") or [] if isinstance(r, dict)]
    for r in refs:
        if r.get("url"):
            return str(r["url"])
    for r in refs:
        if r.get("external_id"):
            return f"{r.get('source_name', '')}:{r['external_id']}"
    return None


def detect(sample: str, name: str) -> int:
    """Score: JSON with STIX markers."""
    s = sample.lstrip("\ufeff").lstrip()
    if not s.startswith(("{", "[")):
        return 0
    if '"spec_version"' in s or '"type": "bundle"' in s or '"type":"bundle"' in s:
        return 90
    if '"pattern"' in s and '"indicator' in s:
        return 80
    return 0
