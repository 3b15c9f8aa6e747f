"""STIX fixes: BOM detection, network-traffic ref types, newest ``modified`` by time, STIX 2.0 labels."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from feeds_support import Store, st_fixture  # noqa: F401


def ind(n: int, pattern: str, **extra: Any) -> dict[str, Any]:
    """A STIX 2.1 indicator with a numbered id."""
    return {"type": "indicator", "spec_version": "2.1", "id": f"indicator--00000000-0000-4000-8000-{n:012d}",
            "created": "2024-01-01T00:00:00Z", "modified": "2024-01-01T00:00:00Z", "pattern": pattern,
            "pattern_type": "stix", "valid_from": "2024-01-01T00:00:00Z", **extra}


def bundle(tmp_path: Path, objects: list[dict[str, Any]], prefix: bytes = b"", **extra: Any) -> Path:
    """The objects as a bundle file (optionally with a prefix such as a BOM)."""
    f = tmp_path / "b.json"
    doc = {"type": "bundle", "id": "bundle--00000000-0000-4000-8000-000000000000", "objects": objects, **extra}
    f.write_bytes(prefix + json.dumps(doc).encode())
    return f


def test_bundle_starting_with_a_bom_is_auto_detected(st: Store, tmp_path: Path):
    r = st.load(bundle(tmp_path, [ind(1, "[ipv4-addr:value = '81.2.69.142']")], prefix="\ufeff".encode()), "s")
    assert (r.format, r.loaded, r.rejected) == ("stix", 1, 0)
    assert st.q("SELECT type, value FROM indicators") == [("ip", "81.2.69.142")]


def test_network_traffic_ref_type_sets_the_type_and_src_ref_drops_the_dst_port(st: Store, tmp_path: Path):
    nt = "network-traffic:"
    objs = [
        ind(1, f"[{nt}dst_ref.type = 'domain-name' AND {nt}dst_ref.value = 'nt.example.com' AND {nt}dst_port = 443]"),
        ind(2, f"[{nt}dst_ref.type = 'ipv6-addr' AND {nt}dst_ref.value = '2a00:1450::1' AND {nt}dst_port = 8443]"),
        ind(3, f"[{nt}src_ref.value = '81.2.69.143' AND {nt}dst_port = 22]"),
        ind(4, f"[{nt}src_ref.type = 'domain-name' AND {nt}src_ref.value = 'src.example.com']"),
        ind(5, f"[{nt}dst_ref.type = 'mac-addr' AND {nt}dst_ref.value = '00:11:22:33:44:55']"),
    ]
    r = st.load(bundle(tmp_path, objs), "s")
    assert (r.format, r.loaded, r.rejected, r.unsupported) == ("stix", 4, 0, 1)
    assert st.q("SELECT type, value, port FROM indicators ORDER BY value") == [
        ("ip", "2a00:1450::1", 8443), ("ip", "81.2.69.143", None),
        ("domain", "nt.example.com", 443), ("domain", "src.example.com", None)]
    assert st.q("SELECT kind, locator, reason FROM intel_rejects") == [
        ("unsupported", "indicator--00000000-0000-4000-8000-000000000005",
         "network-traffic:dst_ref.type 'mac-addr' is not supported")]


def test_newest_modified_is_compared_as_a_time(st: Store, tmp_path: Path):
    objs = [ind(1, "[domain-name:value = 'newer.example.com']", modified="2024-01-01T00:00:00.001Z"),
            ind(1, "[domain-name:value = 'older.example.com']", modified="2024-01-01T00:00:00Z"),
            ind(2, "[domain-name:value = 'b-new.example.com']", modified="2024-01-01T00:00:00.5Z"),
            ind(2, "[domain-name:value = 'b-old.example.com']", modified="2024-01-01T00:00:00.123Z")]
    r = st.load(bundle(tmp_path, objs), "s", fmt="stix")
    assert (r.loaded, r.rejected) == (2, 0)
    assert st.q("SELECT value, locator FROM indicators ORDER BY value") == [
        ("b-new.example.com", "indicator--00000000-0000-4000-8000-000000000002"),
        ("newer.example.com", "indicator--00000000-0000-4000-8000-000000000001")]


def test_stix_20_labels_set_the_threat_type(st: Store, tmp_path: Path):
    o20 = {"type": "indicator", "id": "indicator--20000000-0000-4000-8000-000000000001",
           "created": "2017-01-01T00:00:00.000Z", "modified": "2017-01-01T00:00:00.000Z",
           "labels": ["malicious-activity"], "pattern": "[ipv4-addr:value = '83.1.1.1']",
           "valid_from": "2017-01-01T00:00:00Z"}
    benign = {**o20, "id": "indicator--20000000-0000-4000-8000-000000000002", "labels": ["benign"],
              "pattern": "[domain-name:value = 'ok.example.com']"}
    both = ind(3, "[ipv4-addr:value = '83.1.1.3']", labels=["lab"], indicator_types=["compromised"])
    r = st.load(bundle(tmp_path, [o20, benign, both], spec_version="2.0"), "s")
    assert (r.format, r.loaded, r.rejected) == ("stix", 3, 0)
    assert st.q("SELECT value, threat_type, detect, tags FROM indicators ORDER BY value") == [
        ("83.1.1.1", "malicious", True, ["malicious-activity"]),
        ("83.1.1.3", "compromised", True, ["compromised", "lab"]),
        ("ok.example.com", "benign", False, ["benign"])]


def test_declared_hash_algorithm_is_checked(st: Store, tmp_path: Path):
    """A 40-hex value declared SHA-256 is refused with the reason (it was stored as a sha1)."""
    objs = [ind(1, f"[file:hashes.'SHA-256' = '{'a' * 40}']"), ind(2, f"[file:hashes.'SHA-256' = '{'b' * 64}']"),
            ind(3, f"[file:hashes.MD5 = '{'C' * 32}']")]
    r = st.load(bundle(tmp_path, objs), "h")
    assert (r.loaded, r.rejected) == (2, 1)
    assert st.q("SELECT value, hash_type FROM indicators ORDER BY 1") == [("b" * 64, "sha256"), ("c" * 32, "md5")]
    assert st.q("SELECT reason FROM intel_rejects") == [
        ("declared sha256 (64 hex digits) but the value has 40 (sha1)",)]
