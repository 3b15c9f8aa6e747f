"""Security Hub ``BatchImportFindings``: each alert as an ASFF finding (:mod:`cairn.outputs.asff`), in
batches of <= 100 findings and <= 6 MB, with per-finding failures (``FailedFindings``) recorded per alert.

The finding ``Id`` is stable per alert and Region, so a repeated import updates the same finding.
``AwsAccountId`` is the importing account: ``account_id`` or, when not set, the caller's account
(STS ``GetCallerIdentity``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from cairn.actions.destinations import aws
from cairn.actions.destinations.base import Destination, PermanentDeliveryError, option, transient
from cairn.actions.settings import ActionConfig
from cairn.errors import ConfigError
from cairn.outputs.asff import BATCH_FINDINGS_MAX, alert_to_finding, batches, check_finding


class SecurityHubDestination(Destination):
    """``type = "securityhub"``."""

    TYPE: ClassVar[str] = "securityhub"
    OPTIONS: ClassVar[frozenset[str]] = frozenset({"account_id", "product_arn", "updated_by"}) | aws.OPTIONS
    REQUIRED: ClassVar[frozenset[str]] = frozenset()
    BATCH: ClassVar[int] = BATCH_FINDINGS_MAX

    @classmethod
    def check(cls, cfg: ActionConfig) -> None:
        acct = option(cfg, "account_id", str)
        if acct and not acct.startswith("${") and not (len(acct) == 12 and acct.isdigit()):
            raise ConfigError(f"[actions.{cfg.name}] account_id must be 12 digits, got {acct!r}")
        for k in ("product_arn", "updated_by", *aws.OPTIONS):
            option(cfg, k, str)

    def __init__(self, cfg: ActionConfig, ctx: Any) -> None:
        super().__init__(cfg, ctx)
        self._client: Any = None
        self._account: str | None = self.opts.get("account_id")

    def _setup(self) -> None:
        if self._client is None:
            self._client = aws.client("securityhub", self.opts, self.ctx.aws, timeout=self.cfg.timeout)
        if not self._account:
            try:
                sts = aws.client("sts", self.opts, self.ctx.aws, timeout=self.cfg.timeout)
                self._account = str(sts.get_caller_identity()["Account"])
            except Exception as exc:
                raise aws.classify(exc, f"securityhub {self.cfg.name}: finding the account") from None

    def finding(self, alert: Mapping[str, Any]) -> dict[str, Any]:
        """The ASFF finding of one alert (a triage summary, when attached, becomes the Note)."""
        self._setup()
        tri = alert.get("triage") if isinstance(alert.get("triage"), Mapping) else {}
        return alert_to_finding(alert, account_id=self._account or "", region=self._client.meta.region_name,
                                product_arn=self.opts.get("product_arn"),
                                updated_by=self.opts.get("updated_by") or "cairn",
                                note_text=tri.get("note") or tri.get("summary"), extra_fields=tri.get("fields"))

    def send(self, alert: Mapping[str, Any], delivery_id: str) -> str | None:
        result = self.send_many([(delivery_id, alert)])[delivery_id]
        if isinstance(result, Exception):
            raise result
        return result

    def send_many(self, items: list[tuple[str, Mapping[str, Any]]]) -> dict[str, str | Exception | None]:
        out: dict[str, str | Exception | None] = {}
        try:
            self._setup()
        except Exception as exc:
            return {d: exc for d, _ in items}
        by_id: dict[str, str] = {}
        findings = []
        for delivery_id, alert in items:
            try:
                f = self.finding(alert)
            except Exception as exc:
                out[delivery_id] = PermanentDeliveryError(f"securityhub {self.cfg.name}: cannot build ASFF: {exc}")
                continue
            problems = check_finding(f)
            if problems:
                out[delivery_id] = PermanentDeliveryError(
                    f"securityhub {self.cfg.name}: invalid ASFF: {'; '.join(problems[:5])}")
                continue
            by_id[f["Id"]] = delivery_id
            findings.append(f)
        for batch in batches(findings):
            try:
                resp = self._client.batch_import_findings(Findings=batch)
            except Exception as exc:
                err = aws.classify(exc, f"securityhub {self.cfg.name}")
                for f in batch:
                    out[by_id[f["Id"]]] = err
                continue
            failed = {x.get("Id"): x for x in resp.get("FailedFindings") or []}
            for f in batch:
                d = by_id[f["Id"]]
                if f["Id"] in failed:
                    x = failed[f["Id"]]
                    code = str(x.get("ErrorCode") or "")
                    msg = f"securityhub {self.cfg.name}: finding {f['Id']} failed: {code} {x.get('ErrorMessage') or ''}"
                    out[d] = transient(msg) if code in aws.TRANSIENT_CODES else PermanentDeliveryError(msg)
                else:
                    out[d] = f["Id"]
        return out
