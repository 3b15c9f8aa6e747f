"""Reading inputs from S3 through boto3 (no engine extension needed)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cairn.config import AwsSettings
from cairn.errors import InputError, RemoteError, WorkspaceError


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
    """Every object under an S3 prefix (or the single object the URL names).

    A URL that is exactly the key of an object (and does not end in ``/``) names that
    object only: ``s3://b/trail/a.json`` is not also ``trail/a.json.old``. Any other URL
    is a prefix. Keys ending in ``/`` (folder markers) are not objects to read.
    """
    from botocore.exceptions import BotoCoreError, ClientError

    bucket, prefix = parse_s3_url(url)
    try:
        found = False
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for obj in page.get("Contents", []):
                key = obj["Key"]
                if key == prefix and prefix and not prefix.endswith("/"):
                    # Keys are listed in order and the prefix itself sorts first.
                    yield S3Object(bucket, key, int(obj["Size"]))
                    return
                if key.endswith("/"):
                    continue
                found = True
                yield S3Object(bucket, key, int(obj["Size"]))
        if not found:
            raise InputError("no objects under this S3 prefix", origin=url)
    except (BotoCoreError, ClientError) as exc:
        raise RemoteError(f"{url}: cannot list objects: {exc}") from exc


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")
_NAME_MAX = 100


def local_name(obj: S3Object) -> str:
    """A safe file name for ``obj``: the key's last segment, other characters than letters,
    digits, ``.``, ``_`` and ``-`` replaced by ``_``, never hidden, ``.`` or ``..``.

    The end of the name is kept (``.json.gz``, ``.parquet``, ``.log``). Nothing reads meaning
    from it: sources and skips look at the origin (``s3://bucket/key``).
    """
    name = _UNSAFE.sub("_", obj.key.rsplit("/", 1)[-1])[-_NAME_MAX:]
    if name.startswith("."):
        name = "_" + name[1:]
    return name or "object"


def local_path(obj: S3Object, dest_root: Path) -> Path:
    """Where ``obj`` is downloaded below ``dest_root``: a folder of its own named by a
    hash of bucket and key, holding :func:`local_name`.

    The key's path segments (``..``, a leading ``/``, ``//``, a key that is also a
    "folder" of another) play no part: two objects never share a path, and no path
    leaves ``dest_root``.
    """
    digest = hashlib.sha256(f"{obj.bucket}\0{obj.key}".encode("utf-8", "surrogatepass")).hexdigest()[:32]
    return dest_root / digest / local_name(obj)


def download(s3: Any, obj: S3Object, dest_root: Path) -> Path:
    """Download an object below ``dest_root`` (see :func:`local_path`) and return the local path."""
    from boto3.exceptions import Boto3Error
    from botocore.exceptions import BotoCoreError, ClientError

    dest = local_path(obj, dest_root)
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        s3.download_file(obj.bucket, obj.key, str(dest))
    except (Boto3Error, BotoCoreError, ClientError) as exc:
        raise RemoteError(f"{obj.origin}: cannot download: {exc}") from exc
    except OSError as exc:
        raise WorkspaceError(
            f"{obj.origin}: cannot store the download in {dest.parent}: {exc.strerror or exc}"
        ) from exc
    return dest
