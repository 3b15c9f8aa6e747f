"""SigmaHQ's CloudTrail rules on real data: conversion rate, Stratus techniques, Panther labels."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from cairn.detect.sigma import RuleSet, load_rules
from detect.sigmadata import PANTHER, SIGMAHQ, panther_uid

STRATUS_DIR = "stratus-red-team"
TECHNIQUES = sorted(p.stem for p in (Path(__file__).parents[2] / "src" / "cairn" / "data" / "samples"
                                     / "cloudtrail" / STRATUS_DIR).glob("*.json"))

# Technique -> the SigmaHQ rules (file names) that must fire on its detonation, found by reading
# the rules' detections and the API calls of each technique file.
TARGETED: dict[str, set[str]] = {
    "aws.defense-evasion.cloudtrail-stop": {"aws_cloudtrail_disable_logging"},
    "aws.defense-evasion.cloudtrail-delete": {"aws_cloudtrail_disable_logging"},
    "aws.defense-evasion.vpc-remove-flow-logs": {"aws_cloudtrail_vpc_flow_logs_deleted"},
    "aws.execution.ssm-send-command": {"aws_cloudtrail_ssm_malicious_usage"},
    # the technique runs its command on the instance through ssm:SendCommand
    "aws.credential-access.ec2-steal-instance-credentials": {"aws_cloudtrail_ssm_malicious_usage"},
    "aws.exfiltration.ec2-security-group-open-port-22-ingress": {"aws_cloudtrail_security_group_change_ingress_egress"},
    "aws.exfiltration.ec2-share-ebs-snapshot": {"aws_snapshot_backup_exfiltration"},
    "aws.initial-access.console-login-without-mfa": {"aws_cloudtrail_console_login_success_without_mfa"},
    "aws.persistence.iam-backdoor-user": {"aws_iam_backdoor_users_keys"},
    # CreateAccessKey for the new admin user, by another identity
    "aws.persistence.iam-create-admin-user": {"aws_iam_backdoor_users_keys"},
    "aws.persistence.lambda-layer-extension": {"aws_new_lambda_layer_attached"},
    "aws.privilege-escalation.iam-update-user-login-profile": {"aws_update_login_profile"},
}

# Techniques a SigmaHQ rule is written for, but which it does not raise on these logs: why.
MISSED: dict[str, str] = {
    "aws.execution.ec2-user-data": "aws_ec2_startup_script_change wants requestParameters.attribute: userData; "
    "modify-instance-attribute --user-data logs requestParameters.userData instead",
    "aws.credential-access.ec2-steal-instance-credentials": "aws_cloudtrail_imds_malicious_usage matches roles "
    "named aws:* (EC2 instance identity roles); the detonation's role is its own",
}

# Technique -> the rules of SigmaHQ's unsupported/ (Sigma 1 count() aggregations, run as correlations by
# cairn.detect.sigma.legacy) that must fire on its detonation, and no others.
LEGACY_TARGETED: dict[str, set[str]] = {
    "aws.discovery.ec2-download-user-data": {"aws_ec2_download_userdata"},  # 12 DescribeInstanceAttribute in 30 m
    "aws.credential-access.ec2-get-password-data": {"aws_enum_backup"},  # 10 GetPasswordData in 10 m
}

# Techniques no SigmaHQ CloudTrail rule looks for (the API calls they make are not in any rule).
NO_RULE: dict[str, str] = {
    "aws.credential-access.secretsmanager-batch-retrieve-secrets": "BatchGetSecretValue",
    "aws.credential-access.secretsmanager-retrieve-secrets": "GetSecretValue, ListSecrets",
    "aws.credential-access.ssm-retrieve-securestring-parameters": "GetParameters",
    "aws.defense-evasion.cloudtrail-event-selectors": "PutEventSelectors (the CloudTrail rule covers "
    "StopLogging, UpdateTrail, DeleteTrail)",
    "aws.defense-evasion.dns-delete-logs": "DeleteResolverQueryLogConfig",
    "aws.defense-evasion.organizations-leave": "LeaveOrganization",
    "aws.execution.ec2-launch-unusual-instances": "RunInstances",
    "aws.execution.ssm-start-session": "StartSession",
    "aws.exfiltration.ec2-share-ami": "ModifyImageAttribute",
    "aws.exfiltration.rds-share-snapshot": "ModifyDBSnapshotAttribute",
    "aws.impact.bedrock-invoke-model": "InvokeModel",
    "aws.lateral-movement.ec2-instance-connect": "SendSSHPublicKey",
    "aws.lateral-movement.ec2-serial-console-send-ssh-public-key": "SendSerialConsoleSSHPublicKey",
    "aws.persistence.iam-backdoor-role": "UpdateAssumeRolePolicy",
    "aws.persistence.iam-create-backdoor-role": "CreateRole, AttachRolePolicy",
    "aws.persistence.iam-create-user-login-profile": "CreateLoginProfile (the S3 Browser rule also wants its "
    "user agent)",
    "aws.persistence.lambda-backdoor-function": "AddPermission",
    "aws.persistence.lambda-overwrite-code": "UpdateFunctionCode",
    "aws.persistence.rolesanywhere-create-trust-anchor": "CreateTrustAnchor",
    "aws.persistence.sts-federation-token": "GetFederationToken",
}

# Rules allowed to fire on any technique: documented false positives.
DOCUMENTED_FP: dict[str, str] = {
    "aws_sts_assumerole_misuse": "matches every call made with an assumed role session (the rule's own "
    "falsepositives: legitimate AssumeRole use)",
}


def _stem(entry_path: str) -> str:
    return Path(entry_path).stem


@pytest.fixture(scope="module")
def fired(corpus_matches: Any, sigmahq_rules: RuleSet) -> dict[str, set[str]]:
    """Technique -> SigmaHQ rule file names raised on its detonation."""
    stems = {e.id: _stem(e.path) for e in sigmahq_rules}
    out: dict[str, set[str]] = defaultdict(set)
    for rid, origin in zip(corpus_matches.column("rule_id").to_pylist(),
                           corpus_matches.column("origin").to_pylist(), strict=True):
        if f"/{STRATUS_DIR}/" in origin:
            out[Path(origin).stem].add(stems[rid])
    return out


def test_at_least_95_percent_of_sigmahq_rules_convert_and_bind(sigmahq_rules: RuleSet) -> None:
    assert len(sigmahq_rules) == 57
    assert sigmahq_rules.conversion_rate >= 0.95, [(e.path, e.reason) for e in sigmahq_rules.failed()]
    for e in sigmahq_rules.converted():
        assert e.table == "cloudtrail" and e.sql and e.author


def test_every_sigmahq_rule_runs_in_one_scan(corpus_lake: Any, sigmahq_rules: RuleSet, corpus_matches: Any) -> None:
    from cairn.detect.sigma import table_sql

    sql, _ = table_sql(sigmahq_rules, "cloudtrail", "_rules")
    assert sql.count('FROM "cloudtrail"') == 1
    assert sql.count("CASE WHEN") == len(sigmahq_rules.converted())
    assert corpus_matches.num_rows > 0


def test_unsupported_and_placeholder_rules() -> None:
    """SigmaHQ's unsupported/: the six count() aggregations run as correlations. The `near` rule has no
    timeframe (no window to correlate in) and the timeframe rule's `selection1 and selection2` asks one
    event for two eventNames (it means a correlation the rule cannot express): both fail with the reason."""
    rules = load_rules([SIGMAHQ / "unsupported", SIGMAHQ / "rules-placeholder"])
    written = {_stem(e.path): e for e in rules.written()}
    assert len(written) == 9 and len(rules) == 15
    assert {n for n, e in written.items() if e.reason is None} == {
        "aws_enum_backup", "aws_enum_listing", "aws_enum_network", "aws_enum_storage", "aws_ec2_download_userdata",
        "aws_macic_evasion"}
    assert all(e.kind == "correlation" for e in written.values() if e.reason is None)
    assert written["aws_macic_evasion"].correlation.group_by[0][0] == "sourceIPAddress"
    assert "pipe syntax" in (written["aws_lambda_function_created_or_invoked"].reason or "")
    assert "'near' without a 'timeframe'" in (written["aws_lambda_function_created_or_invoked"].reason or "")
    assert "timeframe" in (written["aws_ses_messaging_enabled"].reason or "")
    assert "eventName is 'UpdateAccountSendingEnabled' (selection1) and 'VerifyEmailIdentity' (selection2): " \
           "it never matches" in (written["aws_ses_messaging_enabled"].reason or "")
    assert "unknown field 'src_country'" in (
        written["aws_cloudtrail_console_login_success_from_susp_locations"].reason or "")


def test_at_least_95_percent_of_all_66_sigmahq_rules_convert() -> None:
    rules = load_rules([SIGMAHQ])
    assert len(rules.written()) == 66
    assert sum(e.reason is None for e in rules.written()) == 63 and rules.conversion_rate >= 0.95


def test_legacy_aggregations_fire_on_their_techniques_only(corpus_lake: Any) -> None:
    from cairn.detect.sigma import run_rules

    rules = load_rules([SIGMAHQ / "unsupported"])
    stems = {e.id: _stem(e.path) for e in rules}
    matches = run_rules(corpus_lake.engine, rules)
    corpus_lake.engine.register("_legacy_matches", matches)
    try:
        rows = corpus_lake.engine.rows("SELECT DISTINCT m.rule_id, c.origin FROM _legacy_matches m "
                                       "JOIN cloudtrail c USING (event_uid)")
    finally:
        corpus_lake.engine.unregister("_legacy_matches")
    fired: dict[str, set[str]] = defaultdict(set)
    for rid, origin in rows:
        if f"/{STRATUS_DIR}/" in origin:
            fired[Path(origin).stem].add(stems[rid])
    assert dict(fired) == LEGACY_TARGETED


def test_every_stratus_technique_is_classified() -> None:
    assert len(TECHNIQUES) == 35
    classified = set(TARGETED) | set(MISSED) | set(NO_RULE) | set(LEGACY_TARGETED)
    assert classified == set(TECHNIQUES)
    assert not set(TARGETED) & set(NO_RULE) and not set(MISSED) & set(NO_RULE)


@pytest.mark.parametrize("technique", sorted(TARGETED))
def test_targeted_technique_raises_its_rule(technique: str, fired: dict[str, set[str]]) -> None:
    assert TARGETED[technique] <= fired[technique], fired[technique]


@pytest.mark.parametrize("technique", TECHNIQUES)
def test_no_rule_fires_on_an_unrelated_technique(technique: str, fired: dict[str, set[str]]) -> None:
    unexpected = fired[technique] - TARGETED.get(technique, set()) - set(DOCUMENTED_FP)
    assert not unexpected, f"{technique}: {unexpected}"


# Panther rules ported from (or equal to) a SigmaHQ rule, and the test cases where the two
# disagree because the rules differ, not because of cairn.
PANTHER_PAIRS = {
    "AWS.Bedrock.GuardrailUpdateDelete": {"aws_cloudtrail_bedrock_guardrail_deleted",
                                          "aws_cloudtrail_bedrock_guardrail_updated"},
    "AWS.CloudTrail.Stopped": {"aws_cloudtrail_disable_logging"},
    "AWS.Console.GetSigninToken.Abuse": {"aws_console_getsignintoken"},
    "AWS.IAM.Backdoor.User.Keys": {"aws_iam_backdoor_users_keys"},
    "AWS.RDS.MasterPasswordUpdated": {"aws_rds_change_master_password"},
    "AWS.RDS.PublicRestore": {"aws_rds_public_db_restore"},
    "AWS.S3.BucketDeleted": {"aws_cloudtrail_bucket_deleted"},
    "AWS.S3.SuspendVersioning": {"aws_disable_bucket_versioning"},
    "AWS.STS.GetCallerIdentity.TruffleHog": {"aws_sts_getcalleridentity_trufflehog"},
    "AWS.STS.GetSessionToken.Misuse": {"aws_sts_getsessiontoken_misuse"},
    "AWS.SecurityHub.Finding.Evasion": {"aws_securityhub_finding_evasion"},
    "AWS.Suspicious.SAML.Activity": {"aws_susp_saml_activity"},
    "AWS.User.Login.Profile.Modified": {"aws_update_login_profile"},
    "AWS.VPCFlow.LogsDeleted": {"aws_cloudtrail_vpc_flow_logs_deleted"},
    "AWS.ConfigService.DisabledDeleted": {"aws_config_disable_recording"},
    "AWS.CloudTrail.EnableRegion": {"aws_cloudtrail_region_enabled"},
    "AWS.EC2.Startup.Script.Change": {"aws_ec2_startup_script_change"},
}
PANTHER_DISAGREE = {
    "Error Stopping CloudTrail": "the Sigma rule ignores errorCode",
    "Error Deleting Config Recorder": "the Sigma rule ignores errorCode",
    "Versioning Change Failed": "the Sigma rule ignores errorCode",
    "Versioning Disabled Successfully": "Status Disabled: the Sigma rule looks for 'Suspended'",
    "user1 create keys for user1": "the Sigma filter compares the ARN with the literal text "
    "'responseElements.accessKey.userName' (no |fieldref)",
    "ChangeOwnPassword": "the Sigma rule's |fieldref compares a full ARN with a user name",
    "CreateSAMLProvider": "the Sigma rule covers AssumeRoleWithSAML and UpdateSAMLProvider only",
    "DeleteSAMLProvider": "the Sigma rule covers AssumeRoleWithSAML and UpdateSAMLProvider only",
    "EnableRegion": "Panther's event has eventSource cloudtrail.amazonaws.com; the Sigma rule wants "
    "account.amazonaws.com",
    "ModifyInstanceAttributeUserdata": "requestParameters.userData, not attribute: userData (as for Stratus)",
}


def test_sigma_agrees_with_panther_labels_except_documented_rule_differences(
    corpus_matches: Any, sigmahq_rules: RuleSet
) -> None:
    stems = {e.id: _stem(e.path) for e in sigmahq_rules}
    by_uid: dict[str, set[str]] = defaultdict(set)
    for rid, uid in zip(corpus_matches.column("rule_id").to_pylist(),
                        corpus_matches.column("event_uid").to_pylist(), strict=True):
        by_uid[uid].add(stems[rid])
    events = (PANTHER / "cloudtrail_events.jsonl").read_text(encoding="utf-8").splitlines()
    checked, disagreements = 0, {}
    for line in (PANTHER / "cloudtrail_labels.jsonl").read_text(encoding="utf-8").splitlines():
        case = json.loads(line)
        if case["rule_id"] not in PANTHER_PAIRS or case["has_mocks"]:
            continue
        event = json.loads(events[case["line"] - 1])
        if "eventTime" not in event:  # quarantined by the ingest (no time)
            continue
        got = bool(by_uid[panther_uid(events[case["line"] - 1])] & PANTHER_PAIRS[case["rule_id"]])
        checked += 1
        if got != case["expected_result"]:
            disagreements[case["test_name"]] = (case["rule_id"], case["expected_result"], got)
    assert checked >= 40
    assert set(disagreements) == set(PANTHER_DISAGREE), disagreements
