"""boto3 clients for the collectors: retries, throttling backoff, assumed roles, call counting.

- every client gets ``botocore.config.Config(retries={"mode": "standard", "max_attempts": N})``;
- :meth:`Clients.call` adds cairn's own exponential backoff with jitter on throttling errors
  (``ThrottlingException``, ``TooManyRequestsException``, ...) once botocore has given up;
- :meth:`Clients.pages` follows a paginator page by page with the same backoff on each page;
- :meth:`Clients.for_account` assumes ``role_name`` in another account (``sts:AssumeRole``, cached);
- :class:`CallCounter` counts API calls (botocore ``before-call`` events) and HTTP attempts
  (``before-send``) per ``service.Operation``, for reports and the benchmark.

Endpoints: ``[aws] endpoint_url`` / ``CAIRN_AWS_ENDPOINT_URL`` for every service, or
``CAIRN_AWS_ENDPOINT_URL_<SERVICE>`` (``..._SECURITYHUB``, ``..._ACCOUNT``) for one service.
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from cairn.config import AwsSettings
from cairn.errors import ConfigError, RemoteError, TransientError

THROTTLING_CODES = frozenset({
    "ThrottlingException", "Throttling", "TooManyRequestsException", "RequestLimitExceeded",
    "ThrottledException", "SlowDown", "RequestThrottled", "RequestThrottledException",
    "ProvisionedThroughputExceededException", "LimitExceededException",
})


def error_code(exc: BaseException) -> str:
    """The AWS error code of a botocore ``ClientError`` ('' for anything else)."""
    resp = getattr(exc, "response", None)
    return str((resp or {}).get("Error", {}).get("Code", "")) if isinstance(resp, dict) else ""


@dataclass
class CallCounter:
    """API calls and HTTP attempts per ``service.Operation`` (thread-safe)."""

    calls: Counter[str] = field(default_factory=Counter)
    attempts: Counter[str] = field(default_factory=Counter)
    throttled: int = 0
    """HTTP responses that were throttling errors (retried by botocore or by cairn)."""
    backoffs: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def on_call(self, model: Any = None, **_: Any) -> None:
        with self._lock:
            self.calls[f"{model.service_model.service_name}.{model.name}"] += 1

    def on_send(self, event_name: str = "", **_: Any) -> None:
        with self._lock:
            self.attempts[event_name.removeprefix("before-send.")] += 1

    def attach(self, client: Any) -> Any:
        ev = client.meta.events
        ev.register("before-call", self.on_call)
        ev.register("before-send", self.on_send)
        ev.register("needs-retry", self._on_retry)
        return client

    def _on_retry(self, response: Any = None, **_: Any) -> None:
        if response and isinstance(response, tuple) and len(response) == 2 and isinstance(response[1], dict):
            code = str((response[1].get("Error") or {}).get("Code", ""))
            if code in THROTTLING_CODES:
                with self._lock:
                    self.throttled += 1

    @property
    def total(self) -> int:
        return sum(self.calls.values())

    def by_service(self) -> dict[str, int]:
        out: Counter[str] = Counter()
        for k, n in self.calls.items():
            out[k.split(".", 1)[0]] += n
        return dict(sorted(out.items()))

    def to_dict(self) -> dict[str, Any]:
        return {"calls": self.total, "by_service": self.by_service(), "by_operation": dict(sorted(self.calls.items())),
                "http_attempts": sum(self.attempts.values()), "throttled": self.throttled,
                "backoffs": self.backoffs}


class Clients:
    """Makes and caches boto3 clients for the caller and for assumed roles in other accounts."""

    def __init__(self, aws: AwsSettings, *, max_attempts: int = 5, backoff_attempts: int = 4,
                 backoff_base: float = 1.0, counter: CallCounter | None = None, session: Any = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        import boto3
        from botocore.config import Config as BotoConfig

        self.aws = aws
        self.counter = counter or CallCounter()
        self.backoff_attempts = max(0, backoff_attempts)
        self.backoff_base = backoff_base
        self.sleep = sleep
        self.config = BotoConfig(retries={"mode": "standard", "max_attempts": max(1, max_attempts)},
                                 user_agent_extra="cairn")
        try:
            self.session = session or boto3.session.Session(profile_name=aws.profile or None)
        except Exception as exc:  # ProfileNotFound and friends
            raise ConfigError(f"AWS session: {exc}") from exc
        self._clients: dict[tuple[str, str, str], Any] = {}
        self._sessions: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._caller: dict[str, str] | None = None

    @property
    def region(self) -> str:
        return self.aws.region or self.session.region_name or "us-east-1"

    def endpoint(self, service: str) -> str | None:
        key = "CAIRN_AWS_ENDPOINT_URL_" + service.upper().replace("-", "_")
        return os.environ.get(key) or self.aws.endpoint_url or None

    def client(self, service: str, *, region: str | None = None, account: str = "") -> Any:
        """A client for ``service`` (in ``account`` through the assumed role when given)."""
        region = region or self.region
        key = (service, region, account)
        with self._lock:
            if key in self._clients:
                return self._clients[key]
        session = self._sessions[account] if account else self.session
        c = session.client(service, region_name=region, endpoint_url=self.endpoint(service), config=self.config)
        self.counter.attach(c)
        with self._lock:
            self._clients[key] = c
        return c

    def caller(self) -> dict[str, str]:
        """``sts:GetCallerIdentity`` of the base credentials (cached): Account, Arn, partition."""
        if self._caller is None:
            ident = self.call(self.client("sts"), "get_caller_identity")
            arn = ident.get("Arn", "")
            self._caller = {"Account": ident["Account"], "Arn": arn,
                            "partition": arn.split(":")[1] if arn.count(":") >= 2 else "aws"}
        return self._caller

    def assume(self, account: str, role_name: str, session_name: str) -> None:
        """Assume ``role_name`` in ``account`` (cached; the caller's own account needs no role)."""
        import boto3

        if account in self._sessions or account == self.caller()["Account"]:
            return
        arn = f"arn:{self.caller()['partition']}:iam::{account}:role/{role_name}"
        creds = self.call(self.client("sts"), "assume_role", RoleArn=arn, RoleSessionName=session_name)["Credentials"]
        self._sessions[account] = boto3.session.Session(
            aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
            aws_session_token=creds["SessionToken"], region_name=self.region)

    def for_account(self, service: str, account: str, *, region: str | None = None) -> Any:
        """A client in ``account``: the caller's own, or through a role :meth:`assume` took."""
        if account == self.caller()["Account"]:
            return self.client(service, region=region)
        if account not in self._sessions:
            raise ConfigError(f"no credentials for account {account}: assume a role first")
        return self.client(service, region=region, account=account)

    def call(self, client: Any, op: str, **kwargs: Any) -> Any:
        """``client.<op>(**kwargs)`` with cairn's backoff on throttling (after botocore's own retries)."""
        return self._with_backoff(lambda: getattr(client, op)(**kwargs), client, op)

    def pages(self, client: Any, op: str, **kwargs: Any) -> Iterator[dict[str, Any]]:
        """Every page of a paginated operation, each page fetched with :meth:`call`'s backoff."""
        paginator = client.get_paginator(op)
        cfg = paginator._pagination_cfg  # input/output token names of the operation
        in_tok, out_tok = cfg["input_token"], cfg["output_token"]
        in_tok = in_tok if isinstance(in_tok, str) else in_tok[0]
        out_tok = out_tok if isinstance(out_tok, str) else out_tok[0]
        token = None
        while True:
            args = dict(kwargs)
            if token:
                args[in_tok] = token
            page = self.call(client, op, **args)
            yield page
            token = page.get(out_tok.split(".")[-1]) if "." not in out_tok else _dotted(page, out_tok)
            if not token:
                return

    def _with_backoff(self, fn: Callable[[], Any], client: Any, op: str) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        service = client.meta.service_model.service_name
        op = client.meta.method_to_api_mapping.get(op, op)
        attempt = 0
        while True:
            try:
                return fn()
            except ClientError as exc:
                code = error_code(exc)
                if code in THROTTLING_CODES and attempt < self.backoff_attempts:
                    delay = min(30.0, self.backoff_base * (2 ** attempt)) * (0.5 + random.random() / 2)
                    attempt += 1
                    self.counter.backoffs += 1
                    self.sleep(delay)
                    continue
                if code in THROTTLING_CODES:
                    raise TransientError(f"{service} {op}: still throttled after {attempt} backoffs: {code}") from exc
                raise
            except BotoCoreError as exc:
                raise RemoteError(f"{service} {op}: {exc}") from exc


def _dotted(page: dict[str, Any], path: str) -> Any:
    cur: Any = page
    for part in path.split("."):
        cur = cur.get(part) if isinstance(cur, dict) else None
    return cur
