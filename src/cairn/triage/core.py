"""``triage(engine, workspace, alert_body, before=, after=)``: from an alert to a :class:`TriageReport`."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa

from cairn.engines.duckdb_engine import DuckDBEngine
from cairn.errors import ConfigError
from cairn.triage import baseline as bl
from cairn.triage import summary as sm
from cairn.triage.enrichment import enrich_ips
from cairn.triage.identity import MATCH_SQL, children_keys, match_params, resolve
from cairn.triage.index import INDEX_COLUMNS, activity_source, prepare_index
from cairn.triage.inputs import Subject, subject_from
from cairn.triage.related import related
from cairn.triage.report import SCHEMA, TriageReport
from cairn.workspace import Workspace

ACTIVITY_SOURCES = ("lake", "lookup-events", "athena")
#: Baseline addresses enriched for the ASN/country comparison at most (the rest are compared as IPs).
BASELINE_IP_LIMIT = 2000


def resource_keys(values: list[str]) -> list[str]:
    """A resource as given plus its short id (bucket of an S3 ARN, the part after ``type/``)."""
    out: list[str] = []
    for v in values:
        out.append(v)
        if v.startswith("arn:"):
            rest = v.split(":", 5)[5] if v.count(":") >= 5 else ""
            if rest:
                out.append(rest.split("/")[-1] if "/" in rest else rest.split(":")[-1])
                if v.startswith("arn:aws:s3:::"):
                    out.append(rest.split("/")[0])
    return [x for x in dict.fromkeys(out) if x]


def _own_fields(subject: Subject) -> dict[str, Any]:
    """An ASFF finding's own ``UserDefinedFields`` (the triage fields written back must fit beside them)."""
    udf = subject.raw.get("UserDefinedFields") if subject.kind == "securityhub" else None
    return {"user_defined_fields": {str(k): str(v) for k, v in udf.items()}} if isinstance(udf, dict) else {}


def _window(subject: Subject, before: timedelta, after: timedelta) -> tuple[datetime, datetime]:
    """(start, end) of the activity window; :class:`ConfigError` when it leaves the calendar."""
    first = subject.first_seen or subject.time
    last = max(subject.last_seen or subject.time, subject.time)
    try:
        start = first - before
    except OverflowError:
        raise ConfigError(f"--before: {before} before {first:%Y-%m-%d} is out of range") from None
    try:
        return start, last + after
    except OverflowError:
        raise ConfigError(f"--after: {after} after {last:%Y-%m-%d} is out of range") from None


def triage(engine: DuckDBEngine, workspace: Workspace, alert_body: Any, *, before: timedelta = timedelta(hours=1),
           after: timedelta = timedelta(minutes=30), baseline: timedelta = timedelta(days=14),
           activity: str = "lake", activity_rows: pa.Table | None = None, index: int = 0,
           auto_index: bool = True, use_index: bool = True, enrich: bool = True) -> TriageReport:
    """Triage one alert.

    ``alert_body``: a parsed finding/alert (dict or list) or an alert id string. ``activity``: ``lake``
    (default), ``lookup-events`` (then ``activity_rows`` holds the events fetched from the API, shaped
    like :data:`cairn.triage.index.INDEX_COLUMNS`; see :mod:`cairn.triage.lookup_events`) or
    ``athena`` (the report carries the generated SQL; activity is still read from the lake if any).
    ``use_index=False`` reads the lake's views directly (no triage index); ``auto_index`` brings a stale
    index up to date first (else the lake is read and the report says so).
    """
    if activity not in ACTIVITY_SOURCES:
        raise ConfigError(f"unknown activity source {activity!r}; choose one of {', '.join(ACTIVITY_SOURCES)}")
    timings: dict[str, float] = {}
    t0 = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal t0
        now = time.perf_counter()
        timings[name] = round(now - t0, 4)
        t0 = now

    subject = subject_from(engine, alert_body, index=index)
    start, end = _window(subject, before, after)
    try:
        b_start = start - baseline
    except OverflowError:
        raise ConfigError(f"--baseline: {baseline} before {start:%Y-%m-%d} is out of range") from None
    notes: list[str] = []
    lap("input")
    note = None
    if use_index:
        use_index, note = prepare_index(engine, workspace, auto=auto_index)
    if note:
        notes.append(note)
    lap("index")
    if activity == "lookup-events":
        if activity_rows is None:
            raise ConfigError("activity 'lookup-events' needs the fetched events (activity_rows)")
        engine.register("_tri_api_rows", activity_rows.select(list(INDEX_COLUMNS)))
        window_src = "_tri_api_rows"
    else:
        window_src = activity_source(engine, workspace, start, end, use_index=use_index)
    lookback_src = activity_source(engine, workspace, b_start, end, use_index=use_index)
    ident = resolve(engine, subject, window_src, start, end, lookback_src=lookback_src, lookback_start=b_start)
    lap("identity")

    res_keys = resource_keys(subject.resources)
    params = {"start": start, "end": end, **match_params(ident)}
    where = f"event_time BETWEEN $start AND $end AND {MATCH_SQL}"
    children: list[str] = []
    if not ident.empty:
        seen: set[str] = set(ident.match_keys)
        cur_where, cur_params = where, params
        for _ in range(3):  # forward role chaining: sessions this identity created, and theirs
            new = [k for k in children_keys(engine, window_src, cur_where, cur_params) if k not in seen]
            if not new:
                break
            seen.update(new)
            children += new
            cur_where = "event_time BETWEEN $start AND $end AND list_contains($keys, access_key_id)"
            cur_params = {"start": start, "end": end, "keys": new}
    engine.execute(
        f"""CREATE OR REPLACE TEMP TABLE {sm.ACT} AS
        SELECT *, CASE WHEN m_id THEN 'identity' WHEN m_child THEN 'child_session' ELSE 'resource' END AS matched_by
        FROM (SELECT *, coalesce({MATCH_SQL}, false) AS m_id,
                     coalesce(list_contains($children, access_key_id), false) AS m_child,
                     coalesce(list_has_any(res, $res), false) AS m_res
              FROM {window_src} WHERE event_time BETWEEN $start AND $end)
        WHERE m_id OR m_child OR m_res""",
        {**params, "children": children, "res": res_keys},
    )
    lap("activity")

    data: dict[str, Any] = {
        "schema": SCHEMA,
        "generated_at": datetime.now(UTC),
        "input": {**subject.to_dict(), **_own_fields(subject)},
        "window": {"start": start, "end": end, "before_seconds": before.total_seconds(),
                   "after_seconds": after.total_seconds()},
        "activity_source": activity,
        "index": "triage index" if use_index else "lake",
        "identity": {**ident.to_dict(), "child_session_keys": children},
        "resource": {"values": subject.resources, "match_values": res_keys},
    }
    data["counts"] = sm.counts(engine)
    data["by_api"] = sm.by_api(engine)
    srcs = sm.sources(engine)
    data["user_agents"] = sm.user_agents(engine)
    data["errors"] = sm.errors(engine)
    data["regions"] = sm.regions(engine)
    data["sensitive"] = sm.sensitive(engine)
    data["timeline"] = sm.timeline(engine, start, end)
    win = sm.window_sets(engine)
    lap("summary")

    base = bl.baseline_sets(engine, ident.baseline_principals, b_start, start, use_index=use_index)
    data["baseline"] = {"start": b_start, "end": start, "principals": ident.baseline_principals,
                        "events": base["events"], "first": base["first"], "last": base["last"],
                        "from": "triage digest" if use_index else "lake"}
    lap("baseline")

    ips_time = {s["ip"]: s["last"] for s in srcs if s.get("ip")}
    base_ips = base["ips"][:BASELINE_IP_LIMIT]
    if len(base["ips"]) > BASELINE_IP_LIMIT:
        notes.append(f"baseline has {len(base['ips'])} addresses; ASN/country compared for the first "
                     f"{BASELINE_IP_LIMIT}")
    enriched: dict[str, dict[str, Any]] = {}
    method = "none"
    if enrich:
        lookup = dict(ips_time)
        for ip in base_ips:
            lookup.setdefault(ip, start)
        enriched, method = enrich_ips(engine, workspace, lookup)
    data["enrichment_method"] = method
    lap("enrichment")

    new_ips = [ip for ip in win["ips"] if ip not in set(base["ips"])]
    b_asn = {enriched.get(ip, {}).get("asn") for ip in base_ips} - {None}
    b_cc = {enriched.get(ip, {}).get("country") for ip in base_ips} - {None}
    w_asn = {enriched.get(ip, {}).get("asn") for ip in win["ips"]} - {None}
    w_cc = {enriched.get(ip, {}).get("country") for ip in win["ips"]} - {None}
    new = {
        "ips": new_ips,
        "asns": sorted(w_asn - b_asn),
        "countries": sorted(w_cc - b_cc),
        "user_agents": [u for u in win["user_agents"] if u not in set(base["user_agents"])],
        "apis": [a for a in win["apis"] if a not in set(base["apis"])],
        "regions": [r for r in win["regions"] if r not in set(base["regions"])],
    }
    data["new_vs_baseline"] = new
    for s in srcs:
        e = enriched.get(s.get("ip") or "", {})
        s["enrichment"] = e or None
        s["new"] = bool(s.get("ip") and s["ip"] in new_ips)
    data["source_ips"] = srcs
    for u in data["user_agents"]:
        u["new"] = u["user_agent"] in new["user_agents"]
    for r in data["regions"]:
        r["new"] = r["region"] in new["regions"]

    arns = [a for a in {ident.principal_arn, ident.identity_arn, ident.role_arn} if a]
    names = [n for n in {ident.user_name, ident.session_name, subject.user_name} if n]
    ids = [i for i in {subject.principal_id} if i]
    ips_all = sorted({*(s["ip"] for s in srcs if s.get("ip")), *subject.ips})
    data["related"], rnotes = related(
        engine, start=b_start, end=end, keys=ident.access_keys + children, names=names, principal_ids=ids,
        arns=arns, resources=res_keys, ips=ips_all, self_id=subject.finding_id)
    notes += rnotes
    lap("related")
    if activity == "athena":
        from cairn.triage.athena import athena_sql

        data["athena"] = athena_sql(ident, res_keys, start, end)
    if activity == "lookup-events":
        engine.unregister("_tri_api_rows")
    if ident.empty:
        notes.append("the alert's identity was not found in the activity; only resource activity is shown")
    data["notes"] = notes
    data["timings"] = timings
    return TriageReport(data)
