"""Enriched lake rows as OCSF 1.1.0 events, built in SQL.

One class per lake table (docs/outputs.md has the full mapping):

=====================  =====================================  ==========================
lake table             OCSF class                             activity
=====================  =====================================  ==========================
cloudtrail             API Activity (6003, Application)       the table's activity_id
vpcflow                Network Activity (4001, Network)       6 Traffic
route53                DNS Activity (4003, Network)           6 Traffic (query + response)
guardduty_findings     Detection Finding (2004, Findings)     1 Create / 2 Update
securityhub_findings   Detection Finding (2004, Findings)     1 Create / 2 Update
=====================  =====================================  ==========================

Every event carries ``observables[]`` (one per enriched observable: ``name`` = the OCSF attribute
path the value sits at, ``type_id``, ``value`` and, when cairn has a verdict, ``reputation``) and
``enrichments[]`` (``name`` = the same path, ``value``, ``type`` = ``reputation`` | ``ownership`` |
``organisation``, ``provider``, ``data`` with the evidence, the original field path and the intel
matches with their provenance). Source fields that have no OCSF attribute are kept under
``unmapped`` (``{"<original field path>": [values]}``) so that every observable name points into the
event. :func:`ocsf_sql` gives the SELECT; :func:`iter_events` yields the events as dicts without nulls.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import duckdb

from cairn.engines.duckdb_engine import DuckDBEngine
from cairn.errors import EngineError

OCSF_VERSION = "1.1.0"

# cairn observable type -> (OCSF observable type_id, caption); 1.1.0 ids.
OBSERVABLE_TYPES: dict[str, tuple[int, str]] = {
    "hostname": (1, "Hostname"),
    "domain": (1, "Hostname"),
    "ip": (2, "IP Address"),
    "email": (5, "Email Address"),
    "url": (6, "URL String"),
    "hash": (8, "Hash"),
    "user": (4, "User Name"),
    "arn": (10, "Resource UID"),
    "resource": (10, "Resource UID"),
    "access_key": (99, "AWS Access Key ID"),
    "account": (99, "AWS Account ID"),
}
SEVERITY = {0: "Unknown", 1: "Informational", 2: "Low", 3: "Medium", 4: "High", 5: "Critical", 6: "Fatal",
            99: "Other"}


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _case(expr: str, mapping: dict[Any, str], default: str = "NULL") -> str:
    whens = " ".join(f"WHEN {k if isinstance(k, int) else _lit(str(k))} THEN {_lit(v)}" for k, v in mapping.items())
    return f"CASE {expr} {whens} ELSE {default} END"


def _ms(col: str) -> str:
    return f"CAST(epoch_ms({col}) AS BIGINT)"


@dataclass(frozen=True)
class OcsfClass:
    """How one lake table becomes one OCSF class."""

    table: str
    class_uid: int
    class_name: str
    category_uid: int
    category_name: str
    activity_id: str
    """SQL over the row ``t`` giving activity_id."""
    activities: dict[int, str]
    product: str
    """SQL: metadata.product.name"""
    attributes: dict[str, str]
    """OCSF attribute -> SQL expression over ``t`` (structs for objects)."""
    paths: dict[str, str]
    """Original field path (or ``field|type``) -> OCSF attribute path of the value."""
    prefixes: tuple[tuple[str, str, str], ...] = ()
    """(original prefix, OCSF prefix, SQL condition over ``t``) for fields below a mapped JSON attribute,
    used when the condition holds (the attribute is written), else the field goes to ``unmapped``."""
    when_paths: tuple[tuple[str, str, str], ...] = ()
    """(original field path, OCSF attribute path, SQL condition over ``t``): the path of a field whose place
    depends on the row (e.g. the direction of a connection); checked before ``paths``."""
    profiles: tuple[str, ...] = ("cloud",)
    feature: str = "NULL"
    uid: str = "t.event_uid"
    severity_id: str = "1"
    extra_metadata: dict[str, str] = field(default_factory=dict)

    def path_sql(self, fld: str, typ: str) -> str:
        """SQL: the OCSF path of an observable with original path ``fld`` and cairn type ``typ``."""
        whens = [f"WHEN {fld} = {_lit(k)} AND ({cond}) THEN {_lit(v)}" for k, v, cond in self.when_paths]
        whens += [f"WHEN {fld} || '|' || {typ} = {_lit(k)} THEN {_lit(v)}" for k, v in self.paths.items()
                  if "|" in k]
        whens += [f"WHEN {fld} = {_lit(k)} THEN {_lit(v)}" for k, v in self.paths.items() if "|" not in k]
        whens += [f"WHEN starts_with({fld}, {_lit(p)}) AND ({cond}) THEN {_lit(o)} || substr({fld}, {len(p) + 1})"
                  for p, o, cond in self.prefixes]
        return f"(CASE {' '.join(whens)} ELSE 'unmapped.' || {fld} END)"


_CLOUD = "{{'provider': 'AWS', 'region': {region}, 'account': {{'uid': {account}}}}}"


def _cloud(region: str, account: str) -> str:
    return _CLOUD.format(region=region, account=account)


CLOUDTRAIL = OcsfClass(
    table="cloudtrail", class_uid=6003, class_name="API Activity", category_uid=6,
    category_name="Application Activity", activity_id="coalesce(t.activity_id, 0)",
    activities={0: "Unknown", 1: "Create", 2: "Read", 3: "Update", 4: "Delete", 99: "Other"},
    product="'CloudTrail'", feature="t.event_category", uid="coalesce(json_extract_string(t.raw, '$.eventID'), "
    "t.event_uid)",
    extra_metadata={"version": "t.event_version", "log_name": "t.event_type"},
    attributes={
        "status_id": "CASE t.status WHEN 'success' THEN 1 WHEN 'failure' THEN 2 ELSE 0 END",
        "status": "CASE t.status WHEN 'success' THEN 'Success' WHEN 'failure' THEN 'Failure' ELSE 'Unknown' END",
        "status_code": "t.error_code",
        "status_detail": "t.error_message",
        "actor": "{'user': {'uid': t.identity_arn, 'uid_alt': t.principal_id, 'name': t.user_name, "
                 "'type': t.identity_type, 'credential_uid': t.access_key_id, 'account': {'uid': t.account_id}}, "
                 "'session': CASE WHEN t.session_issuer_arn IS NOT NULL OR t.session_created IS NOT NULL THEN "
                 f"{{'issuer': t.session_issuer_arn, 'created_time': {_ms('t.session_created')}, "
                 "'is_mfa': t.mfa_authenticated, 'credential_uid': t.access_key_id} END, "
                 "'invoked_by': t.invoked_by}",
        "api": "{'operation': t.event_name, 'service': {'name': t.event_source}, "
               "'request': CASE WHEN t.request_id IS NOT NULL THEN {'uid': t.request_id, 'data': "
               "t.request_parameters} END, "
               "'response': CASE WHEN coalesce(t.error_code, t.error_message, "
               "CAST(t.response_elements AS VARCHAR)) IS NOT NULL THEN {'error': t.error_code, "
               "'message': t.error_message, 'data': t.response_elements} END}",
        "src_endpoint": "{'ip': t.src_ip, 'domain': t.src_domain, 'uid': t.vpc_endpoint_id, "
                        "'svc_name': CASE WHEN t.src_ip_kind IN ('service', 'aws_internal') "
                        "THEN t.source_ip_address END}",
        "dst_endpoint": "CASE WHEN t.client_host_header IS NOT NULL THEN "
                        "{'hostname': lower(rtrim(t.client_host_header, '.'))} END",
        "http_request": "CASE WHEN t.user_agent IS NOT NULL THEN {'user_agent': t.user_agent} END",
        "resources": "CASE WHEN len(t.resource_arns) > 0 THEN list_transform(t.resource_arns, "
                     "lambda a: {'uid': a}) END",
        "cloud": _cloud("t.aws_region", "t.recipient_account_id"),
    },
    paths={
        "sourceIPAddress|ip": "src_endpoint.ip",
        "sourceIPAddress|hostname": "src_endpoint.domain",
        "userIdentity.arn": "actor.user.uid",
        "userIdentity.sessionContext.sessionIssuer.arn": "actor.session.issuer",
        "userIdentity.accessKeyId": "actor.user.credential_uid",
        "userIdentity.accountId": "actor.user.account.uid",
        "userIdentity.userName": "actor.user.name",
        "recipientAccountId": "cloud.account.uid",
        "tlsDetails.clientProvidedHostHeader": "dst_endpoint.hostname",
        "resources[].ARN": "resources.uid",
    },
    prefixes=(("requestParameters.", "api.request.data.", "t.request_id IS NOT NULL"),
              ("responseElements.", "api.response.data.", "coalesce(t.error_code, t.error_message, "
               "CAST(t.response_elements AS VARCHAR)) IS NOT NULL")),
)

_FLOW_DIRECTION = "CASE t.flow_direction WHEN 'ingress' THEN 1 WHEN 'egress' THEN 2 ELSE 0 END"
_INGRESS = "coalesce(t.flow_direction = 'ingress', false)"
# The network interface a record was captured on (field, endpoint attribute): the destination of ingress
# traffic, else the source (egress; no flow-direction field: as AWS's v2 records, srcaddr first).
_FLOW_INTERFACE = (("instance-id", "instance_uid"), ("interface-id", "interface_uid"), ("vpc-id", "vpc_uid"),
                   ("subnet-id", "subnet_uid"))


def _flow_endpoint(ip: str, port: str, interface_side: str) -> str:
    """SQL struct of one flow endpoint; the interface's ids only on the side it is (``interface_side``)."""
    ids = ", ".join(f"'{a}': CASE WHEN {interface_side} THEN t.{f.replace('-', '_')} END" for f, a in _FLOW_INTERFACE)
    return f"{{'ip': {ip}, 'port': {port}, {ids}}}"
VPCFLOW = OcsfClass(
    table="vpcflow", class_uid=4001, class_name="Network Activity", category_uid=4,
    category_name="Network Activity", activity_id="6", activities={6: "Traffic"},
    product="'Amazon VPC'", feature="'Flowlogs'", profiles=("cloud", "security_control"),
    extra_metadata={"version": "CAST(t.version AS VARCHAR)"},
    attributes={
        "src_endpoint": _flow_endpoint("t.srcaddr", "t.srcport", f"NOT ({_INGRESS})"),
        "dst_endpoint": _flow_endpoint("t.dstaddr", "t.dstport", _INGRESS),
        "connection_info": "{'protocol_num': t.protocol, 'protocol_name': t.protocol_name, "
                           f"'direction_id': {_FLOW_DIRECTION}, "
                           "'direction': CASE t.flow_direction WHEN 'ingress' THEN 'Inbound' "
                           "WHEN 'egress' THEN 'Outbound' ELSE 'Unknown' END, 'tcp_flags': t.tcp_flags}",
        "traffic": "{'bytes': t.bytes, 'packets': t.packets}",
        "start_time": _ms("t.start_time"),
        "end_time": _ms("t.end_time"),
        "action_id": "CASE t.action WHEN 'ACCEPT' THEN 1 WHEN 'REJECT' THEN 2 ELSE 0 END",
        "action": "CASE t.action WHEN 'ACCEPT' THEN 'Allowed' WHEN 'REJECT' THEN 'Denied' ELSE 'Unknown' END",
        "disposition_id": "CASE t.action WHEN 'ACCEPT' THEN 1 WHEN 'REJECT' THEN 2 ELSE 0 END",
        "disposition": "CASE t.action WHEN 'ACCEPT' THEN 'Allowed' WHEN 'REJECT' THEN 'Blocked' ELSE 'Unknown' END",
        "status_code": "t.log_status",
        "cloud": _cloud("t.region", "nullif(t.account_id, 'unknown')"),
    },
    paths={
        "srcaddr": "src_endpoint.ip", "dstaddr": "dst_endpoint.ip", "account-id": "cloud.account.uid",
        "instance-id": "src_endpoint.instance_uid", "interface-id": "src_endpoint.interface_uid",
        "vpc-id": "src_endpoint.vpc_uid", "subnet-id": "src_endpoint.subnet_uid",
    },
    when_paths=tuple((f, f"dst_endpoint.{a}", _INGRESS) for f, a in _FLOW_INTERFACE),
)

ROUTE53 = OcsfClass(
    table="route53", class_uid=4003, class_name="DNS Activity", category_uid=4,
    category_name="Network Activity", activity_id="6", activities={6: "Traffic"},
    product="'Route 53'", feature="'Resolver Query Logs'", extra_metadata={"version": "t.version"},
    attributes={
        "query": "{'hostname': t.query_domain, 'type': t.query_type, 'class': t.query_class}",
        "answers": "CASE WHEN len(t.answer_rdata) > 0 THEN list_transform(range(1, len(t.answer_rdata) + 1), "
                   "lambda i: {'rdata': t.answer_rdata[i], 'type': t.answer_types[i]}) END",
        "rcode_id": "t.rcode_id",
        "rcode": "t.rcode",
        "query_time": _ms("t.query_time"),
        "src_endpoint": "{'ip': t.srcaddr, 'port': t.srcport, 'vpc_uid': t.vpc_id, 'instance_uid': t.instance_id}",
        "cloud": _cloud("t.region", "t.account_id"),
    },
    paths={
        "query_name": "query.hostname", "answers[].Rdata": "answers.rdata", "srcaddr": "src_endpoint.ip",
        "srcids.instance": "src_endpoint.instance_uid", "account_id": "cloud.account.uid",
    },
)

_FINDING_ACTIVITIES = {0: "Unknown", 1: "Create", 2: "Update", 3: "Close", 99: "Other"}


def _evidence(src: tuple[str, str, str], dst: tuple[str, str, str], operation: str, service: str,
              query: str) -> str:
    """SQL: ``evidences`` (one item) from the (ip, port, domain) SQL of the source and destination
    endpoints, the API operation and service, and the DNS query; NULL when none is known. An endpoint
    is written when its ip or domain is known."""
    (src_ip, src_port, src_domain), (dst_ip, dst_port, dst_domain) = src, dst
    return (
        f"CASE WHEN coalesce({src_ip}, {src_domain}, {dst_ip}, {dst_domain}, {operation}, {query}) IS NOT NULL "
        f"THEN [{{'src_endpoint': CASE WHEN coalesce({src_ip}, {src_domain}) IS NOT NULL THEN "
        f"{{'ip': {src_ip}, 'port': {src_port}, 'domain': {src_domain}}} END, "
        f"'dst_endpoint': CASE WHEN coalesce({dst_ip}, {dst_domain}) IS NOT NULL THEN "
        f"{{'ip': {dst_ip}, 'port': {dst_port}, 'domain': {dst_domain}}} END, "
        f"'api': CASE WHEN {operation} IS NOT NULL THEN {{'operation': {operation}, "
        f"'service': {{'name': {service}}}}} END, "
        f"'query': CASE WHEN {query} IS NOT NULL THEN {{'hostname': {query}}} END}}] END"
    )


_GD_OUTBOUND = "upper(t.connection_direction) = 'OUTBOUND'"
"""A GuardDuty connection the instance opened: the local end is the initiator (OCSF src_endpoint)."""


def _gd_side(outbound: str, otherwise: str) -> str:
    return f"CASE WHEN {_GD_OUTBOUND} THEN {outbound} ELSE {otherwise} END"


# GuardDuty endpoints: the remote address is the source (the caller of an API, the prober of a port probe,
# the peer of an INBOUND or UNKNOWN connection) except for OUTBOUND connections, where the instance is.
_GD_SRC = (_gd_side("t.local_ip", "t.remote_ip"), _gd_side("t.local_port", "t.remote_port"), "t.api_domain")
_GD_DST = (_gd_side("t.remote_ip", "t.local_ip"), _gd_side("t.remote_port", "t.local_port"), "NULL")
# ... and so do the observable paths of a connection's addresses: (field, OCSF path, condition), first match.
_GD_CONNECTION_PATHS = tuple(
    (f"service.action.networkConnectionAction.{end}IpDetails.ipAddressV{v}", f"evidences.{side}_endpoint.ip", cond)
    for v in (4, 6)
    for end, outbound_side, other_side in (("remote", "dst", "src"), ("local", "src", "dst"))
    for side, cond in ((outbound_side, _GD_OUTBOUND), (other_side, "TRUE")))


GUARDDUTY = OcsfClass(
    table="guardduty_findings", class_uid=2004, class_name="Detection Finding", category_uid=2,
    category_name="Findings", activity_id="coalesce(t.activity_id, 0)", activities=_FINDING_ACTIVITIES,
    product="'GuardDuty'", feature="t.feature_name", uid="t.finding_id", severity_id="coalesce(t.severity_id, 0)",
    extra_metadata={"version": "t.schema_version"}, when_paths=_GD_CONNECTION_PATHS,
    attributes={
        "finding_info": "{'uid': t.arn, 'title': t.title, 'desc': t.description, 'types': [t.type], "
                        f"'created_time': {_ms('t.created_at')}, 'modified_time': {_ms('t.updated_at')}, "
                        f"'first_seen_time': {_ms('t.first_seen')}, 'last_seen_time': {_ms('t.last_seen')}}}",
        "status_id": "CASE WHEN t.archived THEN 3 ELSE 1 END",
        "status": "CASE WHEN t.archived THEN 'Suppressed' ELSE 'New' END",
        "count": "CAST(t.count AS INTEGER)",
        "evidences": _evidence(_GD_SRC, _GD_DST, "t.api", "t.api_service_name", "t.dns_domain"),
        "resources": "CASE WHEN t.instance_id IS NOT NULL OR len(t.bucket_names) > 0 THEN list_concat("
                     "CASE WHEN t.instance_id IS NOT NULL THEN [{'uid': t.instance_id, 'type': t.resource_type}] "
                     "ELSE [] END, list_transform(coalesce(t.bucket_names, []), "
                     "lambda b: {'uid': b, 'type': 'S3Bucket'})) END",
        "cloud": _cloud("t.region", "t.account_id"),
    },
    paths={
        "service.action.dnsRequestAction.domain": "evidences.query.hostname",
        "service.action.awsApiCallAction.domainDetails.domain": "evidences.src_endpoint.domain",
        "resource.instanceDetails.instanceId": "resources.uid",
        "resource.s3BucketDetails[].name": "resources.uid",
        "accountId": "cloud.account.uid",
    },
)
# The remote / local address of the action sits at a path given by the row (remote_ip_field); the remote
# and local ends of a network connection swap places when the connection is OUTBOUND (see _GD_SRC).
_GD_REMOTE = [f"service.action.{a}.remoteIpDetails.ipAddressV{v}" for a in (
    "awsApiCallAction", "kubernetesApiCallAction", "rdsLoginAttemptAction") for v in (4, 6)]
GUARDDUTY.paths.update({p: "evidences.src_endpoint.ip" for p in _GD_REMOTE})
GUARDDUTY.paths.update({f"service.action.portProbeAction.portProbeDetails[].localIpDetails.ipAddressV{v}":
                        "evidences.dst_endpoint.ip" for v in (4, 6)})

SECURITYHUB = OcsfClass(
    table="securityhub_findings", class_uid=2004, class_name="Detection Finding", category_uid=2,
    category_name="Findings", activity_id="coalesce(t.activity_id, 0)", activities=_FINDING_ACTIVITIES,
    product="coalesce(t.product_name, 'Security Hub')", uid="t.finding_id",
    severity_id="coalesce(t.severity_id, 0)", extra_metadata={"version": "t.schema_version"},
    attributes={
        "finding_info": "{'uid': t.finding_id, 'title': t.title, 'desc': t.description, "
                        "'types': CASE WHEN len(t.types) > 0 THEN t.types END, "
                        f"'created_time': {_ms('t.created_at')}, 'modified_time': {_ms('t.updated_at')}, "
                        f"'first_seen_time': {_ms('t.first_observed_at')}, "
                        f"'last_seen_time': {_ms('t.last_observed_at')}, 'product_uid': t.product_arn}}",
        "status_id": "CASE WHEN t.workflow_status IS NULL THEN 0 WHEN t.workflow_status = 'NEW' THEN 1 "
                     "WHEN t.workflow_status = 'NOTIFIED' THEN 2 WHEN t.workflow_status = 'SUPPRESSED' THEN 3 "
                     "WHEN t.workflow_status = 'RESOLVED' THEN 4 ELSE 99 END",
        "status": "CASE t.workflow_status WHEN 'NEW' THEN 'New' WHEN 'NOTIFIED' THEN 'In Progress' "
                  "WHEN 'SUPPRESSED' THEN 'Suppressed' WHEN 'RESOLVED' THEN 'Resolved' ELSE t.workflow_status END",
        "confidence_score": "t.confidence",
        "message": "t.note_text",
        "evidences": _evidence(("t.src_ip", "t.src_port", "t.src_domain"), ("t.dst_ip", "t.dst_port", "t.dst_domain"),
                               "t.api", "t.api_service_name", "t.dns_domain"),
        "resources": "CASE WHEN len(t.resource_ids) > 0 THEN list_transform(range(1, len(t.resource_ids) + 1), "
                     "lambda i: {'uid': t.resource_ids[i], 'type': t.resource_types[i]}) END",
        "cloud": _cloud("t.region", "t.aws_account_id"),
    },
    paths={
        "Network.SourceIpV4/V6": "evidences.src_endpoint.ip",
        "Network.DestinationIpV4/V6": "evidences.dst_endpoint.ip",
        "Network.SourceDomain": "evidences.src_endpoint.domain",
        "Network.DestinationDomain": "evidences.dst_endpoint.domain",
        "Action.DnsRequestAction.Domain": "evidences.query.hostname",
        "Resources[].Id": "resources.uid",
        "AwsAccountId": "cloud.account.uid",
    },
)

CLASSES: dict[str, OcsfClass] = {c.table: c for c in (CLOUDTRAIL, VPCFLOW, ROUTE53, GUARDDUTY, SECURITYHUB)}


def _type_sql(typ: str) -> tuple[str, str]:
    ids = {k: str(v[0]) for k, v in OBSERVABLE_TYPES.items()}
    caps = {k: v[1] for k, v in OBSERVABLE_TYPES.items()}
    ids_case = "CASE " + typ + " " + " ".join(f"WHEN {_lit(k)} THEN {v}" for k, v in ids.items()) + " ELSE 99 END"
    return ids_case, _case(typ, caps, "'Other'")


def _reputation(e: str) -> str:
    return (f"CASE WHEN {e}.score_id > 0 THEN {{'score_id': {e}.score_id, 'score': {e}.score, "
            f"'provider': coalesce(nullif(array_to_string({e}.verdict_sources, ', '), ''), 'cairn'), "
            f"'base_score': CAST({e}.score_id AS DOUBLE)}} END")


def ocsf_sql(table: str, relation: str, matches: str | None = None) -> str:
    """SELECT ``event_uid, ocsf`` (the OCSF event as JSON text) for the rows of ``relation``, a relation
    shaped like ``<table>_enriched`` (the table's columns, ``max_score_id``, ``enrichment``); ``matches``
    (shaped like ``intel_matches``) adds each observable's indicator matches to its enrichment data."""
    c = CLASSES[table]
    path = c.path_sql("e.field", "e.type")
    path2 = c.path_sql("e2.field", "e2.type")
    type_id, type_cap = _type_sql("e.type")
    act = f"({c.activity_id})"
    meta = {
        "version": _lit(OCSF_VERSION),
        "product": f"{{'name': {c.product}, 'vendor_name': 'AWS', 'version': "
                   f"{c.extra_metadata.get('version', 'NULL')}, 'feature': CASE WHEN {c.feature} IS NOT NULL "
                   f"THEN {{'name': {c.feature}}} END}}",
        "uid": c.uid,
        "log_name": c.extra_metadata.get("log_name", "NULL"),
        "profiles": "[" + ", ".join(_lit(p) for p in c.profiles) + "]",
    }
    meta_sql = "{" + ", ".join(f"{_lit(k)}: {v}" for k, v in meta.items()) + "}"
    observables = (
        f"list_transform(list_sort(coalesce(t.enrichment, [])), lambda e: {{'name': {path}, 'type_id': {type_id}, "
        f"'type': {type_cap}, 'value': e.value, 'reputation': {_reputation('e')}}})"
    )
    m_list = "coalesce(m.matches, [])" if matches else "[]"
    match_data = (
        f"list_transform(list_filter({m_list}, lambda x: x.field = e.field AND x.value = e.value), "
        "lambda x: x.match)" if matches else "[]"
    )
    rep_data = (
        f"{{'field': e.field, 'type': e.type, 'score_id': e.score_id, 'score': e.score, "
        f"'sources': e.verdict_sources, 'why': e.why, 'warninglists': e.warninglists, 'matches': {match_data}}}"
    )
    own_data = (
        "{'field': e.field, 'asn': e.asn, 'as_org': e.as_org, 'country': e.country, "
        "'cloud_provider': e.cloud_provider, 'cloud_service': e.cloud_service, 'cloud_region': e.cloud_region, "
        "'is_tor': e.is_tor, 'special_range': e.special_range, 'registrable_domain': e.registrable_domain}"
    )
    org_data = (
        "{'field': e.field, 'account_id': e.account_id, 'account_name': e.account_name, "
        "'account_environment': e.account_environment, 'ou_path': e.ou_path, 'account_owner': e.account_owner, "
        "'network_zone': e.network_zone, 'network_name': e.network_name, 'identity_person': e.identity_person, "
        "'identity_team': e.identity_team, 'asset_owner': e.asset_owner, 'asset_criticality': e.asset_criticality}"
    )
    has_rep = "e.score_id > 0 OR len(e.verdict_sources) > 0 OR e.warninglist_hit"
    has_own = ("coalesce(CAST(e.asn AS VARCHAR), e.as_org, e.country, e.cloud_provider, e.special_range, "
               "e.registrable_domain) IS NOT NULL OR e.is_tor")
    has_org = ("coalesce(e.account_name, e.account_owner, e.network_zone, e.network_name, e.identity_person, "
               "e.identity_team, e.asset_owner, e.asset_criticality) IS NOT NULL")

    def enr(cond: str, kind: str, provider: str, data: str) -> str:
        return (f"list_transform(list_filter(list_sort(coalesce(t.enrichment, [])), lambda e: {cond}), lambda e: "
                f"{{'name': {path}, 'value': e.value, 'type': {_lit(kind)}, 'provider': {provider}, "
                f"'data': {data}}})")

    enrichments = "list_concat(" + ", ".join([
        enr(has_rep, "reputation", "coalesce(nullif(array_to_string(e.verdict_sources, ', '), ''), 'cairn')",
            rep_data),
        enr(has_own, "ownership", "'cairn'", own_data),
        enr(has_org, "organisation", "'cairn context'", org_data),
    ]) + ")"
    unmapped = (
        f"map_from_entries(list_transform(list_sort(list_distinct(list_transform(list_filter("
        f"coalesce(t.enrichment, []), lambda e: starts_with({path}, 'unmapped.')), lambda e: e.field))), "
        f"lambda f: {{'k': f, 'v': list_sort(list_distinct(list_transform(list_filter(coalesce(t.enrichment, []), "
        f"lambda e2: e2.field = f AND starts_with({path2}, 'unmapped.')), lambda e2: e2.value)))}}))"
    )
    head = {
        "class_uid": str(c.class_uid), "class_name": _lit(c.class_name),
        "category_uid": str(c.category_uid), "category_name": _lit(c.category_name),
        "activity_id": act, "activity_name": _case(act, c.activities, "'Other'"),
        "type_uid": f"CAST({c.class_uid} * 100 + {act} AS BIGINT)",
        "type_name": _lit(c.class_name + ": ") + " || " + _case(act, c.activities, "'Other'"),
        "severity_id": f"({c.severity_id})", "severity": _case(f"({c.severity_id})", SEVERITY, "'Other'"),
        "time": _ms("t.event_time"),
        "metadata": meta_sql,
    }
    body = {**head, **c.attributes, "observables": observables, "enrichments": enrichments, "unmapped": unmapped}
    struct = "{" + ", ".join(f"{_lit(k)}: {v}" for k, v in body.items()) + "}"
    join = ""
    if matches:
        join = (
            f"LEFT JOIN (SELECT event_uid, list({{'field': field, 'value': value, 'match': {{"
            f"'source': intel_source, 'indicator': matched, 'match_kind': match_kind, 'most_specific': most_specific, "
            f"'feed_version': feed_version, 'confidence': confidence, 'threat_type': threat_type, "
            f"'malware_family': malware_family, 'score_id': score_id}}}} ORDER BY intel_source, matched) AS matches "
            f"FROM {matches} WHERE source = {_lit(table)} GROUP BY event_uid) m ON m.event_uid = t.event_uid"
        )
    return f"SELECT t.event_uid, to_json({struct}) AS ocsf FROM {relation} t {join} ORDER BY t.event_time, t.event_uid"


_KEEP_EMPTY = ("src_endpoint", "dst_endpoint")
"""Required endpoint objects stay (empty) when a record has no address, e.g. VPC flow NODATA records."""


def _opaque(parent: str | None, key: str) -> bool:
    """JSON attributes holding the source's own content (``api.request.data`` = ``requestParameters``,
    ``api.response.data``, the top-level ``unmapped``): written as they are, their nulls, empty lists and
    objects and array positions kept."""
    return (key == "data" and parent in ("request", "response")) or (key == "unmapped" and parent is None)


def strip_nulls(value: Any, parent: str | None = None) -> Any:
    """Drop null attributes, and empty lists and objects other than the top level (OCSF omits what is
    unknown); the content of :func:`_opaque` attributes is the source's and is left alone."""
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if _opaque(parent, k):
                if v is not None and not (k == "unmapped" and v == {}):
                    out[k] = v
                continue
            v = strip_nulls(v, k)
            if v is None or v == [] or (v == {} and k not in _KEEP_EMPTY):
                continue
            out[k] = v
        return out
    if isinstance(value, list):
        return [strip_nulls(v, parent) for v in value if v is not None]
    return value


def iter_events(engine: DuckDBEngine, table: str, relation: str, matches: str | None = None,
                batch_rows: int = 10_000) -> Iterator[dict[str, Any]]:
    """The OCSF events of ``relation`` (see :func:`ocsf_sql`) as dicts, streamed in batches."""
    try:
        reader = engine.con.sql(ocsf_sql(table, relation, matches)).to_arrow_reader(batch_rows)
    except duckdb.Error as exc:
        raise EngineError(f"OCSF mapping of {table} failed: {exc}") from exc
    for batch in reader:
        for text in batch.column("ocsf").to_pylist():
            yield strip_nulls(json.loads(text))
