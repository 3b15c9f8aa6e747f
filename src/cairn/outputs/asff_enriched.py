"""Enriched findings as ASFF (AWS Security Finding Format) for Security Hub.

Security Hub findings keep their original ASFF (times in UTC ASFF form: :func:`normalise_times`);
GuardDuty findings become the ASFF finding Security Hub would import (product ``aws/guardduty``,
``TTPs/...`` types, resources). cairn adds:

- ``ThreatIntelIndicators``: the finding's observables with a verdict of 7 (Suspicious) or worse and
  an ASFF indicator type (``IPV4_ADDRESS``, ``IPV6_ADDRESS``, ``DOMAIN``, ``URL``, ``EMAIL_ADDRESS``,
  ``HASH_MD5`` / ``SHA1`` / ``SHA256`` / ``SHA512``), worst first, after the finding's own ones, at most
  :data:`MAX_INDICATORS` in all; ``Category`` from the matched indicator's threat type, ``Source`` the
  feeds that listed it, ``LastObservedAt`` the finding's time;
- ``UserDefinedFields``: ``cairn_enriched`` (a marker an EventBridge rule can filter on to ignore
  cairn's own updates), ``cairn_max_score``, ``cairn_flagged``, ``cairn_owners``, one
  ``cairn:<field>:<value>`` entry per enriched observable (verdict, ownership, owners), merged with the
  finding's own fields and clamped to the limits (:func:`cairn.outputs.asff.clamp_user_defined_fields`:
  50 pairs, keys <= 128, values <= 1024). The finding's own fields are never overwritten and come
  first; on a finding cairn enriched before (``cairn_enriched`` = ``true``) cairn's earlier keys
  (:func:`is_cairn_key`) are replaced as a set, so no stale one is left. A fixed ``cairn_*`` key with no
  room left is said in cairn's Note and counted (:class:`AsffStats`), never dropped silently;
- ``Note``: a readable summary (:func:`cairn.outputs.asff.note`: <= 512 characters). A Note someone
  else wrote (``UpdatedBy`` other than ``updated_by``, the write-back's rule) is kept and cairn's summary
  goes to ``cairn_summary`` instead.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from cairn.engines.duckdb_engine import DuckDBEngine
from cairn.outputs.asff import (
    _CATEGORIES,  # threat type -> ThreatIntelIndicator Category, shared with alert findings
    DESCRIPTION_MAX,
    INDICATOR_SOURCE_MAX,
    INDICATOR_VALUE_MAX,
    NOTE_TEXT_MAX,
    REPORT_SCORE,
    RESOURCES_MAX,
    THREAT_INTEL_MAX,
    TITLE_MAX,
    UDF_MAX_PAIRS,
    clamp_text,
    clamp_user_defined_fields,
    indicator_type,
    note,
    timestamp,
)
from cairn.sources import guardduty, securityhub

MARKER_KEY = "cairn_enriched"
"""Set to ``true`` on every finding cairn enriched: also how cairn recognises its own keys."""
SUMMARY_KEY = "cairn_summary"
_FIXED_KEYS = frozenset({MARKER_KEY, "cairn_max_score", "cairn_flagged", "cairn_owners", SUMMARY_KEY})
_OBSERVABLE_FIELDS = frozenset(o.field for o in (*securityhub.OBSERVABLES, *guardduty.OBSERVABLES))

MAX_INDICATORS = THREAT_INTEL_MAX

_log = logging.getLogger("cairn.outputs")


@dataclass
class AsffStats:
    """What :func:`iter_findings` could not fit: findings whose UserDefinedFields (50 pairs at most, the
    finding's own kept) had no room for some of cairn's fixed keys (``cairn_enriched`` ...)."""

    findings: int = 0
    no_room: int = 0
    """Findings with a fixed cairn key left out; cairn's Note says so (unless the Note is someone else's)."""
    unmarked: int = 0
    """Of those, findings with no trace of cairn: no room for ``cairn_enriched`` and someone else's Note kept."""
    examples: list[str] = field(default_factory=list)
    """The Ids of the first few of them."""

    def add(self, finding: dict[str, Any], no_room: list[str]) -> None:
        """Count one finding and the fixed keys it had no room for."""
        self.findings += 1
        if not no_room:
            return
        self.no_room += 1
        if MARKER_KEY in no_room and SUMMARY_KEY in no_room:  # cairn_summary is asked for only beside a foreign Note
            self.unmarked += 1
        if len(self.examples) < 3:
            self.examples.append(str(finding.get("Id")))

    def warnings(self) -> list[str]:
        """Lines for the command's summary (none when every cairn key fitted)."""
        if not self.no_room:
            return []
        lines = [f"{self.no_room:,} of {self.findings:,} ASFF findings had no room left in UserDefinedFields "
                 f"({UDF_MAX_PAIRS} pairs at most; the finding's own are kept) for some of cairn's keys "
                 f"(cairn_enriched, cairn_max_score ...); cairn's Note says so unless the Note is someone "
                 f"else's. E.g. {', '.join(self.examples)}"]
        if self.unmarked:
            lines.append(f"{self.unmarked:,} of them keep someone else's Note and carry no cairn marker "
                         f"(an EventBridge rule on cairn_enriched will not recognise them)")
        return lines

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"findings": self.findings, "udf_no_room": self.no_room, "unmarked": self.unmarked,
                "examples": self.examples}


# GuardDuty threat purpose -> ASFF type namespace/category (as Security Hub's GuardDuty integration does).
_PURPOSES = {
    "Backdoor": "TTPs/Command and Control", "Behavior": "Unusual Behaviors", "CryptoCurrency": "TTPs/Impact",
    "Impact": "Effects", "Discovery": "TTPs/Discovery", "Recon": "TTPs/Discovery", "PenTest": "TTPs/Discovery",
    "Trojan": "TTPs/Execution", "Execution": "TTPs/Execution", "UnauthorizedAccess": "TTPs/Initial Access",
    "InitialAccess": "TTPs/Initial Access", "Exfiltration": "Effects/Data Exfiltration",
    "Persistence": "TTPs/Persistence", "PrivilegeEscalation": "TTPs/Privilege Escalation",
    "Stealth": "TTPs/Defense Evasion", "DefenseEvasion": "TTPs/Defense Evasion",
    "CredentialAccess": "TTPs/Credential Access", "Policy": "Software and Configuration Checks",
}


def _one_line(text: Any) -> str:
    return " ".join(str(text or "").split())


def _iso(value: Any) -> str | None:
    return None if value is None else timestamp(value)


def _category(matches: list[dict[str, Any]]) -> str | None:
    for m in sorted(matches, key=lambda m: -(m.get("score_id") or 0)):
        cat = _CATEGORIES.get((m.get("threat_type") or "").lower())
        if cat:
            return cat
    return None


def guardduty_to_asff(row: dict[str, Any]) -> dict[str, Any]:
    """The ASFF finding Security Hub makes of a GuardDuty finding (lake row of ``guardduty_findings``)."""
    partition = row.get("partition") or "aws"
    region, account = row.get("region"), row.get("account_id")
    gd_type = row.get("type") or "Unknown"
    purpose = gd_type.split(":", 1)[0]
    resources: list[dict[str, Any]] = []
    if row.get("instance_id"):
        resources.append({"Type": "AwsEc2Instance", "Partition": partition, "Region": region,
                          "Id": f"arn:{partition}:ec2:{region}:{account}:instance/{row['instance_id']}"})
    for b in row.get("bucket_names") or []:
        resources.append({"Type": "AwsS3Bucket", "Partition": partition, "Region": region,
                          "Id": f"arn:{partition}:s3:::{b}"})
    if row.get("access_key_id"):
        resources.append({"Type": "AwsIamAccessKey", "Partition": partition, "Region": region,
                          "Id": f"AWS::IAM::AccessKey:{row['access_key_id']}"})
    if not resources:
        resources.append({"Type": "AwsAccount", "Partition": partition, "Region": region,
                          "Id": f"AWS::::Account:{account}"})
    severity = (row.get("severity_label") or "INFORMATIONAL").upper()
    finding: dict[str, Any] = {
        "SchemaVersion": "2018-10-08",
        "Id": row.get("arn") or row.get("finding_id"),
        "ProductArn": f"arn:{partition}:securityhub:{region}::product/aws/guardduty",
        "GeneratorId": f"arn:{partition}:guardduty:{region}:{account}:detector/{row.get('detector_id')}"
        if row.get("detector_id") else gd_type,
        "AwsAccountId": account,
        "Types": [f"{_PURPOSES.get(purpose, 'Unusual Behaviors')}/{gd_type.replace('/', '-')}"],
        "CreatedAt": _iso(row.get("created_at")),
        "UpdatedAt": _iso(row.get("updated_at")),
        "FirstObservedAt": _iso(row.get("first_seen")),
        "LastObservedAt": _iso(row.get("last_seen")),
        "Severity": {"Label": severity, "Original": str(row.get("severity"))},
        # one line: ASFF's non-empty-string pattern (.*\S.*) is safest without line breaks
        "Title": clamp_text(_one_line(row.get("title")) or gd_type, TITLE_MAX, words=True),
        "Description": clamp_text(_one_line(row.get("description")) or _one_line(row.get("title")) or gd_type,
                                  DESCRIPTION_MAX, words=True),
        "Resources": resources[:RESOURCES_MAX],
        "ProductFields": {"aws/guardduty/service/count": str(row.get("count") or 1),
                          "aws/guardduty/type": gd_type},
        "RecordState": "ARCHIVED" if row.get("archived") else "ACTIVE",
        "Region": region,
    }
    return {k: v for k, v in finding.items() if v is not None}


def is_cairn_key(key: str, fields: frozenset[str] | set[str] = _OBSERVABLE_FIELDS) -> bool:
    """Whether ``key`` is one of the UserDefinedFields :func:`enrich_finding` writes: a fixed ``cairn_*``
    key or ``cairn:<field>:<value>`` of an observable field in ``fields`` (not the write-back's ``cairn:``
    keys, nor alert findings' ``cairn_alert_id`` ...)."""
    if key in _FIXED_KEYS:
        return True
    return key.startswith("cairn:") and any(key.startswith(f"cairn:{f}:") for f in fields)


def _owner(e: dict[str, Any]) -> str | None:
    return "; ".join(_owner_parts(e)) or None


def _owner_parts(e: dict[str, Any]) -> list[str]:
    parts = []
    if e.get("identity_person") or e.get("identity_team"):
        parts.append("identity " + " / ".join(x for x in (e.get("identity_person"), e.get("identity_team")) if x))
    if e.get("account_name") or e.get("account_owner"):
        acc = e.get("account_name") or e.get("account_id")
        parts.append(f"account {acc}" + (f" (owner {e['account_owner']})" if e.get("account_owner") else ""))
    if e.get("asset_owner"):
        parts.append(f"asset owner {e['asset_owner']}" + (f", {e['asset_criticality']}"
                                                            if e.get("asset_criticality") else ""))
    if e.get("network_zone"):
        parts.append(f"zone {e['network_zone']}")
    return parts


def _ownership(e: dict[str, Any]) -> str | None:
    parts = []
    if e.get("asn") is not None:
        parts.append(f"AS{e['asn']} {e.get('as_org') or ''}".strip())
    if e.get("country"):
        parts.append(e["country"])
    if e.get("cloud_provider"):
        parts.append("/".join(x for x in (e["cloud_provider"], e.get("cloud_service"), e.get("cloud_region")) if x))
    if e.get("is_tor"):
        parts.append("Tor exit")
    if e.get("special_range"):
        parts.append(e["special_range"])
    return ", ".join(parts) or None


def _describe(e: dict[str, Any]) -> str:
    bits = [f"{e.get('score_id') or 0} {e.get('score') or 'Unknown'}"]
    if e.get("verdict_sources"):
        bits.append("sources " + ", ".join(e["verdict_sources"]))
    for extra in (_ownership(e), _owner(e)):
        if extra:
            bits.append(extra)
    return "; ".join(bits)


def enrich_finding(finding: dict[str, Any], enrichment: list[dict[str, Any]], matches: list[dict[str, Any]],
                   observed_at: Any, *, updated_by: str = "cairn") -> dict[str, Any]:
    """Add cairn's ThreatIntelIndicators, UserDefinedFields and Note to an ASFF finding (a copy)."""
    return _enrich(finding, enrichment, matches, observed_at, updated_by)[0]


def _enrich(finding: dict[str, Any], enrichment: list[dict[str, Any]], matches: list[dict[str, Any]],
            observed_at: Any, updated_by: str) -> tuple[dict[str, Any], list[str]]:
    """:func:`enrich_finding`, and the fixed ``cairn_*`` keys UserDefinedFields had no room for."""
    f = dict(finding)
    ranked = sorted(enrichment, key=lambda e: (-(e.get("score_id") or 0), e.get("field") or "", e.get("value") or ""))
    indicators = [dict(i) for i in f.get("ThreatIntelIndicators") or []]
    seen = {(i.get("Type"), str(i.get("Value", "")).lower()) for i in indicators}
    for e in ranked:
        if (e.get("score_id") or 0) < REPORT_SCORE or len(indicators) >= MAX_INDICATORS:
            continue
        itype = indicator_type(e.get("type") or "", e.get("value") or "")
        key = (itype, (e.get("value") or "").lower())
        if itype is None or key in seen:
            continue
        seen.add(key)
        ms = [m for m in matches if m.get("field") == e.get("field") and m.get("value") == e.get("value")]
        ind = {"Type": itype, "Value": clamp_text(e["value"], INDICATOR_VALUE_MAX),
               "Source": clamp_text(", ".join(e.get("verdict_sources") or []) or "cairn", INDICATOR_SOURCE_MAX),
               "LastObservedAt": _iso(observed_at)}
        cat = _category(ms)
        if cat:
            ind["Category"] = cat
        indicators.append({k: v for k, v in ind.items() if v is not None})
    if indicators:
        f["ThreatIntelIndicators"] = indicators[:MAX_INDICATORS]
    flagged = [e for e in ranked if (e.get("score_id") or 0) >= REPORT_SCORE]
    top = max((e.get("score_id") or 0 for e in enrichment), default=0)
    top_label = next((e.get("score") for e in ranked if (e.get("score_id") or 0) == top), "Unknown")
    udf: dict[str, str] = {MARKER_KEY: "true", "cairn_max_score": f"{top} {top_label}"}
    if flagged:
        udf["cairn_flagged"] = ", ".join(f"{e['value']} ({e.get('score_id')})" for e in flagged)
    owners = list(dict.fromkeys(p for e in ranked for p in _owner_parts(e)))  # worst observable's first
    if owners:
        udf["cairn_owners"] = " | ".join(owners)
    text = _note_text(enrichment, flagged, owners, top, top_label)
    old_note = f.get("Note") or {}
    foreign_note = bool(old_note.get("Text") and old_note.get("UpdatedBy") != updated_by)
    if foreign_note:
        udf[SUMMARY_KEY] = text  # someone else's Note stays
    for e in ranked:
        desc = _describe(e)
        if (e.get("score_id") or 0) > 0 or _owner(e) or _ownership(e):
            udf.setdefault(f"cairn:{e.get('field')}:{e.get('value')}", desc)
    existing = {str(k): v for k, v in (f.get("UserDefinedFields") or {}).items()}
    if existing.get(MARKER_KEY) == "true":  # enriched before: cairn's earlier keys are replaced, not kept
        fields = _OBSERVABLE_FIELDS | {str(e.get("field")) for e in enrichment}
        existing = {k: v for k, v in existing.items() if not is_cairn_key(k, fields)}
    added = clamp_user_defined_fields(udf, existing)
    f["UserDefinedFields"] = {**existing, **added}
    # a fixed key left out for want of room (not one the finding holds itself: those are its own)
    no_room = [k for k in udf if k in _FIXED_KEYS and k not in added and k not in existing]
    if not foreign_note:
        f["Note"] = note(_with_no_room(text, no_room), updated_by)
    return f, no_room


def _with_no_room(text: str, no_room: list[str]) -> str:
    """The Note text, ending (within the 512 characters) with the cairn keys UserDefinedFields had no room for."""
    if not no_room:
        return text
    tail = (f"[cairn enriched this finding; UserDefinedFields is full ({UDF_MAX_PAIRS} pairs): "
            f"no room for {', '.join(no_room)}]")
    return clamp_text(text, NOTE_TEXT_MAX - len(tail) - 1, words=True) + " " + tail


def _note_text(enrichment: list[dict[str, Any]], flagged: list[dict[str, Any]], owners: list[str], top: int,
               top_label: str | None) -> str:
    if not enrichment:
        return "cairn: no observables to enrich in this finding."
    head = f"cairn: {len(flagged)} of {len(enrichment)} observables flagged (worst: {top} {top_label})."
    lines = [head]
    for e in flagged[:3]:
        why = (e.get("why") or "").split(";")[0]
        lines.append(f"{e['value']} at {e.get('field')}: {e.get('score')}" + (f" - {why}" if why else "")
                     + (f" [{_ownership(e)}]" if _ownership(e) else ""))
    if owners:
        lines.append("Owners: " + " | ".join(owners[:3]))
    return " ".join(lines)


TIME_FIELDS = ("CreatedAt", "UpdatedAt", "FirstObservedAt", "LastObservedAt", "ProcessedAt")


def normalise_times(finding: dict[str, Any]) -> dict[str, Any]:
    """A recorded ASFF finding with its times (:data:`TIME_FIELDS`) in ASFF form, converted to UTC
    (:func:`cairn.outputs.asff.timestamp`; exports write ``2024-05-24 22:53:24.000000000``, others an
    offset). A text that is no ISO 8601 time is left as recorded."""
    for key in TIME_FIELDS:
        value = finding.get(key)
        if isinstance(value, str) and value.strip():
            try:
                finding[key] = timestamp(value)
            except ValueError:
                pass  # left as recorded
    return finding


def iter_findings(engine: DuckDBEngine, table: str, relation: str, matches: str | None = None, *,
                  updated_by: str = "cairn", stats: AsffStats | None = None) -> Iterator[dict[str, Any]]:
    """Enriched ASFF findings of an enriched finding relation (``guardduty_findings`` or
    ``securityhub_findings`` shaped like ``<table>_enriched``).

    Findings whose UserDefinedFields had no room for cairn's keys are counted in ``stats``; without
    ``stats``, their count is logged as a warning (logger ``cairn.outputs``) once all are yielded.
    """
    if table not in ("guardduty_findings", "securityhub_findings"):
        raise ValueError(f"{table} holds no findings")
    own = stats if stats is not None else AsffStats()
    m_join, m_col = "", "CAST([] AS STRUCT(field VARCHAR, value VARCHAR, threat_type VARCHAR, score_id INTEGER)[])"
    if matches:
        m_join = (f"LEFT JOIN (SELECT event_uid, list({{'field': field, 'value': value, 'threat_type': threat_type, "
                  f"'score_id': score_id}}) AS ms FROM {matches} WHERE source = '{table}' GROUP BY event_uid) m "
                  f"ON m.event_uid = t.event_uid")
        m_col = "coalesce(m.ms, [])"
    sql = (f"SELECT t.*, {m_col} AS _matches FROM {relation} t {m_join} ORDER BY t.event_time, t.event_uid")
    for batch in engine.con.sql(sql).to_arrow_reader(1000):
        for row in batch.to_pylist():
            base = normalise_times(json.loads(row["raw"])) if table == "securityhub_findings" else guardduty_to_asff(row)
            f, no_room = _enrich(base, row.get("enrichment") or [], row.get("_matches") or [], row.get("event_time"),
                                 updated_by)
            own.add(f, no_room)
            yield f
    if stats is None:
        for line in own.warnings():
            _log.warning("%s", line)
