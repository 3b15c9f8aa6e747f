"""MISP: feed layouts (folder or URL with ``manifest.json``) and event JSON exports.

Inputs:

- a MISP **feed** - a folder or a URL ending in ``/`` with ``manifest.json`` and one
  ``<event-uuid>.json`` per event (the manifest's keys); ``hashes.csv`` is **not read**: it
  holds md5 digests of values, so it cannot give indicators, and change detection uses the
  manifest (its event timestamps change whenever an event does: the feed version's content
  hash is the manifest's);
- a folder without a manifest: every ``*.json`` below it is read as an export;
- an export file: ``{"Event": {...}}``, ``{"response": [{"Event": ...}, ...]}``, or a list of
  either.

Attributes (top-level and inside ``Object``s):

| MISP type | cairn |
|---|---|
| ip-src, ip-dst, ip-src\\|port, ip-dst\\|port | ip (with port) |
| domain, hostname, hostname\\|port | domain (with port) |
| domain\\|ip | a domain row and an ip row |
| url, uri, link is *not* an indicator | url |
| md5, sha1, sha256, sha512, filename\\|md5/sha1/sha256/sha512 | hash |
| email, email-src, email-dst | email |
| anything else (text, filename, regkey, mutex, ssdeep, AS, ...) | unsupported, with the type |

``to_ids`` -> detect (false = context only); ``deleted`` attributes, and the attributes of
``deleted`` objects, are skipped and counted (``meta.counts.deleted``); a ``|port`` that is not a number or is above 65535 rejects the
attribute (``port 99999 out of range``). Attribute ``first_seen``/``last_seen`` when present, else
first_seen = event ``date`` and last_seen = attribute ``timestamp`` (epoch string).
Event ``threat_level_id`` 1/2/3 -> severity high/medium/low (4 = undefined -> null).
Tags (event and attribute): ``tlp:*`` -> tlp (the attribute's, else the event's; the most
restrictive when there are several);
``misp-galaxy:<malware galaxy>="Name"`` and the event's malware ``Galaxy`` clusters ->
malware_family (the name before `` - ``: ``PlugX - S0013`` -> ``PlugX``); every other tag is kept in tags. reference = ``MISP event <uuid>: <info>``.
Locators: ``event <uuid> attribute <uuid>`` (``object <uuid>`` in between for objects).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from cairn.errors import InputError
from cairn.intel.formats._common import Builder, ParseContext, parse_time
from cairn.intel.formats.csv_mapped import TLPS, port_or_reason, tlp_name
from cairn.intel.inputs import FeedInput, content_hash
from cairn.intel.model import ParsedChunk

MALWARE_GALAXIES = {"malpedia", "mitre-malware", "mitre-enterprise-attack-malware", "mitre-mobile-attack-malware",
                    "ransomware", "android", "banker", "botnet", "rat", "stealer", "backdoor", "tool",
                    "mitre-tool", "exploit-kit", "cryptominers"}
SEVERITY = {"1": "high", "2": "medium", "3": "low"}
_SIMPLE = {
    "ip-src": "ip", "ip-dst": "ip", "domain": "domain", "hostname": "domain", "url": "url", "uri": "url",
    "md5": "md5", "sha1": "sha1", "sha256": "sha256", "sha512": "sha512",  # hashes: the algorithm is checked
    "email": "email", "email-src": "email", "email-dst": "email",
}
_GALAXY_TAG = re.compile(r'^misp-galaxy:([^=]+)="(.*)"$')


def fingerprint(inp: FeedInput) -> str:
    """Content hash: the manifest's for a feed, else every JSON member's, else the file's."""
    if inp.is_dir and inp.exists("manifest.json"):
        return content_hash(inp, ["manifest.json"])
    if inp.is_dir:
        return content_hash(inp, list(inp.members(".json")))
    return content_hash(inp)


def parse(inp: FeedInput, ctx: ParseContext) -> Iterator[ParsedChunk]:
    """Parse a MISP feed folder/URL or an export file."""
    b = Builder(ctx)
    for locator, doc in _documents(inp, b):
        found = False
        for event in _events(doc):
            found = True
            _event(b, event, ctx)
            if b.full:
                yield b.flush()
        if not found:
            b.reject(locator, "not a MISP event export (no Event object)", "" if doc is None else str(doc)[:200])
    yield from b.tail()


def _documents(inp: FeedInput, b: Builder) -> Iterator[tuple[str, Any]]:
    if inp.is_dir and inp.exists("manifest.json"):
        manifest = _load(inp, "manifest.json")
        if not isinstance(manifest, dict):
            raise InputError("manifest.json is not an object of event uuids", origin=inp.origin)
        for uuid in sorted(manifest):
            if not re.fullmatch(r"[0-9a-fA-F-]{36}", uuid):
                b.reject(f"manifest {uuid}", "manifest key is not an event uuid", uuid)
                continue
            yield f"event {uuid}", _load(inp, f"{uuid}.json")
    elif inp.is_dir:
        for member in inp.members(".json"):
            yield member, _load(inp, member, strict=False)
    else:
        yield inp.origin, _load(inp, None)


def _load(inp: FeedInput, member: str | None, strict: bool = True) -> Any:
    with inp.open(member) as fh:
        try:
            return json.load(fh)
        except (ValueError, UnicodeDecodeError) as exc:
            if strict:
                raise InputError(f"not valid JSON: {exc}", origin=inp.origin, locator=member) from exc
            return None


def _events(doc: Any) -> Iterator[dict[str, Any]]:
    if isinstance(doc, list):
        for item in doc:
            yield from _events(item)
    elif isinstance(doc, dict):
        if isinstance(doc.get("response"), (list, dict)):
            yield from _events(doc["response"])
        elif isinstance(doc.get("Event"), dict):
            yield doc["Event"]


def is_misp(doc: Any) -> bool:
    """Whether a JSON document holds at least one MISP event."""
    return next(_events(doc), None) is not None


def _tags(obj: dict[str, Any]) -> list[str]:
    return [str(t.get("name")) for t in obj.get("Tag") or [] if isinstance(t, dict) and t.get("name")]


def _split_tags(tags: list[str]) -> tuple[str | None, list[str], list[str]]:
    tlp, families, rest = None, [], []
    for t in tags:
        if t.lower().startswith("tlp:"):
            tlp = _stricter(tlp, tlp_name(t))
            continue
        m = _GALAXY_TAG.match(t)
        if m and m[1] in MALWARE_GALAXIES:
            families.append(_family(m[2]))
            continue
        rest.append(t)
    return tlp, families, rest


def _family(name: str) -> str:
    """A malware galaxy cluster's family name: ``PlugX - S0013`` -> ``PlugX`` (tags and clusters alike)."""
    return name.split(" - ")[0].strip()


def _stricter(a: str | None, b: str | None) -> str | None:
    """The more restrictive of two TLP labels (None = not given)."""
    if a is None or b is None:
        return a or b
    return max(a, b, key=TLPS.index)


def _event(b: Builder, ev: dict[str, Any], ctx: ParseContext) -> None:
    uuid = str(ev.get("uuid", "?"))
    tlp, families, tags = _split_tags(_tags(ev))
    for g in ev.get("Galaxy") or []:
        if isinstance(g, dict) and g.get("type") in MALWARE_GALAXIES:
            families += [_family(str(c.get("value"))) for c in g.get("GalaxyCluster") or [] if isinstance(c, dict)]
    base = {
        "severity": SEVERITY.get(str(ev.get("threat_level_id", ""))),
        "reference": f"MISP event {uuid}: {ev.get('info', '')}".strip(),
        "date": parse_time(ev.get("date")),
        "tlp": tlp, "families": list(dict.fromkeys(families)), "tags": tags,
    }
    for a in ev.get("Attribute") or []:
        _attribute(b, a, f"event {uuid} attribute {a.get('uuid', '?')}", base, ctx)
    for pos, o in enumerate(ev.get("Object") or []):
        if not isinstance(o, dict):
            b.reject(f"event {uuid} object [{pos}]", "object is not a JSON object", o)
            continue
        attrs = o.get("Attribute") or []
        if _deleted(o):
            ctx.count("deleted", len(attrs) if isinstance(attrs, list) else 1)
            continue
        for a in attrs:
            _attribute(b, a, f"event {uuid} object {o.get('uuid', '?')} attribute {a.get('uuid', '?')}", base, ctx)


def _deleted(obj: dict[str, Any]) -> bool:
    """Whether a MISP attribute or object is marked deleted."""
    return obj.get("deleted") in (True, "1", 1)


def _attribute(b: Builder, a: Any, loc: str, base: dict[str, Any], ctx: ParseContext) -> None:
    if not isinstance(a, dict):
        b.reject(loc, "attribute is not an object", a)
        return
    if _deleted(a):
        ctx.count("deleted")
        return
    atype, value = str(a.get("type", "")), a.get("value")
    if not isinstance(value, str):
        b.reject(loc, "attribute value is not a string", a)
        return
    tlp, families, tags = _split_tags(_tags(a))
    fields = {
        "first_seen": parse_time(a.get("first_seen")) or base["date"],
        "last_seen": parse_time(a.get("last_seen")) or parse_time(a.get("timestamp")),
        "severity": base["severity"],
        "reference": base["reference"],
        "tlp": tlp or base["tlp"],
        "malware_family": list(dict.fromkeys(base["families"] + families)) or None,
        "tags": list(dict.fromkeys(base["tags"] + tags)) or None,
        "detect": a.get("to_ids") in (True, "1", 1, "true"),
    }
    got = _values(atype, value)
    if isinstance(got, str):
        b.reject(loc, got, f"{atype}: {value}")
        return
    for type_, v, port in got:
        if type_ is None:
            b.unsupported_entry(loc, f"MISP attribute type {atype!r} is not an indicator type cairn matches",
                                f"{atype}: {value}")
            return
        b.add(type_, v, loc, port=port, **fields)


def _values(atype: str, value: str) -> list[tuple[str | None, str, int | None]] | str:
    """``(type, value, port)`` of an attribute (type None: unsupported), or the reason it is refused."""
    if atype in _SIMPLE:
        return [(_SIMPLE[atype], value, None)]
    left, _, right = value.partition("|")
    if atype in ("ip-src|port", "ip-dst|port", "hostname|port"):
        port, reason = port_or_reason(right)
        if reason:
            return reason
        return [("ip" if atype.startswith("ip") else "domain", left, port)]
    if atype == "domain|ip":
        return [("domain", left, None), ("ip", right, None)]
    if atype in ("filename|md5", "filename|sha1", "filename|sha256", "filename|sha512"):
        return [(atype.removeprefix("filename|"), right, None)]
    return [(None, value, None)]


def detect(sample: str, name: str) -> int:
    """Score: JSON with MISP event keys."""
    s = sample.lstrip("\ufeff").lstrip()
    if s.startswith(("{", "[")) and ('"Event"' in s[:4000] or '"response"' in s[:200]):
        return 90
    return 0
