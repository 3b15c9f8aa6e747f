"""MISP fixes: most restrictive TLP, refused ports, BOM detection, malware families, deleted objects."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from feeds_support import Store, st_fixture  # noqa: F401

EV = "eeeeeeee-0000-4000-8000-000000000001"


def attr(n: int, type_: str, value: str, **extra: Any) -> dict[str, Any]:
    """A MISP attribute with a numbered uuid."""
    return {"uuid": f"aaaaaaaa-0000-4000-8000-{n:012d}", "type": type_, "value": value, "to_ids": True,
            "timestamp": "1700000000", **extra}


def event(attrs: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    """A MISP event export."""
    return {"Event": {"uuid": EV, "info": "t", "date": "2023-11-01", "threat_level_id": "2", "Attribute": attrs,
                      **extra}}


def write(tmp_path: Path, doc: Any, prefix: bytes = b"") -> Path:
    """The document as an export file (optionally with a prefix such as a BOM)."""
    f = tmp_path / "ev.json"
    f.write_bytes(prefix + json.dumps(doc).encode())
    return f


def tags(*names: str) -> list[dict[str, str]]:
    return [{"name": n} for n in names]


def test_several_tlp_tags_give_the_most_restrictive(st: Store, tmp_path: Path):
    doc = event([attr(1, "ip-dst", "91.1.1.1"),
                 attr(2, "ip-dst", "91.1.1.2", Tag=tags("tlp:amber", "tlp:white", "tlp:green")),
                 attr(3, "ip-dst", "91.1.1.3", Tag=tags("tlp:clear"))],
                Tag=tags("tlp:red", "tlp:clear"))
    r = st.load(write(tmp_path, doc), "m", fmt="misp")
    assert (r.loaded, r.rejected) == (3, 0)
    assert st.q("SELECT value, tlp FROM indicators ORDER BY value") == [
        ("91.1.1.1", "red"), ("91.1.1.2", "amber"), ("91.1.1.3", "clear")]


def test_out_of_range_or_non_numeric_ports_are_rejected(st: Store, tmp_path: Path):
    doc = event([attr(1, "ip-dst|port", "91.1.1.1|4444"), attr(2, "ip-dst|port", "91.1.1.2|99999"),
                 attr(3, "hostname|port", "h.example.com|abc"), attr(4, "hostname|port", "h2.example.com|")])
    r = st.load(write(tmp_path, doc), "m", fmt="misp")
    assert (r.parsed, r.loaded, r.rejected) == (4, 2, 2)
    assert st.q("SELECT type, value, port FROM indicators ORDER BY value") == [
        ("ip", "91.1.1.1", 4444), ("domain", "h2.example.com", None)]
    assert st.q("SELECT kind, locator, reason, raw FROM intel_rejects ORDER BY locator") == [
        ("parse", f"event {EV} attribute aaaaaaaa-0000-4000-8000-000000000002", "port 99999 out of range",
         "ip-dst|port: 91.1.1.2|99999"),
        ("parse", f"event {EV} attribute aaaaaaaa-0000-4000-8000-000000000003", "port 'abc' is not a number",
         "hostname|port: h.example.com|abc")]


def test_export_starting_with_a_bom_is_auto_detected(st: Store, tmp_path: Path):
    r = st.load(write(tmp_path, event([attr(1, "ip-dst", "91.1.1.1")]), prefix="\ufeff".encode()), "m")
    assert (r.format, r.loaded, r.rejected) == ("misp", 1, 0)
    assert st.q("SELECT type, value FROM indicators") == [("ip", "91.1.1.1")]


def test_galaxy_tag_and_cluster_give_one_family(st: Store, tmp_path: Path):
    doc = event([attr(1, "ip-dst", "91.1.1.1")], Tag=tags('misp-galaxy:mitre-malware="PlugX - S0013"'),
                Galaxy=[{"type": "mitre-malware", "GalaxyCluster": [{"value": "PlugX - S0013"}]},
                        {"type": "ransomware", "GalaxyCluster": [{"value": "LockBit"}]}])
    r = st.load(write(tmp_path, doc), "m", fmt="misp")
    assert r.loaded == 1
    assert st.q("SELECT value, malware_family FROM indicators") == [("91.1.1.1", ["LockBit", "PlugX"])]


def test_attributes_of_deleted_objects_are_counted_as_deleted(st: Store, tmp_path: Path):
    objs = [{"uuid": "bbbbbbbb-0000-4000-8000-000000000001", "deleted": True,
             "Attribute": [attr(2, "ip-dst", "91.1.1.2"), attr(3, "domain", "gone.example.com")]},
            {"uuid": "bbbbbbbb-0000-4000-8000-000000000002", "deleted": False,
             "Attribute": [attr(4, "ip-dst", "91.1.1.4"), attr(5, "ip-dst", "91.1.1.5", deleted=True)]},
            "junk"]
    r = st.load(write(tmp_path, event([attr(1, "ip-dst", "91.1.1.1")], Object=objs)), "m", fmt="misp")
    assert (r.loaded, r.rejected) == (2, 1)
    assert st.q("SELECT locator, reason FROM intel_rejects") == [(f"event {EV} object [2]", "object is not a JSON object")]
    assert r.meta["counts"] == {"deleted": 3}
    assert st.q("SELECT value, locator FROM indicators ORDER BY value") == [
        ("91.1.1.1", f"event {EV} attribute aaaaaaaa-0000-4000-8000-000000000001"),
        ("91.1.1.4", f"event {EV} object bbbbbbbb-0000-4000-8000-000000000002 "
                     "attribute aaaaaaaa-0000-4000-8000-000000000004")]
