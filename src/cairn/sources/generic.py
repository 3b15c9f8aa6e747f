"""Any JSON records (``--source json``): JSON lines, arrays and documents.

Nothing is assumed about the records but a time: the first present of
``time``, ``timestamp``, ``@timestamp``, ``eventTime``, ``EventTime``,
``createdAt`` and ``date`` (ISO-8601 text, epoch seconds, milliseconds,
microseconds or nanoseconds, as numbers or digit strings). The dedup key is the
first present of ``id``, ``eventID``, ``uuid`` and ``Id``, else the record's
content hash. Records are kept whole in ``raw``; top-level values that are IP
addresses become observables. Never chosen by auto-detection.
"""

from __future__ import annotations

from cairn.lake.schema import PROVENANCE_COLUMNS, Column, TableSpec, common_columns
from cairn.sources.base import Observable, Sniff, Source
from cairn.sources.sqlkit import content_uid, cwl_body, ip_bins, ip_list, json_kind

ID_FIELDS = ("id", "eventID", "uuid", "Id")
TIME_FIELDS = ("time", "timestamp", "@timestamp", "eventTime", "EventTime", "createdAt", "date")

JSON_EVENTS = TableSpec(
    name="json_events",
    doc="Generic JSON records loaded with --source json (no OCSF class).",
    sort_columns=("event_time", "event_uid"),
    columns=(
        *common_columns(0),
        Column("id_field", "VARCHAR", "Top-level field event_uid came from (NULL: content hash)"),
        Column("time_field", "VARCHAR", "Top-level field event_time came from"),
        Column("ips", "VARCHAR[]", "Top-level string values that are IP addresses (canonical)"),
        Column("ips_bin", "BLOB[]", "ips as 16 bytes each (IPv4 mapped into IPv6)"),
        *PROVENANCE_COLUMNS,
    ),
)

RECORDS_SQL = f"""
WITH i AS (SELECT origin, locator, item, {cwl_body()} AS body FROM _items)
SELECT origin, locator, CASE WHEN json_valid(body) THEN body ELSE item END AS raw, 'json_events' AS route,
    CASE WHEN NOT json_valid(body) THEN 'invalid JSON'
         WHEN json_type(body) <> 'OBJECT' THEN 'record is not a JSON object (found ' || {json_kind('body')} || ')'
         END AS error
FROM i
"""

_PATHS = ", ".join(f"'$.\"{f}\"'" for f in ID_FIELDS + TIME_FIELDS)
_SCALAR = "('VARCHAR', 'BIGINT', 'UBIGINT', 'DOUBLE')"


def _first(fields: tuple[str, ...], offset: int, test: str) -> tuple[str, str]:
    """SQL for (field name, text) of the first field whose JSON value ``{v}`` passes ``test``."""
    whens = [(test.format(v=f"v[{offset + i}]"), f, offset + i) for i, f in enumerate(fields, 1)]
    name = "CASE " + " ".join(f"WHEN {w} THEN '{f}'" for w, f, _ in whens) + " END"
    value = "CASE " + " ".join(f"WHEN {w} THEN v[{i}] ->> '$'" for w, _, i in whens) + " END"
    return name, value


_ID_FIELD, _ID = _first(ID_FIELDS, 0, "(json_type({v}) IN " + _SCALAR + " AND {v} ->> '$' <> '')")
_TIME_FIELD, _TIME_TEXT = _first(TIME_FIELDS, len(ID_FIELDS), "json_type({v}) <> 'NULL'")
_TOP_VALUES = "map_values(json_transform(raw, '\"MAP(VARCHAR, VARCHAR)\"'))"
_NUM = r"[0-9]{1,20}(\.[0-9]*)?"
_EPOCH = (
    "CASE WHEN n >= 1e17 THEN to_timestamp(n / 1e9) WHEN n >= 1e14 THEN to_timestamp(n / 1e6) "
    "WHEN n >= 1e11 THEN to_timestamp(n / 1e3) ELSE to_timestamp(n) END"
)
_PARSE = (
    "CASE WHEN regexp_full_match(tt, '" + _NUM + "') THEN "
    "list_transform([CAST(tt AS DOUBLE)], lambda n: " + _EPOCH + ")[1] "
    "ELSE coalesce(try_cast(tt AS TIMESTAMPTZ), "
    "try_strptime(tt, '%Y%m%dT%H%M%SZ')::TIMESTAMPTZ, "
    "try_strptime(tt, '%d/%b/%Y:%H:%M:%S %z'), "
    "try_strptime(tt, '%a, %d %b %Y %H:%M:%S GMT')::TIMESTAMPTZ) END"
)

TYPED_JSON = f"""
SELECT *, {ip_bins('ips')} AS ips_bin
FROM (
SELECT
    coalesce(id_value, {content_uid()}) AS event_uid,
    ts AS event_time,
    CAST(ts AS DATE) AS event_date,
    CAST(NULL AS INTEGER) AS class_uid,
    id_field,
    time_field,
    {ip_list(_TOP_VALUES)} AS ips,
    raw, origin, locator,
    CASE WHEN time_field IS NULL
              THEN 'no time field (looked for {", ".join(TIME_FIELDS)})'
         WHEN ts IS NULL THEN 'time field ' || time_field || ' is not a timestamp: ' || left(tt, 64)
         END AS _reject
FROM (
    SELECT *, {_PARSE} AS ts
    FROM (
        SELECT *, {_ID_FIELD} AS id_field, {_ID} AS id_value,
               {_TIME_FIELD} AS time_field, trim({_TIME_TEXT}) AS tt
        FROM (SELECT *, json_extract(raw, [{_PATHS}]) AS v FROM _records) t0
    ) t1
) t2
) t3
"""

OBSERVABLES = (
    # bin_expr of a list observable: the aligned BLOB[] (not used by the core yet).
    Observable("(top-level field)", "ip", "ips", is_list=True, bin_expr="ips_bin"),
)


def _detect(s: Sniff) -> int:
    """Any JSON object text, at a score below the auto-detection threshold (use --source json)."""
    if s.is_parquet:
        return 0
    head = s.text.lstrip("\ufeff \t\r\n")
    return 10 if head[:1] in ("{", "[") else 0


SOURCE = Source(
    name="json",
    doc=__doc__ or "",
    tables=(JSON_EVENTS,),
    framing="json",
    detect=_detect,
    records_sql=RECORDS_SQL,
    typed_sql={"json_events": TYPED_JSON},
    observables={"json_events": OBSERVABLES},
)
