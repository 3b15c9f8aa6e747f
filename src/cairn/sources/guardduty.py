"""Amazon GuardDuty findings.

Accepted shapes (detected from content): EventBridge events (``detail-type:
GuardDuty Finding``, the finding in ``detail``, camelCase) one per line or in
arrays, as exported to S3 or archived; GetFindings JSON (camelCase,
``{"findings": [...]}``, a bare finding or an array) and boto3 output
(PascalCase, ``{"Findings": [...]}``). Casing is told apart per record and
both read through one ``json_transform`` (see :mod:`cairn.sources.sqlkit`).

GuardDuty re-publishes a finding under the same ``id`` with a newer
``updatedAt`` (and a higher ``service.count``): the dedup key is
``id@updatedAt``, so each version is one row and a repeated version is a
duplicate. Maps to OCSF Detection Finding (2004).
"""

from __future__ import annotations

import re

from cairn.lake.schema import PROVENANCE_COLUMNS, Column, TableSpec, common_columns
from cairn.sources.base import IpColumn, Observable, Sniff, Source
from cairn.sources.eventbridge import GUARDDUTY_FINDING, sql_list
from cairn.sources.sqlkit import compact_spec, cwl_body, ip_bins, ip_list, json_kind, pascal_spec, unique

GUARDDUTY = TableSpec(
    name="guardduty_findings",
    doc="GuardDuty findings, one row per finding version (OCSF Detection Finding 2004).",
    ocsf_class_uid=2004,
    ocsf_class_name="Detection Finding",
    sort_columns=("event_time", "finding_id"),
    columns=(
        *common_columns(2004),
        Column("activity_id", "INTEGER", "OCSF activity: 1 Create (first version), 2 Update"),
        Column("finding_id", "VARCHAR", "id"),
        Column("created_at", "TIMESTAMPTZ", "createdAt"),
        Column("updated_at", "TIMESTAMPTZ", "updatedAt (same as event_time)"),
        Column("first_seen", "TIMESTAMPTZ", "service.eventFirstSeen"),
        Column("last_seen", "TIMESTAMPTZ", "service.eventLastSeen"),
        Column("schema_version", "VARCHAR", "schemaVersion"),
        Column("account_id", "VARCHAR", "accountId"),
        Column("region", "VARCHAR", "region"),
        Column("partition", "VARCHAR", "partition"),
        Column("arn", "VARCHAR", "arn of the finding"),
        Column("type", "VARCHAR", "type, e.g. Recon:EC2/PortProbeUnprotectedPort"),
        Column("title", "VARCHAR", "title"),
        Column("description", "VARCHAR", "description"),
        Column("severity", "DOUBLE", "severity (1.0-10.0)"),
        Column("severity_label", "VARCHAR", "Low (<4), Medium (<7), High (<9), Critical"),
        Column("severity_id", "INTEGER", "OCSF severity_id: 2 Low, 3 Medium, 4 High, 5 Critical"),
        Column("confidence", "DOUBLE", "confidence"),
        Column("count", "BIGINT", "service.count: occurrences aggregated into this finding"),
        Column("archived", "BOOLEAN", "service.archived"),
        Column("detector_id", "VARCHAR", "service.detectorId"),
        Column("resource_role", "VARCHAR", "service.resourceRole: TARGET or ACTOR"),
        Column("feature_name", "VARCHAR", "service.featureName"),
        Column("resource_type", "VARCHAR", "resource.resourceType"),
        Column("action_type", "VARCHAR", "service.action.actionType"),
        Column("api", "VARCHAR", "awsApiCallAction.api"),
        Column("api_service_name", "VARCHAR", "awsApiCallAction.serviceName"),
        Column("caller_type", "VARCHAR", "awsApiCallAction.callerType"),
        Column("api_domain", "VARCHAR", "awsApiCallAction.domainDetails.domain (callers seen as a domain)"),
        Column("error_code", "VARCHAR", "awsApiCallAction.errorCode"),
        Column("user_agent", "VARCHAR", "awsApiCallAction.userAgent or kubernetesApiCallAction.userAgent"),
        Column("remote_account_id", "VARCHAR", "awsApiCallAction.remoteAccountDetails.accountId"),
        Column("remote_ip", "VARCHAR", "remoteIpDetails address of the action (canonical IP)"),
        Column("remote_ip_bin", "BLOB", "remote_ip as 16 bytes (IPv4 mapped into IPv6)"),
        Column("remote_ip_field", "VARCHAR", "Path of remote_ip in the finding"),
        Column("remote_asn", "VARCHAR", "remoteIpDetails.organization.asn (a string in GuardDuty)"),
        Column("remote_asn_org", "VARCHAR", "remoteIpDetails.organization.asnOrg"),
        Column("remote_isp", "VARCHAR", "remoteIpDetails.organization.isp"),
        Column("remote_org", "VARCHAR", "remoteIpDetails.organization.org"),
        Column("remote_country_code", "VARCHAR", "remoteIpDetails.country.countryCode"),
        Column("remote_country", "VARCHAR", "remoteIpDetails.country.countryName"),
        Column("remote_city", "VARCHAR", "remoteIpDetails.city.cityName"),
        Column("probe_remote_ips", "VARCHAR[]", "Every portProbeDetails[].remoteIpDetails address (canonical)"),
        Column("probe_remote_ips_bin", "BLOB[]", "probe_remote_ips as 16 bytes each"),
        Column("local_ip", "VARCHAR", "localIpDetails address (canonical IP)"),
        Column("local_ip_bin", "BLOB", "local_ip as 16 bytes"),
        Column("local_ip_field", "VARCHAR", "Path of local_ip in the finding"),
        Column("local_port", "INTEGER", "localPortDetails.port"),
        Column("remote_port", "INTEGER", "networkConnectionAction.remotePortDetails.port"),
        Column("protocol", "VARCHAR", "networkConnectionAction.protocol or dnsRequestAction.protocol"),
        Column("connection_direction", "VARCHAR", "networkConnectionAction.connectionDirection"),
        Column("blocked", "BOOLEAN", "blocked flag of the action"),
        Column("dns_domain", "VARCHAR", "dnsRequestAction.domain"),
        Column("access_key_id", "VARCHAR", "resource.accessKeyDetails.accessKeyId"),
        Column("principal_id", "VARCHAR", "resource.accessKeyDetails.principalId"),
        Column("user_name", "VARCHAR", "resource.accessKeyDetails.userName"),
        Column("user_type", "VARCHAR", "resource.accessKeyDetails.userType"),
        Column("instance_id", "VARCHAR", "resource.instanceDetails.instanceId"),
        Column("instance_public_ips", "VARCHAR[]", "resource.instanceDetails.networkInterfaces[].publicIp"),
        Column("instance_private_ips", "VARCHAR[]", "resource.instanceDetails.networkInterfaces[].privateIpAddress"),
        Column("bucket_names", "VARCHAR[]", "resource.s3BucketDetails[].name"),
        Column("threat_list_names", "VARCHAR[]", "service.evidence.threatIntelligenceDetails[].threatListName"),
        Column("threat_names", "VARCHAR[]", "service.evidence.threatIntelligenceDetails[].threatNames[]"),
        Column("sample", "BOOLEAN", "service.additionalInfo.sample: a generated sample finding"),
        Column("resource", "JSON", "resource as recorded"),
        Column("service", "JSON", "service as recorded"),
        *PROVENANCE_COLUMNS,
    ),
)

_IP = '{"ipAddressV4":"VARCHAR","ipAddressV6":"VARCHAR"}'
_REMOTE = (
    '{"ipAddressV4":"VARCHAR","ipAddressV6":"VARCHAR",'
    '"organization":{"asn":"VARCHAR","asnOrg":"VARCHAR","isp":"VARCHAR","org":"VARCHAR"},'
    '"country":{"countryCode":"VARCHAR","countryName":"VARCHAR"},"city":{"cityName":"VARCHAR"}}'
)
STRUCT = compact_spec(f"""{{
 "schemaVersion":"VARCHAR","accountId":"VARCHAR","region":"VARCHAR","partition":"VARCHAR",
 "id":"VARCHAR","arn":"VARCHAR","type":"VARCHAR","title":"VARCHAR","description":"VARCHAR",
 "severity":"VARCHAR","confidence":"VARCHAR","createdAt":"VARCHAR","updatedAt":"VARCHAR",
 "resource":{{"resourceType":"VARCHAR",
   "accessKeyDetails":{{"accessKeyId":"VARCHAR","principalId":"VARCHAR","userName":"VARCHAR","userType":"VARCHAR"}},
   "instanceDetails":{{"instanceId":"VARCHAR",
     "networkInterfaces":[{{"publicIp":"VARCHAR","privateIpAddress":"VARCHAR"}}]}},
   "s3BucketDetails":[{{"name":"VARCHAR"}}]}},
 "service":{{"detectorId":"VARCHAR","resourceRole":"VARCHAR","featureName":"VARCHAR",
   "eventFirstSeen":"VARCHAR","eventLastSeen":"VARCHAR","count":"VARCHAR","archived":"VARCHAR",
   "additionalInfo":{{"sample":"VARCHAR","value":"VARCHAR"}},
   "evidence":{{"threatIntelligenceDetails":[{{"threatListName":"VARCHAR","threatNames":["VARCHAR"]}}]}},
   "action":{{"actionType":"VARCHAR",
     "awsApiCallAction":{{"api":"VARCHAR","serviceName":"VARCHAR","callerType":"VARCHAR",
       "errorCode":"VARCHAR","userAgent":"VARCHAR","remoteIpDetails":{_REMOTE},
       "domainDetails":{{"domain":"VARCHAR"}},"remoteAccountDetails":{{"accountId":"VARCHAR"}}}},
     "networkConnectionAction":{{"blocked":"VARCHAR","connectionDirection":"VARCHAR","protocol":"VARCHAR",
       "localIpDetails":{_IP},"localPortDetails":{{"port":"VARCHAR"}},
       "remotePortDetails":{{"port":"VARCHAR"}},"remoteIpDetails":{_REMOTE}}},
     "dnsRequestAction":{{"domain":"VARCHAR","protocol":"VARCHAR","blocked":"VARCHAR"}},
     "portProbeAction":{{"blocked":"VARCHAR","portProbeDetails":[{{"localIpDetails":{_IP},
       "localPortDetails":{{"port":"VARCHAR"}},"remoteIpDetails":{_REMOTE}}}]}},
     "kubernetesApiCallAction":{{"userAgent":"VARCHAR","remoteIpDetails":{_REMOTE}}},
     "rdsLoginAttemptAction":{{"remoteIpDetails":{_REMOTE}}}}}}}
}}""")
PASCAL_STRUCT = pascal_spec(STRUCT)

# Items -> records: unwrap EventBridge envelopes; anything else is a finding.
RECORDS_SQL = f"""
WITH i AS (
    SELECT origin, locator, item, body, json_valid(body) AS ok
    FROM (SELECT *, {cwl_body()} AS body FROM _items) b
), e AS (
    SELECT *, ok AND json_type(body) = 'OBJECT' AND json_exists(body, '$."detail-type"')
              AND json_exists(body, '$.detail') AS eb
    FROM i
), r AS (
    SELECT *,
        CASE WHEN NOT ok THEN 'invalid JSON'
             WHEN eb AND coalesce(json_extract_string(body, '$."detail-type"'), '') NOT IN {sql_list((GUARDDUTY_FINDING,))}
                  THEN 'EventBridge event is not a GuardDuty finding (detail-type '
                       || coalesce(left(json_extract_string(body, '$."detail-type"'), 64), 'null') || ')'
             WHEN eb AND json_type(body, '$.detail') <> 'OBJECT' THEN 'EventBridge detail is not an object'
             WHEN json_type(body) <> 'OBJECT'
                  THEN 'record is not a JSON object (found ' || {json_kind('body')} || ')'
             END AS error
    FROM e
)
SELECT origin,
    locator || CASE WHEN eb AND error IS NULL THEN ' detail' ELSE '' END AS locator,
    CASE WHEN eb AND error IS NULL THEN json_extract(body, '$.detail')::VARCHAR
         WHEN ok THEN body ELSE item END AS raw,
    'guardduty_findings' AS route, error
FROM r
"""

# Where a remote address can be, in order of preference: (action, path below service.action).
_REMOTE_ACTIONS = (
    ("awsApiCallAction", "awsApiCallAction.remoteIpDetails"),
    ("networkConnectionAction", "networkConnectionAction.remoteIpDetails"),
    ("kubernetesApiCallAction", "kubernetesApiCallAction.remoteIpDetails"),
    ("rdsLoginAttemptAction", "rdsLoginAttemptAction.remoteIpDetails"),
    ("portProbeAction", "portProbeAction.portProbeDetails[].remoteIpDetails"),
)
_LOCAL_ACTIONS = (
    ("networkConnectionAction", "networkConnectionAction.localIpDetails"),
    ("portProbeAction", "portProbeAction.portProbeDetails[].localIpDetails"),
)


def _sub(action: str, leaf: str) -> str:
    """SQL for the remote/local details struct of one action (first probe for port probes)."""
    if action == "portProbeAction":
        return f"a.portProbeAction.portProbeDetails[1].{leaf}"
    return f"a.{action}.{leaf}"


def _pick(actions: tuple[tuple[str, str], ...], leaf: str) -> tuple[str, str]:
    """SQL for (details struct, its path) of the first action that has an address."""
    whens = [
        (f"coalesce({_sub(a, leaf)}.ipAddressV4, {_sub(a, leaf)}.ipAddressV6) IS NOT NULL", a, path)
        for a, path in actions
    ]
    struct = "CASE " + " ".join(f"WHEN {w} THEN {_sub(a, leaf)}" for w, a, _ in whens) + " END"
    path = "CASE " + " ".join(f"WHEN {w} THEN 'service.action.{p}'" for w, _, p in whens) + " END"
    return struct, path


_RIP, _RIP_PATH = _pick(_REMOTE_ACTIONS, "remoteIpDetails")
_LIP, _LIP_PATH = _pick(_LOCAL_ACTIONS, "localIpDetails")
# boto3 casing: Id or AccountId at the top, and no id.
_PASCAL = "list_transform([json_exists(raw, ['$.Id', '$.AccountId', '$.id'])], lambda e: (e[1] OR e[2]) AND NOT e[3])[1]"
_SEV = "try_cast(j.severity AS DOUBLE)"
_PROBES = "a.portProbeAction.portProbeDetails"
_SAMPLE = (
    "coalesce(try_cast(j.service.additionalInfo.sample AS BOOLEAN), "
    "CASE WHEN json_valid(j.service.additionalInfo.value) "
    "THEN try_cast(json_extract_string(j.service.additionalInfo.value, '$.sample') AS BOOLEAN) END)"
)

TYPED_GUARDDUTY = f"""
SELECT *,
    {ip_bins('probe_remote_ips')} AS probe_remote_ips_bin
FROM (
SELECT
    j.id || '@' || strftime(ts, '%Y-%m-%dT%H:%M:%S.%fZ') AS event_uid,
    ts AS event_time,
    CAST(ts AS DATE) AS event_date,
    2004 AS class_uid,
    CASE WHEN created = ts THEN 1 ELSE 2 END AS activity_id,
    j.id AS finding_id,
    created AS created_at,
    ts AS updated_at,
    try_cast(j.service.eventFirstSeen AS TIMESTAMPTZ) AS first_seen,
    try_cast(j.service.eventLastSeen AS TIMESTAMPTZ) AS last_seen,
    j.schemaVersion AS schema_version,
    j.accountId AS account_id,
    j.region AS region,
    j.partition AS partition,
    j.arn AS arn,
    j.type AS type,
    j.title AS title,
    j.description AS description,
    {_SEV} AS severity,
    CASE WHEN {_SEV} IS NULL THEN NULL WHEN {_SEV} < 4 THEN 'Low' WHEN {_SEV} < 7 THEN 'Medium'
         WHEN {_SEV} < 9 THEN 'High' ELSE 'Critical' END AS severity_label,
    CASE WHEN {_SEV} IS NULL THEN NULL WHEN {_SEV} < 4 THEN 2 WHEN {_SEV} < 7 THEN 3
         WHEN {_SEV} < 9 THEN 4 ELSE 5 END AS severity_id,
    try_cast(j.confidence AS DOUBLE) AS confidence,
    try_cast(j.service.count AS BIGINT) AS count,
    try_cast(j.service.archived AS BOOLEAN) AS archived,
    j.service.detectorId AS detector_id,
    j.service.resourceRole AS resource_role,
    j.service.featureName AS feature_name,
    j.resource.resourceType AS resource_type,
    a.actionType AS action_type,
    a.awsApiCallAction.api AS api,
    a.awsApiCallAction.serviceName AS api_service_name,
    a.awsApiCallAction.callerType AS caller_type,
    nullif(lower(rtrim(a.awsApiCallAction.domainDetails.domain, '.')), '') AS api_domain,
    a.awsApiCallAction.errorCode AS error_code,
    coalesce(a.awsApiCallAction.userAgent, a.kubernetesApiCallAction.userAgent) AS user_agent,
    a.awsApiCallAction.remoteAccountDetails.accountId AS remote_account_id,
    coalesce(rip.ipAddressV4, rip.ipAddressV6) AS remote_ip,
    rip_path || CASE WHEN rip.ipAddressV4 IS NOT NULL THEN '.ipAddressV4' ELSE '.ipAddressV6' END
        AS remote_ip_field,
    rip.organization.asn AS remote_asn,
    rip.organization.asnOrg AS remote_asn_org,
    rip.organization.isp AS remote_isp,
    rip.organization.org AS remote_org,
    rip.country.countryCode AS remote_country_code,
    rip.country.countryName AS remote_country,
    rip.city.cityName AS remote_city,
    {ip_list(f"list_concat(list_transform({_PROBES}, lambda p: p.remoteIpDetails.ipAddressV4), list_transform({_PROBES}, lambda p: p.remoteIpDetails.ipAddressV6))")}
        AS probe_remote_ips,
    coalesce(lip.ipAddressV4, lip.ipAddressV6) AS local_ip,
    lip_path || CASE WHEN lip.ipAddressV4 IS NOT NULL THEN '.ipAddressV4' ELSE '.ipAddressV6' END
        AS local_ip_field,
    try_cast(coalesce(a.networkConnectionAction.localPortDetails.port,
                      {_PROBES}[1].localPortDetails.port) AS INTEGER) AS local_port,
    try_cast(a.networkConnectionAction.remotePortDetails.port AS INTEGER) AS remote_port,
    coalesce(a.networkConnectionAction.protocol, a.dnsRequestAction.protocol) AS protocol,
    a.networkConnectionAction.connectionDirection AS connection_direction,
    try_cast(coalesce(a.networkConnectionAction.blocked, a.dnsRequestAction.blocked,
                      a.portProbeAction.blocked) AS BOOLEAN) AS blocked,
    nullif(lower(rtrim(a.dnsRequestAction.domain, '.')), '') AS dns_domain,
    j.resource.accessKeyDetails.accessKeyId AS access_key_id,
    j.resource.accessKeyDetails.principalId AS principal_id,
    j.resource.accessKeyDetails.userName AS user_name,
    j.resource.accessKeyDetails.userType AS user_type,
    j.resource.instanceDetails.instanceId AS instance_id,
    {ip_list("list_transform(j.resource.instanceDetails.networkInterfaces, lambda n: n.publicIp)")}
        AS instance_public_ips,
    {ip_list("list_transform(j.resource.instanceDetails.networkInterfaces, lambda n: n.privateIpAddress)")}
        AS instance_private_ips,
    list_filter(list_transform(j.resource.s3BucketDetails, lambda b: b.name), lambda x: x IS NOT NULL)
        AS bucket_names,
    {unique("list_transform(j.service.evidence.threatIntelligenceDetails, lambda t: t.threatListName)")}
        AS threat_list_names,
    {unique("flatten(list_transform(j.service.evidence.threatIntelligenceDetails, lambda t: t.threatNames))")}
        AS threat_names,
    {_SAMPLE} AS sample,
    coalesce(_jx[1], _jx[2]) AS resource,
    coalesce(_jx[3], _jx[4]) AS service,
    raw, origin, locator,
    CASE WHEN nullif(j.id, '') IS NULL THEN 'id is missing'
         WHEN j.updatedAt IS NULL THEN 'updatedAt is missing'
         WHEN ts IS NULL THEN 'updatedAt is not a timestamp: ' || left(j.updatedAt, 64)
         WHEN j.createdAt IS NOT NULL AND created IS NULL
              THEN 'createdAt is not a timestamp: ' || left(j.createdAt, 64)
         WHEN j.severity IS NOT NULL AND {_SEV} IS NULL
              THEN 'severity is not a number: ' || left(j.severity, 32)
         WHEN j.service.count IS NOT NULL AND try_cast(j.service.count AS BIGINT) IS NULL
              THEN 'service.count is not an integer: ' || left(j.service.count, 32)
         END AS _reject
FROM (
    SELECT *, {_RIP} AS rip, {_RIP_PATH} AS rip_path, {_LIP} AS lip, {_LIP_PATH} AS lip_path
    FROM (
        SELECT *, j.service.action AS a,
            try_cast(j.updatedAt AS TIMESTAMPTZ) AS ts,
            try_cast(j.createdAt AS TIMESTAMPTZ) AS created,
            json_extract(raw, ['$.resource', '$.Resource', '$.service', '$.Service']) AS _jx
        FROM (
            -- Two columns, one of them NULL, coalesced a level up: a CASE over both
            -- transforms would cast one into the other's type, and the engine pushes such
            -- casts into json_transform, where key matching is case-sensitive.
            SELECT *, coalesce(jc, jp) AS j
            FROM (
                SELECT *,
                    CASE WHEN NOT pascal THEN json_transform(raw, '{STRUCT}') END AS jc,
                    CASE WHEN pascal THEN json_transform(raw, '{PASCAL_STRUCT}') END AS jp
                FROM (SELECT *, {_PASCAL} AS pascal FROM _records) tp
            ) tj
        ) t0
    ) t1
) t2
) t3
"""


def _observables() -> tuple[Observable, ...]:
    obs: list[Observable] = []
    for _, path in _REMOTE_ACTIONS[:-1]:
        for v in ("ipAddressV4", "ipAddressV6"):
            field = f"service.action.{path}.{v}"
            cond = f"remote_ip_field = '{field}'"
            obs.append(Observable(field, "ip", f"CASE WHEN {cond} THEN remote_ip END",
                                  bin_expr=f"CASE WHEN {cond} THEN remote_ip_bin END"))
    for v, keep in (("ipAddressV4", "NOT"), ("ipAddressV6", "")):
        ips = f"list_filter(probe_remote_ips, lambda x: {keep} contains(x, ':'))"
        obs.append(Observable(f"service.action.{_REMOTE_ACTIONS[-1][1]}.{v}", "ip", ips, is_list=True,
                              bin_expr=ip_bins(ips)))  # aligned BLOB[] (not used by the core yet)
    for _, path in _LOCAL_ACTIONS:
        for v in ("ipAddressV4", "ipAddressV6"):
            field = f"service.action.{path}.{v}"
            cond = f"local_ip_field = '{field}'"
            obs.append(Observable(field, "ip", f"CASE WHEN {cond} THEN local_ip END",
                                  bin_expr=f"CASE WHEN {cond} THEN local_ip_bin END"))
    return (
        *obs,
        Observable("service.action.dnsRequestAction.domain", "domain", "dns_domain"),
        Observable("service.action.awsApiCallAction.domainDetails.domain", "domain", "api_domain"),
        Observable("resource.accessKeyDetails.accessKeyId", "access_key", "access_key_id"),
        Observable("resource.accessKeyDetails.principalId", "user", "principal_id"),
        Observable("resource.accessKeyDetails.userName", "user", "user_name"),
        Observable("resource.instanceDetails.instanceId", "resource", "instance_id"),
        Observable("resource.s3BucketDetails[].name", "resource", "bucket_names", is_list=True),
        Observable("accountId", "account", "account_id"),
        Observable("service.action.awsApiCallAction.remoteAccountDetails.accountId", "account",
                   "remote_account_id"),
    )


OBSERVABLES = _observables()

_EVENTBRIDGE = re.compile(r'"detail-type"\s*:\s*"' + re.escape(GUARDDUTY_FINDING) + '"')
_GD_ARN = re.compile(r"arn:aws[a-z-]*:guardduty:")


def _detect(s: Sniff) -> int:
    if s.is_parquet:
        return 0
    t = s.text
    if _EVENTBRIDGE.search(t):
        return 95
    if '"ProductArn"' in t and "2018-10-08" in t:  # ASFF (GuardDuty findings via Security Hub)
        return 0
    if ('"schemaVersion"' in t and '"detectorId"' in t) or ('"SchemaVersion"' in t and '"DetectorId"' in t):
        return 90
    if ('"schemaVersion"' in t or '"SchemaVersion"' in t) and _GD_ARN.search(t):
        return 80
    return 0


SOURCE = Source(
    name="guardduty",
    doc=__doc__ or "",
    tables=(GUARDDUTY,),
    framing="json",
    detect=_detect,
    records_sql=RECORDS_SQL,
    typed_sql={"guardduty_findings": TYPED_GUARDDUTY},
    ip_columns={
        "guardduty_findings": (IpColumn("remote_ip", "remote_ip"), IpColumn("local_ip", "local_ip")),
    },
    observables={"guardduty_findings": OBSERVABLES},
)
