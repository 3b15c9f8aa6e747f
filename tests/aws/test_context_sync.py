"""``cairn context sync aws`` against a moto server: Organizations, Account, STS, EC2, IAM, S3."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from cairn.context.aws import AwsContextSettings, Clients, sync_aws
from cairn.engines.duckdb_engine import DuckDBEngine
from cairn.lake.catalog import Catalog
from cairn.workspace import Workspace

from .conftest import ROLE, Org

SETTINGS = AwsContextSettings(role_name=ROLE, backoff_base=0.01)


@pytest.fixture
def ws(tmp_path: Path) -> Any:
    w = Workspace.open(tmp_path / "ws")
    e = DuckDBEngine(w.catalog_path)
    Catalog(e, w.lake)
    yield w, e
    e.close()


def _sync(ws: Any, settings: AwsContextSettings = SETTINGS, **kw: Any) -> Any:
    w, e = ws
    return sync_aws(w, e, settings, w.config.aws, **kw)


def _accounts(e: DuckDBEngine) -> dict[str, dict[str, Any]]:
    return {r["account_id"]: r for r in e.arrow("SELECT * FROM ctx_accounts").to_pylist()}


def test_sync_reads_the_organisation_tree_tags_and_contacts(org: Org, ws: Any) -> None:
    report = _sync(ws, AwsContextSettings(resources=False))
    _, e = ws
    accts = _accounts(e)
    assert report.accounts == 4 and set(accts) >= {org.payments, org.web_dev, org.lab}
    pay = accts[org.payments]
    assert pay["name"] == "payments-prod"
    assert pay["ou_path"] == "Root/Workloads/Prod" and pay["ou_path_list"] == ["Root", "Workloads", "Prod"]
    assert pay["owner"] == "payments-team"
    assert pay["environment"] == "prod"  # no environment tag: from the OU name
    assert pay["contacts"] == ["payments-prod@example.com", "OPERATIONS: Pay Ops <pay-ops@example.com>",
                               "SECURITY: Pay Sec <pay-sec@example.com>"]
    tags = dict(pay["tags"])
    assert tags["criticality"] == "high" and tags["owner"] == "payments-team"
    assert tags["aws:organizations:status"] == "ACTIVE"
    assert tags["aws:organizations:email"] == "payments-prod@example.com"
    assert tags["aws:organizations:ou_ids"] == f"{org.root}/{org.workloads}/{org.prod}"
    assert tags["aws:account:security_contact"] == "Pay Sec <pay-sec@example.com>"
    assert accts[org.web_dev]["ou_path"] == "Root/Workloads/Dev" and accts[org.web_dev]["environment"] == "dev"
    # A tag wins over the OU name, and is stored lower case like inventory values.
    assert accts[org.lab]["ou_path"] == "Root/Sandbox" and accts[org.lab]["environment"] == "research"
    assert {r["source"] for r in accts.values()} == {"aws"}
    assert {r["source_file"] for r in accts.values()} == {"aws://organizations"}
    assert pay["locator"] == f"account {org.payments}"
    calls = report.calls["by_operation"]
    # O(OUs) listing calls, one tags call per account, contacts per account and type.
    assert calls["organizations.ListTagsForResource"] == 4
    assert calls["account.GetAlternateContact"] == 4 * 3
    assert calls["organizations.ListAccountsForParent"] == 5  # root + 4 OUs
    loads = e.rows("SELECT source, source_file, kind, rows, is_current FROM ctx_loads")
    assert loads == [("aws", "aws://organizations", "accounts", 4, True)]


def test_sync_reads_resource_tags_through_the_assumed_role(org: Org, ws: Any) -> None:
    arns = org.add_resources()
    report = _sync(ws)
    _, e = ws
    assets = {r["resource_id"]: r for r in e.arrow("SELECT * FROM ctx_assets").to_pylist()}
    inst = assets[arns["instance"]]
    assert (inst["resource_type"], inst["name"], inst["account_id"], inst["region"]) == \
        ("ec2:instance", "pay-api-1", org.payments, "us-east-1")
    assert (inst["criticality"], inst["criticality_rank"], inst["team"]) == ("critical", 4, "payments-team")
    ledger = assets["arn:aws:s3:::pay-ledger"]
    assert (ledger["criticality"], ledger["account_id"], dict(ledger["tags"])["tier"]) == ("critical", org.payments,
                                                                                            "gold")
    assert assets["arn:aws:s3:::pay-scratch"]["criticality"] is None
    assert assets[arns["role"]]["resource_type"] == "iam:role"
    idents = {(r["kind"], r["value"]): r for r in e.arrow("SELECT * FROM ctx_identities").to_pylist()}
    assert idents[("role_arn", arns["role"])]["team"] == "payments-team"
    assert idents[("principal_arn", arns["user"])]["email"] == "alice@example.com"
    assert all(r["source_file"] == f"aws://resources/{org.payments}" for r in idents.values())
    # One AssumeRole per member account, never per resource.
    assert report.calls["by_operation"]["sts.AssumeRole"] == 3
    # The enrichment engine's matching sees them: an instance id, a role session.
    from cairn.context.lookup import match_values

    res = match_values(e, [arns["instance_id"], f"arn:aws:sts::{org.payments}:assumed-role/PayApi/i-0abc"], None)
    kinds = {(m["kind"], m["match_kind"]) for r in res for m in r["matches"]}
    assert ("assets", "resource_id") in kinds and ("identities", "role") in kinds and ("accounts", "arn_account") in kinds


def test_ttl_skips_calls_and_unchanged_content_is_not_rewritten(org: Org, ws: Any) -> None:
    _, e = ws
    first = _sync(ws)
    assert first.calls["calls"] > 20
    files = e.rows("SELECT path FROM _cairn_files WHERE table_name LIKE 'ctx_%' ORDER BY 1")
    again = _sync(ws)
    assert again.calls["calls"] == 0 and again.loads == []
    assert set(again.fresh) == {"aws://organizations", *(f"aws://resources/{a}" for a in
                                                         (org.payments, org.web_dev, org.lab))} - {""} or \
        "aws://organizations" in again.fresh
    forced = _sync(ws, force=True)
    assert forced.calls["calls"] == first.calls["calls"]
    assert {r.status for r in forced.loads} == {"unchanged"}
    assert e.rows("SELECT path FROM _cairn_files WHERE table_name LIKE 'ctx_%' ORDER BY 1") == files
    # A changed tag replaces the organisation's rows (one new load, the old one replaced).
    org.org.tag_resource(ResourceId=org.web_dev, Tags=[{"Key": "owner", "Value": "web-team"}])
    changed = _sync(ws, AwsContextSettings(role_name=ROLE, ttl="0"))
    statuses = {(r.source_file, r.kind): r.status for r in changed.loads}
    assert statuses[("aws://organizations", "accounts")] == "loaded"
    assert _accounts(e)[org.web_dev]["owner"] == "web-team"
    assert e.scalar("SELECT count(*) FROM ctx_loads WHERE source_file = 'aws://organizations'") == 2
    assert e.scalar("SELECT count(*) FROM ctx_loads WHERE source_file = 'aws://organizations' AND is_current") == 1


def test_an_account_leaving_the_organisation_loses_its_resources(org: Org, ws: Any) -> None:
    org.add_resources()
    _, e = ws
    _sync(ws)
    assert e.scalar("SELECT count(*) FROM ctx_assets WHERE account_id = ?", [org.payments]) >= 4
    org.org.remove_account_from_organization(AccountId=org.payments)
    report = _sync(ws, force=True)
    removed = {(r.source_file, r.kind) for r in report.loads if r.status == "removed"}
    assert (f"aws://resources/{org.payments}", "assets") in removed
    assert e.scalar("SELECT count(*) FROM ctx_assets WHERE account_id = ?", [org.payments]) == 0
    assert org.payments not in _accounts(e)


def test_pagination_over_many_accounts(org: Org, ws: Any) -> None:
    extra = [org.account(f"team-{i:02d}", org.dev) for i in range(22)]
    report = _sync(ws, AwsContextSettings(resources=False, contact_types=()))
    _, e = ws
    assert report.accounts == 4 + 22 and set(extra) <= set(_accounts(e))
    # Organizations returns at most 20 accounts a page: the Dev OU took two pages.
    assert report.calls["by_operation"]["organizations.ListAccountsForParent"] == 6


def test_throttling_is_retried_by_botocore_then_by_cairn(org: Org, ws: Any, local_server: Any,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """A proxy answers ThrottlingException to the first Organizations requests, then forwards to moto."""
    throttle = {"left": 5}

    def proxy(method: str, path: str, headers: dict[str, str], raw: bytes) -> tuple[int, dict, Any]:
        target = headers.get("X-Amz-Target", "")
        if "ListTagsForResource" in target and throttle["left"] > 0:
            throttle["left"] -= 1
            return 400, {"Content-Type": "application/x-amz-json-1.1"}, {
                "__type": "ThrottlingException", "message": "Rate exceeded"}
        keep = {k: v for k, v in headers.items() if k.lower() not in ("host", "content-length")}
        req = urllib.request.Request(org.endpoint + path, data=raw, method=method, headers=keep)
        with urllib.request.urlopen(req) as resp:
            return resp.status, {"Content-Type": resp.headers.get("Content-Type", "")}, resp.read()

    server = local_server(proxy)
    monkeypatch.setenv("CAIRN_AWS_ENDPOINT_URL_ORGANIZATIONS", server.url)
    w, e = ws
    sleeps: list[float] = []
    settings = AwsContextSettings(resources=False, contact_types=(), max_attempts=2, backoff_attempts=4,
                                  backoff_base=0.01)
    clients = Clients(w.config.aws, max_attempts=2, backoff_attempts=4, backoff_base=0.01, sleep=sleeps.append)
    report = sync_aws(w, e, settings, w.config.aws, clients=clients)
    assert report.accounts == 4 and throttle["left"] == 0
    assert report.calls["throttled"] == 5
    # Each throttled answer was followed by a botocore retry (same call, max_attempts=2) or, when botocore
    # gave up, by cairn's backoff (a new call after a sleep).
    c = report.calls
    assert c["backoffs"] == len(sleeps) >= 1 and all(0 < s <= 0.01 * 2 ** 4 for s in sleeps)
    assert c["http_attempts"] == c["calls"] + c["throttled"] - c["backoffs"]
    assert any("/" in p and "X-Amz-Target" in h for _, p, h, _ in server.requests)


def test_cli_sync_and_show(org: Org, cli: Any, tmp_path: Path) -> None:
    org.add_resources()
    ws = tmp_path / "cli-ws"
    r = cli("-w", ws, "--json", "context", "sync", "aws", "--role-name", ROLE)
    assert r.code == 0, r.err
    out = r.json()
    assert out["accounts"] == 4 and out["calls"]["calls"] > 0
    assert {(x["source_file"], x["kind"]) for x in out["loads"]} >= {("aws://organizations", "accounts"),
                                                                    (f"aws://resources/{org.payments}", "assets")}
    shown = cli("-w", ws, "--json", "context", "show", "accounts").json()
    assert {a["account_id"] for a in shown} >= {org.payments, org.lab}
    again = cli("-w", ws, "--json", "context", "sync", "aws", "--role-name", ROLE, "--ttl", "1h").json()
    assert again["calls"]["calls"] == 0
    table = cli("-w", ws, "context", "sync", "aws", "--ttl", "0", "--no-resources")
    assert table.code == 0 and "unchanged" in table.out
    bad = cli("-w", ws, "context", "sync", "aws", "--ttl", "soon")
    assert bad.code == 2 and "not a duration" in bad.err
    loads = json.loads(cli("-w", ws, "--json", "context", "show", "loads").out)
    assert any(x["source_file"] == "aws://organizations" for x in loads)


def test_settings_and_persistent_throttling(org: Org, cli: Any, tmp_path: Path, local_server: Any,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """[context.aws] is read and checked; throttling that never ends is a clear error (exit code 7)."""
    def always(method: str, path: str, headers: dict[str, str], raw: bytes) -> tuple[int, dict, Any]:
        return 400, {"Content-Type": "application/x-amz-json-1.1"}, {"__type": "TooManyRequestsException",
                                                                     "message": "slow down"}

    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "cairn.toml").write_text('[context.aws]\nmax_attempts = 1\nbackoff_attempts = 2\nbackoff_base = 0.01\n'
                                   'resources = false\n')
    monkeypatch.setenv("CAIRN_AWS_ENDPOINT_URL_ORGANIZATIONS", local_server(always).url)
    r = cli("-w", ws, "context", "sync", "aws")
    assert r.code == 7 and ("organizations DescribeOrganization: still throttled after 2 backoffs: "
                            "TooManyRequestsException") in " ".join(r.err.split())
    (ws / "cairn.toml").write_text('[context.aws]\nrole_nam = "x"\n')
    bad = cli("-w", ws, "context", "sync", "aws")
    assert bad.code == 2 and "unknown key(s) in [context.aws]: role_nam" in bad.err
    (ws / "cairn.toml").write_text('[context.aws]\nregions = "us-east-1"\n')
    assert "must be a list of text" in " ".join(cli("-w", ws, "context", "sync", "aws").err.split())
