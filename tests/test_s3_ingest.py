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
