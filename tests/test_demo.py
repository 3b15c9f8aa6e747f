"""``cairn demo``: ingest -> bundled intel -> bundled context -> enrichment -> detection -> actions -> triage
-> report, in text and JSON."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any


def test_demo_json_report(cli: Any, tmp_path: Path) -> None:
    started = time.monotonic()
    r = cli("-w", tmp_path / "demo", "--json", "demo")
    assert r.code == 0, r.err
    d = r.json()
    assert d["ingest"]["loaded"] == 441 and d["ingest"]["balanced"]
    assert {f["source"]: f["loaded"] > 1000 for f in d["intel"]} == {"maltrail": True, "ipsum": True}
    assert {c["kind"] for c in d["context"]} == {"accounts", "networks", "identities", "assets"}
    assert d["enrichment"]["mode"] == "full"
    rep = d["report"]
    assert rep["observables"] == 2981
    # the one real feed hit in the samples: maltrail lists the queried domain (njrat) and its parent
    bad = {x["value"]: x for x in rep["flagged"]}
    assert set(bad) == {"webservicepag.webhop.net"}
    hit = bad["webservicepag.webhop.net"]
    assert hit["score_id"] >= 7 and hit["sources"] == ["maltrail"] and hit["tables"] == ["route53"]
    assert "njrat-1" in hit["why"] and any("asset owner" in x for x in hit["involved"])
    assert rep["intel_matches"] >= 2
    # unusual: reserved / documentation addresses, never private ones
    assert rep["unusual"] and all(u["why"] != "private" for u in rep["unusual"])
    assert any(u["why"] == "reserved" for u in rep["unusual"])
    # identities with their owners from the bundled inventory
    top = rep["identities"][0]
    assert top["identity"] == "arn:aws:iam::123456789123:user/pedro" and top["person"] == "Pedro Example"
    q = cli("-w", tmp_path / "demo", "--json", "query", "SELECT principal_arn, count(*) AS calls, "
            "count(*) FILTER (WHERE status = 'failure') AS failed FROM cloudtrail GROUP BY 1")
    by_sql = {r["principal_arn"]: (r["calls"], r["failed"]) for r in q.json()}
    assert {i["identity"]: (i["calls"], i["failed"]) for i in rep["identities"]} == {
        i["identity"]: by_sql[i["identity"]] for i in rep["identities"]}  # role sessions counted once
    summaries = cli("-w", tmp_path / "demo", "--json", "query", "SELECT enrichment_summary FROM alerts").json()
    accounts = [a for r in summaries for a in json.loads(r["enrichment_summary"])["accounts"]]
    assert accounts and all(a["account"].isdigit() and len(a["account"]) == 12 for a in accounts)  # no ARNs
    assert len(rep["findings"]) == 10
    # detection: the bundled SigmaHQ rules, the native rules and the intel-match rule
    det = d["detection"]
    assert det["rules"] == {"sigma": 57, "native": 26, "intel": 1} and det["failed_sigma"] == 0
    alerts = det["alerts"]
    assert len(alerts) >= 30 and {a["source"] for a in alerts} >= {"cloudtrail"}
    sigma = [a for a in alerts if a["author"]]  # Sigma rules name their authors (DRL)
    assert sigma and all(len(a["rule_id"]) == 36 for a in sigma)
    assert any(a["rule_id"].startswith("cairn.aws.") for a in alerts)
    # actions: every alert to the file, high and critical ones triaged first
    counts = det["delivery"]["actions"]
    assert counts["demo-alerts"]["delivered"] == len(alerts)
    high = sum(a["severity"] in ("high", "critical") for a in alerts)
    assert high and counts["demo-triaged"]["delivered"] == high
    lines = Path(det["outputs"]["demo-alerts"]).read_text(encoding="utf-8").splitlines()
    assert len(lines) == len(alerts)
    # triage of the top alert: a CloudTrail identity with its activity, reports written
    tri = d["triage"]
    top = det["top_alert"]
    assert top["severity"] == alerts[0]["severity"] and tri["identity"]["principal_arn"] == top["identity"]
    assert tri["counts"]["events"] > 1 and tri["source_ips"] and tri["by_api"]
    assert all(Path(f).stat().st_size > 1000 for f in det["triage_files"].values())
    assert time.monotonic() - started < 120  # ~10 s on a quiet machine; generous for a shared CI box


def test_demo_text_report(cli: Any, tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.setenv("COLUMNS", "160")
    r = cli("-w", tmp_path / "demo", "demo")
    assert r.code == 0, r.err
    for heading in ("malicious and suspicious observables", "unusual addresses", "most active identities",
                    "findings", "webservicepag.webhop.net", "Probably Malicious", "Pedro Example",
                    "alerts (most severe first", "cairn triage", "activity by API", "triage report:"):
        assert heading in r.out, heading
    # --keep reuses the workspace: nothing new to ingest or enrich
    r2 = cli("-w", tmp_path / "demo", "--json", "demo", "--keep")
    d2 = r2.json()
    assert r2.code == 0 and d2["ingest"]["loaded"] == 0 and d2["report"]["observables"] == 2981
    # and detection raises nothing new, so nothing is delivered again
    assert d2["detection"]["delivery"]["enqueued"] == 0 and d2["detection"]["alerts"]
