"""Report outputs: JSON schema, Markdown, self-contained HTML (rendered in headless Chromium when
installed), ASFF Note/UserDefinedFields within the ASFF limits, Athena SQL that parses."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import sqlglot

from cairn.triage import TriageReport, triage
from cairn.triage.athena import athena_sql
from cairn.triage.identity import Identity
from cairn.triage.report import clamp_note, clamp_udf
from triage.conftest import stratus

TOP_KEYS = {"schema", "generated_at", "input", "window", "activity_source", "index", "identity", "resource",
            "counts", "by_api", "user_agents", "errors", "regions", "sensitive", "timeline", "baseline",
            "enrichment_method", "new_vs_baseline", "source_ips", "related", "notes", "timings"}


@pytest.fixture(scope="module")
def report(attack_lake: Any) -> TriageReport:
    recs = stratus("aws.exfiltration.ec2-security-group-open-port-22-ingress")
    r = recs[0]
    return triage(attack_lake.engine, attack_lake.ws,
                  {"identity": r["userIdentity"]["accessKeyId"], "time": r["eventTime"]})


def test_json_document(report: TriageReport) -> None:
    doc = json.loads(report.to_json())
    assert set(doc) == TOP_KEYS
    assert doc["schema"] == "cairn.triage/1"
    assert doc["window"]["start"].endswith("Z")
    s = doc["sensitive"][0]
    assert (s["category"], s["event_name"], s["details"]) == (
        "security_group_opening", "AuthorizeSecurityGroupIngress", ["open to the internet"])
    src = doc["source_ips"][0]
    assert set(src["enrichment"]) >= {"score_id", "score", "sources", "asn", "as_org", "country", "cloud_provider",
                                      "cloud_service", "is_tor", "warninglists", "network_zone"}
    assert doc["timeline"]["buckets"][0]["events"] == 1


def test_docs_describe_every_top_level_key() -> None:
    text = (Path(__file__).parents[2] / "docs" / "triage.md").read_text(encoding="utf-8")
    for key in TOP_KEYS:
        assert f"`{key}`" in text, key


def test_markdown(report: TriageReport) -> None:
    md = report.to_markdown()
    assert md.startswith("# Triage: ")
    for section in ("## Identity", "## Activity", "## Source addresses", "## Sensitive actions",
                    "## New compared with the baseline", "## Timeline", "## Related alerts and findings"):
        assert section in md
    assert "AuthorizeSecurityGroupIngress" in md and "open to the internet" in md


def test_html_is_self_contained(report: TriageReport) -> None:
    html = report.to_html()
    assert html.startswith("<!DOCTYPE html>") and "<svg" in html and "</svg>" in html
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)
    assert "<script" not in html and "@import" not in html


def test_html_escapes_values(attack_lake: Any) -> None:
    rep = triage(attack_lake.engine, attack_lake.ws,
                 {"identity": "<script>alert(1)</script>", "time": "2024-08-01T00:00:00Z"})
    assert "<script>alert(1)</script>" not in rep.to_html()
    assert "&lt;script&gt;" in rep.to_html()


@pytest.mark.skipif(shutil.which("chromium") is None, reason="chromium is not installed")
def test_html_renders_in_headless_chromium(report: TriageReport, tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    page.write_text(report.to_html(), encoding="utf-8")
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp_path / 'profile'}"]
    res = subprocess.run(["chromium", *flags, "--dump-dom", page.as_uri()],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert "<svg" in res.stdout and "AuthorizeSecurityGroupIngress" in res.stdout


def test_asff_fields_respect_limits(report: TriageReport) -> None:
    note, udf = report.asff_fields()
    assert 0 < len(note) <= 512
    assert 0 < len(udf) <= 50
    assert all(len(k) <= 128 and len(v) <= 1024 for k, v in udf.items())
    assert udf["cairn_triage_sensitive"] == "security_group_opening"
    existing = {f"k{i}": "v" for i in range(45)} | {"cairn_triage_events": "keep"}
    _, udf2 = report.asff_fields(existing)
    assert len(udf2) + len(existing) <= 50 and "cairn_triage_events" not in udf2


def test_clamps() -> None:
    assert len(clamp_note("x" * 2000)) == 512
    out = clamp_udf({"k" * 300: "v" * 5000, **{f"f{i}": "v" for i in range(80)}})
    assert len(out) == 50
    assert all(len(k) <= 128 and len(v) <= 1024 for k, v in out.items())


def test_athena_sql_parses_and_binds() -> None:
    from datetime import UTC, datetime

    ident = Identity(match_keys=["AKIA1"], match_identity_arns=["arn:aws:sts::1:assumed-role/R/s"],
                     match_principal_arns=["arn:aws:iam::1:role/R"], match_users=["o'brien"])
    out = athena_sql(ident, ["my-bucket"], datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 1, 2, tzinfo=UTC))
    assert out["sql"].count("?") == len(out["parameters"])
    assert "o'brien" not in out["sql"]
    assert "'o''brien'" in out["sql_literal"]
    for dialect in ("athena", "trino"):
        tree = sqlglot.parse_one(out["sql_literal"], read=dialect)
        assert tree.find(sqlglot.exp.Table).name == "cloudtrail_logs"
    cols = {c.name for c in sqlglot.parse_one(out["sql_literal"], read="athena").find_all(sqlglot.exp.Column)}
    assert {"eventtime", "eventsource", "eventname", "sourceipaddress", "useragent", "errorcode",
            "requestparameters"} <= cols
    with pytest.raises(ValueError):
        athena_sql(ident, [], datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 1, 2, tzinfo=UTC), table="t; drop")
