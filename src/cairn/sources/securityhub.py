"""AWS Security Hub findings in the AWS Security Finding Format (ASFF).

Accepted shapes (detected from content): BatchImportFindings payloads and
GetFindings output (``{"Findings": [...], "NextToken": ...}``), a bare finding
or an array of findings, and EventBridge events ("Security Hub Findings -
Imported" / "- Custom Action"), whose ``detail.findings`` are unnested here: one
event may give several records, each located as ``<place> detail.findings[N]``.

Findings other products send through Security Hub keep their own fields in
``ProductFields``; for GuardDuty (``aws/guardduty/service/action/...``) the
remote address is read from there when ``Action`` does not have it. A finding
is updated in place under the same ``Id`` with a newer ``UpdatedAt``: the dedup
key is ``Id@UpdatedAt``. Maps to OCSF Detection Finding (2004).
"""

from __future__ import annotations

import re

from cairn.lake.schema import PROVENANCE_COLUMNS, Column, TableSpec, common_columns
from cairn.sources.base import IpColumn, Observable, Sniff, Source
from cairn.sources.eventbridge import SECURITYHUB_FINDINGS, sql_list
from cairn.sources.sqlkit import compact_spec, cwl_body, ip_bins, ip_list, json_kind, unique

SECURITYHUB = TableSpec(
    name="securityhub_findings",
    doc="Security Hub ASFF findings, one row per finding version (OCSF Detection Finding 2004).",
    ocsf_class_uid=2004,
    ocsf_class_name="Detection Finding",
    sort_columns=("event_time", "finding_id"),
    columns=(
        *common_columns(2004),
        Column("activity_id", "INTEGER", "OCSF activity: 1 Create (first version), 2 Update"),
        Column("finding_id", "VARCHAR", "Id"),
        Column("schema_version", "VARCHAR", "SchemaVersion (2018-10-08)"),
        Column("product_arn", "VARCHAR", "ProductArn"),
        Column("product_name", "VARCHAR", "ProductName"),
        Column("company_name", "VARCHAR", "CompanyName"),
        Column("generator_id", "VARCHAR", "GeneratorId"),
        Column("aws_account_id", "VARCHAR", "AwsAccountId"),
        Column("region", "VARCHAR", "Region"),
        Column("types", "VARCHAR[]", "Types (namespace/category/classifier)"),
        Column("title", "VARCHAR", "Title"),
        Column("description", "VARCHAR", "Description"),
        Column("severity_label", "VARCHAR", "Severity.Label (from Normalized when absent)"),
        Column("severity_normalized", "INTEGER", "Severity.Normalized (0-100)"),
        Column("severity_original", "VARCHAR", "Severity.Original"),
        Column("severity_id", "INTEGER", "OCSF severity_id: 1 Informational ... 5 Critical"),
        Column("confidence", "INTEGER", "Confidence (0-100)"),
        Column("criticality", "INTEGER", "Criticality (0-100)"),
        Column("created_at", "TIMESTAMPTZ", "CreatedAt"),
        Column("updated_at", "TIMESTAMPTZ", "UpdatedAt (same as event_time)"),
        Column("first_observed_at", "TIMESTAMPTZ", "FirstObservedAt"),
        Column("last_observed_at", "TIMESTAMPTZ", "LastObservedAt"),
        Column("processed_at", "TIMESTAMPTZ", "ProcessedAt"),
        Column("record_state", "VARCHAR", "RecordState: ACTIVE or ARCHIVED"),
        Column("workflow_status", "VARCHAR", "Workflow.Status (else the older WorkflowState)"),
        Column("compliance_status", "VARCHAR", "Compliance.Status: PASSED, WARNING, FAILED, NOT_AVAILABLE"),
        Column("security_control_id", "VARCHAR", "Compliance.SecurityControlId"),
        Column("verification_state", "VARCHAR", "VerificationState"),
        Column("resource_types", "VARCHAR[]", "Resources[].Type"),
        Column("resource_ids", "VARCHAR[]", "Resources[].Id"),
        Column("resources", "JSON", "Resources"),
        Column("network_direction", "VARCHAR", "Network.Direction: IN or OUT"),
        Column("network_protocol", "VARCHAR", "Network.Protocol"),
        Column("src_ip", "VARCHAR", "Network.SourceIpV4 or SourceIpV6 (canonical IP)"),
        Column("src_ip_bin", "BLOB", "src_ip as 16 bytes (IPv4 mapped into IPv6)"),
        Column("src_port", "INTEGER", "Network.SourcePort"),
        Column("src_domain", "VARCHAR", "Network.SourceDomain"),
        Column("dst_ip", "VARCHAR", "Network.DestinationIpV4 or DestinationIpV6 (canonical IP)"),
        Column("dst_ip_bin", "BLOB", "dst_ip as 16 bytes"),
        Column("dst_port", "INTEGER", "Network.DestinationPort"),
        Column("dst_domain", "VARCHAR", "Network.DestinationDomain"),
        Column("action", "JSON", "Action"),
        Column("action_type", "VARCHAR", "Action.ActionType"),
        Column("api", "VARCHAR", "Action.AwsApiCallAction.Api"),
        Column("api_service_name", "VARCHAR", "Action.AwsApiCallAction.ServiceName"),
        Column("caller_type", "VARCHAR", "Action.AwsApiCallAction.CallerType"),
        Column("dns_domain", "VARCHAR", "Action.DnsRequestAction.Domain"),
        Column("remote_ip", "VARCHAR", "RemoteIpDetails.IpAddressV4 of the action, or GuardDuty's in ProductFields"),
        Column("remote_ip_bin", "BLOB", "remote_ip as 16 bytes"),
        Column("remote_ip_field", "VARCHAR", "Path of remote_ip in the finding"),
        Column("remote_asn", "INTEGER", "RemoteIpDetails.Organization.Asn (an integer in ASFF)"),
        Column("remote_asn_org", "VARCHAR", "RemoteIpDetails.Organization.AsnOrg"),
        Column("remote_isp", "VARCHAR", "RemoteIpDetails.Organization.Isp"),
        Column("remote_org", "VARCHAR", "RemoteIpDetails.Organization.Org"),
        Column("remote_country_code", "VARCHAR", "RemoteIpDetails.Country.CountryCode"),
        Column("remote_country", "VARCHAR", "RemoteIpDetails.Country.CountryName"),
        Column("remote_city", "VARCHAR", "RemoteIpDetails.City.CityName"),
        Column("threat_intel_indicators", "JSON", "ThreatIntelIndicators"),
        Column("indicator_ips", "VARCHAR[]", "ThreatIntelIndicators of type IPV4/IPV6_ADDRESS (canonical)"),
        Column("indicator_ips_bin", "BLOB[]", "indicator_ips as 16 bytes each"),
        Column("indicator_domains", "VARCHAR[]", "ThreatIntelIndicators of type DOMAIN (lower-case)"),
        Column("indicator_urls", "VARCHAR[]", "ThreatIntelIndicators of type URL"),
        Column("indicator_hashes", "VARCHAR[]", "ThreatIntelIndicators of type HASH_* (lower-case)"),
        Column("malware", "JSON", "Malware"),
        Column("malware_names", "VARCHAR[]", "Malware[].Name"),
        Column("user_defined_fields", "JSON", "UserDefinedFields"),
        Column("note_text", "VARCHAR", "Note.Text"),
        Column("note_updated_by", "VARCHAR", "Note.UpdatedBy"),
        Column("product_fields", "JSON", "ProductFields"),
        *PROVENANCE_COLUMNS,
    ),
)

_REMOTE = (
    '{"IpAddressV4":"VARCHAR","Organization":{"Asn":"VARCHAR","AsnOrg":"VARCHAR","Isp":"VARCHAR",'
    '"Org":"VARCHAR"},"Country":{"CountryCode":"VARCHAR","CountryName":"VARCHAR"},"City":{"CityName":"VARCHAR"}}'
)
STRUCT = compact_spec(f"""{{
 "SchemaVersion":"VARCHAR","Id":"VARCHAR","ProductArn":"VARCHAR","ProductName":"VARCHAR",
 "CompanyName":"VARCHAR","GeneratorId":"VARCHAR","AwsAccountId":"VARCHAR","Region":"VARCHAR",
 "Types":["VARCHAR"],"Title":"VARCHAR","Description":"VARCHAR",
 "Severity":{{"Label":"VARCHAR","Normalized":"VARCHAR","Original":"VARCHAR"}},
 "FindingProviderFields":{{"Severity":{{"Label":"VARCHAR"}}}},
 "Confidence":"VARCHAR","Criticality":"VARCHAR","CreatedAt":"VARCHAR","UpdatedAt":"VARCHAR",
 "FirstObservedAt":"VARCHAR","LastObservedAt":"VARCHAR","ProcessedAt":"VARCHAR",
 "RecordState":"VARCHAR","WorkflowState":"VARCHAR","Workflow":{{"Status":"VARCHAR"}},
 "Compliance":{{"Status":"VARCHAR","SecurityControlId":"VARCHAR"}},"VerificationState":"VARCHAR",
 "Resources":[{{"Type":"VARCHAR","Id":"VARCHAR"}}],
 "Network":{{"Direction":"VARCHAR","Protocol":"VARCHAR","SourceIpV4":"VARCHAR","SourceIpV6":"VARCHAR",
   "SourcePort":"VARCHAR","SourceDomain":"VARCHAR","DestinationIpV4":"VARCHAR","DestinationIpV6":"VARCHAR",
   "DestinationPort":"VARCHAR","DestinationDomain":"VARCHAR"}},
 "Action":{{"ActionType":"VARCHAR",
   "AwsApiCallAction":{{"Api":"VARCHAR","ServiceName":"VARCHAR","CallerType":"VARCHAR",
     "RemoteIpDetails":{_REMOTE},"DomainDetails":{{"Domain":"VARCHAR"}}}},
   "NetworkConnectionAction":{{"RemoteIpDetails":{_REMOTE}}},
   "DnsRequestAction":{{"Domain":"VARCHAR"}},
   "PortProbeAction":{{"PortProbeDetails":[{{"RemoteIpDetails":{_REMOTE}}}]}}}},
 "ThreatIntelIndicators":[{{"Type":"VARCHAR","Value":"VARCHAR"}}],
 "Malware":[{{"Name":"VARCHAR"}}],
 "Note":{{"Text":"VARCHAR","UpdatedBy":"VARCHAR"}},
 "ProductFields":"MAP(VARCHAR, VARCHAR)"
}}""")

_FINDING_EVENTS = sql_list(SECURITYHUB_FINDINGS)
_DT = "json_extract_string(body, '$.\"detail-type\"')"

# Items -> records. EventBridge events carry findings in detail.findings: one record each.
RECORDS_SQL = f"""
WITH i AS (
    SELECT origin, locator, item, body, json_valid(body) AS ok
    FROM (SELECT *, {cwl_body()} AS body FROM _items) b
), e AS (
    SELECT *, ok AND json_type(body) = 'OBJECT' AND json_exists(body, '$."detail-type"')
              AND json_exists(body, '$.detail') AS eb
    FROM i
), ev AS (
    SELECT origin, locator, body,
        CASE WHEN coalesce({_DT}, '') NOT IN {_FINDING_EVENTS}
                  THEN 'EventBridge event is not a Security Hub ASFF finding event (detail-type '
                       || coalesce(left({_DT}, 64), 'null') || ')'
             WHEN coalesce(json_type(body, '$.detail.findings'), '') <> 'ARRAY'
                  OR json_array_length(body, '$.detail.findings') = 0
                  THEN 'EventBridge event has no detail.findings'
             END AS error
    FROM e WHERE eb
)
SELECT origin, locator, CASE WHEN ok THEN body ELSE item END AS raw, 'securityhub_findings' AS route,
    CASE WHEN NOT ok THEN 'invalid JSON'
         WHEN json_type(body) <> 'OBJECT' THEN 'record is not a JSON object (found ' || {json_kind('body')} || ')'
         END AS error
FROM e WHERE NOT eb
UNION ALL
SELECT origin, locator, body, 'securityhub_findings', error FROM ev WHERE error IS NOT NULL
UNION ALL
SELECT origin, locator || ' detail.findings[' || u.n || ']', u.finding::VARCHAR, 'securityhub_findings',
    CASE WHEN json_type(u.finding) <> 'OBJECT'
         THEN 'finding is not a JSON object (found ' || {json_kind('u.finding')} || ')' END
FROM ev,
LATERAL (SELECT unnest(json_extract(ev.body, '$.detail.findings[*]')) AS finding,
                unnest(range(1, json_array_length(ev.body, '$.detail.findings')::BIGINT + 1)) AS n) u
WHERE ev.error IS NULL
"""

# GuardDuty through Security Hub: its flattened fields, e.g.
# aws/guardduty/service/action/networkConnectionAction/remoteIpDetails/ipAddressV4
# (older findings: action/.../remoteIpDetails/ipAddressV4).
_GD_KEY_RE = r"(aws/guardduty/service/)?action/[A-Za-z]+/(.*/)?remoteIpDetails/ipAddressV[46]"
_GD_ACTIONS = ("awsApiCallAction", "networkConnectionAction", "kubernetesApiCallAction", "rdsLoginAttemptAction")
_ACTIONS = (
    ("Action.AwsApiCallAction.RemoteIpDetails", "a.AwsApiCallAction.RemoteIpDetails"),
    ("Action.NetworkConnectionAction.RemoteIpDetails", "a.NetworkConnectionAction.RemoteIpDetails"),
    ("Action.PortProbeAction.PortProbeDetails[].RemoteIpDetails", "a.PortProbeAction.PortProbeDetails[1].RemoteIpDetails"),
)
_RIP = "CASE " + " ".join(f"WHEN {s}.IpAddressV4 IS NOT NULL THEN {s}" for _, s in _ACTIONS) + " END"
_RIP_PATH = "CASE " + " ".join(
    f"WHEN {s}.IpAddressV4 IS NOT NULL THEN '{p}.IpAddressV4'" for p, s in _ACTIONS
) + " END"


def _indicators(test: str, value: str = "x.Value") -> str:
    """SQL: ``value`` of each threat intel indicator whose upper-cased Type ``t`` passes ``test``."""
    return (
        f"list_transform(list_filter(j.ThreatIntelIndicators, lambda x: list_transform([upper(x.Type)], "
        f"lambda t: {test})[1] AND nullif(x.Value, '') IS NOT NULL), lambda x: {value})"
    )


def _time(col: str) -> str:
    return f"try_cast(j.{col} AS TIMESTAMPTZ)"


# Severity.Label, else the band of Severity.Normalized, else the provider's label.
_LABEL = (
    "upper(coalesce(j.Severity.Label, "
    "CASE WHEN norm IS NULL THEN NULL WHEN norm = 0 THEN 'INFORMATIONAL' WHEN norm < 40 THEN 'LOW' "
    "WHEN norm < 70 THEN 'MEDIUM' WHEN norm < 90 THEN 'HIGH' ELSE 'CRITICAL' END, "
    "j.FindingProviderFields.Severity.Label))"
)

TYPED_SECURITYHUB = f"""
SELECT *, {ip_bins('indicator_ips')} AS indicator_ips_bin
FROM (
SELECT
    j.Id || '@' || strftime(ts, '%Y-%m-%dT%H:%M:%S.%fZ') AS event_uid,
    ts AS event_time,
    CAST(ts AS DATE) AS event_date,
    2004 AS class_uid,
    CASE WHEN {_time('CreatedAt')} = ts THEN 1 ELSE 2 END AS activity_id,
    j.Id AS finding_id,
    j.SchemaVersion AS schema_version,
    j.ProductArn AS product_arn,
    j.ProductName AS product_name,
    j.CompanyName AS company_name,
    j.GeneratorId AS generator_id,
    j.AwsAccountId AS aws_account_id,
    j.Region AS region,
    j.Types AS types,
    j.Title AS title,
    j.Description AS description,
    label AS severity_label,
    norm AS severity_normalized,
    j.Severity.Original AS severity_original,
    CASE WHEN label IS NOT NULL THEN CASE label WHEN 'INFORMATIONAL' THEN 1 WHEN 'LOW' THEN 2
        WHEN 'MEDIUM' THEN 3 WHEN 'HIGH' THEN 4 WHEN 'CRITICAL' THEN 5 ELSE 99 END END AS severity_id,
    try_cast(j.Confidence AS INTEGER) AS confidence,
    try_cast(j.Criticality AS INTEGER) AS criticality,
    {_time('CreatedAt')} AS created_at,
    ts AS updated_at,
    {_time('FirstObservedAt')} AS first_observed_at,
    {_time('LastObservedAt')} AS last_observed_at,
    {_time('ProcessedAt')} AS processed_at,
    j.RecordState AS record_state,
    coalesce(j.Workflow.Status, j.WorkflowState) AS workflow_status,
    j.Compliance.Status AS compliance_status,
    j.Compliance.SecurityControlId AS security_control_id,
    j.VerificationState AS verification_state,
    list_transform(j.Resources, lambda r: r.Type) AS resource_types,
    list_transform(j.Resources, lambda r: r.Id) AS resource_ids,
    _jx[1] AS resources,
    j.Network.Direction AS network_direction,
    j.Network.Protocol AS network_protocol,
    coalesce(j.Network.SourceIpV4, j.Network.SourceIpV6) AS src_ip,
    try_cast(j.Network.SourcePort AS INTEGER) AS src_port,
    nullif(lower(rtrim(j.Network.SourceDomain, '.')), '') AS src_domain,
    coalesce(j.Network.DestinationIpV4, j.Network.DestinationIpV6) AS dst_ip,
    try_cast(j.Network.DestinationPort AS INTEGER) AS dst_port,
    nullif(lower(rtrim(j.Network.DestinationDomain, '.')), '') AS dst_domain,
    _jx[2] AS action,
    a.ActionType AS action_type,
    a.AwsApiCallAction.Api AS api,
    a.AwsApiCallAction.ServiceName AS api_service_name,
    a.AwsApiCallAction.CallerType AS caller_type,
    nullif(lower(rtrim(a.DnsRequestAction.Domain, '.')), '') AS dns_domain,
    coalesce(rip.IpAddressV4, pf[gd_key]) AS remote_ip,
    coalesce(rip_path, 'ProductFields.' || gd_key) AS remote_ip_field,
    try_cast(coalesce(rip.Organization.Asn, pf[gd_prefix || '/organization/asn']) AS INTEGER) AS remote_asn,
    coalesce(rip.Organization.AsnOrg, pf[gd_prefix || '/organization/asnOrg']) AS remote_asn_org,
    coalesce(rip.Organization.Isp, pf[gd_prefix || '/organization/isp']) AS remote_isp,
    coalesce(rip.Organization.Org, pf[gd_prefix || '/organization/org']) AS remote_org,
    coalesce(rip.Country.CountryCode, pf[gd_prefix || '/country/countryCode']) AS remote_country_code,
    coalesce(rip.Country.CountryName, pf[gd_prefix || '/country/countryName']) AS remote_country,
    coalesce(rip.City.CityName, pf[gd_prefix || '/city/cityName']) AS remote_city,
    _jx[3] AS threat_intel_indicators,
    {ip_list(_indicators("t IN ('IPV4_ADDRESS', 'IPV6_ADDRESS')"))} AS indicator_ips,
    {unique(_indicators("t = 'DOMAIN'", "lower(rtrim(trim(x.Value), '.'))"))} AS indicator_domains,
    {unique(_indicators("t = 'URL'", "trim(x.Value)"))} AS indicator_urls,
    {unique(_indicators("starts_with(t, 'HASH_')", "lower(trim(x.Value))"))} AS indicator_hashes,
    _jx[4] AS malware,
    list_filter(list_transform(j.Malware, lambda m: m.Name), lambda n: n IS NOT NULL) AS malware_names,
    _jx[5] AS user_defined_fields,
    j.Note.Text AS note_text,
    j.Note.UpdatedBy AS note_updated_by,
    _jx[6] AS product_fields,
    raw, origin, locator,
    CASE WHEN nullif(j.Id, '') IS NULL THEN 'Id is missing'
         WHEN j.SchemaVersion IS NOT NULL AND j.SchemaVersion <> '2018-10-08'
              THEN 'unsupported SchemaVersion ' || left(j.SchemaVersion, 32) || ' (ASFF is 2018-10-08)'
         WHEN j.UpdatedAt IS NULL THEN 'UpdatedAt is missing'
         WHEN ts IS NULL THEN 'UpdatedAt is not a timestamp: ' || left(j.UpdatedAt, 64)
         WHEN j.Severity.Normalized IS NOT NULL AND norm IS NULL
              THEN 'Severity.Normalized is not a number: ' || left(j.Severity.Normalized, 32)
         WHEN json_type(_jx[1]) NOT IN ('ARRAY', 'NULL') THEN 'Resources is not a list'
         END AS _reject
FROM (
    SELECT *,
        {_RIP} AS rip, {_RIP_PATH} AS rip_path, {_LABEL} AS label,
        list_filter(map_keys(pf), lambda k: regexp_full_match(k, '{_GD_KEY_RE}'))[1] AS gd_key,
        regexp_replace(list_filter(map_keys(pf), lambda k: regexp_full_match(k, '{_GD_KEY_RE}'))[1],
                       '/ipAddressV[46]$', '') AS gd_prefix
    FROM (
        SELECT *, j.Action AS a, j.ProductFields AS pf,
            try_cast(j.UpdatedAt AS TIMESTAMPTZ) AS ts,
            CAST(round(try_cast(j.Severity.Normalized AS DOUBLE)) AS INTEGER) AS norm,
            json_extract(raw, ['$.Resources', '$.Action', '$.ThreatIntelIndicators', '$.Malware',
                               '$.UserDefinedFields', '$.ProductFields']) AS _jx
        FROM (SELECT *, json_transform(raw, '{STRUCT}') AS j FROM _records) t0
    ) t1
) t2
) t3
"""


def _observables() -> tuple[Observable, ...]:
    obs: list[Observable] = []
    fields = [f"{p}.IpAddressV4" for p, _ in _ACTIONS] + [
        f"ProductFields.aws/guardduty/service/action/{a}/remoteIpDetails/ipAddressV4" for a in _GD_ACTIONS
    ]
    for field in fields:
        cond = f"remote_ip_field = '{field}'"
        obs.append(Observable(field, "ip", f"CASE WHEN {cond} THEN remote_ip END",
                              bin_expr=f"CASE WHEN {cond} THEN remote_ip_bin END"))
    known = ", ".join(f"'{f}'" for f in fields)
    other = f"remote_ip_field NOT IN ({known})"
    obs.append(Observable("ProductFields.aws/guardduty/*/remoteIpDetails/ipAddress", "ip",
                          f"CASE WHEN {other} THEN remote_ip END",
                          bin_expr=f"CASE WHEN {other} THEN remote_ip_bin END"))
    arns = "list_filter(resource_ids, lambda r: starts_with(r, 'arn:'))"
    others = (
        "list_filter(resource_ids, lambda r, i: NOT starts_with(r, 'arn:') "
        "AND coalesce(resource_types[i], '') <> 'AwsIamAccessKey')"
    )
    keys = "list_filter(resource_ids, lambda r, i: resource_types[i] = 'AwsIamAccessKey')"
    return (
        *obs,
        Observable("Network.SourceIpV4/V6", "ip", "src_ip", bin_expr="src_ip_bin"),
        Observable("Network.DestinationIpV4/V6", "ip", "dst_ip", bin_expr="dst_ip_bin"),
        Observable("Network.SourceDomain", "domain", "src_domain"),
        Observable("Network.DestinationDomain", "domain", "dst_domain"),
        Observable("Action.DnsRequestAction.Domain", "domain", "dns_domain"),
        Observable("Resources[].Id", "arn", arns, is_list=True),
        Observable("Resources[].Id", "resource", others, is_list=True),
        Observable("Resources[].Id", "access_key", keys, is_list=True),
        Observable("AwsAccountId", "account", "aws_account_id"),
        Observable("ThreatIntelIndicators[].Value", "ip", "indicator_ips", is_list=True,
                   bin_expr="indicator_ips_bin"),  # aligned BLOB[] (not used by the core yet)
        Observable("ThreatIntelIndicators[].Value", "domain", "indicator_domains", is_list=True),
        Observable("ThreatIntelIndicators[].Value", "url", "indicator_urls", is_list=True),
        Observable("ThreatIntelIndicators[].Value", "hash", "indicator_hashes", is_list=True),
    )


OBSERVABLES = _observables()

_SCHEMA = re.compile(r'"SchemaVersion"\s*:\s*"2018-10-08"')
_V2 = re.compile(r'"detail-type"\s*:\s*"Findings Imported V2"')
_EVENT = re.compile(r'"detail-type"\s*:\s*"(' + "|".join(map(re.escape, SECURITYHUB_FINDINGS)) + ')"')


def _detect(s: Sniff) -> int:
    if s.is_parquet:
        return 0
    t = s.text
    if _V2.search(t):  # the new Security Hub sends OCSF findings, not ASFF
        return 0
    if _EVENT.search(t):
        return 95
    if _SCHEMA.search(t) and '"ProductArn"' in t:
        return 90
    return 0


SOURCE = Source(
    name="securityhub",
    doc=__doc__ or "",
    tables=(SECURITYHUB,),
    framing="json",
    detect=_detect,
    records_sql=RECORDS_SQL,
    typed_sql={"securityhub_findings": TYPED_SECURITYHUB},
    ip_columns={
        "securityhub_findings": (
            IpColumn("src_ip", "src_ip"),
            IpColumn("dst_ip", "dst_ip"),
            IpColumn("remote_ip", "remote_ip"),
        ),
    },
    observables={"securityhub_findings": OBSERVABLES},
)
