"""Native rules: file validation, and the shipped rules against Panther's labelled test events."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cairn.detect.native import RuleFileError, builtin_rules_dir, load_native_rules
from conftest import Lake
from detect.detect_support import run, settings
from detect.sigmadata import PANTHER, panther_events_file, panther_uid

# Panther rule -> the shipped native rule written with the same intent.
PANTHER_NATIVE = {
    "AWS.CloudTrail.Stopped": "cairn.aws.cloudtrail_stopped",
    "AWS.S3.SuspendVersioning": "cairn.aws.s3_versioning_suspended",
    "AWS.RDS.InstanceDeletion": "cairn.aws.rds_instance_deleted",
    "AWS.EC2.Traffic.Mirroring": "cairn.aws.ec2_traffic_mirroring",
    "AWS.S3.SecurityControlDisabling": "cairn.aws.s3_security_control_disabled",
    "AWS.S3.DisableBucketLogging": "cairn.aws.s3_bucket_logging_disabled",
    "AWS.KMS.CustomerManagedKeyLoss": "cairn.aws.kms_key_disabled_or_deleted",
    "AWS.Lambda.UpdateFunctionCode": "cairn.aws.lambda_code_updated_by_person",
    "AWS.RDS.DeletionProtectionDisabled": "cairn.aws.rds_deletion_protection_disabled",
    "AWS.RDS.AutomatedBackupDeleted": "cairn.aws.rds_automated_backup_deleted",
    "AWS.S3.DeleteBucketEncryption": "cairn.aws.s3_bucket_encryption_deleted",
    "AWS.S3.DeletePublicAccessBlock": "cairn.aws.s3_public_access_block_deleted",
    "AWS.IAM.Backdoor.User.Keys": "cairn.aws.iam_backdoor_user_keys",
    "AWS.ConfigService.DisabledDeleted": "cairn.aws.config_recording_disabled",
    "AWS.STS.GetCallerIdentity.TruffleHog": "cairn.aws.sts_trufflehog",
    "AWS.EC2.StopInstances": "cairn.aws.ec2_instances_stopped",
    "AWS.S3.BucketDeleted": "cairn.aws.s3_bucket_deleted",
    "AWS.VPCFlow.LogsDeleted": "cairn.aws.vpc_flow_logs_deleted",
    "AWS.IAM.Group.Read.Only.Events": "cairn.aws.iam_group_enumeration",
    "AWS.RDS.InstanceMadePublic": "cairn.aws.rds_instance_made_public",
    "AWS.RDS.SnapshotDeleted": "cairn.aws.rds_snapshot_deleted",
    "AWS.CloudTrail.SnapshotMadePublic": "cairn.aws.ebs_snapshot_shared",
    "AWS.Console.GetSigninToken.Abuse": "cairn.aws.console_getsignintoken_abuse",
    "AWS.CloudTrail.UnauthorizedAPICall": "cairn.aws.unauthorized_api_call",
    "AWS.CloudTrail.SecurityConfigurationChange": "cairn.aws.security_configuration_change",
}


def _cases() -> list[dict[str, Any]]:
    out = []
    for line in (PANTHER / "cloudtrail_labels.jsonl").read_text(encoding="utf-8").splitlines():
        case = json.loads(line)
        if case["rule_id"] in PANTHER_NATIVE and not case["has_mocks"]:
            out.append(case)
    return out


CASES = _cases()


@pytest.fixture(scope="module")
def panther_lake(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Lake, dict[str, set[str]], set[str]]]:
    """Panther's CloudTrail test events, the shipped native rules run over them: (lake, rule -> event uids,
    event uids in the lake)."""
    root = tmp_path_factory.mktemp("panther-native")
    lake = Lake(root / "ws")
    lake.ingest(panther_events_file(root / "panther.jsonl"))
    run(lake, settings(native=["builtin"]))
    hits: dict[str, set[str]] = {}
    for rid, uid in lake.rows("SELECT rule_id, event_uid FROM _cairn_alert_events"):
        hits.setdefault(rid, set()).add(uid)
    present = {r[0] for r in lake.rows("SELECT event_uid FROM cloudtrail")}
    yield lake, hits, present
    lake.close()


def test_at_least_15_panther_rules_have_a_native_port_with_labelled_cases() -> None:
    shipped = {r.id for r in load_native_rules(["builtin"])}
    assert set(PANTHER_NATIVE.values()) <= shipped
    covered = {c["rule_id"] for c in CASES}
    assert len(covered) >= 15 and covered == set(PANTHER_NATIVE)
    assert sum(c["expected_result"] for c in CASES) >= 30 and sum(not c["expected_result"] for c in CASES) >= 30


@pytest.mark.parametrize("case", CASES, ids=[f"{c['rule_id']}:{c['test_name']}" for c in CASES])
def test_native_rule_agrees_with_panther_label(case: dict[str, Any], panther_lake: Any) -> None:
    _, hits, present = panther_lake
    events = (PANTHER / "cloudtrail_events.jsonl").read_text(encoding="utf-8").splitlines()
    uid = panther_uid(events[case["line"] - 1])
    if uid not in present:
        # Panther's test event lacks what every trail record has (eventTime, eventSource): quarantined
        assert not case["expected_result"], "an event expected to alert was not loaded"
        return
    got = uid in hits.get(PANTHER_NATIVE[case["rule_id"]], set())
    assert got == case["expected_result"], case["test_name"]


def test_every_shipped_rule_is_documented_in_the_readme() -> None:
    readme = (builtin_rules_dir() / "README.md").read_text(encoding="utf-8")
    for r in load_native_rules(["builtin"]):
        assert f"`{r.id}`" in readme, r.id


# --- validation -------------------------------------------------------------------------------------------

GOOD = """id: t.rule
title: A rule
severity: medium
table: cloudtrail
condition: event_name = 'StopLogging'
"""


def _write(tmp_path: Path, text: str, name: str = "r.yml") -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def _error(tmp_path: Path, text: str) -> str:
    p = _write(tmp_path, text)
    with pytest.raises(RuleFileError) as exc:
        load_native_rules([p])
    assert str(p) in str(exc.value)
    assert exc.value.exit_code == 3
    return str(exc.value)


@pytest.mark.parametrize(("change", "message"), [
    ({"severity": "urgent"}, "severity: 'urgent' is not one of informational, low, medium, high, critical"),
    ({"table": "cloudtrial"}, "table: 'cloudtrial' is not a lake event table"),
    ({"condition": None}, "condition: a rule needs 'condition' (SQL WHERE) or 'query' (full SELECT)"),
    ({"query": "SELECT * FROM cloudtrail"}, "query: give either 'condition' or 'query', not both"),
    ({"condition": None, "query": "SELECT * FROM cloudtrail"}, "query: must read the new rows from {events}"),
    ({"condition": "event_name = 'x'; DROP TABLE alerts"}, "condition: one statement only"),
    ({"condition": "no_such_column = 1"}, "condition: DuckDB rejected the SQL: Binder Error"),
    ({"title_template": "{who} did it"}, "title_template: unknown placeholder {who}"),
    ({"dedup": ["identity", "bucket"]}, "dedup: unknown name 'bucket'"),
    ({"entities": {"user": "principal_arn"}}, "entities.user: unknown entity"),
    ({"entities": {"resource": "no_such(1)"}}, "entities: DuckDB rejected the SQL"),
    ({"threshold": {"count": 0, "window": "5m"}}, "threshold.count: must be a positive integer"),
    ({"threshold": {"count": 3}}, "threshold: must be {count: N, window: DURATION}"),
    ({"threshold": {"count": 3, "window": "5 minutes"}}, "threshold.window: expected a duration"),
    ({"threshold": {"count": 3, "window": "5m"}, "suppression": "1h"}, "set only threshold.window"),
    ({"suppression": "-1h"}, "suppression: expected a duration"),
    ({"id": "has space"}, "id: 'has space' must be letters"),
    ({"severity": None}, "severity: required"),
    ({"colour": "red"}, "colour: unknown key"),
    ({"fields": {"Bad-Name": "1"}}, "fields.Bad-Name: names are lower-case identifiers"),
])
def test_invalid_rule_names_file_key_and_reason(tmp_path: Path, change: dict[str, Any], message: str) -> None:
    import yaml

    doc = yaml.safe_load(GOOD)
    for k, v in change.items():
        if v is None:
            doc.pop(k, None)
        else:
            doc[k] = v
    assert message in _error(tmp_path, yaml.safe_dump(doc, sort_keys=False))


def test_yaml_errors_and_duplicate_ids_are_reported_with_every_other_problem(tmp_path: Path) -> None:
    _write(tmp_path, GOOD, "a.yml")
    _write(tmp_path, GOOD, "b.yml")
    _write(tmp_path, "id: [unclosed\n", "c.yml")
    _write(tmp_path, GOOD.replace("medium", "nope").replace("t.rule", "t.other"), "d.yml")
    with pytest.raises(RuleFileError) as exc:
        load_native_rules([tmp_path])
    text = str(exc.value)
    assert f"{tmp_path / 'b.yml'}: id: duplicate rule id 't.rule', first in {tmp_path / 'a.yml'}" in text
    assert f"{tmp_path / 'c.yml'}: not valid YAML" in text
    assert f"{tmp_path / 'd.yml'}: severity: 'nope'" in text


def test_query_rules_enriched_tables_and_disabled_rules(tmp_path: Path) -> None:
    _write(tmp_path, """id: t.query
title: q
severity: low
table: cloudtrail_enriched
query: >-
  SELECT *, max_score_id AS score FROM {events} WHERE coalesce(max_score_id, 0) >= 0
title_template: "{identity} score {score}"
fields: {score: "score"}
""", "q.yml")
    _write(tmp_path, GOOD.replace("t.rule", "t.off") + "enabled: false\n", "off.yml")
    (rule,) = load_native_rules([tmp_path])
    assert rule.id == "t.query" and rule.base_table == "cloudtrail" and rule.table == "cloudtrail_enriched"
    with pytest.raises(Exception, match="no such rule file or folder"):
        load_native_rules([tmp_path / "missing"])


def test_query_rule_runs_over_the_enriched_view(tmp_path: Path) -> None:
    from detect.detect_support import stop_logging, trail

    lake = Lake(tmp_path / "ws")
    try:
        lake.ingest(trail(tmp_path / "a.json", [stop_logging("e1", "2024-07-01T10:00:00Z")]))
        rules = tmp_path / "rules"
        rules.mkdir()
        _write(rules, """id: t.enriched
title: with enrichment
severity: low
table: cloudtrail_enriched
query: >-
  SELECT *, len(enrichment) AS n FROM {events} WHERE event_name = 'StopLogging'
title_template: "{identity}: {n} observables"
fields: {n: "n"}
""")
        s = run(lake, settings(native=[str(rules)]))
        (a,) = s.new_alerts
        assert a["title"].startswith("arn:aws:iam::111122223333:user/alice: ")
    finally:
        lake.close()
