"""ASFF (AWS Security Finding Format) for Security Hub: cairn alerts as findings, and the service limits.

Every limit below is the one the Security Hub API reference states for ``AwsSecurityFinding``
(``BatchImportFindings``) and ``BatchUpdateFindings``; the helpers clamp to them so that whatever an
alert holds, the finding is accepted:

- :func:`clamp_user_defined_fields`: ``UserDefinedFields`` <= 50 pairs, keys <= 128, values <= 1024,
  never clashing with (or overflowing) a finding's existing fields;
- :func:`note`: ``Note`` with ``Text`` <= 512 characters (cut at a word, with an ellipsis);
- :func:`alert_to_finding`: a complete, valid finding for a cairn alert (``Alert.to_dict()``);
- :func:`check_finding`: the list of limit violations of any finding (empty when valid);
- :func:`batches`: findings in ``BatchImportFindings`` batches (<= 100 findings, <= 6 MB).
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from cairn.errors import ConfigError

SCHEMA_VERSION = "2018-10-08"

ID_MAX = 512
GENERATOR_ID_MAX = 512
TITLE_MAX = 256
DESCRIPTION_MAX = 1024
TYPES_MAX = 50
RESOURCES_MAX = 32
RESOURCE_TYPE_MAX = 256
REGION_MAX = 16
THREAT_INTEL_MAX = 5
INDICATOR_VALUE_MAX = 512
INDICATOR_SOURCE_MAX = 64
UDF_MAX_PAIRS = 50
UDF_KEY_MAX = 128
UDF_VALUE_MAX = 1024
PRODUCT_FIELDS_MAX_PAIRS = 50
PRODUCT_FIELDS_KEY_MAX = 128
PRODUCT_FIELDS_VALUE_MAX = 2048
PRODUCT_FIELDS_RESERVED = 3
"""Room left for the ``aws/securityhub/{FindingId,ProductName,CompanyName}`` keys Security Hub adds."""
NOTE_TEXT_MAX = 512
NOTE_UPDATED_BY_MAX = 512
SEVERITY_ORIGINAL_MAX = 64
NETWORK_DOMAIN_MAX = 128
FINDING_BYTES_MAX = 240 * 1024
BATCH_FINDINGS_MAX = 100
BATCH_BYTES_MAX = 6 * 1024 * 1024

SEVERITY_LABELS = ("INFORMATIONAL", "LOW", "MEDIUM", "HIGH", "CRITICAL")
TYPE_NAMESPACES = ("Software and Configuration Checks", "TTPs", "Effects", "Unusual Behaviors",
                   "Sensitive Data Identifications")
INDICATOR_TYPES = ("DOMAIN", "EMAIL_ADDRESS", "HASH_MD5", "HASH_SHA1", "HASH_SHA256", "HASH_SHA512",
                   "IPV4_ADDRESS", "IPV6_ADDRESS", "MUTEX", "PROCESS", "URL")
INDICATOR_CATEGORIES = ("BACKDOOR", "CARD_STEALER", "COMMAND_AND_CONTROL", "DROP_SITE", "EXPLOIT_SITE",
                        "KEYLOGGER")
INTEL_MATCH_RULE = "cairn.intel_match"
REPORT_SCORE = 7
"""Observables with a verdict (OCSF reputation score_id) at or above this become ThreatIntelIndicators."""

_ELLIPSIS = "…"
_ACCOUNT = re.compile(r"^\d{12}$")
_TACTICS = {
    "initial_access": "TTPs/Initial Access", "execution": "TTPs/Execution", "persistence": "TTPs/Persistence",
    "privilege_escalation": "TTPs/Privilege Escalation", "defense_evasion": "TTPs/Defense Evasion",
    "credential_access": "TTPs/Credential Access", "discovery": "TTPs/Discovery",
    "lateral_movement": "TTPs/Lateral Movement", "collection": "TTPs/Collection",
    "command_and_control": "TTPs/Command and Control", "exfiltration": "Effects/Data Exfiltration",
    "impact": "Effects/Data Destruction",
}
_CATEGORIES = {
    "c2": "COMMAND_AND_CONTROL", "botnet_cc": "COMMAND_AND_CONTROL", "command_and_control": "COMMAND_AND_CONTROL",
    "backdoor": "BACKDOOR", "malware": "BACKDOOR", "ransomware": "BACKDOOR", "trojan": "BACKDOOR",
    "exploit": "EXPLOIT_SITE", "exploit_kit": "EXPLOIT_SITE", "keylogger": "KEYLOGGER",
    "card_stealer": "CARD_STEALER", "skimmer": "CARD_STEALER", "drop_site": "DROP_SITE", "exfiltration": "DROP_SITE",
}
_HASH_TYPES = {32: "HASH_MD5", 40: "HASH_SHA1", 64: "HASH_SHA256", 128: "HASH_SHA512"}


# -- small clamps ----------------------------------------------------------------------------------------
def clamp_text(value: Any, limit: int, *, words: bool = False) -> str:
    """``value`` as text of at most ``limit`` characters; a cut ends with an ellipsis (at a word boundary
    when ``words`` and one is near)."""
    text = str(value)
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    if words:
        space = cut.rfind(" ")
        if space >= limit * 3 // 4:
            cut = cut[:space]
    return cut.rstrip() + _ELLIPSIS


def one_line(value: Any) -> str:
    """``value`` as text on one line: control characters dropped, runs of whitespace made one space
    (ASFF strings must match ``.*\\S.*``, where ``.`` does not match a line break)."""
    text = "".join(c if c >= " " and c != "\x7f" else " " for c in str(value))
    return " ".join(text.split())


def _first(*values: Any) -> str:
    """The first value that is not blank, on one line."""
    for v in values:
        if v is not None and one_line(v):
            return one_line(v)
    return ""


def _clamp_key(key: Any, limit: int) -> str:
    """A map key within ``limit``: long keys keep a short hash so that two long keys stay distinct."""
    text = one_line(key)
    if len(text) <= limit:
        return text
    digest = hashlib.sha256(text.encode()).hexdigest()[:8]
    return text[: limit - 9] + "~" + digest


def clamp_user_defined_fields(mapping: Mapping[str, Any], existing: Mapping[str, Any] | None = None, *,
                              overwrite: bool = False) -> dict[str, str]:
    """The pairs of ``mapping`` that may be added to a finding whose ``UserDefinedFields`` are ``existing``.

    Keys are cut to 128 characters (with a short hash, so distinct keys stay distinct), values to 1024,
    empty values are dropped, and the result plus ``existing`` holds at most 50 pairs (pairs beyond
    are left out in the order given). A key already in ``existing`` is left out unless ``overwrite``.
    Returns only the new pairs: merge them with ``{**existing, **result}``.
    """
    existing = {str(k): v for k, v in (existing or {}).items()}
    out: dict[str, str] = {}
    for k, v in mapping.items():
        if v is None or not one_line(v) or not one_line(k):
            continue
        key = _clamp_key(k, UDF_KEY_MAX)
        if key in out or (key in existing and not overwrite):
            continue
        total = len(existing) + sum(1 for x in out if x not in existing)
        if key not in existing and total >= UDF_MAX_PAIRS:
            continue
        out[key] = clamp_text(one_line(v), UDF_VALUE_MAX)
    return out


def clamp_product_fields(mapping: Mapping[str, Any], *, reserve: int = PRODUCT_FIELDS_RESERVED) -> dict[str, str]:
    """``ProductFields`` within the limits: <= 50 pairs (less ``reserve``), keys <= 128, values <= 2048."""
    out: dict[str, str] = {}
    for k, v in mapping.items():
        if v is None or not one_line(v) or not one_line(k) or len(out) >= PRODUCT_FIELDS_MAX_PAIRS - reserve:
            continue
        out.setdefault(_clamp_key(k, PRODUCT_FIELDS_KEY_MAX), clamp_text(one_line(v), PRODUCT_FIELDS_VALUE_MAX))
    return out


_FRACTION = re.compile(r"([.,]\d{1,6})\d*")


def timestamp(value: Any = None) -> str:
    """An ASFF timestamp (RFC 3339, UTC, milliseconds, ``Z``) of a datetime or ISO 8601 text; now when None.

    Text may use the extended or basic form, ``T`` or a space, any number of fraction digits (cut, not
    rounded, to milliseconds) and an offset, ``Z`` or none (UTC); the time is converted to UTC.
    """
    if value is None:
        dt = datetime.now(UTC)
    elif isinstance(value, datetime):
        dt = value if value.tzinfo else value.replace(tzinfo=UTC)
    else:
        text = str(value).strip().replace(" ", "T", 1)
        if text[-1:] in ("Z", "z"):
            text = text[:-1] + "+00:00"
        text = _FRACTION.sub(r"\1", text, count=1)  # microseconds at most, whatever the Python version
        try:
            dt = datetime.fromisoformat(text)
        except ValueError as exc:
            raise ValueError(f"not an ISO 8601 time: {value!r}") from exc
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def note(text: str, updated_by: str, *, updated_at: Any = None) -> dict[str, str]:
    """An ASFF ``Note`` (``Text`` <= 512 characters, cut at a word; ``UpdatedBy`` <= 512; ``UpdatedAt``).

    ``BatchUpdateFindings`` takes only ``Text`` and ``UpdatedBy``: use :func:`note_update` there.
    """
    body = one_line(text) or "(no text)"
    return {"Text": clamp_text(body, NOTE_TEXT_MAX, words=True),
            "UpdatedBy": clamp_text(one_line(updated_by) or "cairn", NOTE_UPDATED_BY_MAX),
            "UpdatedAt": timestamp(updated_at)}


def note_update(text: str, updated_by: str) -> dict[str, str]:
    """The ``Note`` of a ``BatchUpdateFindings`` call (``Text``, ``UpdatedBy``)."""
    n = note(text, updated_by)
    return {"Text": n["Text"], "UpdatedBy": n["UpdatedBy"]}


# -- alert -> finding ------------------------------------------------------------------------------------
def partition_of(region: str) -> str:
    """The AWS partition of a region name."""
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    if region.startswith("us-isob-"):
        return "aws-us-iso-b"
    if region.startswith("us-iso-"):
        return "aws-us-iso"
    return "aws"


def default_product_arn(account_id: str, region: str) -> str:
    """The product ARN of findings a customer account imports itself (``product/<account>/default``)."""
    return f"arn:{partition_of(region)}:securityhub:{region}:{account_id}:product/{account_id}/default"


def finding_id(alert: Mapping[str, Any], region: str) -> str:
    """The finding ``Id`` of an alert: stable, so that a re-import updates the same finding."""
    return clamp_text(one_line(f"cairn/{region}/{alert['alert_id']}"), ID_MAX)


def indicator_type(obs_type: str, value: str) -> str | None:
    """The ``ThreatIntelIndicators[].Type`` of an observable, or None when ASFF has no such type."""
    obs_type = (obs_type or "").lower()
    if obs_type in ("ip", "ipv4", "ipv6", "ip_address"):
        try:
            return "IPV4_ADDRESS" if ipaddress.ip_address(value).version == 4 else "IPV6_ADDRESS"
        except ValueError:
            return None
    if obs_type in ("domain", "hostname", "fqdn"):
        return "DOMAIN"
    if obs_type == "url":
        return "URL"
    if obs_type in ("email", "email_address"):
        return "EMAIL_ADDRESS"
    if obs_type in ("hash", "md5", "sha1", "sha256", "sha512"):
        return _HASH_TYPES.get(len(value))
    return None


def finding_types(alert: Mapping[str, Any]) -> list[str]:
    """ASFF ``Types`` (``namespace/category/classifier``) of an alert: its ATT&CK tactics when it carries
    tags (``attack.persistence``), else an unusual-behaviour type by what it is about."""
    classifier = clamp_text(_first(alert.get("rule_title"), alert.get("rule_id"), "cairn").replace("/", "-"), 128)
    out: list[str] = []
    for tag in alert.get("tags") or []:
        tactic = str(tag).lower().removeprefix("attack.").replace("-", "_")
        if tactic in _TACTICS and f"{_TACTICS[tactic]}/{classifier}" not in out:
            out.append(f"{_TACTICS[tactic]}/{classifier}")
    if not out:
        if alert.get("rule_id") == INTEL_MATCH_RULE:
            out.append(f"Unusual Behaviors/IP address/{classifier}")
        elif alert.get("identity"):
            out.append(f"Unusual Behaviors/User/{classifier}")
        else:
            out.append(f"Unusual Behaviors/Application/{classifier}")
    return out[:TYPES_MAX]


def _resource_type(value: str) -> str:
    if value.startswith("arn:"):
        parts = value.split(":", 5)
        service = parts[2] if len(parts) > 2 else ""
        rest = parts[5] if len(parts) > 5 else ""
        if service == "s3" and "/" not in rest:
            return "AwsS3Bucket"
        if service == "s3":
            return "AwsS3Object"
        if service in ("iam", "sts"):
            for prefix, kind in (("role/", "AwsIamRole"), ("assumed-role/", "AwsIamRole"),
                                 ("user/", "AwsIamUser"), ("policy/", "AwsIamPolicy"), ("group/", "AwsIamGroup")):
                if rest.startswith(prefix):
                    return kind
            if rest == "root":
                return "AwsAccount"
        if service == "ec2":
            for prefix, kind in (("instance/", "AwsEc2Instance"), ("security-group/", "AwsEc2SecurityGroup"),
                                 ("vpc/", "AwsEc2Vpc"), ("volume/", "AwsEc2Volume"),
                                 ("network-interface/", "AwsEc2NetworkInterface")):
                if rest.startswith(prefix):
                    return kind
        if service == "lambda":
            return "AwsLambdaFunction"
        if service == "kms":
            return "AwsKmsKey"
        if service == "secretsmanager":
            return "AwsSecretsManagerSecret"
        return "Other"
    if _ACCOUNT.fullmatch(value):
        return "AwsAccount"
    if re.fullmatch(r"(AKIA|ASIA)[A-Z0-9]{12,}", value):
        return "AwsIamAccessKey"
    if re.fullmatch(r"i-[0-9a-f]{8,17}", value):
        return "AwsEc2Instance"
    return "Other"


def _resource(value: str, role: str, partition: str, region: str) -> dict[str, Any]:
    value = one_line(value)
    kind = _resource_type(value)
    rid = value
    if kind == "AwsIamAccessKey" and not value.startswith("arn:"):
        rid = f"AWS::IAM::AccessKey:{value}"
    if kind == "AwsAccount":
        acct = value.split(":")[4] if value.startswith("arn:") else value
        rid = f"AWS::::Account:{acct}"
    return {"Type": kind, "Id": rid, "Partition": partition, "Region": region[:REGION_MAX], "ResourceRole": role}


def _observables(summary: Any) -> list[dict[str, Any]]:
    """Observable verdicts anywhere in an enrichment summary: dicts with ``value`` and ``score_id``."""
    found: list[dict[str, Any]] = []

    def walk(node: Any, key: str | None) -> None:
        if isinstance(node, dict):
            if "value" in node and ("score_id" in node or "score" in node):
                found.append({**node, "type": node.get("type") or key})
            for k, v in node.items():
                walk(v, k)
        elif isinstance(node, list):
            for v in node:
                walk(v, key)

    walk(summary, None)
    return found


def _summary(alert: Mapping[str, Any]) -> Any:
    raw = alert.get("enrichment_summary")
    if isinstance(raw, str) and raw.strip():
        try:
            return json.loads(raw)
        except ValueError:
            return {}
    return raw or {}


def threat_intel_indicators(alert: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Up to 5 ``ThreatIntelIndicators``: the alert's observables with a verdict of 7 or worse, worst first."""
    seen: set[tuple[str, str]] = set()
    out: list[dict[str, Any]] = []
    observed = alert.get("last_seen") or alert.get("first_seen")
    ranked = sorted(_observables(_summary(alert)), key=lambda o: -int(o.get("score_id") or 0))
    for o in ranked:
        score = int(o.get("score_id") or 0)
        value = str(o.get("value") or "")
        itype = indicator_type(str(o.get("type") or ""), value)
        if score < REPORT_SCORE or not itype or not value or (itype, value.lower()) in seen:
            continue
        seen.add((itype, value.lower()))
        sources = o.get("verdict_sources") or o.get("sources") or []
        if isinstance(sources, str):
            sources = [sources]
        ind: dict[str, Any] = {"Type": itype, "Value": clamp_text(value, INDICATOR_VALUE_MAX),
                               "Source": clamp_text(one_line(", ".join(map(str, sources))) or "cairn",
                                                    INDICATOR_SOURCE_MAX)}
        if observed:
            ind["LastObservedAt"] = timestamp(observed)
        threat = o.get("threat_type") or o.get("threat_types") or ""
        for t in threat if isinstance(threat, list) else [threat]:
            cat = _CATEGORIES.get(str(t).lower())
            if cat:
                ind["Category"] = cat
                break
        out.append(ind)
        if len(out) >= THREAT_INTEL_MAX:
            break
    return out


def _network(ips: list[str]) -> dict[str, Any] | None:
    for ip in ips:
        try:
            addr = ipaddress.ip_address(str(ip))
        except ValueError:
            continue
        return {"SourceIpV4": str(addr)} if addr.version == 4 else {"SourceIpV6": str(addr)}
    return None


def _description(alert: Mapping[str, Any]) -> str:
    parts = [f"{alert.get('rule_title') or alert.get('rule_id')}: {alert.get('event_count') or 0} event(s)"]
    if alert.get("first_seen"):
        parts[0] += f" from {timestamp(alert['first_seen'])} to {timestamp(alert.get('last_seen') or alert['first_seen'])}"
    if alert.get("source"):
        parts[0] += f" in {alert['source']}"
    for label, key in (("identity", "identity"), ("resource", "resource"), ("account", "account_id")):
        if alert.get(key):
            parts.append(f"{label} {alert[key]}")
    if alert.get("ips"):
        parts.append("IPs " + ", ".join(map(str, alert["ips"][:10])))
    if alert.get("max_score_id") is not None:
        parts.append(f"highest intel verdict {alert['max_score_id']}/10")
    parts.append(f"cairn alert {alert['alert_id']} (rule {alert.get('rule_id')})")
    return clamp_text(one_line(". ".join(parts) + "."), DESCRIPTION_MAX, words=True)


def alert_to_finding(alert: Mapping[str, Any], *, account_id: str, region: str, product_arn: str | None = None,
                     updated_by: str = "cairn", note_text: str | None = None,
                     extra_fields: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A valid ASFF finding for a cairn alert (``Alert.to_dict()``), within every service limit.

    ``account_id``/``region``: the Security Hub account and Region importing it (``AwsAccountId`` must
    be the caller's account with the default product ARN); the alert's own account becomes an
    ``AwsAccount`` resource. ``note_text`` (a triage summary, say) becomes the initial ``Note``;
    ``extra_fields`` are added to ``UserDefinedFields`` after cairn's own.
    """
    account_id = str(account_id)
    if not _ACCOUNT.fullmatch(account_id):
        raise ConfigError(f"ASFF AwsAccountId must be 12 digits, got {account_id!r}")
    if not region or len(region) > REGION_MAX:
        raise ConfigError(f"ASFF needs a Region of 1-{REGION_MAX} characters, got {region!r}")
    if not alert.get("alert_id"):
        raise ValueError("an alert without alert_id cannot become a finding")
    partition = partition_of(region)
    severity = str(alert.get("severity") or "informational").upper()
    if severity not in SEVERITY_LABELS:
        severity = "INFORMATIONAL"
    created = timestamp(alert.get("created_at") or alert.get("first_seen"))
    updated = timestamp(alert.get("updated_at") or alert.get("created_at") or alert.get("first_seen"))
    updated = max(created, updated)  # same format and zone: text order is time order
    types = finding_types(alert)

    resources: list[dict[str, Any]] = []
    for value, role in ((alert.get("resource"), "Target"), (alert.get("identity"), "Actor")):
        if value and one_line(value) and all(r["Id"] != one_line(value) for r in resources):
            resources.append(_resource(str(value), role, partition, region))
    acct = alert.get("account_id")
    if acct and _ACCOUNT.fullmatch(str(acct)) and all(r["Type"] != "AwsAccount" for r in resources):
        resources.append(_resource(str(acct), "Target", partition, region))
    if not resources:
        resources.append(_resource(account_id, "Target", partition, region))
    for r in resources:
        r["Type"] = clamp_text(r["Type"], RESOURCE_TYPE_MAX)

    udf = {
        "cairn_alert_id": alert["alert_id"], "cairn_rule_id": alert.get("rule_id"),
        "cairn_severity": alert.get("severity"), "cairn_event_count": alert.get("event_count"),
        "cairn_max_score": alert.get("max_score_id"), "cairn_source": alert.get("source"),
        "cairn_identity": alert.get("identity"), "cairn_resource": alert.get("resource"),
        "cairn_account": alert.get("account_id"), "cairn_ips": ",".join(map(str, alert.get("ips") or [])),
        "cairn_dedup_key": alert.get("dedup_key"),
    }
    udf = clamp_user_defined_fields(udf)
    udf.update(clamp_user_defined_fields(extra_fields or {}, udf))
    product = clamp_product_fields({
        "cairn/alert_id": alert["alert_id"], "cairn/rule_id": alert.get("rule_id"),
        "cairn/rule_title": alert.get("rule_title"), "cairn/source": alert.get("source"),
        "cairn/event_count": alert.get("event_count"),
        "cairn/event_uids": ",".join(map(str, alert.get("event_uids") or [])),
        "cairn/dedup_key": alert.get("dedup_key"), "cairn/status": alert.get("status"),
    })
    finding: dict[str, Any] = {
        "SchemaVersion": SCHEMA_VERSION,
        "Id": finding_id(alert, region),
        "ProductArn": product_arn or default_product_arn(account_id, region),
        "GeneratorId": clamp_text(f"cairn/{_first(alert.get('rule_id'), 'unknown')}", GENERATOR_ID_MAX),
        "AwsAccountId": account_id,
        "Types": types,
        "CreatedAt": created,
        "UpdatedAt": updated,
        "Severity": {"Label": severity, "Original": clamp_text(_first(alert.get("severity"), "informational"),
                                                                SEVERITY_ORIGINAL_MAX)},
        "Title": clamp_text(_first(alert.get("title"), alert.get("rule_title"), alert["alert_id"]), TITLE_MAX,
                            words=True),
        "Description": _description(alert),
        "Resources": resources[:RESOURCES_MAX],
        "ProductFields": product,
        "UserDefinedFields": udf,
        "FindingProviderFields": {"Severity": {"Label": severity}, "Types": types},
        "Workflow": {"Status": "NEW"},
        "RecordState": "ACTIVE",
        "Note": note(note_text or _description(alert), updated_by, updated_at=updated),
    }
    if alert.get("first_seen"):
        finding["FirstObservedAt"] = timestamp(alert["first_seen"])
        finding["LastObservedAt"] = timestamp(alert.get("last_seen") or alert["first_seen"])
    network = _network(list(alert.get("ips") or []))
    if network:
        finding["Network"] = network
    indicators = threat_intel_indicators(alert)
    if indicators:
        finding["ThreatIntelIndicators"] = indicators
    _fit_size(finding)
    return finding


def finding_bytes(finding: Mapping[str, Any]) -> int:
    """Size of a finding as sent (compact JSON, UTF-8)."""
    return len(json.dumps(finding, separators=(",", ":"), ensure_ascii=False).encode())


def _fit_size(finding: dict[str, Any]) -> None:
    """Drop the bulkiest optional parts until the finding is within 240 KB."""
    for key in ("ProductFields", "UserDefinedFields", "ThreatIntelIndicators"):
        if finding_bytes(finding) <= FINDING_BYTES_MAX:
            return
        finding.pop(key, None)
    if finding_bytes(finding) > FINDING_BYTES_MAX:
        raise ValueError(f"finding {finding['Id']} is larger than {FINDING_BYTES_MAX} bytes")


# -- checks and batching ---------------------------------------------------------------------------------
_REQUIRED = ("SchemaVersion", "Id", "ProductArn", "GeneratorId", "AwsAccountId", "Types", "CreatedAt",
             "UpdatedAt", "Severity", "Title", "Description", "Resources")
_NON_BLANK = re.compile(r".*\S.*")
_TS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}(:?\d{2})?)$")


def _map_problems(name: str, value: Any, pairs: int, key_max: int, value_max: int) -> list[str]:
    if not isinstance(value, dict):
        return [f"{name} must be a map"]
    out = []
    if len(value) > pairs:
        out.append(f"{name} has {len(value)} pairs (max {pairs})")
    for k, v in value.items():
        if not isinstance(v, str) or not _NON_BLANK.fullmatch(v) or not _NON_BLANK.fullmatch(str(k)):
            out.append(f"{name}[{k!r}] must be a non-empty string")
        if len(str(k)) > key_max:
            out.append(f"{name} key longer than {key_max}: {str(k)[:40]}...")
        if isinstance(v, str) and len(v) > value_max:
            out.append(f"{name}[{str(k)[:40]}] longer than {value_max}")
    return out


def check_finding(f: Mapping[str, Any]) -> list[str]:
    """The ways ``f`` breaks the ASFF rules and limits cairn knows (empty when none)."""
    p: list[str] = [f"missing {k}" for k in _REQUIRED if not f.get(k)
                    or (isinstance(f.get(k), str) and not _NON_BLANK.fullmatch(f[k]))]
    if f.get("SchemaVersion") not in (None, SCHEMA_VERSION):
        p.append(f"SchemaVersion must be {SCHEMA_VERSION}")
    for key, limit in (("Id", ID_MAX), ("GeneratorId", GENERATOR_ID_MAX), ("Title", TITLE_MAX),
                       ("Description", DESCRIPTION_MAX)):
        if len(str(f.get(key) or "")) > limit:
            p.append(f"{key} longer than {limit}")
    if f.get("AwsAccountId") and not _ACCOUNT.fullmatch(str(f["AwsAccountId"])):
        p.append("AwsAccountId must be 12 digits")
    types = f.get("Types") or []
    if len(types) > TYPES_MAX:
        p.append(f"Types has {len(types)} items (max {TYPES_MAX})")
    for t in types:
        if not _NON_BLANK.fullmatch(str(t)):
            p.append(f"Types item {t!r} is blank or spans lines")
        parts = str(t).split("/")
        if parts[0] not in TYPE_NAMESPACES or len(parts) < 2 or len(parts) > 3 or not all(x.strip() for x in parts):
            p.append(f"Types item {t!r} is not namespace/category[/classifier] with a valid namespace")
    for key in ("CreatedAt", "UpdatedAt", "FirstObservedAt", "LastObservedAt"):
        if f.get(key) and not _TS.match(str(f[key])):
            p.append(f"{key} is not an ASFF timestamp: {f[key]!r}")
    try:
        if f.get("CreatedAt") and f.get("UpdatedAt") and timestamp(f["UpdatedAt"]) < timestamp(f["CreatedAt"]):
            p.append("UpdatedAt is before CreatedAt")
    except ValueError:
        pass  # reported by the format check above
    sev = f.get("Severity") or {}
    if sev and sev.get("Label") not in SEVERITY_LABELS and sev.get("Normalized") is None:
        p.append("Severity needs a Label (INFORMATIONAL..CRITICAL) or Normalized")
    res = f.get("Resources") or []
    if len(res) > RESOURCES_MAX:
        p.append(f"Resources has {len(res)} items (max {RESOURCES_MAX})")
    for r in res:
        if not r.get("Type") or not r.get("Id"):
            p.append("a resource needs Type and Id")
        if len(str(r.get("Type") or "")) > RESOURCE_TYPE_MAX or len(str(r.get("Region") or "")) > REGION_MAX:
            p.append(f"resource {r.get('Id')!r}: Type or Region too long")
    tii = f.get("ThreatIntelIndicators") or []
    if len(tii) > THREAT_INTEL_MAX:
        p.append(f"ThreatIntelIndicators has {len(tii)} items (max {THREAT_INTEL_MAX})")
    for i in tii:
        if i.get("Type") and i["Type"] not in INDICATOR_TYPES:
            p.append(f"ThreatIntelIndicator Type {i['Type']!r} is not valid")
        if i.get("Category") and i["Category"] not in INDICATOR_CATEGORIES:
            p.append(f"ThreatIntelIndicator Category {i['Category']!r} is not valid")
        if not 1 <= len(str(i.get("Value") or "")) <= INDICATOR_VALUE_MAX:
            p.append("ThreatIntelIndicator Value must be 1-512 characters")
        if i.get("Source") is not None and not 1 <= len(str(i["Source"])) <= INDICATOR_SOURCE_MAX:
            p.append("ThreatIntelIndicator Source must be 1-64 characters")
    if "UserDefinedFields" in f:
        p += _map_problems("UserDefinedFields", f["UserDefinedFields"], UDF_MAX_PAIRS, UDF_KEY_MAX, UDF_VALUE_MAX)
    if "ProductFields" in f:
        p += _map_problems("ProductFields", f["ProductFields"], PRODUCT_FIELDS_MAX_PAIRS, PRODUCT_FIELDS_KEY_MAX,
                           PRODUCT_FIELDS_VALUE_MAX)
    n = f.get("Note")
    if n is not None:
        if not all(n.get(k) for k in ("Text", "UpdatedBy", "UpdatedAt")):
            p.append("Note needs Text, UpdatedBy and UpdatedAt")
        if len(str(n.get("Text") or "")) > NOTE_TEXT_MAX or len(str(n.get("UpdatedBy") or "")) > NOTE_UPDATED_BY_MAX:
            p.append(f"Note Text/UpdatedBy longer than {NOTE_TEXT_MAX}")
    net = f.get("Network") or {}
    for key in ("SourceDomain", "DestinationDomain"):
        if len(str(net.get(key) or "")) > NETWORK_DOMAIN_MAX:
            p.append(f"Network.{key} longer than {NETWORK_DOMAIN_MAX}")
    if len(str(net.get("Protocol") or "")) > 16:
        p.append("Network.Protocol longer than 16")
    if finding_bytes(f) > FINDING_BYTES_MAX:
        p.append(f"finding larger than {FINDING_BYTES_MAX} bytes")
    return p


def batches(findings: Iterable[Mapping[str, Any]]) -> Iterator[list[Mapping[str, Any]]]:
    """``BatchImportFindings`` batches: at most 100 findings and 6 MB each, in order."""
    batch: list[Mapping[str, Any]] = []
    size = 0
    for f in findings:
        n = finding_bytes(f) + 1
        if batch and (len(batch) >= BATCH_FINDINGS_MAX or size + n > BATCH_BYTES_MAX - 1024):
            yield batch
            batch, size = [], 0
        batch.append(f)
        size += n
    if batch:
        yield batch
