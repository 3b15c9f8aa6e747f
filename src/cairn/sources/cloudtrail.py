"""AWS CloudTrail: trail files, exports, EventBridge events and LookupEvents output.

Accepted shapes (all detected from content):
``{"Records": [...]}`` trail files (.json / .json.gz, any S3 key layout incl.
organisation trails), bare JSON arrays, one event per line (CloudWatch Logs
messages, their S3 exports with a timestamp before each event, Logstash), EventBridge "AWS API Call via CloudTrail" envelopes, and
LookupEvents output (``{"Events": [{"CloudTrailEvent": "<json string>"}]}``).
Digest files are skipped and counted; Insights events (``eventType``
``AwsCloudTrailInsight`` or ``eventCategory`` ``Insight``) go to
``cloudtrail_insights``. Maps to OCSF API Activity (6003).
"""

from __future__ import annotations

import re

from cairn.lake.schema import PROVENANCE_COLUMNS, Column, TableSpec, common_columns
from cairn.sources.base import IpColumn, Observable, Sniff, Source

CLOUDTRAIL = TableSpec(
    name="cloudtrail",
    doc="CloudTrail management, data and network-activity events (OCSF API Activity 6003).",
    ocsf_class_uid=6003,
    ocsf_class_name="API Activity",
    sort_columns=("event_time", "principal_arn"),
    columns=(
        *common_columns(6003),
        Column("activity_id", "INTEGER", "OCSF activity: 1 Create, 2 Read, 3 Update, 4 Delete, 99 Other"),
        Column("status", "VARCHAR", "'success' or 'failure' (errorCode set, or a sign-in's responseElements says Failure)"),
        Column("event_version", "VARCHAR", "eventVersion"),
        Column("event_source", "VARCHAR", "eventSource, e.g. iam.amazonaws.com"),
        Column("event_name", "VARCHAR", "eventName (the API action)"),
        Column("event_type", "VARCHAR", "eventType: AwsApiCall, AwsConsoleSignIn, ..."),
        Column("event_category", "VARCHAR", "eventCategory: Management, Data, NetworkActivity"),
        Column("aws_region", "VARCHAR", "awsRegion"),
        Column("source_ip_address", "VARCHAR", "sourceIPAddress as recorded"),
        Column("src_ip", "VARCHAR", "sourceIPAddress when it is an IP address (canonical)"),
        Column("src_ip_bin", "BLOB", "src_ip as 16 bytes (IPv4 mapped into IPv6)"),
        Column("src_ip_kind", "VARCHAR", "ip, service (AWS service name), aws_internal, hostname, other, empty"),
        Column("src_domain", "VARCHAR", "sourceIPAddress when it is a DNS name (service or host)"),
        Column("user_agent", "VARCHAR", "userAgent"),
        Column("error_code", "VARCHAR", "errorCode"),
        Column("error_message", "VARCHAR", "errorMessage"),
        Column("read_only", "BOOLEAN", "readOnly"),
        Column("management_event", "BOOLEAN", "managementEvent"),
        Column("identity_type", "VARCHAR", "userIdentity.type"),
        Column("principal_id", "VARCHAR", "userIdentity.principalId"),
        Column("identity_arn", "VARCHAR", "userIdentity.arn (sts assumed-role ARN for role sessions)"),
        Column("principal_arn", "VARCHAR", "Who acted: the IAM role ARN for role sessions, else the identity ARN"),
        Column("account_id", "VARCHAR", "userIdentity.accountId"),
        Column("access_key_id", "VARCHAR", "userIdentity.accessKeyId (AKIA long-term, ASIA temporary)"),
        Column("user_name", "VARCHAR", "userIdentity.userName"),
        Column("invoked_by", "VARCHAR", "userIdentity.invokedBy"),
        Column("session_issuer_arn", "VARCHAR", "userIdentity.sessionContext.sessionIssuer.arn"),
        Column("session_issuer_type", "VARCHAR", "sessionIssuer.type: Role, IAMUser, Root"),
        Column("session_name", "VARCHAR", "Role session name"),
        Column("source_identity", "VARCHAR", "sessionContext.sourceIdentity"),
        Column("mfa_authenticated", "BOOLEAN", "sessionContext.attributes.mfaAuthenticated"),
        Column("session_created", "TIMESTAMPTZ", "sessionContext.attributes.creationDate"),
        Column("identity_store_user_id", "VARCHAR", "userIdentity.onBehalfOf.userId (IAM Identity Center)"),
        Column("recipient_account_id", "VARCHAR", "recipientAccountId"),
        Column("shared_event_id", "VARCHAR", "sharedEventID"),
        Column("request_id", "VARCHAR", "requestID"),
        Column("vpc_endpoint_id", "VARCHAR", "vpcEndpointId"),
        Column("tls_version", "VARCHAR", "tlsDetails.tlsVersion"),
        Column("client_host_header", "VARCHAR", "tlsDetails.clientProvidedHostHeader"),
        Column("resource_arns", "VARCHAR[]", "resources[].ARN"),
        Column("resources", "JSON", "resources"),
        Column("user_identity", "JSON", "userIdentity"),
        Column("request_parameters", "JSON", "requestParameters"),
        Column("response_elements", "JSON", "responseElements"),
        Column("additional_event_data", "JSON", "additionalEventData"),
        *PROVENANCE_COLUMNS,
    ),
)

CLOUDTRAIL_INSIGHTS = TableSpec(
    name="cloudtrail_insights",
    doc="CloudTrail Insights events (unusual API call or error rates).",
    columns=(
        *common_columns(0),
        Column("event_version", "VARCHAR", "eventVersion"),
        Column("aws_region", "VARCHAR", "awsRegion"),
        Column("recipient_account_id", "VARCHAR", "recipientAccountId"),
        Column("insight_id", "VARCHAR", "sharedEventID: links an insight's Start and End events"),
        Column("state", "VARCHAR", "insightDetails.state: Start or End"),
        Column("event_source", "VARCHAR", "insightDetails.eventSource"),
        Column("event_name", "VARCHAR", "insightDetails.eventName"),
        Column("insight_type", "VARCHAR", "ApiCallRateInsight or ApiErrorRateInsight"),
        Column("error_code", "VARCHAR", "insightDetails.errorCode"),
        Column("baseline_average", "DOUBLE", "insightContext.statistics.baseline.average"),
        Column("insight_average", "DOUBLE", "insightContext.statistics.insight.average"),
        Column("insight_details", "JSON", "insightDetails"),
        *PROVENANCE_COLUMNS,
    ),
)

_STRUCT = """{
 "eventVersion":"VARCHAR","eventTime":"VARCHAR","@timestamp":"VARCHAR","eventID":"VARCHAR","eventSource":"VARCHAR",
 "eventName":"VARCHAR","eventType":"VARCHAR","eventCategory":"VARCHAR","awsRegion":"VARCHAR",
 "sourceIPAddress":"VARCHAR","userAgent":"VARCHAR","errorCode":"VARCHAR","errorMessage":"VARCHAR",
 "readOnly":"VARCHAR","managementEvent":"VARCHAR","recipientAccountId":"VARCHAR",
 "sharedEventID":"VARCHAR","requestID":"VARCHAR","vpcEndpointId":"VARCHAR",
 "tlsDetails":{"tlsVersion":"VARCHAR","clientProvidedHostHeader":"VARCHAR"},
 "userIdentity":"JSON",
 "resources":"JSON","requestParameters":"JSON","responseElements":"JSON","additionalEventData":"JSON",
 "insightDetails":{"state":"VARCHAR","eventSource":"VARCHAR","eventName":"VARCHAR",
   "insightType":"VARCHAR","errorCode":"VARCHAR",
   "insightContext":{"statistics":{"baseline":{"average":"DOUBLE"},"insight":{"average":"DOUBLE"}}}}
}"""
STRUCT = " ".join(_STRUCT.split())

# userIdentity is kept whole (a column) and typed by a second, small transform.
_IDENTITY = """{"type":"VARCHAR","principalId":"VARCHAR","arn":"VARCHAR","accountId":"VARCHAR",
   "accessKeyId":"VARCHAR","userName":"VARCHAR","invokedBy":"VARCHAR",
   "onBehalfOf":{"userId":"VARCHAR"},
   "sessionContext":{"sourceIdentity":"VARCHAR",
     "sessionIssuer":{"type":"VARCHAR","arn":"VARCHAR","userName":"VARCHAR"},
     "attributes":{"mfaAuthenticated":"VARCHAR","creationDate":"VARCHAR"}}}"""
IDENTITY = " ".join(_IDENTITY.split())

_READ = "Get|List|Describe|Lookup|Head|Search|Scan|Query|Select|View|Read|Download|Check|Test|Estimate|Preview|Simulate|Decrypt|Verify|Validate"
_CREATE = "Create|Run|Allocate|Import|Register|Launch|Request|Issue|Generate|Copy|Add|Upload|Publish|Send|Invoke|Submit|Subscribe|Encrypt"
_DELETE = "Delete|Remove|Terminate|Deregister|Release|Revoke|Detach|Disassociate|Disable|Cancel|Stop|Purge|Deactivate|Abort|Reject|Unsubscribe|Leave"
_UPDATE = "Update|Put|Modify|Set|Change|Attach|Associate|Enable|Authorize|Replace|Reset|Tag|Untag|Start|Restore|Rotate|Reboot|Apply|Assign|Move|Edit|Activate|Accept|Rename|Share|Unshare|Resume|Pause|Promote"


def _in(words: str) -> str:
    return ", ".join(f"'{w}'" for w in words.split("|"))


# The leading verb of an API name ("BatchGetItem" -> "Get" after the Batch prefix).
_VERB = "regexp_extract(regexp_replace(j.eventName, '^Batch', ''), '^[A-Z][a-z]*')"

# Items -> records: strip CloudWatch Logs export timestamps, unwrap EventBridge envelopes
# and LookupEvents' CloudTrailEvent strings. A record that cannot be used keeps the bytes
# of its whole item as raw (the envelope, the line) for the quarantine.
RECORDS_SQL = """
WITH i AS (
    SELECT origin, locator, item,
        CASE WHEN left(item, 1) BETWEEN '0' AND '9' AND regexp_matches(item, '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z [{[]')
             THEN substr(item, strpos(item, ' ') + 1) ELSE item END AS body
    FROM _items
), e AS (
    SELECT origin, locator, item, body,
        -- contains() is a cheap pre-check that spares most records a second parse (without the
        -- leading quote: JSON text is full of quotes, a rarer first character scans ~2x faster)
        CASE WHEN NOT json_valid(body) THEN NULL
             WHEN contains(body, 'detail-type') AND json_type(body, '$.detail') = 'OBJECT'
                  AND json_extract_string(body, '$."detail-type"') IS NOT NULL THEN 'detail'
             WHEN contains(body, 'CloudTrailEvent')
                  AND json_type(body, '$.CloudTrailEvent') = 'VARCHAR' THEN 'CloudTrailEvent'
             ELSE '' END AS wrap
    FROM i
), r AS (
    SELECT origin,
        locator || CASE wrap WHEN 'detail' THEN ' detail' WHEN 'CloudTrailEvent' THEN ' CloudTrailEvent' ELSE '' END AS locator,
        item, wrap,
        CASE wrap WHEN 'detail' THEN json_extract(body, '$.detail')::VARCHAR
                  WHEN 'CloudTrailEvent' THEN json_extract_string(body, '$.CloudTrailEvent')
                  ELSE body END AS raw
    FROM e
), v AS (
    -- CASE, not AND/OR: only unwrapped records are parsed again (a projection evaluates both sides of OR)
    SELECT *, CASE WHEN wrap IS NULL THEN false WHEN wrap = '' THEN true ELSE json_valid(raw) END AS ok FROM r
)
SELECT origin, locator,
    CASE WHEN ok THEN raw ELSE item END AS raw,
    -- Insights events: eventType AwsCloudTrailInsight, or (some exports) only eventCategory Insight
    CASE WHEN ok AND contains(raw, 'Insight')
              AND (json_extract_string(raw, '$.eventType') = 'AwsCloudTrailInsight'
                   OR json_extract_string(raw, '$.eventCategory') = 'Insight')
         THEN 'cloudtrail_insights' ELSE 'cloudtrail' END AS route,
    CASE WHEN wrap IS NULL THEN 'invalid JSON'
         WHEN NOT ok THEN 'CloudTrailEvent is not valid JSON'
         WHEN NOT (starts_with(raw, '{') OR starts_with(ltrim(raw), '{')) THEN 'record is not a JSON object (found '
              || CASE WHEN json_type(raw) IN ('UBIGINT', 'BIGINT', 'DOUBLE', 'HUGEINT') THEN 'a number'
                      WHEN json_type(raw) = 'VARCHAR' THEN 'a string'
                      WHEN json_type(raw) = 'BOOLEAN' THEN 'a boolean'
                      WHEN json_type(raw) = 'ARRAY' THEN 'an array'
                      ELSE lower(json_type(raw)) END || ')'
         ELSE NULL END AS error
FROM v
"""

# Logstash / Elasticsearch exports move eventTime into @timestamp.
_EVENT_TIME = 'coalesce(j.eventTime, j."@timestamp")'
_TIME = f"coalesce(try_cast({_EVENT_TIME} AS TIMESTAMPTZ), try_strptime({_EVENT_TIME}, '%Y%m%dT%H%M%SZ')::TIMESTAMPTZ)"
_VERSION_MAJOR = "try_cast(split_part(j.eventVersion, '.', 1) AS INTEGER)"

_COMMON_REJECT = f"""
    CASE WHEN {_EVENT_TIME} IS NULL THEN 'eventTime is missing'
         WHEN {_TIME} IS NULL THEN 'eventTime is not a timestamp: ' || left({_EVENT_TIME}, 64)
         WHEN j.eventVersion IS NOT NULL AND coalesce({_VERSION_MAJOR}, -1) <> 1
              THEN 'unsupported eventVersion ' || left(j.eventVersion, 32) || ' (only major version 1 is known)'
         WHEN j.userIdentity IS NOT NULL AND json_type(j.userIdentity) NOT IN ('OBJECT', 'NULL')
              THEN 'userIdentity is not an object'
         {{extra}}
         ELSE NULL END AS _reject"""

def signin_failed_sql(event_source: str, response_elements: str) -> str:
    """SQL predicate: a failed sign-in. Sign-in events (``signin.amazonaws.com``: ConsoleLogin,
    PasswordUpdated, ExternalIdPDirectoryLogin, ...) report their outcome as
    ``responseElements.<eventName>`` = ``Success`` | ``Failure``, with no ``errorCode`` on a failed password
    (formats.md, "Failed console login"). Arguments are column expressions of the caller's relation."""
    return (f"({event_source} = 'signin.amazonaws.com' AND "
            f"list_contains(json_extract_string({response_elements}, '$.*'), 'Failure'))")


TYPED_CLOUDTRAIL = f"""
SELECT
    coalesce(nullif(j.eventID, ''), 'sha256:' || sha256(json(raw)::VARCHAR)) AS event_uid,
    {_TIME} AS event_time,
    CAST({_TIME} AS DATE) AS event_date,
    6003 AS class_uid,
    CASE WHEN verb IN ({_in(_READ)}) THEN 2
         WHEN verb IN ({_in(_CREATE)}) THEN 1
         WHEN verb IN ({_in(_DELETE)}) THEN 4
         WHEN verb IN ({_in(_UPDATE)}) THEN 3
         ELSE 99 END AS activity_id,
    CASE WHEN nullif(j.errorCode, '') IS NOT NULL OR {signin_failed_sql('j.eventSource', 'j.responseElements')}
         THEN 'failure' ELSE 'success' END AS status,
    j.eventVersion AS event_version,
    j.eventSource AS event_source,
    j.eventName AS event_name,
    j.eventType AS event_type,
    j.eventCategory AS event_category,
    j.awsRegion AS aws_region,
    j.sourceIPAddress AS source_ip_address,
    j.userAgent AS user_agent,
    nullif(j.errorCode, '') AS error_code,
    nullif(j.errorMessage, '') AS error_message,
    try_cast(j.readOnly AS BOOLEAN) AS read_only,
    try_cast(j.managementEvent AS BOOLEAN) AS management_event,
    u.type AS identity_type,
    u.principalId AS principal_id,
    u.arn AS identity_arn,
    CASE WHEN u.type = 'AssumedRole' AND u.sessionContext.sessionIssuer.arn IS NOT NULL
              THEN u.sessionContext.sessionIssuer.arn
         WHEN u.type = 'AWSService' THEN u.invokedBy
         ELSE coalesce(u.arn, u.principalId) END AS principal_arn,
    u.accountId AS account_id,
    nullif(u.accessKeyId, '') AS access_key_id,
    u.userName AS user_name,
    u.invokedBy AS invoked_by,
    u.sessionContext.sessionIssuer.arn AS session_issuer_arn,
    u.sessionContext.sessionIssuer.type AS session_issuer_type,
    CASE WHEN u.type = 'AssumedRole'
         -- regexp_extract gives '' (not NULL) when the ARN has no session part
         THEN coalesce(nullif(regexp_extract(u.arn, ':assumed-role/[^/]+/(.+)$', 1), ''),
                       nullif(split_part(u.principalId, ':', 2), '')) END AS session_name,
    u.sessionContext.sourceIdentity AS source_identity,
    try_cast(u.sessionContext.attributes.mfaAuthenticated AS BOOLEAN) AS mfa_authenticated,
    coalesce(try_cast(u.sessionContext.attributes.creationDate AS TIMESTAMPTZ),
             try_strptime(u.sessionContext.attributes.creationDate, '%Y%m%dT%H%M%SZ')::TIMESTAMPTZ)
        AS session_created,
    u.onBehalfOf.userId AS identity_store_user_id,
    j.recipientAccountId AS recipient_account_id,
    j.sharedEventID AS shared_event_id,
    j.requestID AS request_id,
    j.vpcEndpointId AS vpc_endpoint_id,
    j.tlsDetails.tlsVersion AS tls_version,
    j.tlsDetails.clientProvidedHostHeader AS client_host_header,
    CASE WHEN json_type(j.resources) = 'ARRAY'
         THEN json_extract_string(j.resources, '$[*].ARN') END AS resource_arns,
    j.resources AS resources,
    j.userIdentity AS user_identity,
    j.requestParameters AS request_parameters,
    j.responseElements AS response_elements,
    j.additionalEventData AS additional_event_data,
    raw, origin, locator,
    {_COMMON_REJECT.replace('{extra}', '''WHEN j.eventSource IS NULL OR j.eventName IS NULL
              THEN 'eventSource or eventName is missing' ''')}
FROM (SELECT *, json_transform(j.userIdentity, '{IDENTITY}') AS u, {_VERB} AS verb
      FROM (SELECT *, json_transform(raw, '{STRUCT}') AS j FROM _records)) t
"""

TYPED_INSIGHTS = f"""
SELECT
    coalesce(nullif(j.eventID, ''), 'sha256:' || sha256(json(raw)::VARCHAR)) AS event_uid,
    {_TIME} AS event_time,
    CAST({_TIME} AS DATE) AS event_date,
    CAST(NULL AS INTEGER) AS class_uid,
    j.eventVersion AS event_version,
    j.awsRegion AS aws_region,
    j.recipientAccountId AS recipient_account_id,
    j.sharedEventID AS insight_id,
    j.insightDetails.state AS state,
    j.insightDetails.eventSource AS event_source,
    j.insightDetails.eventName AS event_name,
    j.insightDetails.insightType AS insight_type,
    j.insightDetails.errorCode AS error_code,
    j.insightDetails.insightContext.statistics.baseline.average AS baseline_average,
    j.insightDetails.insightContext.statistics.insight.average AS insight_average,
    json_extract(raw, '$.insightDetails') AS insight_details,
    raw, origin, locator,
    {_COMMON_REJECT.replace('{extra}', '')}
FROM (SELECT *, json_transform(raw, '{STRUCT}') AS j FROM _records) t
"""

OBSERVABLES = (
    Observable("sourceIPAddress", "ip", "src_ip", bin_expr="src_ip_bin"),
    Observable("sourceIPAddress", "hostname", "CASE WHEN src_ip_kind = 'hostname' THEN src_domain END"),
    Observable("userIdentity.arn", "arn", "identity_arn"),
    Observable("userIdentity.sessionContext.sessionIssuer.arn", "arn", "session_issuer_arn"),
    Observable("userIdentity.accessKeyId", "access_key", "access_key_id"),
    Observable("userIdentity.accountId", "account", "account_id"),
    Observable("recipientAccountId", "account", "recipient_account_id"),
    Observable("userIdentity.userName", "user", "user_name"),
    Observable("userIdentity.onBehalfOf.userId", "user", "identity_store_user_id"),
    Observable("tlsDetails.clientProvidedHostHeader", "hostname", "lower(rtrim(client_host_header, '.'))"),
    Observable("resources[].ARN", "resource", "resource_arns", is_list=True),
    Observable("requestParameters.bucketName", "resource", "json_extract_string(request_parameters, '$.bucketName')"),
    Observable("requestParameters.roleArn", "arn", "json_extract_string(request_parameters, '$.roleArn')"),
    Observable("requestParameters.userName", "user", "json_extract_string(request_parameters, '$.userName')"),
    Observable("responseElements.credentials.accessKeyId", "access_key",
               "json_extract_string(response_elements, '$.credentials.accessKeyId')"),
)

_DIGEST_KEY = re.compile(r"(^|/)CloudTrail-Digest/|_CloudTrail-Digest_")


def _skip(origin: str, sniff: Sniff | None) -> str | None:
    if _DIGEST_KEY.search(origin):
        return "CloudTrail digest file"
    if sniff is not None and '"digestStartTime"' in sniff.text[:4096] and '"logFiles"' in sniff.text:
        return "CloudTrail digest file"
    return None


_EMPTY_TRAIL = re.compile(r'(?:\s*\{\s*"Records"\s*:\s*\[\s*\]\s*\}\s*)+')
"""A whole trail file with no records: ``{"Records": []}`` (CloudTrail writes these)."""


def _detect(s: Sniff) -> int:
    t = s.text
    if s.is_parquet:
        return 0
    if _EMPTY_TRAIL.fullmatch(t.lstrip("\ufeff")):
        return 90
    if '"digestStartTime"' in t[:4096]:
        return 90
    if "AWS API Call via CloudTrail" in t or '"CloudTrailEvent"' in t:
        return 95
    if '"eventVersion"' in t and '"eventSource"' in t:
        return 90 if '"Records"' in t[:512] else 80
    if '"Records"' in t[:512] and '"eventTime"' in t:
        return 60
    return 0


SOURCE = Source(
    name="cloudtrail",
    doc=__doc__ or "",
    tables=(CLOUDTRAIL, CLOUDTRAIL_INSIGHTS),
    framing="json",
    detect=_detect,
    records_sql=RECORDS_SQL,
    typed_sql={"cloudtrail": TYPED_CLOUDTRAIL, "cloudtrail_insights": TYPED_INSIGHTS},
    ip_columns={
        "cloudtrail": (IpColumn("source_ip_address", "src_ip", kind=True, domain_out="src_domain"),),
    },
    observables={"cloudtrail": OBSERVABLES},
    skip_file=_skip,
)
