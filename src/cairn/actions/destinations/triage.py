"""``type = "triage"``: triage the alert (:func:`cairn.triage.triage`) and notify with the summary.

The notification goes to the destination named by ``notify`` (webhook, slack, sns, email,
securityhub, file or stdout) configured with that destination's keys in the same table. The alert
it receives carries ``triage = {summary, note, fields}``: the summary line, the ASFF Note text and
UserDefinedFields (Security Hub gets them as the finding's Note and fields).
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import replace
from datetime import timedelta
from typing import Any, ClassVar

from cairn.actions.destinations.base import Destination, PermanentDeliveryError, transient
from cairn.actions.settings import ActionConfig, duration
from cairn.errors import CairnError, ConfigError, InputError

OWN = frozenset({"notify", "before", "after"})


def _targets() -> dict[str, type[Destination]]:
    from cairn.actions.destinations import DESTINATIONS

    return {k: v for k, v in DESTINATIONS.items() if k != "triage"}


class TriageDestination(Destination):
    """Triage, then notify."""

    TYPE: ClassVar[str] = "triage"
    OPTIONS: ClassVar[frozenset[str]] = OWN  # plus the keys of the notify destination (see check)
    REQUIRED: ClassVar[frozenset[str]] = frozenset({"notify"})

    @classmethod
    def allowed_options(cls) -> frozenset[str]:
        return OWN.union(*(d.OPTIONS for d in _targets().values()))

    @classmethod
    def inner_config(cls, cfg: ActionConfig) -> ActionConfig:
        """The notify destination's configuration."""
        kind = cfg.options.get("notify")
        targets = _targets()
        if kind not in targets:
            raise ConfigError(f"[actions.{cfg.name}] notify must be one of {', '.join(sorted(targets))}, got {kind!r}")
        opts = {k: v for k, v in cfg.options.items() if k not in OWN}
        unknown = sorted(set(opts) - set(targets[kind].OPTIONS))
        if unknown:
            raise ConfigError(f"[actions.{cfg.name}]: unknown key(s) {', '.join(unknown)} for notify = {kind!r}")
        missing = sorted(targets[kind].REQUIRED - set(opts))
        if missing:
            raise ConfigError(f"[actions.{cfg.name}]: notify = {kind!r} needs {', '.join(missing)}")
        return replace(cfg, type=kind, options=opts)

    @classmethod
    def check(cls, cfg: ActionConfig) -> None:
        inner = cls.inner_config(cfg)
        _targets()[inner.type].check(inner)
        for k in ("before", "after"):
            if k in cfg.options:
                duration(cfg.options[k], what=f"[actions.{cfg.name}] {k}")

    def __init__(self, cfg: ActionConfig, ctx: Any) -> None:
        self.cfg = cfg
        self.ctx = ctx
        self.opts = {k: cfg.options[k] for k in OWN if k in cfg.options}
        inner = self.inner_config(cfg)
        self.inner = _targets()[inner.type](inner, ctx)

    def triaged(self, alert: Mapping[str, Any]) -> dict[str, Any]:
        """The alert with ``triage = {summary, note, fields}`` attached."""
        try:
            mod = importlib.import_module("cairn.triage")
            run = mod.triage
        except (ImportError, AttributeError) as exc:
            raise transient(f"triage {self.cfg.name}: cairn.triage is not available ({exc}); "
                            "the alert stays queued and is retried") from None
        if self.ctx.engine is None or self.ctx.workspace is None:
            raise transient(f"triage {self.cfg.name}: needs a workspace and its engine")
        kwargs: dict[str, Any] = {}
        for k in ("before", "after"):
            if k in self.opts:
                kwargs[k] = timedelta(seconds=duration(self.opts[k], what=k))
        body = {k: v for k, v in alert.items() if k not in ("triage", "_test")}
        try:
            report = run(self.ctx.engine, self.ctx.workspace, body, **kwargs)
        except InputError as exc:
            raise PermanentDeliveryError(f"triage {self.cfg.name}: {exc}") from None
        except CairnError as exc:
            raise transient(f"triage {self.cfg.name}: {exc}") from None
        note_text, fields = report.asff_fields()
        return {**alert, "triage": {"summary": report.summary_line(), "note": note_text, "fields": fields}}

    def send(self, alert: Mapping[str, Any], delivery_id: str) -> str | None:
        return self.inner.send(self.triaged(alert), delivery_id)

    def close(self) -> None:
        self.inner.close()
