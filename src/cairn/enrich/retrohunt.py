"""Retrohunt: re-enrich the stored lake against the current intel and report matches not reported before.

Every reported match is remembered in ``_cairn_retrohunt_seen`` by its key (event, source table, field,
type, value, indicator); the feed version is not part of the key, so an indicator that is merely
reloaded in a new version is not reported again. Each run is recorded in ``_cairn_retrohunt_runs``.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from cairn.engines.duckdb_engine import DuckDBEngine
from cairn.enrich.materialize import EnrichSummary, Progress, refresh
from cairn.workspace import Workspace

_DDL = """
CREATE TABLE IF NOT EXISTS _cairn_retrohunt_seen (match_key UHUGEINT NOT NULL, run_id VARCHAR NOT NULL,
                                                  reported_at TIMESTAMPTZ NOT NULL);
CREATE TABLE IF NOT EXISTS _cairn_retrohunt_runs (run_id VARCHAR PRIMARY KEY, ran_at TIMESTAMPTZ NOT NULL,
                                                  since TIMESTAMPTZ, new_matches BIGINT, total_matches BIGINT,
                                                  previous_run VARCHAR)
"""
_KEY = ("md5_number(concat_ws(chr(31), m.event_uid, m.source, m.field, m.type, m.value, m.indicator_uid))")

RESULT_COLUMNS = ("event_time", "source", "event_uid", "field", "type", "value", "indicator_uid", "matched",
                  "match_kind", "most_specific", "intel_source", "feed_version", "confidence", "threat_type",
                  "malware_family", "match_score_id", "score_id", "score", "why")


@dataclass
class RetrohuntReport:
    """One retrohunt run: the new matches and the refresh it did."""

    run_id: str
    ran_at: datetime
    since: datetime | None
    previous_run: str | None
    previous_ran_at: datetime | None
    total_matches: int
    new: pa.Table
    enrich: EnrichSummary
    recorded: bool = True
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (matches as a list of dicts)."""
        d = {k: v for k, v in asdict(self).items() if k not in ("new", "enrich")}
        d["enrich"] = self.enrich.to_dict()
        d["new_matches"] = self.new.num_rows
        d["matches"] = self.new.to_pylist()
        return d


def _ensure(engine: DuckDBEngine) -> None:
    for stmt in _DDL.split(";"):
        engine.execute(stmt)


def new_matches_sql(since: bool) -> str:
    """SELECT of the matches of ``intel_matches`` not reported yet (``$since`` bound when ``since``)."""
    where = "WHERE m.event_time >= $since" if since else ""
    return f"""
        WITH m AS (SELECT *, {_KEY} AS match_key FROM intel_matches m {where}),
        v AS (SELECT DISTINCT event_uid, source, field, type, value, event_time, score_id, score, why
              FROM enriched_observables o
              WHERE EXISTS (SELECT 1 FROM m WHERE m.event_uid = o.event_uid AND m.source = o.source))
        SELECT m.event_time, m.source, m.event_uid, m.field, m.type, m.value, m.indicator_uid, m.matched,
               m.match_kind, m.most_specific, m.intel_source, m.feed_version, m.confidence, m.threat_type,
               m.malware_family, m.score_id AS match_score_id, v.score_id, v.score, v.why, m.match_key
        FROM m ANTI JOIN _cairn_retrohunt_seen s ON s.match_key = m.match_key
        LEFT JOIN v ON v.event_uid = m.event_uid AND v.source = m.source AND v.field = m.field
                   AND v.type = m.type AND v.value = m.value
                   AND v.event_time IS NOT DISTINCT FROM m.event_time
        ORDER BY m.event_time, m.source, m.event_uid, m.field, m.intel_source, m.matched
    """


def retrohunt(engine: DuckDBEngine, workspace: Workspace, *, since: datetime | None = None,
              record: bool = True, progress: Progress | None = None) -> RetrohuntReport:
    """Refresh enrichment, then list (and unless ``record`` is false, remember) the new matches."""
    summary = refresh(engine, workspace, progress=progress)
    _ensure(engine)
    prev = engine.rows("SELECT run_id, ran_at FROM _cairn_retrohunt_runs ORDER BY ran_at DESC LIMIT 1")
    run_id = "retrohunt-" + datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + uuid.uuid4().hex[:8]
    ran_at = datetime.now(UTC)
    with workspace.writer_lock():
        params = {"since": since} if since else None
        engine.execute(f"CREATE OR REPLACE TEMP TABLE _rh_new AS {new_matches_sql(since is not None)}", params)
        total = int(engine.scalar("SELECT count(*) FROM intel_matches") or 0)
        new = engine.arrow(f"SELECT {', '.join(RESULT_COLUMNS)} FROM _rh_new")
        if record:
            with engine.transaction():
                engine.execute("INSERT INTO _cairn_retrohunt_seen SELECT DISTINCT match_key, ?, ? FROM _rh_new",
                               [run_id, ran_at])
                engine.execute("INSERT INTO _cairn_retrohunt_runs VALUES (?, ?, ?, ?, ?, ?)",
                               [run_id, ran_at, since, new.num_rows, total, prev[0][0] if prev else None])
        engine.execute("DROP TABLE IF EXISTS _rh_new")
    return RetrohuntReport(run_id=run_id, ran_at=ran_at, since=since, previous_run=prev[0][0] if prev else None,
                           previous_ran_at=prev[0][1] if prev else None, total_matches=total, new=new,
                           enrich=summary, recorded=record)
