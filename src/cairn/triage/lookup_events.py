"""Activity from the CloudTrail ``LookupEvents`` API (the last 90 days of management events).

One lookup attribute per call (the API allows one): the identity's access keys (``AccessKeyId``),
else its user or session name (``Username``), and each resource (``ResourceName``). Pages are
followed through ``NextToken``; calls are paced to the API's limit of 2 requests per second per
account and region, and throttling errors are retried with exponential backoff. Each event's
``CloudTrailEvent`` JSON is read into the columns the lake's triage index has, so the same SQL
summarises it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import pyarrow as pa

from cairn.errors import RemoteError, TransientError
from cairn.lake.addresses import classify
from cairn.triage.index import INDEX_COLUMNS

RATE_PER_SECOND = 2.0
_THROTTLE = {"ThrottlingException", "Throttling", "TooManyRequestsException", "RequestLimitExceeded"}

_TYPES = {
    "event_time": pa.timestamp("us", "UTC"), "read_only": pa.bool_(), "src_ip_bin": pa.binary(),
    "resource_arns": pa.list_(pa.string()), "res": pa.list_(pa.string()),
}


class Pacer:
    """At most ``rate`` calls per second (sleeps before a call that would come too early)."""

    def __init__(self, rate: float = RATE_PER_SECOND, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.interval = 1.0 / rate
        self.clock, self.sleep = clock, sleep
        self.last: float | None = None

    def wait(self) -> None:
        """Block until the next call is allowed."""
        now = self.clock()
        if self.last is not None and now - self.last < self.interval:
            self.sleep(self.interval - (now - self.last))
            now = self.clock()
        self.last = now


def _client(region: str | None, endpoint_url: str | None) -> Any:
    import boto3
    from botocore.config import Config

    # cairn paces and retries throttling itself; botocore's own retries would hide the pacing.
    cfg = Config(retries={"total_max_attempts": 1, "mode": "standard"}, connect_timeout=10, read_timeout=30)
    return boto3.client("cloudtrail", region_name=region, endpoint_url=endpoint_url, config=cfg)


def lookup_pages(client: Any, attribute: tuple[str, str], start: datetime, end: datetime, *, pacer: Pacer,
                 max_retries: int = 6, backoff: float = 0.5, max_pages: int = 200) -> Iterator[dict[str, Any]]:
    """Every event of one lookup attribute in [start, end], page by page."""
    from botocore.exceptions import BotoCoreError, ClientError

    token: str | None = None
    for _ in range(max_pages):
        args: dict[str, Any] = {"LookupAttributes": [{"AttributeKey": attribute[0], "AttributeValue": attribute[1]}],
                                "StartTime": start, "EndTime": end, "MaxResults": 50}
        if token:
            args["NextToken"] = token
        for attempt in range(max_retries + 1):
            pacer.wait()
            try:
                page = client.lookup_events(**args)
                break
            except ClientError as exc:
                code = exc.response.get("Error", {}).get("Code", "")
                if code in _THROTTLE and attempt < max_retries:
                    pacer.sleep(backoff * (2 ** attempt))
                    continue
                if code in _THROTTLE:
                    raise TransientError(f"CloudTrail LookupEvents still throttled after {max_retries} retries") from None
                raise RemoteError(f"CloudTrail LookupEvents failed: {code}: "
                                  f"{exc.response.get('Error', {}).get('Message', '')}") from None
            except BotoCoreError as exc:
                raise RemoteError(f"CloudTrail LookupEvents failed: {exc}") from None
        yield from page.get("Events") or []
        token = page.get("NextToken")
        if not token:
            return
    raise RemoteError(f"CloudTrail LookupEvents: more than {max_pages} pages for {attribute[0]}; narrow the window")


def event_row(ev: dict[str, Any]) -> dict[str, Any]:
    """One LookupEvents event as an index-shaped row (from its CloudTrailEvent JSON)."""
    try:
        r = json.loads(ev.get("CloudTrailEvent") or "{}")
    except json.JSONDecodeError:
        raise RemoteError(f"LookupEvents event {ev.get('EventId')}: CloudTrailEvent is not JSON") from None
    ui = r.get("userIdentity") or {}
    sc = ui.get("sessionContext") or {}
    issuer = sc.get("sessionIssuer") or {}
    kind, ip, ip_bin, _ = classify(r.get("sourceIPAddress"))
    itype = ui.get("type")
    role_session = itype == "AssumedRole"
    req = r.get("requestParameters") if isinstance(r.get("requestParameters"), dict) else None
    resp = r.get("responseElements") if isinstance(r.get("responseElements"), dict) else None
    sts = r.get("eventSource") == "sts.amazonaws.com"
    arns = [x.get("ARN") for x in r.get("resources") or [] if isinstance(x, dict) and x.get("ARN")]
    res = list(dict.fromkeys([*arns, *_strings(req)]))
    t = r.get("eventTime") or ev.get("EventTime")
    return {
        "event_uid": r.get("eventID") or ev.get("EventId"),
        "event_time": _time(t),
        "event_source": r.get("eventSource") or ev.get("EventSource"),
        "event_name": r.get("eventName") or ev.get("EventName"),
        "event_type": r.get("eventType"), "aws_region": r.get("awsRegion"),
        "source_ip_address": r.get("sourceIPAddress"), "src_ip": ip, "src_ip_bin": ip_bin, "src_ip_kind": kind,
        "user_agent": r.get("userAgent"), "error_code": r.get("errorCode") or _signin_failure(r, resp),
        "error_message": (r.get("errorMessage") or None) and r["errorMessage"][:300],
        "read_only": _bool(r.get("readOnly", ev.get("ReadOnly"))),
        "identity_type": itype, "principal_id": ui.get("principalId"), "identity_arn": ui.get("arn"),
        "principal_arn": issuer.get("arn") if role_session and issuer.get("arn") else (ui.get("arn") or ui.get("invokedBy")),
        "account_id": ui.get("accountId"), "access_key_id": ui.get("accessKeyId") or ev.get("AccessKeyId"),
        "user_name": ui.get("userName"), "invoked_by": ui.get("invokedBy"),
        "session_issuer_arn": issuer.get("arn"),
        "session_name": ui.get("arn", "").split("/")[-1] if role_session and ui.get("arn") else None,
        "source_identity": sc.get("sourceIdentity"),
        "identity_store_user_id": (ui.get("onBehalfOf") or {}).get("userId"),
        "recipient_account_id": r.get("recipientAccountId"), "resource_arns": arns,
        "issued_key": ((resp or {}).get("credentials") or {}).get("accessKeyId") if sts else None,
        "issued_arn": (((resp or {}).get("assumedRoleUser") or {}).get("arn")
                       or ((resp or {}).get("federatedUser") or {}).get("arn")) if sts else None,
        "issued_role_arn": (req or {}).get("roleArn") if sts else None,
        "issued_session_name": ((req or {}).get("roleSessionName") or (req or {}).get("name")) if sts else None,
        "issued_source_identity": (req or {}).get("sourceIdentity") if sts else None,
        "res": res, "request_parameters": json.dumps(req, separators=(",", ":"))[:2000] if req is not None else None,
    }


def _strings(v: Any) -> list[str]:
    out: list[str] = []
    if isinstance(v, dict):
        for x in v.values():
            out += _strings(x)
    elif isinstance(v, list):
        for x in v:
            out += _strings(x)
    elif isinstance(v, str) and 2 <= len(v) <= 256:
        out.append(v)
    return out


def _bool(v: Any) -> bool | None:
    if isinstance(v, bool):
        return v
    if isinstance(v, str):
        return v.lower() == "true"
    return None


def _time(v: Any) -> datetime | None:
    from cairn.triage.inputs import parse_time

    return parse_time(v) if v is not None else None


def rows_table(rows: list[dict[str, Any]]) -> pa.Table:
    """Rows as an Arrow table with the index columns."""
    schema = pa.schema([(c, _TYPES.get(c, pa.string())) for c in INDEX_COLUMNS])
    return pa.Table.from_pylist(rows, schema=schema)


def fetch_activity(*, keys: list[str], users: list[str], resources: list[str], start: datetime, end: datetime,
                   region: str | None = None, endpoint_url: str | None = None, client: Any = None,
                   pacer: Pacer | None = None) -> tuple[pa.Table, dict[str, int]]:
    """Events of the identity (keys, else user/session names) and of each resource; deduplicated."""
    client = client or _client(region, endpoint_url)
    pacer = pacer or Pacer()
    attrs = [("AccessKeyId", k) for k in keys] or [("Username", u) for u in users]
    attrs += [("ResourceName", r) for r in resources]
    rows: dict[str, dict[str, Any]] = {}
    stats = {"events": 0}
    for attr in attrs:
        for ev in lookup_pages(client, attr, start, end, pacer=pacer):
            stats["events"] += 1
            row = event_row(ev)
            rows.setdefault(row["event_uid"], row)
    return rows_table(list(rows.values())), stats


def _signin_failure(r: dict[str, Any], resp: dict[str, Any] | None) -> str | None:
    """``Failure`` for a failed sign-in (``responseElements.ConsoleLogin`` = ``Failure``, no ``errorCode``),
    as the lake's ``status`` and the triage index count it."""
    if r.get("eventSource") != "signin.amazonaws.com" or not resp:
        return None
    return "Failure" if "Failure" in resp.values() else None
