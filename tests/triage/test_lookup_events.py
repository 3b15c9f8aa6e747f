"""Activity from CloudTrail LookupEvents through the real boto3 client, against a local server that
answers in the API's JSON 1.1 shape (moto does not implement LookupEvents): pagination, throttling
retries, pacing, and the same report as from the lake."""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
import pytest
from botocore.config import Config

from cairn.errors import RemoteError, TransientError
from cairn.triage import triage
from cairn.triage.lookup_events import Pacer, fetch_activity, lookup_pages
from triage.conftest import stratus

TARGET = "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.LookupEvents"


def _epoch(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


class FakeCloudTrail:
    """Serves records through LookupEvents: ``page`` events per page, newest first; throttles the
    first ``throttle`` requests of every page."""

    def __init__(self, records: list[dict[str, Any]], page: int = 4, throttle: int = 1) -> None:
        self.records = sorted(records, key=lambda r: r["eventTime"], reverse=True)
        self.page, self.throttle = page, throttle
        self.requests: list[tuple[float, dict[str, Any], int]] = []
        self.attempts: dict[str, int] = {}

    def match(self, rec: dict[str, Any], key: str, value: str) -> bool:
        ui = rec["userIdentity"]
        if key == "AccessKeyId":
            return ui.get("accessKeyId") == value
        if key == "Username":
            return value in (ui.get("userName"), (ui.get("arn") or "").split("/")[-1])
        if key == "ResourceName":
            return value in json.dumps(rec.get("requestParameters")) or any(
                r.get("ARN") == value for r in rec.get("resources") or [])
        if key == "EventName":
            return rec["eventName"] == value
        return False

    def answer(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        token = body.get("NextToken") or "start"
        n = self.attempts.get(token, 0)
        self.attempts[token] = n + 1
        if n < self.throttle:
            return 400, {"__type": "ThrottlingException", "message": "Rate exceeded"}
        attr = body["LookupAttributes"][0]
        lo, hi = float(body["StartTime"]), float(body["EndTime"])
        hits = [r for r in self.records if self.match(r, attr["AttributeKey"], attr["AttributeValue"])
                and lo <= _epoch(r["eventTime"]) <= hi]
        start = 0 if token == "start" else int(token.split("-")[1])
        chunk = hits[start:start + min(self.page, int(body.get("MaxResults", 50)))]
        out: dict[str, Any] = {"Events": [{
            "EventId": r["eventID"], "EventName": r["eventName"], "ReadOnly": str(r.get("readOnly", False)).lower(),
            "AccessKeyId": r["userIdentity"].get("accessKeyId"), "EventTime": _epoch(r["eventTime"]),
            "EventSource": r["eventSource"], "Username": r["userIdentity"].get("userName"),
            "Resources": [{"ResourceType": x.get("type"), "ResourceName": x.get("ARN")}
                          for x in r.get("resources") or []],
            "CloudTrailEvent": json.dumps(r)} for r in chunk]}
        if start + len(chunk) < len(hits):
            out["NextToken"] = f"tok-{start + len(chunk)}"
        return 200, out


@pytest.fixture
def server() -> Iterator[tuple[str, FakeCloudTrail]]:
    recs = [r for name in ("aws.execution.ssm-send-command", "aws.credential-access.ec2-get-password-data")
            for r in stratus(name)]
    fake = FakeCloudTrail(recs)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])) or b"{}")
            assert self.headers["X-Amz-Target"] == TARGET
            assert self.headers["Content-Type"] == "application/x-amz-json-1.1"
            assert "Credential=testing/" in self.headers["Authorization"]
            fake.requests.append((time.monotonic(), body, 0))
            code, out = fake.answer(body)
            data = json.dumps(out).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/x-amz-json-1.1")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *a: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    th = threading.Thread(target=httpd.serve_forever, daemon=True)
    th.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", fake
    httpd.shutdown()
    httpd.server_close()


def _client(endpoint: str) -> Any:
    return boto3.client("cloudtrail", region_name="us-east-1", endpoint_url=endpoint, aws_access_key_id="testing",
                        aws_secret_access_key="testing", config=Config(retries={"total_max_attempts": 1, "mode": "standard"}))


def test_pages_throttling_and_pacing(server: tuple[str, FakeCloudTrail]) -> None:
    endpoint, fake = server
    recs = stratus("aws.execution.ssm-send-command")
    key = recs[0]["userIdentity"]["accessKeyId"]
    start, end = datetime(2024, 8, 2, 9, 0, tzinfo=UTC), datetime(2024, 8, 2, 10, 0, tzinfo=UTC)
    stamps: list[float] = []

    class Recording(Pacer):
        def wait(self) -> None:
            super().wait()
            stamps.append(time.monotonic())

    events = list(lookup_pages(_client(endpoint), ("AccessKeyId", key), start, end, pacer=Recording(rate=40),
                               backoff=0.01))
    assert sorted(e["EventId"] for e in events) == sorted(r["eventID"] for r in recs)
    pages = -(-len(recs) // fake.page)
    assert len(fake.requests) == 2 * pages  # each page throttled once, then answered
    # Calls leave the client at most 40 per second (the server sees them with network jitter).
    gaps = [b - a for a, b in itertools.pairwise(stamps)]
    assert len(stamps) == len(fake.requests) and min(gaps) >= 1 / 40 - 0.001
    assert fake.requests[-1][0] - fake.requests[0][0] >= (len(fake.requests) - 1) / 40 - 0.05
    assert fake.requests[0][1]["LookupAttributes"] == [{"AttributeKey": "AccessKeyId", "AttributeValue": key}]
    assert fake.requests[0][1]["StartTime"] == start.timestamp()


def test_pacer_holds_two_per_second() -> None:
    now = [100.0]
    slept: list[float] = []

    def sleep(s: float) -> None:
        slept.append(s)
        now[0] += s

    p = Pacer(clock=lambda: now[0], sleep=sleep)
    for _ in range(5):
        p.wait()
    assert slept == [0.5, 0.5, 0.5, 0.5]


def test_throttled_for_good_is_a_transient_error(server: tuple[str, FakeCloudTrail]) -> None:
    endpoint, fake = server
    fake.throttle = 100
    with pytest.raises(TransientError, match="throttled"):
        list(lookup_pages(_client(endpoint), ("Username", "x"), datetime(2024, 1, 1, tzinfo=UTC),
                          datetime(2024, 1, 2, tzinfo=UTC), pacer=Pacer(rate=1000), max_retries=2, backoff=0.001))


def test_refused_request_names_the_error() -> None:
    class Refusing:
        def lookup_events(self, **kw: Any) -> Any:
            from botocore.exceptions import ClientError

            raise ClientError({"Error": {"Code": "InvalidLookupAttributesException", "Message": "bad"}},
                              "LookupEvents")

    with pytest.raises(RemoteError, match="InvalidLookupAttributesException: bad"):
        list(lookup_pages(Refusing(), ("Username", "x"), datetime(2024, 1, 1, tzinfo=UTC),
                          datetime(2024, 1, 2, tzinfo=UTC), pacer=Pacer(rate=1000)))


def test_report_from_lookup_events_matches_the_lake(attack_lake: Any, server: tuple[str, FakeCloudTrail]) -> None:
    endpoint, _ = server
    recs = stratus("aws.credential-access.ec2-get-password-data")
    user_key = next(r["userIdentity"]["accessKeyId"] for r in recs if r["userIdentity"]["type"] == "IAMUser")
    at = datetime(2024, 7, 30, 21, 31, 15, tzinfo=UTC)
    body = {"identity": user_key, "time": at.isoformat()}
    rows, stats = fetch_activity(keys=[user_key], users=[], resources=[], start=at - timedelta(hours=1),
                                 end=at + timedelta(minutes=30), client=_client(endpoint), pacer=Pacer(rate=50))
    # The API returns the user's own calls; the role session's calls come from a second lookup by key.
    assert stats["events"] == sum(1 for r in recs if r["userIdentity"].get("accessKeyId") == user_key)
    api = triage(attack_lake.engine, attack_lake.ws, body, activity="lookup-events", activity_rows=rows).to_dict()
    lake = triage(attack_lake.engine, attack_lake.ws, body).to_dict()
    assert api["activity_source"] == "lookup-events"
    assert api["identity"]["principal_arn"] == lake["identity"]["principal_arn"]
    own = [a for a in lake["by_api"] if "identity" in a["matched_by"]]
    assert {(a["event_name"], a["count"]) for a in api["by_api"]} == {(a["event_name"], a["count"]) for a in own}
    assert [s["source"] for s in api["source_ips"]] == [s["source"] for s in lake["source_ips"]]


def test_cli_lookup_events_without_a_lake(tmp_path: Any, server: tuple[str, FakeCloudTrail], cli: Any,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    endpoint, _ = server
    for var in ("AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setattr("cairn.triage.lookup_events.RATE_PER_SECOND", 50.0)
    monkeypatch.setattr(Pacer.__init__, "__defaults__", (50.0, time.monotonic, time.sleep))
    recs = stratus("aws.execution.ssm-send-command")
    key = recs[0]["userIdentity"]["accessKeyId"]
    body = json.dumps({"identity": key, "time": recs[10]["eventTime"]})
    res = cli("-q", "-w", tmp_path / "empty", "--json", "triage", "-s", "lookup-events", "--region", "us-east-1",
              "--endpoint-url", endpoint, body)
    assert res.code == 0, res.err
    rep = json.loads(res.out)
    assert rep["counts"]["events"] == len(recs)
    assert rep["identity"]["principal_arn"] == recs[0]["userIdentity"]["arn"]
