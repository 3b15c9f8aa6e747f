"""A slow, obviously-correct enrichment in plain Python (ipaddress + dicts), the oracle of the SQL path.

It implements docs/enrich.md's rules directly: an indicator matches an observable when the address is
in its network (IPv4-mapped IPv6 taken as IPv4), or the domain / URL host is the indicator domain or
below it, or URL / hash / e-mail are equal; it counts at event time T when ``valid_from <= T`` and
``T < min(valid_until, basis + max_age)``; its confidence at T decays from ``basis``; verdicts follow
docs/intel.md ("Verdicts").
"""

from __future__ import annotations

import ipaddress
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

HIGH = {"malware", "c2", "botnet", "ransomware", "phishing", "exploit", "malicious", "cryptomining", "trojan",
        "backdoor", "rat", "stealer", "loader", "apt", "cnc", "payload_delivery"}
RISKY = {"suspicious", "scanner", "mass_scanner", "bruteforce", "spam", "abuse", "attack"}
ANON = {"tor", "proxy", "vpn", "anonymizer"}


@dataclass
class Ind:
    """One indicator as a feed states it, with its source's policy."""

    source: str
    type: str
    value: str
    valid_from: datetime | None = None
    valid_until: datetime | None = None
    last_seen: datetime | None = None
    first_seen: datetime | None = None
    loaded_at: datetime | None = None
    confidence: int | None = None
    threat_type: str | None = None
    detect: bool = True
    max_age_days: float = 0.0
    half_life_days: float = 0.0

    @property
    def basis(self) -> datetime | None:
        return self.last_seen or self.valid_from or self.first_seen or self.loaded_at

    def end(self) -> datetime | None:
        ends = [x for x in (self.valid_until,) if x is not None]
        if self.max_age_days > 0 and self.basis is not None:
            ends.append(self.basis + timedelta(days=self.max_age_days))
        return min(ends) if ends else None

    def valid_at(self, t: datetime) -> bool:
        if self.valid_from is not None and not self.valid_from <= t:
            return False
        end = self.end()
        return end is None or t < end

    def confidence_at(self, t: datetime) -> int | None:
        if self.confidence is None:
            return None
        if self.half_life_days > 0 and self.basis is not None:
            age = max(0.0, (t - self.basis).total_seconds() / 86400.0)
            x = self.confidence * 0.5 ** (age / self.half_life_days)
            return math.floor(x + 0.5)
        return self.confidence


def feed_score(threat: str | None, confidence: int | None) -> int:
    t = (threat or "").lower()
    base = 10 if t in HIGH else 7 if t in RISKY else 6 if t in ANON else 8
    c = 50 if confidence is None else confidence
    step = 0 if c >= 75 else 1 if c >= 50 else 2 if c >= 25 else 3
    return max(5, base - step)


def _addr(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    a = ipaddress.ip_address(text)
    if a.version == 6 and a.ipv4_mapped:
        return a.ipv4_mapped
    return a


def _host(obs_type: str, value: str) -> str | None:
    if obs_type in ("domain", "hostname"):
        return value.lower().rstrip(".")
    if obs_type == "url" and "://" in value:
        rest = value.split("://", 1)[1]
        host = rest.split("/", 1)[0].split("?", 1)[0].split("#", 1)[0].rsplit("@", 1)[-1].split(":", 1)[0]
        return host.lower().rstrip(".") or None
    return None


def matches_of(obs_type: str, value: str, ind: Ind) -> tuple[str, int] | None:
    """``(match_kind, specificity)`` when ``ind`` matches the value (whatever the time), else None."""
    if ind.type == "ip":
        if obs_type != "ip":
            return None
        net = ipaddress.ip_network(ind.value, strict=False)
        addr = _addr(value)
        if addr.version != net.version or addr not in net:
            return None
        full = 32 if net.version == 4 else 128
        return ("exact" if net.prefixlen == full else "cidr", net.prefixlen)
    if ind.type == "domain":
        host = _host(obs_type, value)
        if host is None:
            return None
        if host == ind.value or host.endswith("." + ind.value):
            kind = "url_host" if obs_type == "url" else "exact" if host == ind.value else "parent_domain"
            return kind, ind.value.count(".") + 1
        return None
    exact = value == ind.value or (ind.type in ("hash", "email") and value.lower() == ind.value)
    if ind.type == obs_type and ind.type in ("url", "hash", "email") and exact:
        return "exact", 1000
    return None


@dataclass
class Reference:
    """Inputs other than the indicators the verdict uses: warninglists and Tor (as plain data)."""

    demote_cidrs: list[ipaddress.IPv4Network | ipaddress.IPv6Network]
    demote_hosts: list[tuple[str, bool, set[str]]]
    """(entry, match_subdomains, observable types the list applies to)"""
    demote_strings: dict[str, set[str]]
    """lower-case value -> observable types the list applies to"""
    tor: set[str]

    def capped(self, obs_type: str, value: str) -> bool:
        if obs_type == "ip":
            a = _addr(value)
            return any(a.version == n.version and a in n for n in self.demote_cidrs)
        host = _host(obs_type, value)
        if host is not None:
            for entry, subs, types in self.demote_hosts:
                if obs_type not in types:
                    continue
                if host == entry or host == "www." + entry or (subs and host.endswith("." + entry)):
                    return True
        return obs_type in self.demote_strings.get(value.lower(), set())

    def enrich(self, observables: list[dict[str, Any]], inds: list[Ind]) -> tuple[list[dict], dict[int, int]]:
        """``(matches, {row index: score_id})`` for observable dicts (type, value, event_time, ...)."""
        out: list[dict] = []
        scores: dict[int, int] = {}
        for n, o in enumerate(observables):
            t = o["event_time"]
            row: list[dict] = []
            for ind in inds:
                m = matches_of(o["type"], o["value"], ind)
                if m is None or not ind.valid_at(t):
                    continue
                conf = ind.confidence_at(t)
                row.append({"row": n, "intel_source": ind.source, "matched": ind.value, "match_kind": m[0],
                            "spec": m[1], "confidence": conf, "detect": ind.detect,
                            "score_id": feed_score(ind.threat_type, conf) if ind.detect else 0})
            top_spec = max((r["spec"] for r in row), default=None)
            for r in row:
                r["most_specific"] = r["spec"] == top_spec
            out += row
            feed = [(r["intel_source"], r["score_id"]) for r in row if r["detect"]]
            top = max([s for _, s in feed] + ([5] if o["type"] == "ip" and o["value"] in self.tor else []),
                      default=0)
            strong = len({src for src, s in feed if s >= 7})
            raw = 0 if top == 0 else min(10, top + 1) if strong >= 2 and top >= 7 else top
            if self.capped(o["type"], o["value"]):
                raw = 3 if raw == 0 else min(raw, 3)
            scores[n] = raw
        return out, scores


def load_reference(engine: Any) -> Reference:
    """Warninglist entries and Tor exits of a workspace, as plain Python data."""
    kinds = {r[0] for r in engine.rows("SELECT DISTINCT type FROM warninglist_entries")}
    assert kinds <= {"cidr", "hostname", "string"}, f"reference does not implement warninglist types {kinds}"
    cidrs = [ipaddress.ip_network(v, strict=False) for (v,) in engine.rows(
        "SELECT e.value FROM warninglist_entries e JOIN warninglists w USING (list) "
        "WHERE e.type = 'cidr' AND w.effect = 'demote'")]
    cidrs = [ipaddress.ip_network(f"{n.network_address.ipv4_mapped}/{n.prefixlen - 96}")
             if n.version == 6 and n.network_address.ipv4_mapped and n.prefixlen >= 96 else n for n in cidrs]
    hosts = engine.rows("SELECT e.value, w.match_subdomains, w.observable_types FROM warninglist_entries e "
                        "JOIN warninglists w USING (list) WHERE e.type = 'hostname' AND w.effect = 'demote'")
    strings: dict[str, set[str]] = {}
    for v, types in engine.rows("SELECT e.value, w.observable_types FROM warninglist_entries e JOIN warninglists w "
                                "USING (list) WHERE e.type = 'string' AND w.effect = 'demote'"):
        strings.setdefault(v, set()).update(types or [])
    tor = {r[0] for r in engine.rows("SELECT ip FROM own_tor")}
    return Reference(cidrs, [(h, bool(s), set(t or [])) for h, s, t in hosts], strings, tor)
