"""boto3 clients for the AWS destinations and the classification of their errors."""

from __future__ import annotations

import os
from typing import Any

from cairn.actions.destinations.base import PermanentDeliveryError, transient
from cairn.errors import CairnError

TRANSIENT_CODES = frozenset({
    "Throttling", "ThrottlingException", "ThrottledException", "TooManyRequestsException",
    "LimitExceededException", "RequestLimitExceeded", "InternalError", "InternalFailure",
    "InternalException", "InternalErrorException", "ServiceUnavailable", "ServiceUnavailableException",
    "KMSThrottlingException", "RequestTimeout", "RequestTimeoutException",
})
OPTIONS = frozenset({"region", "endpoint_url", "profile"})


def client(service: str, opts: dict[str, Any], aws: Any, *, timeout: float) -> Any:
    """A boto3 client: the action's ``region``/``endpoint_url``/``profile`` over ``[aws]`` and the
    environment (``CAIRN_AWS_ENDPOINT_URL``)."""
    import boto3
    from botocore.config import Config as BotoConfig

    session = boto3.session.Session(profile_name=opts.get("profile") or getattr(aws, "profile", "") or None)
    region = (opts.get("region") or getattr(aws, "region", "") or session.region_name
              or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1")
    endpoint = opts.get("endpoint_url") or getattr(aws, "endpoint_url", "") or None
    cfg = BotoConfig(connect_timeout=timeout, read_timeout=timeout, retries={"max_attempts": 2, "mode": "standard"})
    return session.client(service, region_name=region, endpoint_url=endpoint, config=cfg)


def classify(exc: Exception, what: str) -> CairnError:
    """A delivery error for a boto3/botocore exception: throttling, 5xx, timeouts, connection and
    credential problems are transient; other client errors are permanent."""
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, ParamValidationError

    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        code = str(err.get("Code") or "")
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        msg = f"{what}: {code}: {err.get('Message') or exc}"
        if code in TRANSIENT_CODES or status >= 500 or status == 429:
            return transient(msg)
        return PermanentDeliveryError(msg)
    if isinstance(exc, ParamValidationError):
        return PermanentDeliveryError(f"{what}: invalid request: {exc}")
    if isinstance(exc, NoCredentialsError):
        return transient(f"{what}: no AWS credentials found")
    if isinstance(exc, BotoCoreError):
        return transient(f"{what}: {type(exc).__name__}: {exc}")
    return transient(f"{what}: {type(exc).__name__}: {exc}")
