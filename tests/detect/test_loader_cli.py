"""Loading rules (every rule accounted for, with a reason when it fails) and ``cairn sigma``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from cairn.detect.sigma import CairnDuckDBBackend, cairn_pipeline, load_rules
from cairn.errors import InputError
from detect.sigmadata import SIGMAHQ, ct, rule_yaml, write_records

GOOD = rule_yaml({"sel": {"eventName": "StopLogging"}, "condition": "sel"}, title="good")


@pytest.mark.parametrize(("text", "reason"), [
    (rule_yaml({"sel": {"EventID": 4688}, "condition": "sel"}, logsource={"product": "windows"}),
     "no lake table serves log source {product: windows}"),
    (rule_yaml({"sel": {"event.action": "x"}, "condition": "sel"}), "unknown field 'event.action'"),
    (rule_yaml({"sel": {"eventName": "x"}, "condition": "sel | count() > 5"}), "pipe syntax"),
    (rule_yaml({"sel": {"eventName": "x"}, "condition": "sel and nosuch"}), "nosuch"),
    (rule_yaml({"sel": {"eventName|re": "(?<=a)b"}, "condition": "sel"}), "is invalid"),
    (rule_yaml({"sel": {"eventName|nosuchmod": "x"}, "condition": "sel"}), "nosuchmod"),
    (rule_yaml({"sel": {"sourceIPAddress|cidr": "300.1.2.3/8"}, "condition": "sel"}), "300.1.2.3/8"),
    ("title: [unclosed\n", "unreadable rule file"),
])
def test_failures_carry_their_reason(text: str, reason: str) -> None:
    rules = load_rules(texts={"good.yml": GOOD, "bad.yml": text})
    assert [e.status for e in rules] == ["converted", "failed"]
    assert reason in (rules.entries[1].reason or ""), rules.entries[1].reason


def test_sql_that_duckdb_rejects_fails_the_rule() -> None:
    from dataclasses import replace

    from cairn.detect.sigma.validate import validate_entries

    (entry,) = load_rules(texts={"good.yml": GOOD}).entries
    broken = replace(entry, sql="no_such_function(event_name)")
    (checked,) = validate_entries([broken])
    assert checked.status == "failed" and "DuckDB rejected the SQL" in (checked.reason or "")
    assert checked.sql == broken.sql


def test_duplicate_ids_are_reported_not_dropped() -> None:
    rules = load_rules(texts={"a.yml": GOOD, "b.yml": GOOD})
    assert len(rules) == 2 and "duplicate rule id" in (rules.entries[1].reason or "")


def test_missing_path_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError):
        load_rules([tmp_path / "nope"])


def test_status_table_lists_every_rule() -> None:
    table = load_rules([SIGMAHQ]).status_table()
    assert table.num_rows == 72  # 66 rules, 6 of them Sigma 1 aggregations with a generated search
    assert sum(v is not None for v in table.column("part_of").to_pylist()) == 6
    assert set(table.column("status").to_pylist()) == {"converted", "failed"}


def test_backend_converts_a_collection_like_any_pysigma_backend() -> None:
    from sigma.collection import SigmaCollection

    backend = CairnDuckDBBackend(cairn_pipeline())
    (query,) = backend.convert(SigmaCollection.from_yaml(GOOD))
    assert query == "lower(\"event_name\") = 'stoplogging'"


def test_other_logsources_map_their_fields() -> None:
    texts = {
        "dns.yml": rule_yaml({"sel": {"query|endswith": ".evil.example", "rcode": "NOERROR"}, "condition": "sel"},
                             logsource={"product": "aws", "service": "route53"}),
        "gd.yml": rule_yaml({"sel": {"type|startswith": "UnauthorizedAccess:",
                                     "service.action.awsApiCallAction.api": "GetObject"}, "condition": "sel"},
                            logsource={"product": "aws", "service": "guardduty"}),
        "sh.yml": rule_yaml({"sel": {"Severity.Label": "CRITICAL", "Types|contains": "TTPs"}, "condition": "sel"},
                            logsource={"product": "aws", "service": "securityhub"}),
    }
    rules = load_rules(texts=texts)
    assert [e.table for e in rules] == ["route53", "guardduty_findings", "securityhub_findings"]
    assert all(e.reason is None for e in rules), [e.reason for e in rules]
    assert '"query_domain"' in str(rules.entries[0].sql) and '"api"' in str(rules.entries[1].sql)
    assert 'list_filter("types"' in str(rules.entries[2].sql)


def test_cli_convert_and_run(cli: Any, tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    write_records(tmp_path / "ct.json", [ct("stop", eventSource="cloudtrail.amazonaws.com", eventName="StopLogging")])
    assert cli("-w", ws, "ingest", tmp_path / "ct.json").code == 0
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "good.yml").write_text(GOOD, encoding="utf-8")
    (tmp_path / "rules" / "bad.yml").write_text(
        rule_yaml({"sel": {"nosuch.field": "x"}, "condition": "sel"}, title="bad"), encoding="utf-8")

    got = cli("-w", ws, "sigma", "convert", tmp_path / "rules", "--json")
    assert got.code == 0, got.err
    doc = got.json()
    assert doc["total"] == 2 and doc["converted"] == 1
    bad = next(r for r in doc["rules"] if r["title"] == "bad")
    assert bad["status"] == "failed" and "unknown field" in bad["reason"]

    got = cli("-w", ws, "sigma", "run", tmp_path / "rules", "--json", "--since", "2024-01-01T00:00:00Z")
    assert got.code == 0, got.err
    doc = got.json()
    assert [m["event_uid"] for m in doc["matches"]] == ["stop"]
    assert doc["matches"][0]["rule_author"] == "cairn tests" and len(doc["failed_rules"]) == 1

    got = cli("-w", ws, "sigma", "run", tmp_path / "rules", "--since", "2030-01-01T00:00:00Z")
    assert got.code == 0 and "Sigma matches (0)" in got.out

    got = cli("-w", ws, "sigma", "convert", tmp_path / "rules", "--sql")
    assert got.code == 0 and "stoplogging" in got.out

    assert cli("-w", ws, "sigma", "convert", tmp_path / "nope").code == 3
    assert cli("-w", ws, "sigma", "convert", tmp_path / "rules", "-p", "novalue").code == 2


def test_invalid_regex_fails_the_rule_without_noise_on_stderr(tmp_path: Path) -> None:
    """RE2's C library would log a bad pattern on fd 2: a subprocess shows that nothing but the listing
    is printed, and the listing gives the reason as text."""
    import json
    import subprocess
    import sys

    rule = tmp_path / "bad_re.yml"
    rule.write_text(rule_yaml({"sel": {"eventName|re": "(unclosed"}, "condition": "sel"}, title="bad re"),
                    encoding="utf-8")
    proc = subprocess.run([sys.executable, "-c", "from cairn.cli.main import run; run()", "-w", str(tmp_path / "ws"),
                           "--json", "sigma", "convert", str(rule)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stderr == ""
    (entry,) = json.loads(proc.stdout)["rules"]
    assert entry["status"] == "failed"
    assert entry["reason"].endswith("Regular expression '(unclosed' is invalid: missing ): (unclosed")


def test_every_profile_runs_on_its_table(lake: Any) -> None:
    """The scan of each served table binds (entity and common columns exist), even when empty."""
    from cairn.detect.sigma import run_rules
    from cairn.detect.sigma.profiles import PROFILES

    texts = {}
    for profile in PROFILES.values():
        _, product, service = profile.logsources[0]
        texts[f"{profile.table}.yml"] = rule_yaml(
            {"sel": {"event_uid|exists": True}, "condition": "sel"}, title=profile.table,
            logsource={"product": str(product), "service": str(service)})
    rules = load_rules(texts=texts)
    assert sorted(rules.tables()) == sorted(PROFILES), [e.reason for e in rules.failed()]
    assert run_rules(lake.engine, rules).num_rows == 0
