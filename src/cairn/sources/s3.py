"""Reading inputs from S3 through boto3 (no engine extension needed)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cairn.config import AwsSettings
from cairn.errors import InputError, RemoteError


@dataclass(frozen=True)
class S3Object:
    """An object found under an S3 prefix."""

    bucket: str
    key: str
    size: int

    @property
    def origin(self) -> str:
        """``s3://bucket/key``."""
        return f"s3://{self.bucket}/{self.key}"


def parse_s3_url(url: str) -> tuple[str, str]:
    """Split ``s3://bucket/prefix`` into bucket and prefix."""
    if not url.startswith("s3://"):
        raise InputError("not an s3:// URL", origin=url)
    rest = url[5:]
    bucket, _, prefix = rest.partition("/")
    if not bucket:
        raise InputError("S3 URL has no bucket name", origin=url)
    return bucket, prefix


def client(settings: AwsSettings) -> Any:
    """A boto3 S3 client honouring the ``[aws]`` settings."""
    import boto3

    session = boto3.session.Session(profile_name=settings.profile or None)
    return session.client(
        "s3",
        region_name=settings.region or None,
        endpoint_url=settings.endpoint_url or None,
    )


def list_objects(s3: Any, url: str) -> Iterator[S3Object]:
    """Every object under an S3 prefix (or the single object the URL names)."""
    from botocore.exceptions import BotoCoreError, ClientError

    bucket, prefix = parse_s3_url(url)
    try:
        found = False
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for obj in page.get("Contents", []):
                if obj["Key"].endswith("/"):
                    continue
                found = True
                yield S3Object(bucket, obj["Key"], int(obj["Size"]))
        if not found:
            raise InputError("no objects under this S3 prefix", origin=url)
    except (BotoCoreError, ClientError) as exc:
        raise RemoteError(f"{url}: cannot list objects: {exc}") from exc


def download(s3: Any, obj: S3Object, dest_root: Path) -> Path:
    """Download an object below ``dest_root`` and return the local path."""
    from botocore.exceptions import BotoCoreError, ClientError

    dest = dest_root / obj.bucket / obj.key
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        s3.download_file(obj.bucket, obj.key, str(dest))
    except (BotoCoreError, ClientError) as exc:
        raise RemoteError(f"{obj.origin}: cannot download: {exc}") from exc
    return dest
