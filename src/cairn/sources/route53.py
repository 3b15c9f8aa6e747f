"""Amazon Route 53 Resolver query logs (VPC DNS), one JSON object per query.

Accepted shapes (detected from content): JSON lines as delivered to S3 or
exported from CloudWatch Logs, JSON arrays and Firehose-style concatenated
objects. ``version`` and ``srcport`` are strings in the source; ``answers`` keys
are capitalised (``Rdata``, ``Type``, ``Class``); a single answer object (as
some normalisers write it) is read as a one-element list. Resolver logs carry
no id, so the dedup key is a content hash. Maps to OCSF DNS Activity (4003).
"""

from __future__ import annotations

from cairn.lake.addresses import ADDRESS_RE
from cairn.lake.schema import PROVENANCE_COLUMNS, Column, TableSpec, common_columns
from cairn.sources.base import IpColumn, Observable, Sniff, Source
from cairn.sources.sqlkit import compact_spec, content_uid, cwl_body, ip_bins, ip_list, json_kind, lit, unique

ROUTE53 = TableSpec(
    name="route53",
    doc="Route 53 Resolver query logs (OCSF DNS Activity 4003).",
    ocsf_class_uid=4003,
    ocsf_class_name="DNS Activity",
    sort_columns=("event_time", "query_domain"),
    columns=(
        *common_columns(4003),
        Column("version", "VARCHAR", "version, a string such as '1.100000'"),
        Column("account_id", "VARCHAR", "account_id of the VPC"),
        Column("region", "VARCHAR", "region"),
        Column("vpc_id", "VARCHAR", "vpc_id the query came from"),
        Column("query_time", "TIMESTAMPTZ", "query_timestamp (same as event_time)"),
        Column("query_name", "VARCHAR", "query_name as recorded (usually with a trailing dot)"),
        Column("query_domain", "VARCHAR", "query_name lower-case without the trailing dot"),
        Column("query_type", "VARCHAR", "query_type: A, AAAA, PTR, ..."),
        Column("query_class", "VARCHAR", "query_class: IN"),
        Column("rcode", "VARCHAR", "rcode: NOERROR, NXDOMAIN, SERVFAIL, ..."),
        Column("rcode_id", "INTEGER", "OCSF rcode_id: 0 NoError, 1 FormError, 2 ServError, 3 NXDomain, 4 NotImp, 5 Refused, 99 Other"),
        Column("answers", "JSON", "answers, always a list of {Rdata, Type, Class}"),
        Column("answer_rdata", "VARCHAR[]", "answers[].Rdata"),
        Column("answer_types", "VARCHAR[]", "answers[].Type"),
        Column("answer_ips", "VARCHAR[]", "answers[].Rdata that are IP addresses (canonical)"),
        Column("answer_ips_bin", "BLOB[]", "answer_ips as 16 bytes each (IPv4 mapped into IPv6)"),
        Column("answer_hosts", "VARCHAR[]", "Host names answered by CNAME, DNAME, PTR, NS, MX and SRV records"),
        Column("srcaddr", "VARCHAR", "srcaddr, the querying address (canonical IP)"),
        Column("srcaddr_bin", "BLOB", "srcaddr as 16 bytes (IPv4 mapped into IPv6)"),
        Column("srcport", "INTEGER", "srcport (a string in the source)"),
        Column("transport", "VARCHAR", "transport: UDP or TCP"),
        Column("srcids", "JSON", "srcids: where the query came from"),
        Column("instance_id", "VARCHAR", "srcids.instance"),
        Column("resolver_endpoint_id", "VARCHAR", "srcids.resolver_endpoint (queries from on-premises)"),
        Column("firewall_rule_action", "VARCHAR", "DNS Firewall action: BLOCK, ALERT, ALLOW"),
        Column("firewall_rule_group_id", "VARCHAR", "firewall_rule_group_id (rslvr-frg-...)"),
        Column("firewall_domain_list_id", "VARCHAR", "firewall_domain_list_id (rslvr-fdl-...)"),
        *PROVENANCE_COLUMNS,
    ),
)

STRUCT = compact_spec("""{
 "version":"VARCHAR","account_id":"VARCHAR","region":"VARCHAR","vpc_id":"VARCHAR",
 "query_timestamp":"VARCHAR","query_name":"VARCHAR","query_type":"VARCHAR","query_class":"VARCHAR",
 "rcode":"VARCHAR","answers":"JSON","srcaddr":"VARCHAR","srcport":"VARCHAR","transport":"VARCHAR",
 "srcids":"JSON","firewall_rule_action":"VARCHAR","firewall_rule_group_id":"VARCHAR",
 "firewall_domain_list_id":"VARCHAR"
}""")
_ANSWER = '[{"Rdata":"VARCHAR","Type":"VARCHAR","Class":"VARCHAR"}]'

RECORDS_SQL = f"""
WITH i AS (SELECT origin, locator, item, {cwl_body()} AS body FROM _items)
SELECT origin, locator, CASE WHEN json_valid(body) THEN body ELSE item END AS raw, 'route53' AS route,
    CASE WHEN NOT json_valid(body) THEN 'invalid JSON'
         WHEN json_type(body) <> 'OBJECT' THEN 'record is not a JSON object (found ' || {json_kind('body')} || ')'
         END AS error
FROM i
"""

_HOST_TYPES = "('CNAME', 'DNAME', 'PTR', 'NS', 'MX', 'SRV')"
_HOST_RE = r"[a-z0-9_-]+(\.[a-z0-9_-]+)+"
# Host names in the answers: the last word of CNAME/DNAME/PTR/NS/MX/SRV data, when it is a name.
_HOSTS = (
    f"list_filter(list_transform(list_filter(a, lambda x: upper(x.Type) IN {_HOST_TYPES}), "
    "lambda x: lower(rtrim(split_part(trim(x.Rdata), ' ', -1), '.'))), "
    f"lambda h: regexp_full_match(h, '{_HOST_RE}') AND NOT regexp_full_match(h, '.*\\.[0-9]+'))"
)
_RCODES = {"NOERROR": 0, "FORMERR": 1, "SERVFAIL": 2, "NXDOMAIN": 3, "NOTIMP": 4, "REFUSED": 5,
           "YXDOMAIN": 6, "YXRRSET": 7, "NXRRSET": 8, "NOTAUTH": 9, "NOTZONE": 10}
_RCODE_ID = (
    "CASE upper(j.rcode) "
    + " ".join(f"WHEN '{k}' THEN {v}" for k, v in _RCODES.items())
    + " ELSE 99 END"
)

TYPED_ROUTE53 = f"""
SELECT *, {ip_bins('answer_ips')} AS answer_ips_bin
FROM (
SELECT
    {content_uid()} AS event_uid,
    ts AS event_time,
    CAST(ts AS DATE) AS event_date,
    4003 AS class_uid,
    j.version AS version,
    j.account_id AS account_id,
    j.region AS region,
    j.vpc_id AS vpc_id,
    ts AS query_time,
    j.query_name AS query_name,
    nullif(lower(rtrim(j.query_name, '.')), '') AS query_domain,
    j.query_type AS query_type,
    j.query_class AS query_class,
    j.rcode AS rcode,
    CASE WHEN j.rcode IS NOT NULL THEN {_RCODE_ID} END AS rcode_id,
    answers,
    list_transform(a, lambda x: x.Rdata) AS answer_rdata,
    list_transform(a, lambda x: x.Type) AS answer_types,
    {ip_list('list_transform(a, lambda x: x.Rdata)')} AS answer_ips,
    {unique(_HOSTS)} AS answer_hosts,
    j.srcaddr AS srcaddr,
    try_cast(nullif(trim(j.srcport), '') AS INTEGER) AS srcport,
    j.transport AS transport,
    j.srcids AS srcids,
    json_extract_string(j.srcids, '$.instance') AS instance_id,
    json_extract_string(j.srcids, '$.resolver_endpoint') AS resolver_endpoint_id,
    j.firewall_rule_action AS firewall_rule_action,
    j.firewall_rule_group_id AS firewall_rule_group_id,
    j.firewall_domain_list_id AS firewall_domain_list_id,
    raw, origin, locator,
    CASE WHEN j.query_timestamp IS NULL THEN 'query_timestamp is missing'
         WHEN ts IS NULL THEN 'query_timestamp is not a timestamp: ' || left(j.query_timestamp, 64)
         WHEN nullif(j.query_name, '') IS NULL THEN 'query_name is missing'
         WHEN nullif(trim(j.srcport), '') IS NOT NULL
              AND coalesce(try_cast(trim(j.srcport) AS INTEGER) NOT BETWEEN 0 AND 65535, true)
              THEN 'srcport is not a port number: ' || left(j.srcport, 32)
         WHEN j.answers IS NOT NULL AND json_type(j.answers) NOT IN ('ARRAY', 'OBJECT')
              THEN 'answers is not a list of answers'
         WHEN json_type(j.srcids) NOT IN ('OBJECT', 'NULL') THEN 'srcids is not an object'
         WHEN nullif(j.srcaddr, '') IS NOT NULL AND NOT regexp_full_match(j.srcaddr, {lit(ADDRESS_RE)})
              THEN 'srcaddr is not an IP address: ' || left(j.srcaddr, 64)
         END AS _reject
FROM (
    SELECT *, json_transform(answers, '{_ANSWER}') AS a
    FROM (
        SELECT *,
            try_cast(j.query_timestamp AS TIMESTAMPTZ) AS ts,
            CASE json_type(j.answers) WHEN 'ARRAY' THEN j.answers
                 WHEN 'OBJECT' THEN json_array(j.answers) END AS answers
        FROM (SELECT *, json_transform(raw, '{STRUCT}') AS j FROM _records) t0
    ) t1
) t2
) t3
"""

# For list observables bin_expr is the aligned BLOB[] (the core does not use it yet).
OBSERVABLES = (
    Observable("query_name", "domain", "query_domain"),
    Observable("answers[].Rdata", "ip", "answer_ips", is_list=True, bin_expr="answer_ips_bin"),
    Observable("answers[].Rdata", "hostname", "answer_hosts", is_list=True),
    Observable("srcaddr", "ip", "srcaddr", bin_expr="srcaddr_bin"),
    Observable("srcids.instance", "resource", "instance_id"),
    Observable("account_id", "account", "account_id"),
)


def _detect(s: Sniff) -> int:
    if s.is_parquet:
        return 0
    t = s.text
    if '"query_name"' not in t:
        return 0
    if '"srcaddr"' in t:
        return 85
    return 70 if '"query_timestamp"' in t else 0


SOURCE = Source(
    name="route53",
    doc=__doc__ or "",
    tables=(ROUTE53,),
    framing="json",
    detect=_detect,
    records_sql=RECORDS_SQL,
    typed_sql={"route53": TYPED_ROUTE53},
    ip_columns={"route53": (IpColumn("srcaddr", "srcaddr"),)},
    observables={"route53": OBSERVABLES},
)
