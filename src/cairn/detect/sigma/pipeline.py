"""The cairn processing pipeline: log source -> lake table, Sigma field names -> cairn fields.

For each :class:`~cairn.detect.sigma.profiles.Profile` (CloudTrail, VPC flow, Route 53, GuardDuty,
Security Hub), rules whose ``logsource`` matches get their field names mapped and the table
recorded in the pipeline state (``cairn_table``). A rule whose log source no profile serves fails
with :class:`~cairn.detect.sigma.errors.UnknownLogsource`. ``%placeholders%`` (``|expand``) are
filled from ``placeholders`` when given; any left over fail the rule in the backend.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sigma.correlations import SigmaCorrelationRule
from sigma.processing.conditions import LogsourceCondition
from sigma.processing.pipeline import ProcessingItem, ProcessingPipeline
from sigma.processing.transformations import (
    FieldFunctionTransformation,
    PreprocessingTransformation,
    SetStateTransformation,
    ValueListPlaceholderTransformation,
)
from sigma.rule import SigmaRule

from cairn.detect.sigma.backend import TABLE_STATE
from cairn.detect.sigma.errors import UnknownLogsource
from cairn.detect.sigma.profiles import PROFILES, Profile


def _logsource_text(rule: SigmaRule | SigmaCorrelationRule) -> str:
    if isinstance(rule, SigmaRule):
        ls = rule.logsource
        parts = [f"{k}: {v}" for k, v in (("category", ls.category), ("product", ls.product),
                                          ("service", ls.service)) if v]
        return "{" + ", ".join(parts) + "}" if parts else "{} (empty)"
    return "of the referenced rules"


@dataclass
class UnknownLogsourceFailure(PreprocessingTransformation):
    """Fail a rule whose log source no lake table serves, naming it and the ones served."""

    served: str = ""

    def apply(self, rule: SigmaRule | SigmaCorrelationRule) -> None:
        raise UnknownLogsource(
            f"no lake table serves log source {_logsource_text(rule)}; cairn serves {self.served}",
            source=rule.source,
        )


def _conditions(profile: Profile) -> list[LogsourceCondition]:
    return [LogsourceCondition(category=c, product=p, service=s) for c, p, s in profile.logsources]


def cairn_pipeline(placeholders: Mapping[str, Sequence[str]] | None = None,
                   profiles: Sequence[Profile] | None = None) -> ProcessingPipeline:
    """The pipeline for :class:`~cairn.detect.sigma.backend.CairnDuckDBBackend`."""
    chosen = list(profiles) if profiles is not None else list(PROFILES.values())
    every = [c for p in chosen for c in _conditions(p)]
    items: list[ProcessingItem] = [
        ProcessingItem(
            identifier="cairn_unknown_logsource",
            transformation=UnknownLogsourceFailure(
                served="; ".join(f"{p.describe()} ({p.table})" for p in chosen)),
            rule_conditions=list(every), rule_condition_linking=any, rule_condition_negation=True,
        )
    ]
    if placeholders:
        items.append(ProcessingItem(
            identifier="cairn_placeholders",
            transformation=ValueListPlaceholderTransformation(include=list(placeholders)),
        ))
    for p in chosen:
        items.append(ProcessingItem(
            identifier=f"cairn_{p.table}_fields",
            transformation=FieldFunctionTransformation(mapping={}, transform_func=p.map_field),
            rule_conditions=_conditions(p), rule_condition_linking=any,
        ))
        items.append(ProcessingItem(
            identifier=f"cairn_{p.table}_table",
            transformation=SetStateTransformation(TABLE_STATE, p.table),
            rule_conditions=_conditions(p), rule_condition_linking=any,
        ))
    return ProcessingPipeline(
        name="cairn lake", priority=20, items=items,
        vars={k: list(v) for k, v in (placeholders or {}).items()},
    )
