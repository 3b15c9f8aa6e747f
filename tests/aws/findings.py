"""ASFF findings and EventBridge events for the AWS tests (shaped like real Security Hub output)."""

from __future__ import annotations

from typing import Any

REGION = "us-east-1"
GD_PRODUCT = f"arn:aws:securityhub:{REGION}::product/aws/guardduty"
CSPM_PRODUCT = f"arn:aws:securityhub:{REGION}::product/aws/securityhub"


def gd_finding(n: int, account: str, *, ip: str | None = None, domain: str | None = None,
               instance: str | None = None, updated: str = "2026-11-27T10:00:00.000Z") -> dict[str, Any]:
    """A GuardDuty finding as Security Hub holds it (Id = the GuardDuty finding ARN)."""
    fid = f"arn:aws:guardduty:{REGION}:{account}:detector/12abc34d567e8fa901bc2d34e56789f0/finding/{n:032x}"
    res = [{"Type": "AwsEc2Instance", "Partition": "aws", "Region": REGION,
            "Id": f"arn:aws:ec2:{REGION}:{account}:instance/{instance}"}] if instance else \
        [{"Type": "AwsAccount", "Partition": "aws", "Region": REGION, "Id": f"AWS::::Account:{account}"}]
    f: dict[str, Any] = {
        "SchemaVersion": "2018-10-08", "Id": fid, "ProductArn": GD_PRODUCT,
        "GeneratorId": f"arn:aws:guardduty:{REGION}:{account}:detector/12abc34d567e8fa901bc2d34e56789f0",
        "AwsAccountId": account, "Types": ["TTPs/Command and Control/Backdoor:EC2-C&CActivity.B"],
        "CreatedAt": "2026-11-27T09:00:00.000Z", "UpdatedAt": updated,
        "Severity": {"Label": "HIGH", "Normalized": 70, "Original": "8"},
        "Title": "EC2 instance is querying a command and control server.",
        "Description": "An EC2 instance is communicating with a known command and control server.",
        "Resources": res, "ProductName": "GuardDuty", "CompanyName": "Amazon", "Region": REGION,
        "RecordState": "ACTIVE", "Workflow": {"Status": "NEW"},
    }
    if ip:
        f["Action"] = {"ActionType": "NETWORK_CONNECTION", "NetworkConnectionAction": {
            "ConnectionDirection": "OUTBOUND", "Protocol": "TCP", "Blocked": False,
            "RemoteIpDetails": {"IpAddressV4": ip, "Organization": {"Asn": 64500, "AsnOrg": "Example"}}}}
    if domain:
        f["Network"] = {"Direction": "OUT", "DestinationDomain": domain}
    return f


def cspm_finding(n: int, account: str, *, updated: str = "2026-11-27T10:00:00.000Z") -> dict[str, Any]:
    """A Security Hub CSPM control finding (no network observables)."""
    return {
        "SchemaVersion": "2018-10-08", "ProductArn": CSPM_PRODUCT,
        "Id": f"arn:aws:securityhub:{REGION}:{account}:security-control/S3.8/finding/{n:08d}-aaaa-bbbb-cccc-dddd",
        "GeneratorId": "security-control/S3.8", "AwsAccountId": account,
        "Types": ["Software and Configuration Checks/Industry and Regulatory Standards"],
        "CreatedAt": "2026-11-20T09:00:00.000Z", "UpdatedAt": updated,
        "Severity": {"Label": "HIGH", "Original": "HIGH"},
        "Title": "S3 general purpose buckets should block public access",
        "Description": "This control checks whether an S3 general purpose bucket blocks public access.",
        "Resources": [{"Type": "AwsS3Bucket", "Partition": "aws", "Region": REGION,
                       "Id": f"arn:aws:s3:::bucket-{account}-{n % 3}"}],
        "Compliance": {"Status": "FAILED", "SecurityControlId": "S3.8"},
        "ProductName": "Security Hub", "CompanyName": "AWS", "Region": REGION, "RecordState": "ACTIVE",
        "Workflow": {"Status": "NEW"},
    }


def imported_event(finding: dict[str, Any], event_id: str = "evt-1") -> dict[str, Any]:
    """The EventBridge event Security Hub emits for an import (or a BatchUpdateFindings)."""
    return {"version": "0", "id": event_id, "detail-type": "Security Hub Findings - Imported",
            "source": "aws.securityhub", "account": finding["AwsAccountId"], "time": finding["UpdatedAt"],
            "region": REGION, "resources": [f"{finding['ProductArn']}/{finding['Id']}"],
            "detail": {"findings": [finding]}}


def guardduty_event(account: str, n: int, event_id: str = "evt-gd") -> dict[str, Any]:
    """An EventBridge "GuardDuty Finding" event (camelCase finding in detail)."""
    arn = f"arn:aws:guardduty:{REGION}:{account}:detector/12abc34d567e8fa901bc2d34e56789f0/finding/{n:032x}"
    return {"version": "0", "id": event_id, "detail-type": "GuardDuty Finding", "source": "aws.guardduty",
            "account": account, "time": "2026-11-27T10:00:00Z", "region": REGION, "resources": [],
            "detail": {"schemaVersion": "2.0", "accountId": account, "region": REGION, "partition": "aws",
                       "id": f"{n:032x}", "arn": arn, "type": "Backdoor:EC2/C&CActivity.B",
                       "resource": {"resourceType": "Instance"}, "service": {"serviceName": "guardduty",
                                                                              "count": 1},
                       "severity": 8, "createdAt": "2026-11-27T09:00:00.000Z",
                       "updatedAt": "2026-11-27T10:00:00.000Z", "title": "C&C activity"}}
