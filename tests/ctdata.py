"""Builders of CloudTrail inputs in every delivery shape, from real records."""

from __future__ import annotations

import gzip
import json
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

ACCOUNT = "111122223333"
ORG = "o-a1b2c3d4e5"


def trail_key(region: str, when: str, *, account: str = ACCOUNT, org: str | None = None, n: int = 0) -> str:
    """An S3 key in the CloudTrail delivery layout (``when`` like ``2024-07-29T12:05``)."""
    t = datetime.strptime(when, "%Y-%m-%dT%H:%M")
    prefix = f"AWSLogs/{org}/{account}" if org else f"AWSLogs/{account}"
    unique = f"{n:04d}{uuid.UUID(int=n).hex[:12]}"
    return (
        f"{prefix}/CloudTrail/{region}/{t:%Y/%m/%d}/"
        f"{account}_CloudTrail_{region}_{t:%Y%m%dT%H%MZ}_{unique}.json.gz"
    )


def digest_key(region: str, when: str, *, account: str = ACCOUNT) -> str:
    t = datetime.strptime(when, "%Y-%m-%dT%H:%M")
    return (
        f"AWSLogs/{account}/CloudTrail-Digest/{region}/{t:%Y/%m/%d}/"
        f"{account}_CloudTrail-Digest_{region}_management_us-east-1_{t:%Y%m%dT%H%M%S}Z.json.gz"
    )


def digest_body(bucket: str, keys: list[str]) -> dict[str, Any]:
    """A digest file as CloudTrail writes it (log file validation)."""
    return {
        "awsAccountId": ACCOUNT,
        "digestStartTime": "2024-07-29T11:00:00Z",
        "digestEndTime": "2024-07-29T12:00:00Z",
        "digestS3Bucket": bucket,
        "digestS3Object": digest_key("us-east-1", "2024-07-29T12:00"),
        "digestPublicKeyFingerprint": "0123456789abcdef0123456789abcdef",
        "digestSignatureAlgorithm": "SHA256withRSA",
        "newestEventTime": "2024-07-29T11:59:58Z",
        "oldestEventTime": "2024-07-29T11:00:01Z",
        "previousDigestS3Bucket": None,
        "previousDigestS3Object": None,
        "previousDigestHashValue": None,
        "previousDigestHashAlgorithm": None,
        "previousDigestSignature": None,
        "logFiles": [
            {"s3Bucket": bucket, "s3Object": k, "hashValue": "00" * 32, "hashAlgorithm": "SHA-256",
             "newestEventTime": "2024-07-29T11:59:58Z", "oldestEventTime": "2024-07-29T11:00:01Z"}
            for k in keys
        ],
    }


def records_doc(records: list[dict[str, Any]]) -> bytes:
    """A trail log file body (minified, as CloudTrail delivers it)."""
    return json.dumps({"Records": records}, separators=(",", ":")).encode()


def gz(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)


def json_lines(values: list[Any]) -> bytes:
    return b"".join(json.dumps(v).encode() + b"\n" for v in values)


def cwl_export(records: list[dict[str, Any]]) -> bytes:
    """A CloudWatch Logs export to S3: ``<timestamp> <message>`` per line."""
    return b"".join(
        f"{r['eventTime'].replace('Z', '.000Z')} {json.dumps(r)}\n".encode() for r in records
    )


def eventbridge(record: dict[str, Any], n: int = 0) -> dict[str, Any]:
    """An EventBridge "AWS API Call via CloudTrail" event carrying ``record``."""
    return {
        "version": "0",
        "id": str(uuid.UUID(int=n + 1)),
        "detail-type": "AWS API Call via CloudTrail",
        "source": "aws." + record.get("eventSource", "unknown").split(".")[0],
        "account": record.get("recipientAccountId", ACCOUNT),
        "time": record.get("eventTime"),
        "region": record.get("awsRegion", "us-east-1"),
        "resources": [],
        "detail": record,
    }


def lookup_events(records: list[dict[str, Any]]) -> dict[str, Any]:
    """``cloudtrail lookup-events`` output: each record as a JSON string in CloudTrailEvent."""
    events = []
    for r in records:
        ui = r.get("userIdentity") or {}
        events.append({
            "EventId": r.get("eventID"),
            "EventName": r.get("eventName"),
            "ReadOnly": str(r.get("readOnly", "false")).lower(),
            "AccessKeyId": ui.get("accessKeyId", ""),
            "EventTime": datetime.strptime(r["eventTime"], "%Y-%m-%dT%H:%M:%SZ").timestamp(),
            "EventSource": r.get("eventSource"),
            "Username": ui.get("userName", ""),
            "Resources": [{"ResourceType": x.get("type"), "ResourceName": x.get("ARN")}
                          for x in r.get("resources", [])],
            "CloudTrailEvent": json.dumps(r, separators=(",", ":")),
        })
    return {"Events": events, "ResponseMetadata": {"HTTPStatusCode": 200}}


def rekeyed(records: list[dict[str, Any]], n: int) -> list[dict[str, Any]]:
    """Copies of ``records`` with fresh, deterministic eventIDs (batch ``n``)."""
    out = []
    for i, r in enumerate(records):
        c = dict(r)
        c["eventID"] = str(uuid.UUID(int=(n << 32) + i + 1))
        out.append(c)
    return out


def write(root: Path, rel: str, data: bytes) -> Path:
    p = root / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(data)
    return p
