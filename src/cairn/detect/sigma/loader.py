"""Load Sigma rules from files and folders into a :class:`RuleSet`: every rule converted to SQL
or failed with its reason, none dropped."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pyarrow as pa
import sigma.policy
import yaml
from sigma.collection import SigmaCollection
from sigma.correlations import SigmaCorrelationRule
from sigma.exceptions import SigmaError, SigmaRuleLocation
from sigma.policy.regex_engine import RE2RegexEngine, RegexPattern
from sigma.rule import SigmaRule

from cairn.detect.sigma.backend import TABLE_STATE, CairnDuckDBBackend
from cairn.detect.sigma.correlation import CorrelationPlan, plan_correlation
from cairn.detect.sigma.errors import SigmaUnsupported
from cairn.detect.sigma.legacy import PART_OF, explain_rule, upgrade_aggregations
from cairn.detect.sigma.pipeline import cairn_pipeline
from cairn.errors import InputError

RULE_SUFFIXES = (".yml", ".yaml")


_RE_FLAGS = ((re.IGNORECASE, "i"), (re.MULTILINE, "m"), (re.DOTALL, "s"))
"""Python ``re`` flags and their inline RE2 form (as pySigma's own RE2 engine maps them)."""


class QuietRE2RegexEngine(RE2RegexEngine):
    """pySigma's RE2 engine without RE2's own log line on standard error for a bad pattern (the C
    library writes it to fd 2); the error is raised as before, with a text (not bytes) message."""

    def compile(self, pattern: str, flags: int = 0) -> RegexPattern:
        """Compile ``pattern`` with the ``re`` ``flags`` as inline RE2 flags."""
        prefix = "".join(v for k, v in _RE_FLAGS if int(flags) & int(k))
        options = self._re2.Options()
        options.log_errors = False
        try:
            return self._re2.compile(f"(?{prefix}){pattern}" if prefix else pattern, options)  # type: ignore[no-any-return]
        except self._re2.error as exc:
            msg = exc.args[0] if exc.args else exc
            raise self._re2.error(msg.decode("utf-8", "replace") if isinstance(msg, bytes) else str(msg)) from None


# pySigma compiles every ``|re`` value with ``sigma.policy.default_policy`` (looked up at each call) unless a
# rule or pipeline carries its own policy: keep that policy, with the quiet engine.
if isinstance(sigma.policy.default_policy.regex_engine, RE2RegexEngine):
    sigma.policy.default_policy = replace(sigma.policy.default_policy, regex_engine=QuietRE2RegexEngine())


@dataclass(frozen=True)
class RuleEntry:
    """One rule of a rule set: converted (``sql`` set) or failed (``reason`` set)."""

    id: str
    title: str
    level: str
    tags: tuple[str, ...]
    path: str
    author: str = ""
    """The rule's ``author`` (the DRL asks for it wherever matches are shown)."""
    kind: str = "detection"
    """``detection`` (a predicate over one row) or ``correlation`` (windows over matches)."""
    table: str | None = None
    sql: str | None = None
    """Detection: a DuckDB predicate over ``table``'s columns. Correlation: a full query."""
    reason: str | None = None
    output: bool = True
    """False for rules only referenced by a correlation (Sigma's ``generate: false``)."""
    correlation: CorrelationPlan | None = None
    part_of: str | None = None
    """Id of the rule this entry is a generated part of (the search of a Sigma 1 ``count()``
    aggregation, :mod:`cairn.detect.sigma.legacy`); such entries are not counted as rules."""

    @property
    def status(self) -> str:
        return "converted" if self.reason is None else "failed"

    def failed(self, reason: str) -> RuleEntry:
        """This entry, failed with ``reason``."""
        return RuleEntry(self.id, self.title, self.level, self.tags, self.path, self.author, self.kind,
                         self.table, None, reason, self.output, None, self.part_of)


@dataclass
class RuleSet:
    """The outcome of :func:`load_rules`, in file order."""

    entries: list[RuleEntry] = field(default_factory=list)

    def __iter__(self) -> Iterator[RuleEntry]:
        return iter(self.entries)

    def __len__(self) -> int:
        return len(self.entries)

    def converted(self) -> list[RuleEntry]:
        return [e for e in self.entries if e.reason is None]

    def failed(self) -> list[RuleEntry]:
        return [e for e in self.entries if e.reason is not None]

    def get(self, rule_id: str) -> RuleEntry:
        for e in self.entries:
            if e.id == rule_id:
                return e
        raise KeyError(rule_id)

    def tables(self) -> list[str]:
        """Tables that converted rules run on."""
        return sorted({e.table for e in self.converted() if e.table})

    def for_table(self, table: str) -> list[RuleEntry]:
        """Converted rules of ``table``."""
        return [e for e in self.converted() if e.table == table]

    def written(self) -> list[RuleEntry]:
        """The rules as their files hold them (without generated parts)."""
        return [e for e in self.entries if e.part_of is None]

    @property
    def conversion_rate(self) -> float:
        """Share of the rules as written (:meth:`written`) that converted."""
        rules = self.written()
        return sum(e.reason is None for e in rules) / len(rules) if rules else 1.0

    def status_table(self) -> pa.Table:
        """One row per entry: id, title, path, kind, table, status, reason, sql, part_of."""
        cols = ("id", "title", "level", "author", "path", "kind", "table", "status", "reason", "sql", "part_of")
        rows = [{c: getattr(e, c) for c in cols} for e in self.entries]
        return pa.Table.from_pylist(rows, schema=pa.schema([(c, pa.string()) for c in cols]))


def rule_files(paths: Iterable[str | Path]) -> list[Path]:
    """Sigma files under ``paths`` (files as given, folders searched recursively), sorted per folder."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out += sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in RULE_SUFFIXES)
        elif p.is_file():
            out.append(p)
        else:
            raise InputError("no such file or folder", origin=str(p))
    return out


def _meta(rule: SigmaRule | SigmaCorrelationRule, path: Path, n: int) -> dict[str, Any]:
    rid = str(rule.id) if rule.id else (rule.name or f"{path.stem}#{n}")
    return {
        "id": rid, "title": rule.title or path.stem, "level": str(rule.level) if rule.level else "",
        "tags": tuple(str(t) for t in rule.tags), "path": str(path), "author": rule.author or "",
        "kind": "correlation" if isinstance(rule, SigmaCorrelationRule) else "detection",
        "part_of": (getattr(rule, "custom_attributes", None) or {}).get(PART_OF),
    }


def _reason(err: Exception) -> str:
    msg = err.args[0] if err.args else str(err)
    return f"{type(err).__name__}: {msg}"


def _not_mappings(text: str) -> str | None:
    """Why a parsed rule file is no Sigma rule when a YAML document of it is not a mapping (else None)."""
    try:
        docs = list(yaml.safe_load_all(text))
    except yaml.YAMLError:
        return None
    for n, doc in enumerate(docs, 1):
        if doc is not None and not isinstance(doc, dict):
            got = "a list" if isinstance(doc, list) else f"a {type(doc).__name__} ({str(doc)[:40]!r})"
            return (f"not a rule: YAML document {n} must be a mapping (a Sigma rule: title, logsource, detection; "
                    f"one rule per document), got {got}")
    return None


def _parse(sources: list[tuple[Path, str | None]]) -> tuple[
        list[tuple[SigmaRule | SigmaCorrelationRule, Path]], list[RuleEntry], list[Any]]:
    rules: list[tuple[SigmaRule | SigmaCorrelationRule, Path]] = []
    broken: list[RuleEntry] = []
    filters: list[Any] = []
    for path, given in sources:
        text = ""
        try:
            text = path.read_text(encoding="utf-8") if given is None else given
            coll = SigmaCollection.from_yaml(upgrade_aggregations(text) or text, collect_errors=True, source=SigmaRuleLocation(path),
                                             collect_filters=True, resolve_references=False)
        except Exception as exc:  # YAML syntax, bad encoding, not mappings: the file holds no usable rule
            reason = _not_mappings(text) if isinstance(exc, AttributeError | TypeError) else None
            broken.append(RuleEntry(path.stem, path.name, "", (), str(path),
                                    reason=reason or f"unreadable rule file: {exc}"))
            continue
        filters += coll.filters
        for rule in coll.rules:
            rules.append((rule, path))
        if not coll.rules and coll.errors:
            broken.append(RuleEntry(path.stem, path.name, "", (), str(path), reason=_reason(coll.errors[0])))
    return rules, broken, filters


def load_rules(paths: Sequence[str | Path] = (), *, texts: Mapping[str, str] | None = None,
               placeholders: Mapping[str, Sequence[str]] | None = None, validate: bool = True) -> RuleSet:
    """Parse and convert every Sigma rule under ``paths`` and in ``texts`` (name -> YAML text).

    ``placeholders`` fills ``%name%`` values of ``|expand`` rules. ``validate`` compiles each SQL in
    DuckDB against the empty table, so a converted rule is known to run.
    """
    sources: list[tuple[Path, str | None]] = [(p, None) for p in rule_files(paths)]
    sources += [(Path(name), text) for name, text in (texts or {}).items()]
    parsed, broken, filters = _parse(sources)
    coll = SigmaCollection([r for r, _ in parsed], resolve_references=False, collect_filters=True)
    if filters:
        coll.apply_filters(filters)
        parsed = list(zip(coll.rules, [p for _, p in parsed], strict=True))
    backend = CairnDuckDBBackend(cairn_pipeline(placeholders), collect_errors=True)
    backend.init_processing_pipeline()
    entries: dict[int, RuleEntry] = {}
    seen: dict[str, str] = {}
    for n, (rule, path) in enumerate(parsed):
        meta = _meta(rule, path, n)
        if meta["id"] in seen:
            entries[n] = RuleEntry(**meta, reason=f"duplicate rule id, first in {seen[meta['id']]}")
            continue
        seen[meta["id"]] = meta["path"]
        if rule.errors:
            entries[n] = RuleEntry(**meta, reason="; ".join(_reason(e) for e in rule.errors))
        elif isinstance(rule, SigmaCorrelationRule):
            try:
                rule.resolve_rule_references(coll)
            except SigmaError as exc:
                entries[n] = RuleEntry(**meta, reason=_reason(exc))
    for n, (rule, path) in enumerate(parsed):
        if n not in entries and isinstance(rule, SigmaRule):
            entries[n] = _convert(backend, rule, _meta(rule, path, n))
    for n, (rule, path) in enumerate(parsed):
        if n not in entries and isinstance(rule, SigmaCorrelationRule):
            entries[n] = _correlate(rule, _meta(rule, path, n), entries, parsed)
    order = {str(path): i for i, (path, _) in enumerate(sources)}
    out = sorted(broken + [entries[n] for n in range(len(parsed))], key=lambda e: order.get(e.path, 0))
    if validate:
        from cairn.detect.sigma.validate import validate_entries

        out = validate_entries(out)
    return RuleSet(out)


def _convert(backend: CairnDuckDBBackend, rule: SigmaRule, meta: dict[str, Any]) -> RuleEntry:
    before = len(backend.errors)
    why = explain_rule(rule)  # before the conversion, which maps the rule's field names
    try:
        backend.convert_rule(rule)
    except Exception as exc:  # a pySigma or backend bug must not take the whole rule set down
        return RuleEntry(**meta, reason=f"conversion failed: {_reason(exc)}")
    if len(backend.errors) > before:
        reason = _reason(backend.errors[-1][1])
        return RuleEntry(**meta, reason=f"{reason.rstrip('. ')}. {why}" if why else reason)
    if "timeframe" in rule.detection.detections:
        why = why or "'timeframe' in the detection without an aggregation"
        return RuleEntry(**meta, reason=f"SigmaConditionError: {why}")
    queries = [str(q) for q in rule.get_conversion_result()]
    table = backend.last_processing_pipeline.state.get(TABLE_STATE)
    if not queries or not table:
        return RuleEntry(**meta, reason="the rule converted to no query")
    sql = queries[0] if len(queries) == 1 else " OR ".join(f"({q})" for q in queries)
    return RuleEntry(**meta, table=str(table), sql=sql, output=bool(rule._output))


def _correlate(rule: SigmaCorrelationRule, meta: dict[str, Any], entries: dict[int, RuleEntry],
               parsed: list[tuple[SigmaRule | SigmaCorrelationRule, Path]]) -> RuleEntry:
    index = {id(r): n for n, (r, _) in enumerate(parsed)}
    refs: list[RuleEntry] = []
    for ref in rule.referenced_rules:
        n = index.get(id(ref.rule))
        entry = entries.get(n) if n is not None else None
        if entry is None or entry.kind != "detection":
            return RuleEntry(**meta, reason=f"SigmaUnsupported: referenced rule {ref.reference!r} is not "
                                            "a detection rule of this rule set")
        if entry.reason is not None:
            return RuleEntry(**meta, reason=f"referenced rule {ref.reference!r} failed: {entry.reason}")
        refs.append(entry)
    tables = {e.table for e in refs}
    if len(tables) != 1:
        return RuleEntry(**meta, reason="SigmaUnsupported: the referenced rules run on different tables "
                                        f"({', '.join(sorted(str(t) for t in tables)) or 'none'})")
    table = str(tables.pop())
    try:
        plan = plan_correlation(rule, [e.id for e in refs], table)
    except (SigmaError, SigmaUnsupported) as exc:
        return RuleEntry(**meta, reason=_reason(exc))
    # One (event, rule) row per referenced rule the event matches, as the runner's scan makes them.
    cases = ", ".join(f"CASE WHEN ({e.sql}) THEN {i} END" for i, e in enumerate(refs))
    exprs = plan.key_exprs()
    keys = {e: f"k{i}" for i, e in enumerate(dict.fromkeys(exprs))}
    cols = "".join(f", {e} AS {k}" for e, k in keys.items())
    matches = (f"(SELECT event_uid, event_time, unnest(_hits) AS rule_idx{cols} FROM (SELECT *, "
               f"[x for x in [{cases}] if x IS NOT NULL] AS _hits FROM {table}) WHERE len(_hits) > 0)")
    return RuleEntry(**meta, table=table, sql=plan.sql(matches, list(range(len(refs))), keys), correlation=plan)
