"""``cairn detect``: run Sigma, native and intel-match rules over the new data of the lake, raise alerts.

Incremental unit: the catalog's files. Every lake table is a set of immutable Parquet files listed in
``_cairn_files``; a rule's checkpoint is the set of files of its input table it has read
(``_cairn_detect_checkpoints``). A run reads, for each rule, only the files added since (whatever the
event times inside them: late-arriving logs are new files and are seen), and commits the new
checkpoints, the hit ledger and the alerts in one transaction. Files that replace others (an
enrichment recompute) are new files: they are read again, and the hit ledger (one row per rule and
event, ever) drops what was counted before, so an event never raises or counts twice.

Alert windows are tumbling: an alert is one rule, one dedup key and one window
(``floor(epoch(event_time) / window)``), so its id is stable whatever the order data arrives in, and
events of a later run that fall in an open alert's window update it (``last_seen``, ``event_count``).
A threshold rule counts the ledger's events per dedup key and window and raises the alert when the
count reaches the threshold.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import yaml

from cairn.detect.alerts import SEVERITY_ID, Alert, ensure_alert_tables
from cairn.detect.intel_match import (
    INTEL_INPUT_TABLE,
    INTEL_RULE_ID,
    INTEL_RULE_TITLE,
    INTEL_SEVERITY,
    INTEL_TABLE,
    intel_hit_sql,
)
from cairn.detect.native.rules import NativeRule, is_native_document, load_native_rules, rule_files
from cairn.detect.native.sql import HIT_COLUMNS, hit_sql
from cairn.detect.settings import DetectSettings, detect_settings
from cairn.engines.duckdb_engine import DuckDBEngine
from cairn.errors import CairnError, EngineError, InputError
from cairn.lake.catalog import Catalog, all_specs
from cairn.workspace import Workspace

Progress = Callable[[str, int, int], None]
"""``progress(step, done, total)``."""

EVENT_UIDS_KEPT = 100
"""``alerts.event_uids`` keeps the first events by time; the ledger keeps them all."""

_HITS_DDL = """
CREATE OR REPLACE TEMP TABLE _det_hits (
    rule_id VARCHAR, source VARCHAR, event_uid VARCHAR, event_time TIMESTAMPTZ, title VARCHAR,
    identity VARCHAR, resource VARCHAR, ips VARCHAR[], account_id VARCHAR, dedup_key VARCHAR,
    anchor_time TIMESTAMPTZ
)"""
_RULES_SCHEMA = pa.schema([("rule_id", pa.string()), ("rule_title", pa.string()), ("severity", pa.string()),
                           ("severity_id", pa.int32()), ("kind", pa.string()), ("input_table", pa.string()),
                           ("window_seconds", pa.int64()), ("threshold", pa.int64()),
                           ("tags", pa.list_(pa.string()))])


@dataclass
class DetectSummary:
    """What one ``cairn detect`` run did."""

    run_id: str = ""
    rules: dict[str, int] = field(default_factory=dict)
    """Rules run, by kind (sigma, native, intel)."""
    failed_sigma: list[dict[str, str]] = field(default_factory=list)
    input_files: int = 0
    """(rule, file) pairs read."""
    hits: int = 0
    """Matches found in the data read."""
    new_hits: int = 0
    """Matches not counted before (the rest were already in the ledger)."""
    new_alerts: list[dict[str, Any]] = field(default_factory=list)
    updated_alerts: int = 0
    dispatch: dict[str, Any] | None = None
    """What handing the new alerts to the actions did: ``status`` (``ok``, ``no new alerts``,
    ``unavailable``, ``failed``), with the delivery counts when ok and ``error`` when failed; None when
    dispatch is off."""
    enrich: dict[str, Any] | None = None
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


@dataclass
class RuleSets:
    """The rules of one run."""

    sigma: Any  # cairn.detect.sigma.RuleSet (pySigma is imported only when there are Sigma rules)
    native: list[NativeRule]
    intel: bool
    intel_min_score: int
    intel_warninglists: str = "all"


_SIGMA_KEY = re.compile(r"^(detection|correlation|logsource|filter)\s*:", re.MULTILINE)


def _is_native_file(f: Path) -> bool:
    """Does ``f`` hold a native rule? Yes when any document (or item of a top-level list) has
    ``condition``/``query`` and no ``detection``/``correlation``, and when the YAML does not parse and no
    Sigma top-level key is in sight: the native loader then reports the file as a broken native rule
    (an error) rather than Sigma counting it as one more unconvertible rule."""
    try:
        text = f.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        return False  # Sigma's loader names unreadable files
    try:
        docs = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError:
        return not _SIGMA_KEY.search(text)
    items = [x for d in docs for x in (d if isinstance(d, list) else [d])]
    return any(is_native_document(x) for x in items)


def split_rule_files(paths: Iterable[Path | str]) -> tuple[list[Path], list[Path]]:
    """(Sigma files, native files) under ``paths`` (see :func:`_is_native_file`)."""
    sigma, native = [], []
    for f in rule_files(paths):
        (native if _is_native_file(f) else sigma).append(f)
    return sigma, native


def load_rule_sets(settings: DetectSettings, extra: Sequence[Path | str] = ()) -> RuleSets:
    """Sigma rules of ``[detect] sigma``, native rules of ``[detect] native`` and ``extra`` paths of either kind."""
    sigma_files = list(settings.paths(settings.sigma))
    native_paths: list[Path | str] = [p if p == "builtin" else settings.paths([p])[0] for p in settings.native]
    if extra:
        s, n = split_rule_files(extra)
        sigma_files += s
        native_paths += n
    sigma = None
    if sigma_files:
        from cairn.detect.sigma import load_rules

        sigma = load_rules(sigma_files)
    native = load_native_rules(native_paths) if native_paths else []
    return RuleSets(sigma=sigma, native=native, intel=settings.intel_match,
                    intel_min_score=settings.intel_min_score, intel_warninglists=settings.intel_warninglists)


def _rules_table(rs: RuleSets, default_window: int) -> pa.Table:
    rows: list[dict[str, Any]] = []
    if rs.sigma is not None:
        for e in rs.sigma.converted():
            if e.output:
                level = e.level if e.level in SEVERITY_ID else "medium"
                rows.append({"rule_id": e.id, "rule_title": e.title, "severity": level, "kind": "sigma",
                             "input_table": e.table, "window_seconds": default_window, "threshold": 1,
                             "tags": list(e.tags)})
    for r in rs.native:
        rows.append({"rule_id": r.id, "rule_title": r.title, "severity": r.severity, "kind": "native",
                     "input_table": r.base_table, "threshold": r.threshold_count, "tags": list(r.tags),
                     "window_seconds": r.window_seconds if r.window_seconds is not None else default_window})
    if rs.intel:
        rows.append({"rule_id": INTEL_RULE_ID, "rule_title": INTEL_RULE_TITLE, "severity": INTEL_SEVERITY,
                     "kind": "intel", "input_table": INTEL_INPUT_TABLE, "window_seconds": default_window, "threshold": 1})
    for r in rows:
        r["severity_id"] = SEVERITY_ID[r["severity"]]
    ids = [r["rule_id"] for r in rows]
    dup = sorted({i for i in ids if ids.count(i) > 1})
    if dup:
        raise InputError(f"rule id used by more than one rule: {', '.join(dup)}")
    return pa.Table.from_pylist(rows, schema=_RULES_SCHEMA)


def _q(text: str | Path) -> str:
    return "'" + str(text).replace("'", "''") + "'"


class _Views:
    """Temp views over chosen files of a lake table (paths come from the catalog, not from users)."""

    def __init__(self, engine: DuckDBEngine, lake: Path) -> None:
        self.engine, self.lake, self.names = engine, lake, []
        self.specs = all_specs()

    def files_view(self, table: str, files: list[str]) -> str:
        spec = self.specs[table]
        name = f"_det_new_{len(self.names)}"
        cols = ", ".join(f"CAST({c.name} AS {c.type}) AS {c.name}" for c in spec.columns)
        listing = ", ".join(_q(self.lake / f) for f in files)
        self.engine.execute(f"CREATE OR REPLACE TEMP VIEW {name} AS SELECT {cols} FROM read_parquet([{listing}], "
                            "hive_partitioning = true, union_by_name = true)")
        self.names.append(name)
        return name

    def events_view(self, table: str, keys_view: str) -> str:
        """Rows of ``table`` (an observables-shaped relation) of the events named in ``keys_view``."""
        name = f"_det_new_{len(self.names)}"
        self.engine.execute(
            f"CREATE OR REPLACE TEMP VIEW {name} AS SELECT t.* FROM {table} t WHERE EXISTS "
            f"(SELECT 1 FROM {keys_view} k WHERE k.source = t.source AND k.event_uid = t.event_uid)")
        self.names.append(name)
        return name

    def enriched_view(self, table: str, base_view: str) -> str:
        from cairn.enrich.tables import ENRICHMENT_COLUMNS

        name = f"_det_new_{len(self.names)}"
        packed = ", ".join(f"{c.name} := {c.name}" for c in ENRICHMENT_COLUMNS)
        self.engine.execute(
            f"CREATE OR REPLACE TEMP VIEW {name} AS SELECT t.*, e.max_score_id, e.enrichment FROM {base_view} t "
            f"LEFT JOIN (SELECT event_uid, CAST(max(score_id) AS INTEGER) AS max_score_id, "
            f"list(struct_pack({packed}) ORDER BY field, value) AS enrichment FROM enriched_observables "
            f"WHERE source = {_q(table)} AND event_uid IN (SELECT event_uid FROM {base_view}) GROUP BY event_uid) e "
            f"ON e.event_uid = t.event_uid")
        self.names.append(name)
        return name

    def drop(self) -> None:
        for n in reversed(self.names):
            self.engine.execute(f"DROP VIEW IF EXISTS {n}")


def _pending(engine: DuckDBEngine) -> dict[str, list[str]]:
    """Rule id -> catalog files of its input table it has not read yet."""
    rows = engine.rows("""
        SELECT r.rule_id, f.path FROM _det_rules r JOIN _cairn_files f ON f.table_name = r.input_table
        WHERE NOT EXISTS (SELECT 1 FROM _cairn_detect_checkpoints c
                          WHERE c.rule_id = r.rule_id AND c.table_name = f.table_name AND c.path = f.path)
        ORDER BY 1, 2""")
    out: dict[str, list[str]] = {}
    for rid, path in rows:
        out.setdefault(rid, []).append(path)
    return out


def _since_clause(since: Any) -> tuple[str, list[Any]]:
    return ("WHERE event_time >= CAST(? AS TIMESTAMPTZ)", [since]) if since is not None else ("", [])


def _collect_sigma(engine: DuckDBEngine, views: _Views, rs: RuleSets, pending: dict[str, list[str]],
                   since: Any) -> None:
    from cairn.detect.sigma import RuleSet, run_rules

    for table in rs.sigma.tables():
        entries = rs.sigma.for_table(table)
        files = sorted({p for e in entries for p in pending.get(e.id, [])})
        if not files:
            continue
        # Correlation windows reach back before the new files: those tables are read whole (the hit
        # ledger drops the plain matches counted before).
        has_corr = any(e.kind == "correlation" for e in entries)
        relation = table if has_corr else views.files_view(table, files)
        matches = run_rules(engine, RuleSet(entries=entries), tables=[table], since=since,
                            relations={table: relation})
        engine.register("_det_sigma", matches)
        try:
            engine.execute("""
                INSERT INTO _det_hits
                SELECT rule_id, table_name, uid, CASE WHEN uid = event_uid THEN event_time ELSE first_time END,
                       CASE WHEN principal_arn IS NOT NULL THEN rule_title || ' by ' || principal_arn
                            WHEN src_ip IS NOT NULL THEN rule_title || ' from ' || src_ip ELSE rule_title END,
                       principal_arn, NULL, CASE WHEN src_ip IS NULL THEN CAST([] AS VARCHAR[]) ELSE [src_ip] END,
                       account_id, concat_ws('|', coalesce(principal_arn, src_ip, ''), coalesce(account_id, '')),
                       event_time
                FROM (SELECT *, unnest(list_distinct(list_append(coalesce(event_uids, []), event_uid))) AS uid
                      FROM _det_sigma)""")
        finally:
            engine.unregister("_det_sigma")


def _collect_native(engine: DuckDBEngine, views: _Views, rs: RuleSets, pending: dict[str, list[str]],
                    since: Any) -> None:
    cols = ", ".join(HIT_COLUMNS)
    for rule in rs.native:
        files = pending.get(rule.id)
        if not files:
            continue
        relation = views.files_view(rule.base_table, files)
        if rule.table.endswith("_enriched"):
            relation = views.enriched_view(rule.base_table, relation)
        where, params = _since_clause(since)
        try:
            engine.execute(f"INSERT INTO _det_hits SELECT {cols}, event_time FROM ({hit_sql(rule, relation)}) {where}",
                           params or None)
        except EngineError as exc:  # name the rule whose SQL failed
            raise InputError(f"native rule {rule.id} failed: {exc}", origin=rule.path) from exc


def _collect_intel(engine: DuckDBEngine, views: _Views, rs: RuleSets, pending: dict[str, list[str]],
                   since: Any) -> None:
    files = pending.get(INTEL_RULE_ID)
    if not rs.intel or not files:
        return
    flagged = views.files_view(INTEL_INPUT_TABLE, files)
    relation = views.events_view(INTEL_TABLE, flagged)
    where, params = _since_clause(since)
    engine.execute(f"INSERT INTO _det_hits SELECT {', '.join(HIT_COLUMNS)}, event_time "
                   f"FROM ({intel_hit_sql(relation, rs.intel_warninglists)}) {where}",
                   [rs.intel_min_score, *params])


_SUMMARY_SQL = """
WITH ev AS (
    SELECT l.alert_id, e.type, e.value, e.score_id, e.score, e.why, e.verdict_sources, e.warninglist_hit,
           e.asn, e.as_org, e.country, e.cloud_provider, e.is_tor, e.account_name, e.account_environment,
           e.account_owner, e.identity_person, e.identity_team, e.asset_owner, e.asset_criticality
    FROM _cairn_alert_events l JOIN enriched_observables e ON e.source = l.source AND e.event_uid = l.event_uid
    WHERE l.alert_id IN (SELECT alert_id FROM _det_agg)
), obs AS (
    SELECT alert_id, type, value, max(score_id) AS score_id, arg_max(score, score_id) AS score,
           arg_max(why, score_id) AS why, arg_max(verdict_sources, score_id) AS sources,
           bool_or(warninglist_hit) AS wl, any_value(asn) AS asn, any_value(as_org) AS as_org,
           any_value(country) AS country, any_value(cloud_provider) AS cloud_provider, bool_or(is_tor) AS tor,
           any_value(account_name) AS account_name, any_value(account_environment) AS account_environment,
           any_value(account_owner) AS account_owner, any_value(identity_person) AS person,
           any_value(identity_team) AS team, any_value(asset_owner) AS asset_owner,
           any_value(asset_criticality) AS criticality
    FROM ev GROUP BY ALL
)
SELECT alert_id, CAST(max(score_id) AS INTEGER) AS max_score_id, CAST(to_json({
    'max_score_id': max(score_id),
    'observables': count(*),
    'verdicts': coalesce((list({'type': type, 'value': value, 'score_id': score_id, 'score': score, 'why': why,
                                'sources': sources} ORDER BY score_id DESC, value) FILTER (WHERE score_id > 0))[1:10], []),
    'warninglisted': coalesce((list(value ORDER BY value) FILTER (WHERE wl))[1:10], []),
    'networks': coalesce((list({'ip': value, 'asn': asn, 'as_org': as_org, 'country': country,
                                'cloud_provider': cloud_provider, 'tor': tor} ORDER BY value)
                          FILTER (WHERE type = 'ip'))[1:10], []),
    'accounts': coalesce(list_distinct(list({'account': value, 'name': account_name, 'environment': account_environment,
                                             'owner': account_owner})
                                        FILTER (WHERE account_name IS NOT NULL AND type = 'account')), []),
    'people': coalesce(list_distinct(list(person) FILTER (WHERE person IS NOT NULL)), []),
    'teams': coalesce(list_distinct(list(team) FILTER (WHERE team IS NOT NULL)), []),
    'assets': coalesce(list_distinct(list({'value': value, 'owner': asset_owner, 'criticality': criticality})
                                     FILTER (WHERE asset_owner IS NOT NULL OR criticality IS NOT NULL)), [])
}) AS VARCHAR) AS enrichment_summary
FROM obs GROUP BY alert_id
"""


def _commit(engine: DuckDBEngine, cat: Catalog, run_id: str, pending: dict[str, list[str]],
            summary: DetectSummary, started: float) -> list[str]:
    """Ledger, alerts, checkpoints and the run record in one transaction; returns the new alert ids."""
    summary.hits = int(engine.scalar("SELECT count(*) FROM _det_hits") or 0)
    rules_by_table = dict(engine.rows("SELECT rule_id, input_table FROM _det_rules"))
    checkpoints = pa.Table.from_pylist(
        [{"rule_id": rid, "table_name": rules_by_table[rid], "path": p, "run_id": run_id}
         for rid, paths in pending.items() for p in paths],
        schema=pa.schema([("rule_id", pa.string()), ("table_name", pa.string()), ("path", pa.string()),
                          ("run_id", pa.string())]))
    with engine.transaction():
        engine.execute("""
            INSERT INTO _cairn_alert_events
            SELECT h.rule_id, h.event_uid, h.source, h.event_time,
                   substr(sha256(concat_ws(chr(31), h.rule_id, h.dedup_key,
                       CASE WHEN r.window_seconds > 0
                            THEN CAST(CAST(floor(epoch(h.anchor_time) / r.window_seconds) AS BIGINT)
                                      * r.window_seconds AS VARCHAR)
                            ELSE h.event_uid END)), 1, 32),
                   h.title, h.identity, h.resource, h.ips, h.account_id, h.dedup_key, ?
            FROM (SELECT * FROM _det_hits QUALIFY row_number() OVER (
                      PARTITION BY rule_id, event_uid ORDER BY anchor_time DESC, event_time) = 1) h
            JOIN _det_rules r USING (rule_id)
            WHERE NOT EXISTS (SELECT 1 FROM _cairn_alert_events x WHERE x.rule_id = h.rule_id
                              AND x.event_uid = h.event_uid)""", [run_id])
        summary.new_hits = int(engine.scalar("SELECT count(*) FROM _cairn_alert_events WHERE run_id = ?",
                                             [run_id]) or 0)
        engine.execute(f"""
            CREATE OR REPLACE TEMP TABLE _det_agg AS
            SELECT l.alert_id, any_value(l.rule_id) AS rule_id, any_value(l.source) AS source,
                   min(l.event_time) AS first_seen, max(l.event_time) AS last_seen, count(*) AS event_count,
                   list(l.event_uid ORDER BY l.event_time, l.event_uid)[1:{EVENT_UIDS_KEPT}] AS event_uids,
                   arg_min(l.title, l.event_time) AS title, arg_min(l.identity, l.event_time) AS identity,
                   arg_min(l.resource, l.event_time) AS resource,
                   list_sort(list_distinct(flatten(list(l.ips))))[1:50] AS ips,
                   arg_min(l.account_id, l.event_time) AS account_id, any_value(l.dedup_key) AS dedup_key
            FROM _cairn_alert_events l
            WHERE l.alert_id IN (SELECT DISTINCT alert_id FROM _cairn_alert_events WHERE run_id = ?)
            GROUP BY l.alert_id""", [run_id])
        engine.execute("DELETE FROM _det_agg WHERE event_count < (SELECT threshold FROM _det_rules r "
                       "WHERE r.rule_id = _det_agg.rule_id)")
        engine.execute(f"CREATE OR REPLACE TEMP TABLE _det_summary AS {_SUMMARY_SQL}")
        new_ids = [r[0] for r in engine.rows(
            "SELECT alert_id FROM _det_agg WHERE alert_id NOT IN (SELECT alert_id FROM _cairn_alerts) "
            "ORDER BY first_seen, alert_id")]
        summary.updated_alerts = int(engine.scalar("SELECT count(*) FROM _det_agg") or 0) - len(new_ids)
        engine.execute("""
            CREATE OR REPLACE TEMP TABLE _det_old AS
            SELECT alert_id, created_at, status FROM _cairn_alerts WHERE alert_id IN (SELECT alert_id FROM _det_agg)""")
        engine.execute("DELETE FROM _cairn_alerts WHERE alert_id IN (SELECT alert_id FROM _det_agg)")
        engine.execute("""
            INSERT INTO _cairn_alerts
            SELECT a.alert_id, a.rule_id, r.rule_title, a.title, r.severity, r.severity_id, a.first_seen,
                   a.last_seen, a.event_count, a.event_uids, a.source, a.identity, a.resource, a.ips, a.account_id,
                   a.dedup_key, s.max_score_id, coalesce(s.enrichment_summary, '{}'),
                   coalesce(o.created_at, now()), now(), coalesce(o.status, 'new'), coalesce(r.tags, [])
            FROM _det_agg a JOIN _det_rules r USING (rule_id)
            LEFT JOIN _det_summary s USING (alert_id) LEFT JOIN _det_old o USING (alert_id)""")
        if checkpoints.num_rows:
            engine.register("_det_cp", checkpoints)
            engine.execute("INSERT INTO _cairn_detect_checkpoints SELECT * FROM _det_cp")
            engine.unregister("_det_cp")
        engine.execute("DELETE FROM _cairn_detect_checkpoints c WHERE NOT EXISTS (SELECT 1 FROM _cairn_files f "
                       "WHERE f.table_name = c.table_name AND f.path = c.path)")
        summary.seconds = round(time.monotonic() - started, 3)
        record = {k: v for k, v in summary.to_dict().items() if k != "new_alerts"}
        record["new_alerts"] = len(new_ids)
        engine.execute("INSERT INTO _cairn_runs VALUES (?, 'detect', now() - to_microseconds(?::BIGINT), now(), "
                       "'committed', ?)", [run_id, int(summary.seconds * 1e6), json.dumps(record, default=str)])
        cat.refresh_views(["alerts"])
    for t in ("_det_agg", "_det_summary", "_det_old"):
        engine.execute(f"DROP TABLE IF EXISTS {t}")
    return new_ids


def detect(engine: DuckDBEngine, workspace: Workspace, *, since: str | datetime | None = None,
           rules: Sequence[Path | str] = (), settings: DetectSettings | None = None,
           enrich: bool | None = None, dispatch: bool | None = None,
           progress: Progress | None = None) -> DetectSummary:
    """Run the configured rules (plus ``rules`` paths) over new data; raise and update alerts."""
    from cairn.timeparse import parse_time

    since = parse_time(since, option="since")
    ws = workspace
    s = settings or detect_settings(ws.config)
    started = time.monotonic()
    summary = DetectSummary()
    rs = load_rule_sets(s, rules)
    dispatching = s.dispatch if dispatch is None else dispatch
    # a bad [actions] setting fails the run before any alert is committed
    actions_settings = _check_actions(ws) if dispatching else None
    if rs.sigma is not None:
        summary.failed_sigma = [{"path": e.path, "title": e.title, "reason": e.reason or ""} for e in rs.sigma.written() if e.reason]
    if s.enrich if enrich is None else enrich:
        from cairn.enrich import refresh

        summary.enrich = refresh(engine, ws).to_dict()
    with ws.writer_lock():
        cat = Catalog(engine, ws.lake)
        ensure_alert_tables(engine)
        rules_table = _rules_table(rs, s.suppression_seconds())
        kinds = rules_table.column("kind").to_pylist()
        summary.rules = {k: kinds.count(k) for k in ("sigma", "native", "intel") if k in kinds}
        summary.run_id = "detect-" + datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + uuid.uuid4().hex[:8]
        engine.register("_det_rules_arrow", rules_table)
        engine.execute("CREATE OR REPLACE TEMP TABLE _det_rules AS SELECT * FROM _det_rules_arrow")
        engine.unregister("_det_rules_arrow")
        engine.execute(_HITS_DDL)
        views = _Views(engine, ws.lake)
        try:
            pending = _pending(engine)
            summary.input_files = sum(len(v) for v in pending.values())
            steps = [("sigma", _collect_sigma), ("native", _collect_native), ("intel", _collect_intel)]
            for i, (name, step) in enumerate(steps):
                if progress:
                    progress(name, i, len(steps))
                if name == "sigma" and rs.sigma is None:
                    continue
                step(engine, views, rs, pending, since)
            new_ids = _commit(engine, cat, summary.run_id, pending, summary, started)
        finally:
            views.drop()
            engine.execute("DROP TABLE IF EXISTS _det_hits")
            engine.execute("DROP TABLE IF EXISTS _det_rules")
    new_alerts = _alerts_by_id(engine, new_ids)
    summary.new_alerts = [a.to_dict() for a in new_alerts]
    if dispatching:
        summary.dispatch = _dispatch(engine, ws, summary.new_alerts, actions_settings)
    summary.seconds = round(time.monotonic() - started, 3)
    return summary


def _alerts_by_id(engine: DuckDBEngine, ids: list[str]) -> list[Alert]:
    if not ids:
        return []
    engine.register("_det_ids", pa.table({"alert_id": pa.array(ids, pa.string())}))
    try:
        rows = engine.arrow("SELECT a.* FROM _cairn_alerts a JOIN _det_ids USING (alert_id) "
                            "ORDER BY a.first_seen, a.alert_id").to_pylist()
    finally:
        engine.unregister("_det_ids")
    return [Alert.from_row(r) for r in rows]


def _actions_module() -> Any:
    """``cairn.actions`` when installed with its ``dispatch``, else None."""
    try:
        import cairn.actions as actions
    except ImportError:
        return None
    return actions if callable(getattr(actions, "dispatch", None)) else None


def _check_actions(ws: Workspace) -> Any:
    """``[actions]`` read as dispatch reads them (every destination's own checks), or None without the
    actions package: a ConfigError now, before any alert is committed, rather than alerts stored and never
    queued."""
    actions = _actions_module()
    if actions is not None and callable(getattr(actions, "actions_settings", None)):
        return actions.actions_settings(ws.config)
    return None


def _dispatch(engine: DuckDBEngine, ws: Workspace, alerts: list[dict[str, Any]], settings: Any = None) -> dict[str, Any]:
    """Hand new alerts to ``cairn.actions.dispatch`` when that package exists (``settings``: the checked
    ``[actions]``, else the workspace's are read)."""
    if not alerts:
        return {"status": "no new alerts"}
    actions = _actions_module()
    if actions is None:
        return {"status": "unavailable", "error": "cairn.actions is not installed: alerts not dispatched"}
    try:
        result = actions.dispatch(engine, ws, alerts, settings if settings is not None else ws.config)
    except CairnError as exc:  # the alerts are committed: `cairn actions dispatch` enqueues them later
        return {"status": "failed", "error": str(exc)}
    return {"status": "ok", **(result.to_dict() if hasattr(result, "to_dict") else {"result": str(result)})}
