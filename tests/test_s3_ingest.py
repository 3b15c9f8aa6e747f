"""Ingest from S3 prefixes through a local moto server (no AWS account needed)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from conftest import stratus_records
from ctdata import ORG, digest_body, digest_key, gz, records_doc, trail_key

BUCKET = "trail-bucket"
RECORDS = stratus_records()


@pytest.fixture
def aws_env(moto: str) -> str:
    """The shared moto server (tests/conftest.py), reset, with cairn pointed at it."""
    return moto


@pytest.fixture
def bucket(aws_env: str) -> dict[str, bytes]:
    import boto3

    s3 = boto3.client("s3", endpoint_url=aws_env, region_name="us-east-1")
    try:
        s3.create_bucket(Bucket=BUCKET)
    except s3.exceptions.BucketAlreadyOwnedByYou:
        pass
    k1 = trail_key("us-east-1", "2024-11-26T15:40")
    k2 = trail_key("eu-west-1", "2024-11-30T08:45", org=ORG, n=1)
    objects = {
        k1: gz(records_doc(RECORDS[:6])),
        k2: gz(records_doc(RECORDS[5:])),  # RECORDS[5] delivered twice
        digest_key("us-east-1", "2024-11-26T16:00"): gz(json.dumps(digest_body(BUCKET, [k1])).encode()),
        "AWSLogs/111122223333/CloudTrail/us-east-1/2024/11/26/": b"",  # a "folder" marker
    }
    for key, body in objects.items():
        s3.put_object(Bucket=BUCKET, Key=key, Body=body)
    return objects


def test_ingest_s3_prefix(cli: Any, bucket: dict[str, bytes], tmp_path: Any) -> None:
    ws = tmp_path / "ws"
    r = cli("-w", ws, "--json", "ingest", f"s3://{BUCKET}/AWSLogs/")
    assert r.code == 0, r.err
    s = r.json()
    assert s["balanced"] and (s["records_read"], s["loaded"], s["duplicates"], s["quarantined"]) == (11, 10, 1, 0)
    assert s["files"] == 3 and s["files_skipped"] == 1 and s["skipped"] == {"CloudTrail digest file": 1}
    q = cli("-w", ws, "query", "SELECT DISTINCT origin FROM cloudtrail ORDER BY 1", "--format", "jsonl")
    origins = [json.loads(line)["origin"] for line in q.out.splitlines()]
    trail_keys = sorted(k for k in bucket if "/CloudTrail/" in k and not k.endswith("/"))
    assert origins == sorted(f"s3://{BUCKET}/{k}" for k in trail_keys)
    assert any(f"/{ORG}/" in o for o in origins)
    # Downloads are staged for the run only.
    assert not list((ws / "staging").iterdir())
    again = cli("-w", ws, "--json", "ingest", f"s3://{BUCKET}/AWSLogs/111122223333/").json()
    assert (again["records_read"], again["loaded"], again["duplicates"]) == (6, 0, 6)


def test_s3_errors(cli: Any, bucket: dict[str, bytes], tmp_path: Any) -> None:
    r = cli("-w", tmp_path / "ws", "ingest", f"s3://{BUCKET}/nothing-here/")
    assert r.code == 3 and "no objects under this S3 prefix" in r.err
    r = cli("-w", tmp_path / "ws", "ingest", "s3://no-such-bucket-cairn/AWSLogs/")
    assert r.code == 7 and "cannot list objects" in r.err


# -- CloudTrail Insights delivered to S3 ----------------------------------------------------------------

# How an Insights event is marked -> (eventType, eventCategory); None: the field is absent.
INSIGHT_MARKS: dict[str, tuple[str | None, str | None]] = {
    "eventType and eventCategory": ("AwsCloudTrailInsight", "Insight"),
    "eventType only": ("AwsCloudTrailInsight", None),
    "eventCategory only": (None, "Insight"),
}


def _insight(n: int, event_type: str | None, category: str | None) -> dict[str, Any]:
    from conftest import CT_FIXTURES

    rec = dict(json.loads((CT_FIXTURES / "aws-docs" / "insights.json").read_text())["Records"][0])
    rec["eventID"] = f"insight-{n}"
    rec.pop("eventType", None)
    rec.pop("eventCategory", None)
    if event_type:
        rec["eventType"] = event_type
    if category:
        rec["eventCategory"] = category
    return rec


@pytest.mark.parametrize("marks", INSIGHT_MARKS)
def test_insights_from_s3_go_to_their_table(cli: Any, aws_env: str, tmp_path: Any, marks: str) -> None:
    import boto3

    s3 = boto3.client("s3", endpoint_url=aws_env, region_name="us-east-1")
    s3.create_bucket(Bucket=BUCKET)
    key = "AWSLogs/111122223333/CloudTrail-Insight/us-east-1/2019/11/14/111122223333_CloudTrail-Insight_us-east-1_20191114T0100Z_x.json.gz"
    # Two Insights events, and an API call whose eventCategory (Management) names no Insight.
    api = dict(RECORDS[0], eventCategory="Management")
    s3.put_object(Bucket=BUCKET, Key=key, Body=gz(records_doc([_insight(1, *INSIGHT_MARKS[marks]),
                                                               _insight(2, *INSIGHT_MARKS[marks]), api])))
    ws = tmp_path / "ws"
    s = cli("-w", ws, "--json", "ingest", f"s3://{BUCKET}/AWSLogs/").json()
    assert (s["records_read"], s["loaded"], s["quarantined"]) == (3, 3, 0)
    assert (s["tables"]["cloudtrail_insights"]["loaded"], s["tables"]["cloudtrail"]["loaded"]) == (2, 1)
    q = cli("-w", ws, "query", "SELECT event_uid, event_name, insight_type, origin FROM cloudtrail_insights "
            "ORDER BY 1", "--format", "jsonl")
    rows = [json.loads(line) for line in q.out.splitlines()]
    assert rows == [{"event_uid": f"insight-{n}", "event_name": "UpdateInstanceInformation",
                     "insight_type": "ApiCallRateInsight", "origin": f"s3://{BUCKET}/{key}"} for n in (1, 2)]
