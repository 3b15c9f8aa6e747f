"""Benchmark: Security Hub write-back over many accounts costs O(accounts) context calls, not O(findings).

Against a moto server on 127.0.0.1 (Organizations, Account, STS) and the local Security Hub of the tests
(``tests/aws/securityhub_server.py``: GetFindings, BatchImportFindings, BatchUpdateFindings in the
documented REST-JSON shape), every API call counted through botocore's ``before-call`` event:

1. an organisation of ``--accounts`` accounts (OUs two levels deep, account tags, a SECURITY alternate
   contact on every tenth account) and ``--findings`` findings spread over them (85% Security Hub
   control findings, 15% GuardDuty findings with a remote IP, a third of those from the bundled ipsum
   list so that verdicts are real);
2. cairn: ``cairn context sync aws`` (Organizations only), then ``cairn securityhub enrich --backfill``;
   then both again (the sync within its TTL, the write-back finding every finding current);
3. baseline, same run: the per-finding flow of the AWS sample "enrich Security Hub findings with account
   metadata" (DescribeAccount, ListParents, DescribeOrganizationalUnit, ListTagsForResource,
   GetAlternateContact, one BatchUpdateFindings per finding) over ``--baseline`` findings.

Prints calls per operation, calls per account and per finding, findings/s, wall and CPU seconds, peak RSS.
Usage: python bench/context/run.py [--accounts 500] [--findings 10000] [--baseline 1000] [--json-out F]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import resource
import shutil
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "aws"))

from securityhub_server import FakeSecurityHub  # noqa: E402  (the tests' local Security Hub)

REGION = "us-east-1"
GD = f"arn:aws:securityhub:{REGION}::product/aws/guardduty"
CSPM = f"arn:aws:securityhub:{REGION}::product/aws/securityhub"


def cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def serve(handler: Any) -> tuple[Any, str]:
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class H(BaseHTTPRequestHandler):
        def _any(self) -> None:
            n = int(self.headers.get("Content-Length") or 0)
            status, headers, out = handler(self.command, self.path, dict(self.headers), self.rfile.read(n))
            data = out if isinstance(out, bytes) else json.dumps(out).encode()
            self.send_response(status)
            for k, v in {"Content-Type": "application/json", **headers}.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PATCH = _any

        def log_message(self, *a: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), H)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd, f"http://127.0.0.1:{httpd.server_address[1]}"


def build_org(moto: str, n_accounts: int, rng: random.Random) -> list[str]:
    import boto3

    org = boto3.client("organizations", endpoint_url=moto, region_name=REGION)
    acct = boto3.client("account", endpoint_url=moto, region_name=REGION)
    org.create_organization(FeatureSet="ALL")
    root = org.list_roots()["Roots"][0]["Id"]
    ous = []
    for top in ("Workloads", "Infrastructure", "Sandbox"):
        tid = org.create_organizational_unit(ParentId=root, Name=top)["OrganizationalUnit"]["Id"]
        for env in ("Prod", "Staging", "Dev"):
            ous.append(org.create_organizational_unit(ParentId=tid, Name=env)["OrganizationalUnit"]["Id"])
    ids = []
    for i in range(n_accounts):
        tags = [{"Key": "owner", "Value": f"team-{i % 40:02d}"}, {"Key": "cost-center", "Value": str(1000 + i % 97)},
                {"Key": "criticality", "Value": rng.choice(["low", "medium", "high", "critical"])}]
        a = org.create_account(Email=f"acct-{i:04d}@example.com", AccountName=f"acct-{i:04d}", Tags=tags)
        aid = a["CreateAccountStatus"]["AccountId"]
        org.move_account(AccountId=aid, SourceParentId=root, DestinationParentId=ous[i % len(ous)])
        if i % 10 == 0:
            acct.put_alternate_contact(AccountId=aid, AlternateContactType="SECURITY", Name=f"Sec {i}",
                                       Title="SecOps", EmailAddress=f"sec-{i}@example.com", PhoneNumber="+1")
        ids.append(aid)
    return ids


def make_findings(accounts: list[str], n: int, bad_ips: list[str], rng: random.Random) -> list[dict[str, Any]]:
    out = []
    for i in range(n):
        account = accounts[i % len(accounts)]
        if rng.random() < 0.15:
            ip = rng.choice(bad_ips) if rng.random() < 1 / 3 else \
                f"{rng.randint(11, 199)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
            out.append({
                "SchemaVersion": "2018-10-08", "ProductArn": GD, "AwsAccountId": account,
                "Id": f"arn:aws:guardduty:{REGION}:{account}:detector/d1/finding/{i:032x}",
                "GeneratorId": f"arn:aws:guardduty:{REGION}:{account}:detector/d1",
                "Types": ["TTPs/Command and Control/UnauthorizedAccess:EC2-MaliciousIPCaller.Custom"],
                "CreatedAt": "2026-11-27T09:00:00.000Z", "UpdatedAt": "2026-11-27T10:00:00.000Z",
                "Severity": {"Label": "MEDIUM", "Original": "5"}, "Title": "Outbound traffic to a listed IP",
                "Description": "An EC2 instance is communicating with an IP address on a threat list.",
                "Resources": [{"Type": "AwsEc2Instance", "Id": f"arn:aws:ec2:{REGION}:{account}:instance/i-{i:017x}"}],
                "Action": {"ActionType": "NETWORK_CONNECTION", "NetworkConnectionAction": {
                    "ConnectionDirection": "OUTBOUND", "RemoteIpDetails": {"IpAddressV4": ip}}},
                "ProductName": "GuardDuty", "CompanyName": "Amazon", "Region": REGION, "RecordState": "ACTIVE"})
        else:
            ctl = rng.choice(["S3.8", "EC2.19", "IAM.6", "CloudTrail.1", "KMS.4"])
            out.append({
                "SchemaVersion": "2018-10-08", "ProductArn": CSPM, "AwsAccountId": account,
                "Id": f"arn:aws:securityhub:{REGION}:{account}:security-control/{ctl}/finding/{i:012d}",
                "GeneratorId": f"security-control/{ctl}",
                "Types": ["Software and Configuration Checks/Industry and Regulatory Standards"],
                "CreatedAt": "2026-11-20T09:00:00.000Z", "UpdatedAt": "2026-11-27T10:00:00.000Z",
                "Severity": {"Label": "HIGH"}, "Title": f"Control {ctl} failed", "Description": f"Control {ctl}.",
                "Resources": [{"Type": "AwsAccount", "Id": f"AWS::::Account:{account}"}],
                "Compliance": {"Status": "FAILED", "SecurityControlId": ctl},
                "ProductName": "Security Hub", "CompanyName": "AWS", "Region": REGION, "RecordState": "ACTIVE"})
    return out


def baseline(findings: list[dict[str, Any]], management: str) -> dict[str, Any]:
    """The AWS sample's per-finding flow, with real boto3 calls, counted the same way."""
    import boto3
    from botocore.config import Config
    from botocore.exceptions import ClientError

    from cairn.context.aws.clients import CallCounter

    counter = CallCounter()
    cfg = Config(retries={"mode": "standard", "max_attempts": 5})
    org = counter.attach(boto3.client("organizations", region_name=REGION, config=cfg,
                                      endpoint_url=os.environ["CAIRN_AWS_ENDPOINT_URL"]))
    acct = counter.attach(boto3.client("account", region_name=REGION, config=cfg,
                                       endpoint_url=os.environ["CAIRN_AWS_ENDPOINT_URL"]))
    sh = counter.attach(boto3.client("securityhub", region_name=REGION, config=cfg,
                                     endpoint_url=os.environ["CAIRN_AWS_ENDPOINT_URL_SECURITYHUB"]))
    t0, c0 = time.perf_counter(), cpu()
    for f in findings:
        aid = f["AwsAccountId"]
        name = org.describe_account(AccountId=aid)["Account"]["Name"]
        parent = org.list_parents(ChildId=aid)["Parents"][0]
        ou = org.describe_organizational_unit(OrganizationalUnitId=parent["Id"])["OrganizationalUnit"]["Name"] \
            if parent["Type"] == "ORGANIZATIONAL_UNIT" else "ROOT"
        tags = [t for p in org.get_paginator("list_tags_for_resource").paginate(ResourceId=aid) for t in p["Tags"]]
        contact = ""
        try:
            c = acct.get_alternate_contact(AccountId=aid, AlternateContactType="SECURITY")["AlternateContact"]
            contact = f"{c.get('Name')}|{c.get('EmailAddress')}"
        except ClientError:
            pass
        udf = {t["Key"]: t["Value"] for t in tags}
        udf.update(AccountName=name, OU=ou, findingEnriched="True", securityContact=contact or "none")
        sh.batch_update_findings(FindingIdentifiers=[{"Id": f["Id"], "ProductArn": f["ProductArn"]}],
                                 Note={"Text": f"Account Name: {name} OU Name: {ou}"[:512],
                                       "UpdatedBy": "Security Hub - Enrichment Automation"},
                                 UserDefinedFields=udf)
    wall, cpus = time.perf_counter() - t0, cpu() - c0
    return {"findings": len(findings), **counter.to_dict(), "wall_s": round(wall, 2), "cpu_s": round(cpus, 2),
            "findings_per_s": round(len(findings) / wall, 1),
            "calls_per_finding": round(counter.total / len(findings), 2)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--accounts", type=int, default=500)
    ap.add_argument("--findings", type=int, default=10_000)
    ap.add_argument("--baseline", type=int, default=1000, help="findings for the per-finding baseline")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "context")
    ap.add_argument("--json-out", type=Path)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)

    from moto.server import ThreadedMotoServer

    moto_srv = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto_srv.start()
    host, port = moto_srv.get_host_and_port()
    moto = f"http://{host}:{port}"
    hub = FakeSecurityHub()
    httpd, hub_url = serve(hub)
    for var in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
        os.environ.pop(var, None)
    os.environ.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION=REGION,
                      CAIRN_AWS_ENDPOINT_URL=moto, CAIRN_AWS_ENDPOINT_URL_SECURITYHUB=hub_url)
    import boto3

    from cairn.actions.securityhub_writeback import WritebackOptions, run_writeback
    from cairn.context.aws import AwsContextSettings, Clients, sync_aws
    from cairn.demo import BUNDLED_FEEDS, intel_dir
    from cairn.engines.duckdb_engine import DuckDBEngine
    from cairn.enrich.materialize import prepare
    from cairn.intel.feeds import load_target
    from cairn.intel.store import IntelStore
    from cairn.lake.catalog import Catalog
    from cairn.workspace import Workspace

    t = time.perf_counter()
    accounts = build_org(moto, args.accounts, rng)
    ipsum = (intel_dir() / "ipsum-top1500.txt").read_text().split()
    bad_ips = [x for x in ipsum if x[0].isdigit()][:300]
    findings = make_findings(accounts, args.findings, bad_ips, rng)
    sh = boto3.client("securityhub", endpoint_url=hub_url, region_name=REGION)
    for i in range(0, len(findings), 100):
        sh.batch_import_findings(Findings=findings[i:i + 100])
    shutil.rmtree(args.out, ignore_errors=True)
    ws = Workspace.open(args.out / "ws")
    engine = DuckDBEngine(ws.catalog_path, temp_directory=ws.root / "tmp")
    Catalog(engine, ws.lake)
    store = IntelStore(ws, engine)
    for name, file, fmt in BUNDLED_FEEDS:
        load_target(store, str(intel_dir() / file), name, fmt=fmt)
    with ws.writer_lock():
        prepare(engine, ws)
    print(f"setup: {len(accounts)} accounts, {len(findings):,} findings ({time.perf_counter() - t:.0f}s)",
          flush=True)

    results: dict[str, Any] = {"accounts": len(accounts), "findings": len(findings)}
    settings = AwsContextSettings(resources=False, contact_types=("SECURITY",))

    def step(name: str, fn: Any) -> Any:
        t0, c0 = time.perf_counter(), cpu()
        out = fn()
        results[name] = {**out, "wall_s": round(time.perf_counter() - t0, 2), "cpu_s": round(cpu() - c0, 2)}
        print(f"{name}: {json.dumps(results[name])}", flush=True)
        return out

    def sync() -> dict[str, Any]:
        clients = Clients(ws.config.aws)
        r = sync_aws(ws, engine, settings, ws.config.aws, clients=clients)
        return {**r.calls, "calls_per_account": round(r.calls["calls"] / len(accounts), 2), "fresh": len(r.fresh)}

    def writeback() -> dict[str, Any]:
        s = run_writeback(ws, engine, Clients(ws.config.aws), {}, WritebackOptions())
        return {"fetched": s.fetched, "updated": s.updated, "current": s.current, "batches": s.batches,
                "unprocessed": len(s.unprocessed), **s.calls, "findings_per_s": s.findings_per_second,
                "calls_per_finding": round(s.calls["calls"] / max(1, s.fetched), 3)}

    step("sync", sync)
    step("writeback", writeback)
    step("sync_again_within_ttl", sync)
    step("writeback_again", writeback)
    engine.close()
    base = baseline(findings[: args.baseline], accounts[0])
    results["baseline_per_finding"] = base
    print(f"baseline_per_finding: {json.dumps(base)}", flush=True)
    cairn_calls = results["sync"]["calls"] + results["writeback"]["calls"]
    cairn_context = results["sync"]["calls"]
    results["summary"] = {
        "cairn_calls_total": cairn_calls,
        "cairn_context_calls": cairn_context,
        "cairn_context_calls_per_account": round(cairn_context / len(accounts), 2),
        "cairn_securityhub_calls": results["writeback"]["calls"],
        "cairn_calls_per_finding": round(cairn_calls / len(findings), 3),
        "baseline_calls_per_finding": base["calls_per_finding"],
        "baseline_calls_for_all_findings_est": round(base["calls_per_finding"] * len(findings)),
        "call_ratio_baseline_over_cairn": round(base["calls_per_finding"] * len(findings) / cairn_calls, 1),
        "cairn_findings_per_s": results["writeback"]["findings_per_s"],
        "baseline_findings_per_s": base["findings_per_s"],
        "peak_rss_mb": round(peak_rss_mb(), 1),
    }
    print("summary: " + json.dumps(results["summary"], indent=1))
    if args.json_out:
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        args.json_out.write_text(json.dumps(results, indent=1))
    httpd.shutdown()
    moto_srv.stop()


if __name__ == "__main__":
    main()
