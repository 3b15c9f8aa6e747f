"""Resource tags of one account: EC2 instances (per region), IAM users and roles, S3 buckets.

Calls per account: ``DescribeInstances`` per region (paginated, tags included),
``GetAccountAuthorizationDetails`` (paginated, users and roles with their tags in one listing),
``ListBuckets`` and one ``GetBucketTagging`` per bucket.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cairn.context.aws.clients import Clients, error_code
from cairn.errors import RemoteError


@dataclass
class Resource:
    """One tagged (or untagged) resource."""

    arn: str
    resource_type: str
    """ec2:instance, iam:user, iam:role, s3:bucket."""
    name: str | None
    account_id: str
    region: str | None
    tags: dict[str, str] = field(default_factory=dict)


def _tags(items: list[dict[str, Any]] | None) -> dict[str, str]:
    return {t["Key"]: t.get("Value", "") for t in items or [] if "Key" in t}


def read_resources(clients: Clients, account: str, regions: tuple[str, ...], partition: str = "aws"
                   ) -> tuple[list[Resource], list[str]]:
    """Resources of ``account`` and the notes of what could not be read (access denied per service)."""
    from botocore.exceptions import ClientError

    out: list[Resource] = []
    notes: list[str] = []
    for region in regions or (clients.region,):
        ec2 = clients.for_account("ec2", account, region=region)
        try:
            for page in clients.pages(ec2, "describe_instances"):
                for res in page.get("Reservations", []):
                    for i in res.get("Instances", []):
                        tags = _tags(i.get("Tags"))
                        out.append(Resource(f"arn:{partition}:ec2:{region}:{account}:instance/{i['InstanceId']}",
                                            "ec2:instance", tags.get("Name"), account, region, tags))
        except ClientError as exc:
            _denied(exc, notes, f"ec2 DescribeInstances {region}")
    iam = clients.for_account("iam", account)
    try:
        for page in clients.pages(iam, "get_account_authorization_details", Filter=["User", "Role"]):
            for u in page.get("UserDetailList", []):
                out.append(Resource(u["Arn"], "iam:user", u.get("UserName"), account, None, _tags(u.get("Tags"))))
            for r in page.get("RoleDetailList", []):
                out.append(Resource(r["Arn"], "iam:role", r.get("RoleName"), account, None, _tags(r.get("Tags"))))
    except ClientError as exc:
        _denied(exc, notes, "iam GetAccountAuthorizationDetails")
    s3 = clients.for_account("s3", account)
    try:
        buckets = [b for page in clients.pages(s3, "list_buckets") for b in page.get("Buckets", [])]
    except ClientError as exc:
        _denied(exc, notes, "s3 ListBuckets")
        buckets = []
    for b in buckets:
        try:
            tags = _tags(clients.call(s3, "get_bucket_tagging", Bucket=b["Name"]).get("TagSet"))
        except ClientError as exc:
            if error_code(exc) not in ("NoSuchTagSet", "NoSuchTagSetError"):
                _denied(exc, notes, f"s3 GetBucketTagging {b['Name']}")
            tags = {}
        out.append(Resource(f"arn:{partition}:s3:::{b['Name']}", "s3:bucket", b["Name"], account,
                            b.get("BucketRegion"), tags))
    return out, notes


def _denied(exc: Exception, notes: list[str], what: str) -> None:
    code = error_code(exc)
    if code in ("AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "AuthFailure"):
        notes.append(f"{what}: access denied")
        return
    raise RemoteError(f"{what}: {code or exc}") from exc
