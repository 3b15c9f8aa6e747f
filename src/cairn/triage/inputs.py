"""What triage starts from: an alert body in any of the accepted shapes, read into a :class:`Subject`.

Accepted: a GuardDuty finding (EventBridge event, GetFindings camelCase, boto3 PascalCase, alone
or in a ``findings``/``Findings`` container), a Security Hub ASFF finding (alone, in ``Findings``,
or in a ``Security Hub Findings - Imported`` EventBridge event), a cairn alert (its id, looked up
in the ``alerts`` table, or its ``to_dict()`` body), or a minimal ``{identity, resource, time}``.

GuardDuty and ASFF findings are read with the lake's own source SQL (the same ``records_sql`` and
``typed_sql`` ingest uses), so a finding means the same thing here as in the lake.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cairn.engines.duckdb_engine import DuckDBEngine
from cairn.errors import InputError

ORIGIN = "alert"


@dataclass
class Subject:
    """Who and what an alert is about, and when."""

    kind: str
    """guardduty | securityhub | cairn_alert | minimal"""
    time: datetime
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    title: str | None = None
    severity: str | None = None
    finding_id: str | None = None
    account_id: str | None = None
    identity: str | None = None
    """The identity as given (ARN, access key id, user name, ...)."""
    access_key_id: str | None = None
    principal_arn: str | None = None
    principal_id: str | None = None
    user_name: str | None = None
    user_type: str | None = None
    resources: list[str] = field(default_factory=list)
    ips: list[str] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form (without the raw body)."""
        return {
            "kind": self.kind, "time": _iso(self.time), "first_seen": _iso(self.first_seen),
            "last_seen": _iso(self.last_seen), "title": self.title, "severity": self.severity,
            "finding_id": self.finding_id, "account_id": self.account_id, "identity": self.identity,
            "access_key_id": self.access_key_id, "principal_arn": self.principal_arn,
            "principal_id": self.principal_id, "user_name": self.user_name, "user_type": self.user_type,
            "resources": self.resources, "ips": self.ips,
        }


def _iso(t: datetime | None) -> str | None:
    return t.astimezone(UTC).isoformat().replace("+00:00", "Z") if t else None


def parse_time(value: Any, *, what: str = "time") -> datetime:
    """A timestamp from ISO text (``Z`` or offset; a space instead of ``T``), epoch seconds or a datetime."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, int | float):
        return datetime.fromtimestamp(float(value), UTC)
    if isinstance(value, str) and value.strip():
        text = value.strip().replace(" ", "T", 1)
        if text.endswith("Z"):
            text = text[:-1] + "+00:00"
        if "." in text:  # GuardDuty writes nanoseconds: keep microseconds
            head, _, rest = text.partition(".")
            digits = "".join(c for c in rest if c.isdigit())
            tz = rest[len(digits):]
            text = f"{head}.{digits[:6]}{tz}"
        try:
            t = datetime.fromisoformat(text)
        except ValueError:
            raise InputError(f"{what} is not a timestamp: {value!r:.80}", origin=ORIGIN) from None
        return t if t.tzinfo else t.replace(tzinfo=UTC)
    raise InputError(f"{what} is missing or empty", origin=ORIGIN)


def load_body(text: str) -> Any:
    """The alert text: JSON, JSON Lines (read as a list, one finding/alert per line), or a bare alert id
    (no braces)."""
    stripped = text.strip().lstrip("\ufeff")
    if not stripped:
        raise InputError("the alert is empty", origin=ORIGIN)
    if stripped[0] in "{[":
        try:
            return json.loads(stripped)
        except json.JSONDecodeError as exc:
            if exc.msg == "Extra data" and "\n" in stripped:
                return _json_lines(stripped)
            raise InputError(f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}",
                             origin=ORIGIN) from None
    return stripped


def _json_lines(text: str) -> list[Any]:
    """The values of a JSON Lines text (blank lines skipped); a bad line is an :class:`InputError`."""
    values = []
    for n, line in enumerate(text.splitlines(), 1):
        if line.strip():
            try:
                values.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise InputError(f"invalid JSON Lines: line {n} column {exc.colno}: {exc.msg}",
                                 origin=ORIGIN) from None
    return values


def finding_count(body: Any) -> int:
    """How many findings/alerts a parsed body holds (a list, JSON Lines or a findings container)."""
    if isinstance(body, dict) and isinstance(body.get("detail"), dict) and \
            str(body.get("detail-type", "")).startswith("Security Hub Findings"):
        body = body["detail"].get("findings") or []
    if isinstance(body, dict):
        body = next((body[k] for k in ("findings", "Findings") if isinstance(body.get(k), list)), body)
    return len(body) if isinstance(body, list) else 1


def _unwrap(body: Any, index: int) -> tuple[str, Any]:
    """(shape, single finding/alert) from a body; containers must hold the finding asked for."""
    if isinstance(body, dict) and "detail-type" in body and isinstance(body.get("detail"), dict):
        dt = body["detail-type"]
        if dt == "GuardDuty Finding":
            return "guardduty", body
        if dt.startswith("Security Hub Findings"):
            return _unwrap(body["detail"].get("findings") or [], index)
        raise InputError(f"EventBridge event of type {dt!r} is not a GuardDuty or Security Hub finding",
                         origin=ORIGIN)
    if isinstance(body, dict):
        for key in ("findings", "Findings"):
            if isinstance(body.get(key), list):
                return _unwrap(body[key], index)
    if isinstance(body, list):
        if not body:
            raise InputError("the alert holds no finding (empty list)", origin=ORIGIN)
        if not 0 <= index < len(body):
            raise InputError(f"the alert holds {len(body)} findings; --index {index} is out of range "
                             f"(0..{len(body) - 1})",
                             origin=ORIGIN)
        return _unwrap(body[index], 0)
    if isinstance(body, str):
        return "alert_id", body
    if not isinstance(body, dict):
        raise InputError(f"the alert must be a JSON object, not {type(body).__name__}", origin=ORIGIN)
    if body.get("SchemaVersion") == "2018-10-08" or "ProductArn" in body:
        return "securityhub", body
    if ("schemaVersion" in body or "SchemaVersion" in body) and ("service" in body or "Service" in body):
        return "guardduty", body
    if "alert_id" in body and "rule_id" in body:
        return "cairn_alert", body
    if any(k in body for k in ("identity", "resource")):
        return "minimal", body
    raise InputError("not a GuardDuty finding, ASFF finding, cairn alert or {identity, resource, time} "
                     f"object (keys: {', '.join(sorted(body)[:12])})", origin=ORIGIN)


def _typed_row(engine: DuckDBEngine, source_name: str, body: dict[str, Any]) -> dict[str, Any]:
    """Run the lake source's records + typed SQL over one finding; the typed row as a dict."""
    from cairn.sources import SOURCES

    src = SOURCES[source_name]
    table = src.tables[0].name
    sql = (f"WITH _items AS (SELECT CAST(? AS VARCHAR) AS origin, CAST(? AS VARCHAR) AS locator, "
           f"CAST(? AS VARCHAR) AS item, CAST(NULL AS VARCHAR) AS header), "
           f"_records AS ({src.records_sql}) {src.typed_sql[table]}")
    tbl = engine.arrow(sql, [ORIGIN, "finding", json.dumps(body)])
    rows = tbl.to_pylist()
    if not rows:
        raise InputError(f"the {source_name} finding could not be read", origin=ORIGIN)
    row = rows[0]
    if row.get("_reject"):
        raise InputError(f"{source_name} finding rejected: {row['_reject']}", origin=ORIGIN)
    return row


def _guardduty(engine: DuckDBEngine, body: dict[str, Any]) -> Subject:
    r = _typed_row(engine, "guardduty", body)
    finding = body.get("detail", body)
    t = r.get("last_seen") or r.get("event_time")
    res: list[str] = []
    if r.get("instance_id"):
        res.append(r["instance_id"])
    res += r.get("bucket_names") or []
    service = finding.get("service") or finding.get("Service") or {}
    action = service.get("action") or service.get("Action") or {}
    api = action.get("awsApiCallAction") or action.get("AwsApiCallAction") or {}
    affected = api.get("affectedResources") or api.get("AffectedResources") or {}
    res += [v for v in affected.values() if isinstance(v, str)]
    seq = _sequence(service, finding.get("description") or finding.get("Description"))
    res += seq.resources
    key = r.get("access_key_id") or seq.access_key_id
    user_name, user_type = r.get("user_name") or seq.user_name, r.get("user_type") or seq.user_type
    principal_id = r.get("principal_id") or seq.principal_id
    principal_arn = None
    if user_type == "Root" and r.get("account_id"):
        principal_arn = f"arn:aws:iam::{r['account_id']}:root"
    ips = [ip for ip in [r.get("remote_ip"), *(r.get("probe_remote_ips") or []), *seq.ips] if ip]
    return Subject(
        kind="guardduty", time=t, first_seen=r.get("first_seen"), last_seen=r.get("last_seen"),
        title=r.get("title") or r.get("type"), severity=r.get("severity_label"), finding_id=r.get("finding_id"),
        account_id=r.get("account_id"), identity=key or user_name or principal_id,
        access_key_id=_key(key), principal_arn=principal_arn, principal_id=principal_id,
        user_name=user_name, user_type=user_type, resources=_uniq(res), ips=_uniq(ips), raw=body,
    )


@dataclass
class _Sequence:
    """Who and what a GuardDuty Extended Threat Detection attack sequence names."""

    user_name: str | None = None
    user_type: str | None = None
    principal_id: str | None = None
    access_key_id: str | None = None
    resources: list[str] = field(default_factory=list)
    ips: list[str] = field(default_factory=list)


# GuardDuty's attack-sequence description names the actor: "... observed for IAMUser/john_doe with principalId
# AIDA... in account 111122223333".
_SEQUENCE_ACTOR = re.compile(r"\bfor (IAMUser|AssumedRole|Root|FederatedUser|Role)/(\S+) with principalId (\S+)")


def _sequence(service: dict[str, Any], description: str | None) -> _Sequence:
    """The actor, resources and endpoints of ``service.detection.sequence`` (camelCase or PascalCase);
    without actors there (samples strip them), the actor named by the finding's description."""
    def get(d: Any, key: str) -> Any:
        return (d.get(key) if key in d else d.get(key[:1].upper() + key[1:])) if isinstance(d, dict) else None

    seq = get(get(service, "detection"), "sequence") or {}
    out = _Sequence()
    for actor in get(seq, "actors") or []:
        user = get(actor, "user") or {}
        if get(user, "name") or get(user, "uid"):
            out.user_name, out.user_type = get(user, "name"), get(user, "type")
            out.principal_id, out.access_key_id = get(user, "uid"), get(user, "credentialUid")
            break
    for resource in get(seq, "resources") or []:
        if isinstance(get(resource, "uid"), str):
            out.resources.append(get(resource, "uid"))
    out.ips = [e for e in (get(ep, "ip") for ep in get(seq, "endpoints") or []) if isinstance(e, str)]
    if out.user_name is None and out.principal_id is None and description:
        m = _SEQUENCE_ACTOR.search(description)
        if m:
            out.user_type, out.user_name, out.principal_id = m.group(1), m.group(2), m.group(3)
    return out


def _key(v: str | None) -> str | None:
    """GuardDuty writes 'GeneratedFindingAccessKeyId' and friends in samples: keep only real-looking ids."""
    return v if v and v[:4] in ("AKIA", "ASIA", "ABIA", "ACCA") else (v if v and len(v) >= 16 and v.isalnum() else None)


def _securityhub(engine: DuckDBEngine, body: dict[str, Any]) -> Subject:
    r = _typed_row(engine, "securityhub", body)
    key = principal_arn = principal_id = user_name = user_type = None
    res: list[str] = []
    for resource in body.get("Resources") or []:
        rtype = resource.get("Type") or ""
        rid = resource.get("Id")
        details = (resource.get("Details") or {}).get("AwsIamAccessKey")
        if rtype == "AwsIamAccessKey" or details:
            d = details or {}
            key = key or d.get("AccessKeyId") or (rid if rid and rid[:4] in ("AKIA", "ASIA") else None)
            principal_id = principal_id or d.get("PrincipalId")
            user_type = user_type or d.get("PrincipalType")
            user_name = user_name or d.get("PrincipalName") or d.get("UserName")
            issuer = (d.get("SessionContext") or {}).get("SessionIssuer") or {}
            if issuer.get("Arn") and user_type in ("AssumedRole", "Role"):
                principal_arn = principal_arn or issuer["Arn"]
        elif rtype in ("AwsIamUser", "AwsIamRole") and rid and rid.startswith("arn:"):
            principal_arn = principal_arn or rid
        elif rid and rid not in ("<id>",) and rtype != "AwsAccount":
            res.append(rid)
    t = r.get("last_observed_at") or r.get("event_time")
    ips = [ip for ip in [r.get("remote_ip"), r.get("src_ip")] if ip]
    return Subject(
        kind="securityhub", time=t, first_seen=r.get("first_observed_at"), last_seen=r.get("last_observed_at"),
        title=r.get("title"), severity=r.get("severity_label"), finding_id=r.get("finding_id"),
        account_id=r.get("aws_account_id"), identity=key or principal_arn or user_name, access_key_id=key,
        principal_arn=principal_arn, principal_id=principal_id, user_name=user_name, user_type=user_type,
        resources=_uniq(res), ips=_uniq(ips), raw=body,
    )


def _cairn_alert(body: dict[str, Any]) -> Subject:
    first = parse_time(body["first_seen"], what="first_seen") if body.get("first_seen") else None
    last = parse_time(body["last_seen"], what="last_seen") if body.get("last_seen") else None
    t = last or first
    if t is None:
        raise InputError(f"alert {body.get('alert_id')} has no first_seen/last_seen", origin=ORIGIN)
    s = _minimal({"identity": body.get("identity"), "resource": body.get("resource"), "time": t})
    s.kind = "cairn_alert"
    s.first_seen, s.last_seen = first, last
    s.title = body.get("title") or body.get("rule_title")
    s.severity = body.get("severity")
    s.finding_id = body.get("alert_id")
    s.account_id = body.get("account_id") or s.account_id
    s.ips = _uniq(list(body.get("ips") or []))
    s.raw = body
    return s


def _minimal(body: dict[str, Any]) -> Subject:
    if "time" not in body or body["time"] in (None, ""):
        raise InputError("the alert has no 'time'", origin=ORIGIN)
    t = parse_time(body["time"])
    ident = body.get("identity")
    resource = body.get("resource")
    if not ident and not resource:
        raise InputError("the alert names neither an identity nor a resource", origin=ORIGIN)
    s = Subject(kind="minimal", time=t, raw=body)
    if ident:
        ident = str(ident).strip()
        s.identity = ident
        if ident[:4] in ("AKIA", "ASIA") and ident.isalnum():
            s.access_key_id = ident
        elif ident.startswith("arn:") or ident.endswith(".amazonaws.com"):
            s.principal_arn = ident
            parts = ident.split(":")
            s.account_id = parts[4] if len(parts) > 4 and parts[4] else None  # service principals: none
        elif ":" in ident and ident.split(":")[0][:4] in ("AROA", "AIDA"):
            s.principal_id = ident
        else:
            s.user_name = ident
    if resource:
        s.resources = [str(r) for r in (resource if isinstance(resource, list) else [resource])]
    return s


def _uniq(values: list[str]) -> list[str]:
    return list(dict.fromkeys(v for v in values if v))


def subject_from(engine: DuckDBEngine, body: Any, *, index: int = 0) -> Subject:
    """Read an alert body (parsed JSON or an alert id string) into a :class:`Subject`."""
    shape, item = _unwrap(body, index)
    if shape == "guardduty":
        return _guardduty(engine, item)
    if shape == "securityhub":
        return _securityhub(engine, item)
    if shape == "alert_id":
        return _cairn_alert(_alert_by_id(engine, item))
    if shape == "cairn_alert":
        return _cairn_alert(item)
    return _minimal(item)


def _alert_by_id(engine: DuckDBEngine, alert_id: str) -> dict[str, Any]:
    have = engine.scalar("SELECT count(*) FROM duckdb_views() WHERE view_name = 'alerts' AND NOT internal") or \
        engine.scalar("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'alerts'")
    if not have:
        raise InputError(f"{alert_id!r} is not JSON and this workspace has no alerts table "
                         "(run 'cairn detect' first, or pass the finding or {identity, resource, time})",
                         origin=ORIGIN)
    from cairn.detect.alerts import resolve_alert_id

    try:
        full_id = resolve_alert_id(engine, alert_id, relation="alerts")
    except InputError as exc:
        raise InputError(str(exc), origin=ORIGIN) from None
    rows = engine.arrow("SELECT * FROM alerts WHERE alert_id = ? LIMIT 1", [full_id]).to_pylist()
    if not rows:
        raise InputError(f"no alert with id {full_id!r} in the alerts table", origin=ORIGIN)
    return rows[0]
