"""Whole real feeds from ../shared/data (slow; skipped when the folder is absent)."""

from __future__ import annotations

import pytest
from feeds_support import Store, shared, st_fixture  # noqa: F401

pytestmark = pytest.mark.slow


def test_full_maltrail_csv(st: Store):
    r = st.load(shared("ti-stamparm-maltrail", "maltrail_static_trails.csv.gz"), "maltrail")
    assert r.format == "maltrail" and r.parsed + r.unsupported == 1_852_460
    assert r.loaded > 1_500_000 and r.loaded + r.duplicates + r.rejected + r.sanity_dropped == r.parsed
    by_type = dict(st.q("SELECT type, count(*) FROM indicators GROUP BY 1"))
    assert set(by_type) == {"domain", "ip", "url"} and by_type["ip"] > 250_000
    assert st.q("SELECT count(*) FROM indicators WHERE type = 'ip' AND prefix_len = 24") != [(0,)]
    assert st.load(shared("ti-stamparm-maltrail", "maltrail_static_trails.csv.gz"), "maltrail").status == "unchanged"


def test_full_ipsum(st: Store):
    r = st.load(shared("ti-stamparm-ipsum", "ipsum.txt"), "ipsum")
    assert r.format == "ipsum" and r.parsed == 120_430 and r.loaded + r.sanity_dropped + r.rejected == 120_430
    assert st.q("SELECT min(confidence), max(confidence) FROM indicators") == [(20, 100)]


def test_full_eset_folder(st: Store):
    r = st.load(shared("ti-eset-malware-ioc"), "eset")
    assert r.format == "misp" and r.loaded > 2_000
    assert r.rejected >= 1  # the one non-MISP JSON document and URL paths are reported, not dropped
    assert st.q("SELECT count(*) FROM intel_rejects WHERE reason LIKE 'not a MISP event export%'") == [(1,)]
    types = dict(st.q("SELECT type, count(*) FROM indicators GROUP BY 1"))
    assert {"hash", "domain", "ip", "url", "email"} <= set(types)


@pytest.mark.parametrize(("name", "rows"), [("tor-exit-nodes.lst", 1_746), ("tor-nodes.lst", 8_054)])
def test_full_tor_lists(st: Store, name: str, rows: int):
    r = st.load(shared("ti-tor-exit-nodes", name), "tor", fmt="plain")
    assert r.parsed == rows and r.loaded + r.sanity_dropped + r.rejected + r.duplicates == rows
