"""Which Sigma log sources cairn serves, and how their field names map onto lake columns.

A :class:`Profile` ties Sigma log sources (``product: aws, service: cloudtrail``) to one lake table
and maps the rule's field names, which are paths in the *original* record (``eventName``,
``userIdentity.arn``, ``requestParameters.bucketName``), onto a **cairn field reference**:

- a column of the table (``event_name``): typed and fast; cairn's own column names are accepted
  as Sigma field names too (``status: success`` on CloudTrail, ``src_ip|cidr: ...``);
- ``<json column>.<path>`` (``request_parameters.bucketName``, ``raw.tlsDetails.cipherSuite``):
  read with ``json_extract_string`` from the JSON column that holds that part of the record.
  ``[]`` after a key means "any element of this array" (``requestParameters.ipPermissions.items[]
  .ipRanges.items[].cidrIp``); a profile also knows some arrays itself (EC2's ``items`` wrappers,
  ECS ``containerDefinitions``) and inserts the ``[]`` for the rule author.

A name that is none of these is left as it is, and the backend refuses it as an unknown field.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from cairn.sources.vpcflow import FIELDS as _VPCFLOW_FIELDS


@dataclass(frozen=True)
class Profile:
    """How one lake table answers the rules of its Sigma log sources."""

    table: str
    logsources: tuple[tuple[str | None, str | None, str | None], ...]
    """(category, product, service) triples this table serves."""
    fields: Mapping[str, str]
    """Sigma field name -> cairn field reference (a column, or ``<json column>.<path>``)."""
    json_roots: Mapping[str, str] = field(default_factory=dict)
    """First key of a Sigma path -> the JSON column holding that sub-object."""
    raw_keys: frozenset[str] | None = frozenset()
    """Top-level record keys read from ``raw`` (None: any key; empty: raw is not a JSON object)."""
    array_keys: frozenset[str] = frozenset()
    """Keys that always hold an array in this source (``[]`` is added after them)."""
    cidr_columns: Mapping[str, str] = field(default_factory=dict)
    """Text column -> its 16-byte form, besides the ``<column>_bin`` convention."""
    entity_columns: tuple[str, ...] = ()
    """Columns copied into every match's ``entities`` (who, from where, which resource)."""
    common: Mapping[str, str] = field(default_factory=dict)
    """``principal_arn``, ``src_ip``, ``account_id``, ``aws_region`` of a match -> this table's column."""

    def describe(self) -> str:
        """The log sources as ``product/service`` text."""
        return ", ".join("/".join(p for p in ls if p) for ls in self.logsources)

    def map_field(self, name: str | None) -> str | None:
        """The cairn field reference of a Sigma field name not in ``fields``; unknown names are
        returned unchanged (the backend names them in its error)."""
        if name is None:
            return None
        if name in self.fields:
            return self.fields[name]
        segments = split_path(name)
        first = segments[0]
        if first in self.json_roots:
            return self._with_arrays(self.json_roots[first], segments[1:])
        if self.raw_keys is None or first in self.raw_keys:
            return self._with_arrays("raw", segments)
        return name

    def _with_arrays(self, column: str, segments: list[str]) -> str:
        out: list[str] = []
        for i, seg in enumerate(segments):
            out.append(seg)
            more = i + 1 < len(segments) and segments[i + 1] != "[]"
            if more and seg in self.array_keys:
                out.append("[]")
        return column + "".join(s if s == "[]" else "." + s for s in out)


def split_path(name: str) -> list[str]:
    """``a.b[].c`` -> ``['a', 'b', '[]', 'c']`` (``[*]`` is read as ``[]``)."""
    out: list[str] = []
    for part in name.replace("[*]", "[]").split("."):
        arrays = 0
        while part.endswith("[]"):
            part, arrays = part[:-2], arrays + 1
        if part:
            out.append(part)
        out.extend(["[]"] * arrays)
    return out


# Top-level keys of a CloudTrail record (the CloudTrail record contents reference).
_CLOUDTRAIL_KEYS = frozenset({
    "eventTime", "eventVersion", "userIdentity", "eventSource", "eventName", "awsRegion",
    "sourceIPAddress", "userAgent", "errorCode", "errorMessage", "requestParameters",
    "responseElements", "additionalEventData", "requestID", "eventID", "eventType", "apiVersion",
    "managementEvent", "readOnly", "resources", "recipientAccountId", "serviceEventDetails",
    "sharedEventID", "vpcEndpointId", "vpcEndpointAccountId", "eventCategory", "addendum",
    "sessionCredentialFromConsole", "edgeDeviceDetails", "tlsDetails", "insightDetails",
})

CLOUDTRAIL = Profile(
    table="cloudtrail",
    logsources=((None, "aws", "cloudtrail"),),
    fields={
        "eventVersion": "event_version",
        "eventSource": "event_source",
        "eventName": "event_name",
        "eventType": "event_type",
        "eventCategory": "event_category",
        "awsRegion": "aws_region",
        "sourceIPAddress": "source_ip_address",
        "userAgent": "user_agent",
        "errorCode": "error_code",
        "errorMessage": "error_message",
        "readOnly": "read_only",
        "managementEvent": "management_event",
        "recipientAccountId": "recipient_account_id",
        "sharedEventID": "shared_event_id",
        "requestID": "request_id",
        "vpcEndpointId": "vpc_endpoint_id",
        "tlsDetails.tlsVersion": "tls_version",
        "tlsDetails.clientProvidedHostHeader": "client_host_header",
        "userIdentity": "user_identity",
        "userIdentity.type": "identity_type",
        "userIdentity.principalId": "principal_id",
        "userIdentity.arn": "identity_arn",
        "userIdentity.accountId": "account_id",
        "userIdentity.accessKeyId": "access_key_id",
        "userIdentity.userName": "user_name",
        "userIdentity.invokedBy": "invoked_by",
        "userIdentity.onBehalfOf.userId": "identity_store_user_id",
        "userIdentity.sessionContext.sourceIdentity": "source_identity",
        "userIdentity.sessionContext.sessionIssuer.arn": "session_issuer_arn",
        "userIdentity.sessionContext.sessionIssuer.type": "session_issuer_type",
        "userIdentity.sessionContext.attributes.mfaAuthenticated": "mfa_authenticated",
        "requestParameters": "request_parameters",
        "responseElements": "response_elements",
        "additionalEventData": "additional_event_data",
        "resources": "resources",
        "resources.ARN": "resource_arns",
        "resources[].ARN": "resource_arns",
    },
    json_roots={
        "requestParameters": "request_parameters",
        "responseElements": "response_elements",
        "additionalEventData": "additional_event_data",
        "userIdentity": "user_identity",
        "resources": "resources[]",
    },
    raw_keys=_CLOUDTRAIL_KEYS,
    array_keys=frozenset({"items", "containerDefinitions"}),
    cidr_columns={"source_ip_address": "src_ip_bin"},
    entity_columns=("principal_arn", "identity_arn", "user_name", "access_key_id", "src_ip",
                    "source_ip_address", "user_agent", "account_id", "aws_region", "event_source",
                    "event_name"),
    common={"principal_arn": "principal_arn", "src_ip": "src_ip", "account_id": "account_id",
            "aws_region": "aws_region"},
)

# VPC flow records are text lines: only the columns can be matched (raw is not an object).
# Both AWS field names (``srcaddr``, ``log-status``) and the Sigma network taxonomy are accepted.
VPCFLOW = Profile(
    table="vpcflow",
    logsources=((None, "aws", "vpcflow"), (None, "aws", "vpc_flow"), (None, "aws", "vpcflowlogs")),
    fields={
        **{name: column for name, column, *_ in _VPCFLOW_FIELDS},
        "src_ip": "srcaddr", "dst_ip": "dstaddr", "src_port": "srcport", "dst_port": "dstport",
    },
    raw_keys=frozenset(),
    entity_columns=("account_id", "interface_id", "instance_id", "srcaddr", "dstaddr", "dstport",
                    "action", "region"),
    common={"src_ip": "srcaddr", "account_id": "account_id", "aws_region": "region"},
)

ROUTE53 = Profile(
    table="route53",
    logsources=((None, "aws", "route53"), (None, "aws", "route53resolver"), ("dns", "aws", None)),
    fields={
        "query_timestamp": "query_time",
        "srcids.instance": "instance_id",
        "srcids.resolver_endpoint": "resolver_endpoint_id",
        "answers.Rdata": "answer_rdata", "answers[].Rdata": "answer_rdata",
        "answers.Type": "answer_types", "answers[].Type": "answer_types",
        # Sigma dns taxonomy
        "query": "query_domain", "record_type": "query_type", "answer": "answer_rdata",
        "src_ip": "srcaddr", "src_port": "srcport",
    },
    json_roots={"srcids": "srcids", "answers": "answers[]"},
    raw_keys=None,
    entity_columns=("account_id", "vpc_id", "instance_id", "srcaddr", "query_domain", "region"),
    common={"src_ip": "srcaddr", "account_id": "account_id", "aws_region": "region"},
)

GUARDDUTY = Profile(
    table="guardduty_findings",
    logsources=((None, "aws", "guardduty"),),
    fields={
        "id": "finding_id", "accountId": "account_id", "schemaVersion": "schema_version",
        "service.count": "count", "service.archived": "archived", "service.detectorId": "detector_id",
        "service.resourceRole": "resource_role", "service.featureName": "feature_name",
        "service.action.actionType": "action_type",
        "service.action.awsApiCallAction.api": "api",
        "service.action.awsApiCallAction.serviceName": "api_service_name",
        "service.action.awsApiCallAction.callerType": "caller_type",
        "service.action.awsApiCallAction.errorCode": "error_code",
        "service.action.awsApiCallAction.userAgent": "user_agent",
        "service.action.awsApiCallAction.remoteAccountDetails.accountId": "remote_account_id",
        "service.action.dnsRequestAction.domain": "dns_domain",
        "service.additionalInfo.sample": "sample",
        "resource.resourceType": "resource_type",
        "resource.accessKeyDetails.accessKeyId": "access_key_id",
        "resource.accessKeyDetails.principalId": "principal_id",
        "resource.accessKeyDetails.userName": "user_name",
        "resource.accessKeyDetails.userType": "user_type",
        "resource.instanceDetails.instanceId": "instance_id",
    },
    raw_keys=None,
    cidr_columns={},
    entity_columns=("account_id", "region", "type", "severity", "resource_type", "instance_id",
                    "access_key_id", "user_name", "remote_ip"),
    common={"src_ip": "remote_ip", "account_id": "account_id", "aws_region": "region"},
)

SECURITYHUB = Profile(
    table="securityhub_findings",
    logsources=((None, "aws", "securityhub"),),
    fields={
        "Id": "finding_id", "SchemaVersion": "schema_version", "ProductArn": "product_arn",
        "ProductName": "product_name", "CompanyName": "company_name", "GeneratorId": "generator_id",
        "AwsAccountId": "aws_account_id", "Region": "region", "Types": "types", "Title": "title",
        "Description": "description", "Severity.Label": "severity_label",
        "Severity.Normalized": "severity_normalized", "Severity.Original": "severity_original",
        "Confidence": "confidence", "Criticality": "criticality", "RecordState": "record_state",
        "Workflow.Status": "workflow_status", "Compliance.Status": "compliance_status",
        "Compliance.SecurityControlId": "security_control_id",
        "VerificationState": "verification_state", "Resources": "resources",
        "Resources.Type": "resource_types", "Resources[].Type": "resource_types",
        "Resources.Id": "resource_ids", "Resources[].Id": "resource_ids",
        "Network.Direction": "network_direction", "Network.Protocol": "network_protocol",
        "Network.SourcePort": "src_port", "Network.DestinationPort": "dst_port",
        "Network.SourceDomain": "src_domain", "Network.DestinationDomain": "dst_domain",
        "Action": "action", "Action.ActionType": "action_type",
        "Action.AwsApiCallAction.Api": "api", "Action.AwsApiCallAction.ServiceName": "api_service_name",
        "Action.AwsApiCallAction.CallerType": "caller_type",
        "Action.DnsRequestAction.Domain": "dns_domain",
        "ProductFields": "product_fields", "UserDefinedFields": "user_defined_fields",
    },
    json_roots={"ProductFields": "product_fields", "UserDefinedFields": "user_defined_fields",
                "Action": "action"},
    raw_keys=None,
    entity_columns=("aws_account_id", "region", "product_name", "severity_label", "src_ip",
                    "remote_ip"),
    common={"src_ip": "src_ip", "account_id": "aws_account_id", "aws_region": "region"},
)

PROFILES: dict[str, Profile] = {p.table: p for p in (CLOUDTRAIL, VPCFLOW, ROUTE53, GUARDDUTY, SECURITYHUB)}
"""Lake table -> its profile."""
