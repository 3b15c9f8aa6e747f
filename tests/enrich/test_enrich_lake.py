"""Enrichment of a real lake (the bundled samples) with real feed slices: equal to the Python reference;
time-aware matching; provenance; refresh incremental, idempotent and atomic; retrohunt; views; API; CLI."""

from __future__ import annotations

import gzip
import itertools
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from enrich_support import (  # noqa: F401
    CSV_COLUMNS,
    SampleLake,
    csv_feed,
    current_indicators,
    sample_lake_fixture,
    sample_template,
    shared,
)
from reference import load_reference

from cairn.enrich import materialize as refresh_mod
from cairn.enrich import refresh
from cairn.enrich.retrohunt import retrohunt
from cairn.intel.store import LoadSettings


def _observables(lake: SampleLake) -> list[dict[str, Any]]:
    return lake.dicts("SELECT event_uid, source, event_time, field, type, value FROM observables "
                      "ORDER BY source, event_uid, field, type, value")


def _some(lake: SampleLake, sql: str) -> dict[str, Any]:
    rows = lake.dicts(sql)
    assert rows, sql
    return rows[0]


def _partner_feed(lake: SampleLake, tmp_path: Path) -> Path:
    """Indicators on values the samples really contain, with validity windows around their events."""
    ip = _some(lake, "SELECT value, min(event_time) AS t FROM observables WHERE type = 'ip' AND field = "
                     "'sourceIPAddress' GROUP BY value ORDER BY count(*) DESC, value LIMIT 1")
    ip2 = _some(lake, "SELECT value, min(event_time) AS t FROM observables WHERE type = 'ip' AND value <> "
                      f"'{ip['value']}' AND value NOT LIKE '%:%' GROUP BY value ORDER BY value LIMIT 1")
    host = _some(lake, "SELECT value, min(event_time) AS t FROM observables WHERE type = 'hostname' "
                       "AND value LIKE '%.%.%' GROUP BY value ORDER BY value LIMIT 1")
    parent = host["value"].split(".", 1)[1]
    t, t2 = ip["t"], ip2["t"]
    net = ".".join(ip["value"].split(".")[:3]) + ".0/24" if ":" not in ip["value"] else ip["value"] + "/64"
    return csv_feed(tmp_path / "partner.csv", [
        {"value": ip["value"], "type": "ip", "valid_from": t - timedelta(days=1), "confidence": 90,
         "threat_type": "c2"},
        {"value": net, "type": "ip", "confidence": 40, "threat_type": "scanner"},
        {"value": ip2["value"], "type": "ip", "valid_until": t2 - timedelta(seconds=1), "confidence": 100,
         "threat_type": "malware"},           # expired before the event: never matches it
        {"value": ip2["value"] + "/31" if ":" not in ip2["value"] else ip2["value"], "type": "ip",
         "valid_from": t2 + timedelta(days=1), "threat_type": "malware"},   # valid only after the event
        {"value": parent, "type": "domain", "last_seen": host["t"], "confidence": 80, "threat_type": "phishing"},
    ])


def _slices(tmp_path: Path) -> tuple[Path, Path]:
    ipsum = tmp_path / "ipsum.txt"
    with shared("ti-stamparm-ipsum", "ipsum.txt").open(encoding="utf-8") as fh:
        ipsum.write_text("".join(itertools.islice(fh, 5000)), encoding="utf-8")
    maltrail = tmp_path / "maltrail.csv"
    with gzip.open(shared("ti-stamparm-maltrail", "maltrail_static_trails.csv.gz"), "rt", encoding="utf-8") as fh:
        head = next(fh)
        keep = [ln for ln in itertools.islice(fh, 400_000) if ",cidr," in ln or ",url," in ln][:3000]
        keep += list(itertools.islice(fh, 3000))
    maltrail.write_text(head + "".join(keep), encoding="utf-8")
    return ipsum, maltrail


def _compare_with_reference(lake: SampleLake) -> tuple[int, int]:
    e = lake.engine
    obs = _observables(lake)
    ref = load_reference(e)
    ref_matches, ref_scores = ref.enrich(obs, current_indicators(e))
    key = {n: (o["event_uid"], o["source"], o["field"], o["type"], o["value"]) for n, o in enumerate(obs)}
    want = Counter((*key[m["row"]], m["intel_source"], m["matched"], m["match_kind"], m["most_specific"],
                    m["confidence"], m["score_id"]) for m in ref_matches)
    got = Counter(e.rows("SELECT event_uid, source, field, type, value, intel_source, matched, match_kind, "
                         "most_specific, confidence, score_id FROM intel_matches"))
    assert got == want
    got_scores = Counter(e.rows("SELECT event_uid, source, field, type, value, score_id FROM enriched_observables"))
    assert got_scores == Counter((*key[n], s) for n, s in ref_scores.items())
    return sum(want.values()), sum(1 for s in ref_scores.values() if s >= 5)


def test_samples_with_real_feeds_equal_reference(sample_lake: SampleLake, tmp_path: Path) -> None:
    ipsum, maltrail = _slices(tmp_path)
    assert sample_lake.load(ipsum, "ipsum").loaded > 4000
    assert sample_lake.load(maltrail, "maltrail", fmt="maltrail").loaded > 3000
    assert sample_lake.load(_partner_feed(sample_lake, tmp_path), "partner", fmt="csv", columns=CSV_COLUMNS,
                            settings=LoadSettings(internal=True, max_age_days=30, decay_half_life_days=10)).loaded == 5
    s = refresh(sample_lake.engine, sample_lake.ws)
    assert s.mode == "full" and s.observables == sample_lake.engine.scalar("SELECT count(*) FROM observables")
    matches, bad = _compare_with_reference(sample_lake)
    assert matches >= 3 and bad >= 2
    # provenance: field path, indicator, source, feed version, confidence, verdict
    rows = sample_lake.dicts("SELECT m.*, v.feed_version AS current_version FROM intel_matches m "
                             "JOIN _intel_feed_versions v ON v.source = m.intel_source AND v.is_current "
                             "WHERE m.intel_source = 'partner'")
    assert rows and all(r["feed_version"] == r["current_version"] and r["field"] for r in rows)
    kinds = {r["match_kind"] for r in rows}
    assert {"exact", "cidr", "parent_domain"} <= kinds
    # the exact /32 and the /24 both match; only the /32 is the most specific
    by_row = {}
    for r in rows:
        if r["type"] == "ip" and r["match_kind"] in ("exact", "cidr"):
            by_row.setdefault((r["event_uid"], r["field"]), {})[r["match_kind"]] = r["most_specific"]
    assert any(v == {"exact": True, "cidr": False} for v in by_row.values())


def test_time_awareness_expired_and_future_indicators(sample_lake: SampleLake, tmp_path: Path) -> None:
    lake = sample_lake
    refresh(lake.engine, lake.ws)
    row = _some(lake, "SELECT value, event_time FROM enriched_observables WHERE type = 'ip' AND value NOT LIKE '%:%' "
                      "AND NOT warninglist_hit AND special_range IS NULL ORDER BY event_time, value LIMIT 1")
    t = row["event_time"]
    feed = csv_feed(tmp_path / "f.csv", [
        {"value": row["value"], "type": "ip", "valid_until": t, "threat_type": "malware"},  # ends at T: no match
    ])
    lake.load(feed, "timed", fmt="csv", columns=CSV_COLUMNS)
    refresh(lake.engine, lake.ws)
    assert lake.engine.scalar("SELECT count(*) FROM intel_matches WHERE value = ? AND event_time = ?",
                              [row["value"], t]) == 0
    feed = csv_feed(tmp_path / "g.csv", [
        {"value": row["value"], "type": "ip", "valid_until": t + timedelta(microseconds=1), "threat_type": "malware"},
    ])
    lake.load(feed, "timed", fmt="csv", columns=CSV_COLUMNS)
    s = refresh(lake.engine, lake.ws)
    assert s.mode == "full"  # intel changed: recomputed
    assert lake.engine.scalar("SELECT count(*) FROM intel_matches WHERE value = ? AND event_time = ?",
                              [row["value"], t]) >= 1
    # expired long ago (valid_until in the past): not in `indicators`, but still matches its old events
    assert lake.engine.scalar("SELECT count(*) FROM indicators WHERE source = 'timed'") == 0
    assert lake.engine.scalar("SELECT max(score_id) FROM enriched_observables WHERE value = ? AND event_time = ?",
                              [row["value"], t]) >= 8
    # max-age: last seen a year before the event with a 30 day age limit -> expired at event time
    feed = csv_feed(tmp_path / "h.csv", [
        {"value": row["value"], "type": "ip", "last_seen": t - timedelta(days=365), "threat_type": "malware"},
    ])
    lake.load(feed, "timed", fmt="csv", columns=CSV_COLUMNS, settings=LoadSettings(internal=True, max_age_days=30))
    refresh(lake.engine, lake.ws)
    assert lake.engine.scalar("SELECT count(*) FROM intel_matches WHERE intel_source = 'timed'") == 0


def test_refresh_incremental_idempotent_and_equal_to_full(sample_lake: SampleLake, tmp_path: Path) -> None:
    from cairn.lake.ingest import Ingestor

    lake = sample_lake
    ipsum, _ = _slices(tmp_path)
    lake.load(ipsum, "ipsum")
    first = refresh(lake.engine, lake.ws)
    assert first.mode == "full"
    again = refresh(lake.engine, lake.ws)
    assert again.mode == "up-to-date" and again.run_id is None
    stored = "('enriched_values', 'enriched_verdicts', 'intel_matches', 'flagged_observables')"
    files = lake.engine.rows(f"SELECT path FROM _cairn_files WHERE table_name IN {stored} ORDER BY 1")
    assert "enriched_values" in {f[0].split("/")[0] for f in files}
    # new events: only their observables files are enriched
    extra = tmp_path / "extra.log"
    extra.write_text(
        "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action "
        "log-status\n2 123456789012 eni-0a1b2c3d 77.90.185.20 10.0.0.5 4444 22 6 10 840 1700000000 1700000060 "
        "REJECT OK\n2 123456789012 eni-0a1b2c3d 2001:db8::1 10.0.0.5 4444 22 6 10 840 1700000000 1700000060 "
        "ACCEPT OK\n", encoding="utf-8")
    Ingestor(lake.ws, lake.engine).run([str(extra)])
    inc = refresh(lake.engine, lake.ws)
    assert inc.mode == "incremental" and inc.input_files >= 1 and inc.observables >= 4
    # the earlier files stay; the run adds files for what is new only
    after = lake.engine.rows(f"SELECT path FROM _cairn_files WHERE table_name IN {stored} ORDER BY 1")
    assert set(files) < set(after)
    assert lake.engine.scalar("SELECT count(*) FROM enriched_values") == lake.engine.scalar(
        "SELECT count(*) FROM (SELECT DISTINCT type, value FROM observables)")
    assert lake.engine.scalar("SELECT max(score_id) FROM enriched_observables WHERE value = '77.90.185.20'") >= 7
    incremental = lake.engine.rows("SELECT * EXCLUDE (ip_bin) FROM enriched_observables ORDER BY ALL")
    inc_matches = lake.engine.rows("SELECT * FROM intel_matches ORDER BY ALL")
    full = refresh(lake.engine, lake.ws, full=True)
    assert full.mode == "full"
    assert lake.engine.rows("SELECT * EXCLUDE (ip_bin) FROM enriched_observables ORDER BY ALL") == incremental
    assert lake.engine.rows("SELECT * FROM intel_matches ORDER BY ALL") == inc_matches
    assert lake.engine.scalar("SELECT count(*) FROM enriched_observables") == lake.engine.scalar(
        "SELECT count(*) FROM observables")
    assert lake.engine.rows("SELECT event_uid, source, event_time, field, type, value, score_id FROM "
                            "flagged_observables ORDER BY ALL") == lake.engine.rows(
        "SELECT event_uid, source, event_time, field, type, value, score_id FROM enriched_observables "
        "WHERE score_id > 0 ORDER BY ALL")
    assert lake.engine.scalar("SELECT count(*) FROM flagged_observables") > 0
    # old files of the replaced full run are gone from disk and catalog
    listed = {r[0] for r in lake.engine.rows("SELECT path FROM _cairn_files")}
    on_disk = {p.relative_to(lake.ws.lake).as_posix() for t in ("enriched_values", "enriched_verdicts",
                                                                 "intel_matches", "flagged_observables")
               for p in (lake.ws.lake / t).rglob("*") if p.is_file()}
    assert on_disk <= listed


def test_interrupted_refresh_leaves_previous_state(sample_lake: SampleLake, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    lake = sample_lake
    refresh(lake.engine, lake.ws)
    before = lake.engine.rows("SELECT count(*), sum(score_id) FROM enriched_observables")
    state = lake.engine.rows("SELECT * FROM _cairn_enrich_state")
    ipsum, _ = _slices(tmp_path)
    lake.load(ipsum, "ipsum")
    calls = {"n": 0}
    original = refresh_mod.pq.read_metadata

    def boom(path: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt("killed mid-commit")
        return original(path)

    monkeypatch.setattr(refresh_mod.pq, "read_metadata", boom)
    with pytest.raises(KeyboardInterrupt):
        refresh(lake.engine, lake.ws)
    monkeypatch.undo()
    assert lake.engine.rows("SELECT count(*), sum(score_id) FROM enriched_observables") == before
    assert lake.engine.rows("SELECT * FROM _cairn_enrich_state") == state
    s = refresh(lake.engine, lake.ws)  # the next writer sweeps the moved-but-unlisted files and redoes the work
    assert s.mode == "full"
    listed = {r[0] for r in lake.engine.rows("SELECT path FROM _cairn_files")}
    on_disk = {p.relative_to(lake.ws.lake).as_posix() for p in lake.ws.lake.rglob("*.parquet")}
    assert on_disk == listed
    assert lake.engine.scalar("SELECT count(*) FROM enriched_observables") == before[0][0]


def test_retrohunt_reports_only_new_matches(sample_lake: SampleLake, tmp_path: Path) -> None:
    lake = sample_lake
    r0 = retrohunt(lake.engine, lake.ws)
    assert r0.new.num_rows == 0 and r0.previous_run is None
    ips = [r[0] for r in lake.engine.rows("SELECT DISTINCT value FROM observables WHERE type = 'ip' "
                                          "ORDER BY value LIMIT 3")]
    feed = csv_feed(tmp_path / "late.csv", [{"value": ips[0], "type": "ip", "threat_type": "c2", "confidence": 90}])
    lake.load(feed, "late", fmt="csv", columns=CSV_COLUMNS)
    r1 = retrohunt(lake.engine, lake.ws)  # intel arrived after the logs
    n0 = lake.engine.scalar("SELECT count(*) FROM observables WHERE type = 'ip' AND value = ?", [ips[0]])
    assert r1.new.num_rows == n0 > 0 and r1.previous_run == r0.run_id
    row = r1.new.to_pylist()[0]
    assert row["value"] == ips[0] and row["intel_source"] == "late" and row["score_id"] >= 9 and row["feed_version"]
    assert retrohunt(lake.engine, lake.ws).new.num_rows == 0  # reported once
    # a new version with the same indicator plus a new one: only the new indicator's matches are reported
    feed = csv_feed(tmp_path / "late2.csv", [{"value": ips[0], "type": "ip", "threat_type": "c2", "confidence": 95},
                                             {"value": ips[1], "type": "ip", "threat_type": "c2"}])
    lake.load(feed, "late", fmt="csv", columns=CSV_COLUMNS)
    dry = retrohunt(lake.engine, lake.ws, record=False)
    r3 = retrohunt(lake.engine, lake.ws)
    assert {r["value"] for r in r3.new.to_pylist()} == {ips[1]}
    assert dry.new.num_rows == r3.new.num_rows
    # --since: events before it are not reported (and stay unreported for a later run without it)
    feed = csv_feed(tmp_path / "late3.csv", [{"value": ips[2], "type": "ip", "threat_type": "c2"}])
    lake.load(feed, "other", fmt="csv", columns=CSV_COLUMNS)
    assert retrohunt(lake.engine, lake.ws, since=lake.engine.scalar("SELECT max(event_time) FROM observables")
                     + timedelta(seconds=1)).new.num_rows == 0
    assert {r["value"] for r in retrohunt(lake.engine, lake.ws).new.to_pylist()} == {ips[2]}


def test_enriched_views_per_table(sample_lake: SampleLake) -> None:
    lake = sample_lake
    refresh(lake.engine, lake.ws)
    for table in ("cloudtrail", "vpcflow", "route53", "guardduty_findings", "securityhub_findings"):
        n = lake.engine.scalar(f"SELECT count(*) FROM {table}")
        assert lake.engine.scalar(f"SELECT count(*) FROM {table}_enriched") == n
    row = lake.dicts("SELECT event_uid, max_score_id, enrichment FROM cloudtrail_enriched "
                     "WHERE enrichment IS NOT NULL ORDER BY event_uid LIMIT 1")[0]
    fields = {e["field"] for e in row["enrichment"]}
    assert "sourceIPAddress" in fields or "userIdentity.arn" in fields
    assert row["max_score_id"] == max(e["score_id"] for e in row["enrichment"])
    # service-name source addresses are not IPs: no ip observable, nothing enriched as one
    assert lake.engine.scalar("SELECT count(*) FROM cloudtrail_enriched c WHERE c.source_ip_address = "
                              "'cloudtrail.amazonaws.com'") >= 0
    assert lake.engine.scalar("SELECT count(*) FROM enriched_observables WHERE type = 'ip' AND value LIKE "
                              "'%amazonaws.com'") == 0
