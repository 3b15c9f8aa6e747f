"""Native rules: YAML files with a SQL condition (or a full query) over a lake table.

Format (docs/detection.md, "Native rules")::

    id: cairn.aws.cloudtrail_stopped
    title: CloudTrail logging stopped or deleted
    severity: high                       # informational | low | medium | high | critical
    table: cloudtrail                    # a lake event table or its <table>_enriched view
    condition: >-                        # SQL WHERE over the table's columns ...
      event_source = 'cloudtrail.amazonaws.com' AND event_name IN ('StopLogging', 'DeleteTrail')
    # query: SELECT ... FROM {events} ...  # ... or a full query reading the new rows from {events}
    title_template: "{identity} stopped CloudTrail {trail}"
    entities: {identity: principal_arn, resource: "...", ips: [src_ip], account: recipient_account_id}
    fields: {trail: "json_extract_string(request_parameters, '$.name')"}
    dedup: [identity, trail]             # names of entities/fields; default [identity]
    threshold: {count: 5, window: 10m}   # optional: alert when >= count events per dedup key per window
    suppression: 1h                      # optional: one alert per dedup key per window

Rule SQL is trusted rule text (written by detection engineers, like Sigma rules); everything
else cairn puts into the statements (times, checkpoints) is bound or registered.
:func:`load_native_rules` checks every file and raises one :class:`RuleFileError` listing
every problem as ``file: key: reason``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import duckdb
import yaml

from cairn.detect.alerts import SEVERITIES
from cairn.detect.settings import parse_duration
from cairn.errors import ConfigError, InputError

ENTITY_NAMES = ("identity", "resource", "ips", "account")
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")
_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
_KEYS = {"id", "title", "description", "severity", "table", "condition", "query", "title_template",
         "entities", "fields", "dedup", "threshold", "suppression", "tags", "references", "author",
         "enabled", "falsepositives"}
EVENTS = "{events}"


class RuleFileError(InputError):
    """One or more native rule files are invalid; the message lists ``file: key: reason`` lines."""


@dataclass(frozen=True)
class NativeRule:
    """A validated native rule."""

    id: str
    title: str
    severity: str
    table: str
    path: str
    condition: str | None = None
    query: str | None = None
    title_template: str = ""
    entities: dict[str, Any] = field(default_factory=dict)
    fields: dict[str, str] = field(default_factory=dict)
    dedup: tuple[str, ...] = ("identity",)
    threshold_count: int = 1
    window_seconds: int | None = None
    """Threshold window or suppression; None means the ``[detect] suppression`` default."""
    description: str = ""
    tags: tuple[str, ...] = ()

    @property
    def base_table(self) -> str:
        """The lake table whose files feed the rule (``cloudtrail`` for ``cloudtrail_enriched``)."""
        return self.table.removesuffix("_enriched")

    def base_sql(self, relation: str) -> str:
        """The rule's rows over ``relation`` (its new data)."""
        if self.query is not None:
            return self.query.replace(EVENTS, relation)
        return f"SELECT * FROM {relation} WHERE ({self.condition})"


def builtin_rules_dir() -> Path:
    """The folder of native rules shipped with cairn (``cairn/data/rules``)."""
    return Path(str(resources.files("cairn") / "data" / "rules"))


def rule_files(paths: Iterable[Path | str]) -> list[Path]:
    """``*.yml``/``*.yaml`` under the given files and folders (``builtin`` = cairn's own rules)."""
    out: list[Path] = []
    for p in paths:
        path = builtin_rules_dir() if str(p) == "builtin" else Path(p)
        if path.is_dir():
            out += sorted(x for x in path.rglob("*") if x.suffix in (".yml", ".yaml") and x.is_file())
        elif path.is_file():
            out.append(path)
        else:
            raise InputError("no such rule file or folder", origin=str(path))
    return out


def is_native_document(doc: Any) -> bool:
    """Does a parsed YAML document look like a native rule (rather than a Sigma rule)?"""
    return isinstance(doc, dict) and ("condition" in doc or "query" in doc) and "detection" not in doc \
        and "correlation" not in doc


def load_native_rules(paths: Iterable[Path | str], *, check_sql: bool = True) -> list[NativeRule]:
    """Parse and validate the rule files under ``paths``; raises :class:`RuleFileError` on any problem."""
    problems: list[str] = []
    rules: list[NativeRule] = []
    seen: dict[str, str] = {}
    for f in rule_files(paths):
        try:
            docs = [d for d in yaml.safe_load_all(f.read_text(encoding="utf-8")) if d is not None]
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            problems.append(f"{f}: not valid YAML: {' '.join(str(exc).split())}")
            continue
        if len(docs) > 1:
            problems.append(f"{f}: (file): holds {len(docs)} YAML documents; a native rule file holds one rule")
            continue
        doc = docs[0] if docs else None
        rule, errs = parse_rule(doc, str(f))
        problems += [f"{f}: {e}" for e in errs]
        if rule is None:
            continue
        if rule.id in seen:
            problems.append(f"{f}: id: duplicate rule id {rule.id!r}, first in {seen[rule.id]}")
            continue
        seen[rule.id] = str(f)
        rules.append(rule)
    if check_sql and rules:
        problems += [f"{r.path}: {key}: {msg}" for r, key, msg in compile_check(rules)]
    if problems:
        raise RuleFileError("invalid native rule(s):\n  " + "\n  ".join(problems))
    return rules


def parse_rule(doc: Any, path: str) -> tuple[NativeRule | None, list[str]]:
    """A rule from a parsed YAML document, or the list of ``key: reason`` problems."""
    from cairn.lake.catalog import all_specs

    if doc is None:
        return None, ["(file): empty; a native rule file holds one rule (a YAML mapping)"]
    if not isinstance(doc, dict):
        got = "a list" if isinstance(doc, list) else f"a {type(doc).__name__} ({str(doc)[:40]!r})"
        return None, [f"(file): must hold one rule as a YAML mapping (id, title, severity, table, condition or "
                      f"query), got {got}"]
    errs: list[str] = [f"{k}: unknown key (valid: {', '.join(sorted(_KEYS))})" for k in doc if k not in _KEYS]

    def text(key: str, required: bool = True) -> str | None:
        v = doc.get(key)
        if v is None:
            if required:
                errs.append(f"{key}: required")
            return None
        if not isinstance(v, str) or not v.strip():
            errs.append(f"{key}: must be a non-empty string, got {v!r}")
            return None
        return v.strip()

    rid, title, severity, table = text("id"), text("title"), text("severity"), text("table")
    if rid and not _ID.match(rid):
        errs.append(f"id: {rid!r} must be letters, digits and . _ : - (max 128)")
    if severity and severity not in SEVERITIES:
        errs.append(f"severity: {severity!r} is not one of {', '.join(SEVERITIES)}")
    specs = all_specs()
    if table:
        base = table.removesuffix("_enriched")
        if base not in specs or specs[base].key_column != "event_uid" or specs[base].view:
            tables = sorted(n for n, s in specs.items() if s.key_column == "event_uid" and not s.view)
            errs.append(f"table: {table!r} is not a lake event table or its _enriched view "
                        f"(tables: {', '.join(tables)})")
    def sql(key: str, what: str) -> str | None:
        if key not in doc:
            return None
        v = doc[key]
        if not isinstance(v, str) or not v.strip():
            errs.append(f"{key}: must be a non-empty {what}, got {'nothing' if v is None else repr(v)}")
            return None
        return v.strip()

    condition = sql("condition", "SQL condition (the WHERE clause over the table)")
    query = sql("query", "SQL query (SELECT ... FROM {events} ...)")
    if "condition" not in doc and "query" not in doc:
        errs.append("condition: a rule needs 'condition' (SQL WHERE) or 'query' (full SELECT)")
    elif "condition" in doc and "query" in doc:
        errs.append("query: give either 'condition' or 'query', not both")
    if query is not None and EVENTS not in query:
        errs.append("query: must read the new rows from {events} (e.g. 'SELECT ... FROM {events} ...')")
    for key in ("condition", "query"):
        v = doc.get(key)
        if isinstance(v, str) and ";" in v.rstrip().rstrip(";"):
            errs.append(f"{key}: one statement only (found ';')")
    entities = doc.get("entities") or {}
    if not isinstance(entities, dict):
        errs.append(f"entities: must be a mapping of {', '.join(ENTITY_NAMES)} to SQL, got {entities!r}")
        entities = {}
    for k, v in entities.items():
        if k not in ENTITY_NAMES:
            errs.append(f"entities.{k}: unknown entity (valid: {', '.join(ENTITY_NAMES)})")
        elif k == "ips":
            if not (isinstance(v, str) or (isinstance(v, list) and v and all(isinstance(x, str) for x in v))):
                errs.append(f"entities.ips: must be a SQL expression or a list of them, got {v!r}")
        elif not isinstance(v, str) or not v.strip():
            errs.append(f"entities.{k}: must be a SQL expression, got {v!r}")
    flds = doc.get("fields") or {}
    if not isinstance(flds, dict):
        errs.append(f"fields: must be a mapping of names to SQL expressions, got {flds!r}")
        flds = {}
    for k, v in flds.items():
        if not isinstance(k, str) or not _NAME.match(k) or k in ENTITY_NAMES:
            errs.append(f"fields.{k}: names are lower-case identifiers other than {', '.join(ENTITY_NAMES)}")
        if not isinstance(v, str) or not v.strip():
            errs.append(f"fields.{k}: must be a SQL expression, got {v!r}")
    names = {*ENTITY_NAMES, "source", "rule_title", *(k for k in flds if isinstance(k, str))}
    template = doc.get("title_template", title or "")
    if not isinstance(template, str):
        errs.append(f"title_template: must be a string, got {template!r}")
        template = ""
    for ph in _PLACEHOLDER.findall(template):
        if ph not in names:
            errs.append(f"title_template: unknown placeholder {{{ph}}} (known: {', '.join(sorted(names))})")
    dedup = doc.get("dedup", ["identity"])
    if isinstance(dedup, str):
        dedup = [dedup]
    if not isinstance(dedup, list) or not all(isinstance(d, str) for d in dedup):
        errs.append(f"dedup: must be a list of entity or field names, got {dedup!r}")
        dedup = []
    for d in dedup:
        if d not in names - {"rule_title"}:
            errs.append(f"dedup: unknown name {d!r} (known: {', '.join(sorted(names - {'rule_title'}))})")
    count, window = 1, None
    thr = doc.get("threshold")
    if thr is not None:
        if not isinstance(thr, dict) or set(thr) - {"count", "window"} or "count" not in thr or "window" not in thr:
            errs.append(f"threshold: must be {{count: N, window: DURATION}}, got {thr!r}")
        elif not isinstance(thr["count"], int) or isinstance(thr["count"], bool) or thr["count"] < 1:
            errs.append(f"threshold.count: must be a positive integer, got {thr['count']!r}")
        else:
            count = thr["count"]
            try:
                window = parse_duration(thr["window"], what="threshold.window")
                if window == 0:
                    errs.append("threshold.window: must be longer than 0")
            except ConfigError as exc:
                errs.append(str(exc))
        if "suppression" in doc:
            errs.append("suppression: a threshold rule alerts once per dedup key per threshold.window; "
                        "set only threshold.window")
    elif "suppression" in doc:
        try:
            window = parse_duration(doc["suppression"], what="suppression")
        except ConfigError as exc:
            errs.append(str(exc))
    if "enabled" in doc and not isinstance(doc["enabled"], bool):
        errs.append(f"enabled: must be true or false, got {doc['enabled']!r}")
    tags = doc.get("tags") or []
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        errs.append(f"tags: must be a list of strings, got {tags!r}")
        tags = []
    if errs or not (rid and title and severity and table):
        return None, errs
    if doc.get("enabled", True) is False:
        return None, []
    ips = entities.get("ips")
    return NativeRule(
        id=rid, title=title, severity=severity, table=table, path=path, condition=condition, query=query,
        title_template=template, entities={**entities, **({"ips": [ips] if isinstance(ips, str) else ips}
                                                          if ips else {})},
        fields={k: v.strip() for k, v in flds.items()}, dedup=tuple(dedup), threshold_count=count,
        window_seconds=window, description=str(doc.get("description") or ""), tags=tuple(tags),
    ), []


def compile_check(rules: list[NativeRule]) -> list[tuple[NativeRule, str, str]]:
    """Bind every rule's statement against empty tables in an in-memory DuckDB: ``(rule, key, error)``."""
    from cairn.detect.native.sql import hit_sql
    from cairn.enrich.tables import ENRICHED_OBSERVABLES, enriched_view_sql
    from cairn.lake.catalog import all_specs

    specs = all_specs()
    con = duckdb.connect(":memory:", config={"autoinstall_known_extensions": False,
                                             "autoload_known_extensions": False})
    out = []
    try:
        con.execute("SET TimeZone = 'UTC'")
        con.execute(f"CREATE TABLE enriched_observables AS {ENRICHED_OBSERVABLES.empty_select()}")
        made: set[str] = set()
        for r in rules:
            base = r.base_table
            if base not in made:
                con.execute(f'CREATE TABLE "{base}" AS {specs[base].empty_select()}')
                con.execute(f'CREATE VIEW "{base}_enriched" AS {enriched_view_sql(base)}')
                made.add(base)
            for key, sql in (("condition" if r.condition is not None else "query", r.base_sql(f'"{r.table}"')),
                             ("entities", hit_sql(r, f'"{r.table}"'))):
                try:
                    con.execute(f"SELECT * FROM ({sql}) LIMIT 0").fetchall()
                except duckdb.Error as exc:
                    out.append((r, key, "DuckDB rejected the SQL: " + str(exc).strip().splitlines()[0]))
                    break
    finally:
        con.close()
    return out
