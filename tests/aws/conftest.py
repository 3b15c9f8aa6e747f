"""Fixtures of the AWS tests: an organisation in the shared moto server (``moto``, tests/conftest.py)
and local HTTP servers answering in the documented shape for what moto lacks."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest


def boto(service: str, endpoint: str, **creds: Any) -> Any:
    import boto3

    return boto3.client(service, endpoint_url=endpoint, region_name="us-east-1", **creds)


class LocalServer:
    """A local HTTP server in a thread; ``handler(method, path, headers, body) -> (status, headers, body)``.
    Every request is kept in ``requests`` as ``(method, path, headers, parsed JSON body)``."""

    def __init__(self, handler: Any) -> None:
        self.requests: list[tuple[str, str, dict[str, str], Any]] = []
        outer = self

        class H(BaseHTTPRequestHandler):
            def _any(self) -> None:
                n = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(n) if n else b""
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    body = raw
                outer.requests.append((self.command, self.path, dict(self.headers), body))
                status, headers, out = handler(self.command, self.path, dict(self.headers), raw)
                data = out if isinstance(out, bytes) else json.dumps(out).encode()
                self.send_response(status)
                for k, v in {"Content-Type": "application/json", **headers}.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_PATCH = _any

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def local_server() -> Iterator[Any]:
    """Factory of :class:`LocalServer` (closed at teardown)."""
    made: list[LocalServer] = []

    def make(handler: Any) -> LocalServer:
        s = LocalServer(handler)
        made.append(s)
        return s

    yield make
    for s in made:
        s.close()


ROLE = "cairn-context-read"


class Org:
    """An organisation built in moto: Root/Workloads/Prod, Root/Workloads/Dev, Root/Sandbox; accounts with
    tags and alternate contacts; resources in the payments account through an assumed role."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        org = boto(endpoint=endpoint, service="organizations")
        self.org = org
        org.create_organization(FeatureSet="ALL")
        self.root = org.list_roots()["Roots"][0]["Id"]
        self.workloads = self.ou(self.root, "Workloads")
        self.prod = self.ou(self.workloads, "Prod")
        self.dev = self.ou(self.workloads, "Dev")
        self.sandbox = self.ou(self.root, "Sandbox")
        self.payments = self.account("payments-prod", self.prod, owner="payments-team", criticality="high")
        self.web_dev = self.account("web-dev", self.dev, team="web")
        self.lab = self.account("lab", self.sandbox, environment="Research")
        acct = boto("account", endpoint)
        acct.put_alternate_contact(AccountId=self.payments, AlternateContactType="SECURITY", Name="Pay Sec",
                                   Title="SecOps", EmailAddress="pay-sec@example.com", PhoneNumber="+100")
        acct.put_alternate_contact(AccountId=self.payments, AlternateContactType="OPERATIONS", Name="Pay Ops",
                                   Title="Ops", EmailAddress="pay-ops@example.com", PhoneNumber="+101")

    def ou(self, parent: str, name: str) -> str:
        return self.org.create_organizational_unit(ParentId=parent, Name=name)["OrganizationalUnit"]["Id"]

    def account(self, name: str, parent: str, **tags: str) -> str:
        acc = self.org.create_account(Email=f"{name}@example.com", AccountName=name,
                                      Tags=[{"Key": k, "Value": v} for k, v in tags.items()])
        aid = acc["CreateAccountStatus"]["AccountId"]
        self.org.move_account(AccountId=aid, SourceParentId=self.root, DestinationParentId=parent)
        return aid

    def member(self, service: str, account: str) -> Any:
        """A client acting in ``account`` (moto attributes assumed-role credentials to the role's account)."""
        sts = boto("sts", self.endpoint)
        c = sts.assume_role(RoleArn=f"arn:aws:iam::{account}:role/{ROLE}", RoleSessionName="test-setup")["Credentials"]
        return boto(service, self.endpoint, aws_access_key_id=c["AccessKeyId"],
                    aws_secret_access_key=c["SecretAccessKey"], aws_session_token=c["SessionToken"])

    def add_resources(self) -> dict[str, str]:
        """An instance, a role, a user and a bucket in the payments account; their ARNs."""
        ec2 = self.member("ec2", self.payments)
        inst = ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1, TagSpecifications=[
            {"ResourceType": "instance", "Tags": [{"Key": "Name", "Value": "pay-api-1"},
                                                  {"Key": "Criticality", "Value": "critical"},
                                                  {"Key": "team", "Value": "payments-team"}]}])["Instances"][0]
        iam = self.member("iam", self.payments)
        role = iam.create_role(RoleName="PayApi", AssumeRolePolicyDocument="{}",
                               Tags=[{"Key": "team", "Value": "payments-team"}])["Role"]["Arn"]
        user = iam.create_user(UserName="alice", Tags=[{"Key": "owner", "Value": "alice@example.com"}])["User"]["Arn"]
        s3 = self.member("s3", self.payments)
        s3.create_bucket(Bucket="pay-ledger")
        s3.put_bucket_tagging(Bucket="pay-ledger", Tagging={"TagSet": [{"Key": "criticality", "Value": "4"},
                                                                       {"Key": "tier", "Value": "gold"}]})
        s3.create_bucket(Bucket="pay-scratch")
        return {"instance": f"arn:aws:ec2:us-east-1:{self.payments}:instance/{inst['InstanceId']}",
                "instance_id": inst["InstanceId"], "role": role, "user": user}


@pytest.fixture
def org(moto: str) -> Org:
    return Org(moto)


BAD_IP = "45.137.21.9"
BAD_DOMAIN = "c2.evil-example.net"
PAY = "111122223333"
WEB = "444455556666"
INVENTORY = f"""\
accounts:
  - {{account_id: '{PAY}', name: payments-prod, ou_path: Root/Workloads/Prod, environment: prod,
      owner: payments-team, contacts: [pay-sec@example.com], tags: {{criticality: high, cost-center: '2040'}}}}
  - {{account_id: '{WEB}', name: web-dev, ou_path: Root/Workloads/Dev, environment: dev, owner: web-team}}
assets:
  - {{resource_id: 'arn:aws:ec2:us-east-1:{PAY}:instance/i-0abc1234def567890', criticality: critical,
      owner: pay-api-oncall}}
"""


@pytest.fixture(scope="session")
def template_ws(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A workspace with a local intel list (one bad IP, one bad domain) and an inventory; built once."""
    from pathlib import Path

    from cairn.context import load_files
    from cairn.engines.duckdb_engine import DuckDBEngine
    from cairn.intel.feeds import load_target
    from cairn.intel.store import IntelStore
    from cairn.lake.catalog import Catalog
    from cairn.workspace import Workspace

    base = tmp_path_factory.mktemp("aws-template")
    root = base / "ws"
    ws = Workspace.open(root)
    with DuckDBEngine(ws.catalog_path) as engine:
        Catalog(engine, ws.lake)
        feed = base / "bad.txt"
        feed.write_text(f"{BAD_IP}\n{BAD_DOMAIN}\n")
        load_target(IntelStore(ws, engine), str(feed), "local-bad", fmt="plain")
        inv = base / "inventory.yaml"
        inv.write_text(INVENTORY)
        load_files(ws, engine, [inv])
    from cairn.actions.lambda_handler import prebuild

    assert prebuild(root) == root  # the reference tables, as an image build would
    return Path(root)


@pytest.fixture
def hub_ws(template_ws: Any, tmp_path: Any) -> Any:
    """A copy of the template workspace, opened: ``(workspace, engine)``."""
    import shutil

    from cairn.engines.duckdb_engine import DuckDBEngine
    from cairn.lake.catalog import Catalog
    from cairn.workspace import Workspace

    root = tmp_path / "ws"
    shutil.copytree(template_ws, root)
    ws = Workspace.open(root)
    engine = DuckDBEngine(ws.catalog_path)
    Catalog(engine, ws.lake)
    yield ws, engine
    engine.close()


@pytest.fixture
def hub(local_server: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """A local Security Hub (documented REST-JSON shape) as the endpoint of every AWS client."""
    from .securityhub_server import FakeSecurityHub

    fake = FakeSecurityHub()
    server = local_server(fake)
    for var in ("AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("CAIRN_AWS_ENDPOINT_URL", server.url)
    fake.server = server
    fake.client = boto("securityhub", server.url)
    return fake
