"""Amazon VPC Flow Logs: S3 text files, CloudWatch Logs exports and Parquet delivery.

Text files (plain or gzip) are parsed by their header line, in any field order
and with any fields: the v2 default format and custom formats with v3, v4, v5
and later fields; unknown fields are kept in ``extra``. A header line met in the
middle of a file (concatenated files) switches the format from there on. Files
without a header (CloudWatch Logs exports) use ``[sources.vpcflow]
default_format``. ``-`` is null; NODATA and SKIPDATA records are loaded with
null addresses. Parquet delivery (underscore column names, typed columns) is
turned into the same header + line form by the engine, so one normalising query
serves both. Lines with the wrong number of fields, or with a bad number or
address, are quarantined per line. Maps to OCSF Network Activity (4001).

``event_time`` is ``start`` (else ``end``; for formats with neither, the
delivery time in an S3 file name ``..._vpcflowlogs_..._YYYYMMDDTHHmmZ_...``).
``event_uid`` is ``sha256:`` + the SHA-256 of the field names and values in name
order (plus that delivery time when it stands in for start/end), so the same
record read again, from text or Parquet, in any field order, adds nothing. A
format without ``interface-id`` also hashes the flow log its S3 file name names
(``<account>_vpcflowlogs_<region>_<flow log id>``): equal lines of two flow logs
or accounts are two records.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

import pyarrow as pa

from cairn.errors import EngineError
from cairn.lake.addresses import ADDRESS_RE
from cairn.lake.schema import PROVENANCE_COLUMNS, Column, TableSpec, common_columns
from cairn.sources.base import FrameContext, IpColumn, Observable, Sniff, Source
from cairn.sources.files import PARQUET_MAGIC, SNIFF_BYTES, read_all, read_head
from cairn.sources.framing import Rejected, line_items_table
from cairn.sources.sqlkit import lit

if TYPE_CHECKING:
    from cairn.sources.files import InputFile

# Value checks: None = free text, ADDR = IP address, else the largest allowed integer.
ADDR = -1
_INT32 = 2**31 - 1
_INT64 = 10**18 - 1
_EPOCH = 253402300799  # 9999-12-31T23:59:59Z

# (field, column, type, check, doc) for every known field, in AWS's table order.
FIELDS: tuple[tuple[str, str, str, int | None, str], ...] = (
    ("version", "version", "INTEGER", _INT32, "Flow log version (highest version among the format's fields)"),
    ("account-id", "account_id", "VARCHAR", None, "Account owning the network interface ('unknown' for some service ENIs)"),
    ("interface-id", "interface_id", "VARCHAR", None, "Network interface (eni-...)"),
    ("srcaddr", "srcaddr", "VARCHAR", ADDR, "Source address (canonical text)"),
    ("dstaddr", "dstaddr", "VARCHAR", ADDR, "Destination address (canonical text)"),
    ("srcport", "srcport", "INTEGER", 65535, "Source port"),
    ("dstport", "dstport", "INTEGER", 65535, "Destination port"),
    ("protocol", "protocol", "INTEGER", 255, "IANA protocol number"),
    ("packets", "packets", "BIGINT", _INT64, "Packets in the flow"),
    ("bytes", "bytes", "BIGINT", _INT64, "Bytes in the flow"),
    ("start", "start_time", "TIMESTAMPTZ", _EPOCH, "Start of the aggregation window (start, epoch seconds)"),
    ("end", "end_time", "TIMESTAMPTZ", _EPOCH, "End of the aggregation window (end, epoch seconds)"),
    ("action", "action", "VARCHAR", None, "ACCEPT or REJECT (null on NODATA/SKIPDATA)"),
    ("log-status", "log_status", "VARCHAR", None, "OK, NODATA or SKIPDATA"),
    ("vpc-id", "vpc_id", "VARCHAR", None, "VPC (v3)"),
    ("subnet-id", "subnet_id", "VARCHAR", None, "Subnet (v3)"),
    ("instance-id", "instance_id", "VARCHAR", None, "Instance owning the interface (v3)"),
    ("tcp-flags", "tcp_flags", "INTEGER", _INT32, "OR of the TCP flags seen: FIN 1, SYN 2, RST 4, SYN-ACK 18 (v3)"),
    ("type", "type", "VARCHAR", None, "IPv4, IPv6 or EFA (v3)"),
    ("pkt-srcaddr", "pkt_srcaddr", "VARCHAR", ADDR, "Packet-level (original) source address (v3)"),
    ("pkt-dstaddr", "pkt_dstaddr", "VARCHAR", ADDR, "Packet-level (original) destination address (v3)"),
    ("region", "region", "VARCHAR", None, "Region of the interface (v4)"),
    ("az-id", "az_id", "VARCHAR", None, "Availability Zone id (v4)"),
    ("sublocation-type", "sublocation_type", "VARCHAR", None, "wavelength, outpost or localzone (v4)"),
    ("sublocation-id", "sublocation_id", "VARCHAR", None, "Id of the sublocation (v4)"),
    ("pkt-src-aws-service", "pkt_src_aws_service", "VARCHAR", None, "ip-ranges service of pkt-srcaddr (v5)"),
    ("pkt-dst-aws-service", "pkt_dst_aws_service", "VARCHAR", None, "ip-ranges service of pkt-dstaddr (v5)"),
    ("flow-direction", "flow_direction", "VARCHAR", None, "ingress or egress (v5)"),
    ("traffic-path", "traffic_path", "INTEGER", _INT32, "Egress path code, e.g. 8 internet gateway (v5)"),
    ("ecs-cluster-arn", "ecs_cluster_arn", "VARCHAR", None, "ECS cluster ARN (v7)"),
    ("ecs-cluster-name", "ecs_cluster_name", "VARCHAR", None, "ECS cluster name (v7)"),
    ("ecs-container-instance-arn", "ecs_container_instance_arn", "VARCHAR", None, "ECS container instance ARN (v7)"),
    ("ecs-container-instance-id", "ecs_container_instance_id", "VARCHAR", None, "ECS container instance id (v7)"),
    ("ecs-container-id", "ecs_container_id", "VARCHAR", None, "Docker id of the first container (v7)"),
    ("ecs-second-container-id", "ecs_second_container_id", "VARCHAR", None, "Docker id of a second container (v7)"),
    ("ecs-service-name", "ecs_service_name", "VARCHAR", None, "ECS service name (v7)"),
    ("ecs-task-definition-arn", "ecs_task_definition_arn", "VARCHAR", None, "ECS task definition ARN (v7)"),
    ("ecs-task-arn", "ecs_task_arn", "VARCHAR", None, "ECS task ARN (v7)"),
    ("ecs-task-id", "ecs_task_id", "VARCHAR", None, "ECS task id (v7)"),
    ("reject-reason", "reject_reason", "VARCHAR", None, "Why traffic was rejected, e.g. BPA (v8)"),
    ("resource-id", "resource_id", "VARCHAR", None, "Resource the traffic belongs to (e.g. NAT gateway)"),
    ("encryption-status", "encryption_status", "VARCHAR", None, "Encryption status code of the flow"),
)
KNOWN = frozenset(f[0] for f in FIELDS)
ADDRESS_COLUMNS = tuple(f[1] for f in FIELDS if f[3] == ADDR)

# IANA protocol numbers worth a name.
PROTOCOLS = {1: "icmp", 2: "igmp", 4: "ipip", 6: "tcp", 17: "udp", 41: "ipv6", 47: "gre", 50: "esp",
             51: "ah", 58: "icmpv6", 89: "ospf", 132: "sctp"}


def _columns() -> tuple[Column, ...]:
    cols: list[Column] = []
    for _field, name, typ, check, doc in FIELDS:
        cols.append(Column(name, typ, doc))
        if check == ADDR:
            cols.append(Column(f"{name}_bin", "BLOB", f"{name} as 16 bytes (IPv4 mapped into IPv6)"))
        if name == "protocol":
            cols.append(Column("protocol_name", "VARCHAR", "tcp, udp, icmp, icmpv6, ... from the protocol number"))
    cols.append(Column("extra", "JSON", "Fields this version does not know: {name: value}"))
    return tuple(cols)


VPCFLOW = TableSpec(
    name="vpcflow",
    doc="VPC Flow Log records, any format version (OCSF Network Activity 4001).",
    ocsf_class_uid=4001,
    ocsf_class_name="Network Activity",
    sort_columns=("event_time", "interface_id"),
    columns=common_columns(4001) + _columns() + PROVENANCE_COLUMNS,
)

# -- SQL ------------------------------------------------------------------------------------------
# Items carry ``header`` (space-separated field names) and ``item`` (the line). Records keep the
# original line as ``raw`` when they are quarantined, else ``header || chr(10) || line`` so that
# the typed query knows the format. All literals below are constants of this module.

_NL = "chr(10)"


_CHECKS = "MAP {" + ", ".join(f"{lit(f)}: {c}" for f, _, _, c, _ in FIELDS if c is not None) + "}"
_KNOWN_LIST = "[" + ", ".join(lit(f) for f, *_ in FIELDS) + "]"
# Delivery time in S3 file names: <acct>_vpcflowlogs_<region>_<fl-id>_<YYYYMMDDTHHmmZ>_<hash>.log.gz
_FILE_TIME = (
    "try_strptime(regexp_extract(origin, '_vpcflowlogs_[^/]*_([0-9]{8}T[0-9]{4}Z)_[^/]*$', 1), "
    "'%Y%m%dT%H%MZ')::TIMESTAMPTZ"
)
# The flow log of an S3 file name (<acct>_vpcflowlogs_<region>_<fl-id>), '' for other names.
_FLOW_LOG = "regexp_extract(origin, '([^/]*_vpcflowlogs_[^/]*)_[0-9]{8}T[0-9]{4}Z_[^/]*$', 1)"
# Split on single spaces; only lines that do not fit are split on runs of white space.
_SPLIT = (
    "CASE WHEN len(v0) = len(names) THEN v0 "
    "ELSE regexp_split_to_array(trim({line}), '\\s+') END"
)
_BAD_VALUE = f"""list_position(list_transform(v, lambda x, i:
        CASE WHEN checks[i] IS NULL OR x = '-' THEN false
             WHEN checks[i] = -1 THEN NOT regexp_full_match(x, {lit(ADDRESS_RE)})
             ELSE NOT coalesce(regexp_full_match(x, '[0-9]{{1,18}}') AND TRY_CAST(x AS BIGINT) <= checks[i], false)
        END), true)"""

RECORDS_SQL = f"""
WITH h AS (
    SELECT header, names,
           list_transform(names, lambda n: {_CHECKS}[n]) AS checks,
           list_position(names, 'start') AS p_start, list_position(names, 'end') AS p_end
    -- The outer IS NOT NULL changes no result but lowers the planner's estimate of this relation
    -- below the items' (as in TYPED_SQL): without it the items become the join's build side and
    -- every row comes out of one thread.
    FROM (SELECT header, string_split(header, ' ') AS names
          FROM (SELECT DISTINCT header FROM _items WHERE header IS NOT NULL) WHERE header IS NOT NULL)
), s AS (
    SELECT i.origin, i.locator, i.item, i.header, h.names, h.checks, h.p_start, h.p_end,
           string_split(i.item, ' ') AS v0
    FROM _items i LEFT JOIN h ON h.header = i.header
), c AS (
    SELECT origin, locator, item, header, names, checks, p_start, p_end,
           {_SPLIT.format(line="item")} AS v
    FROM s
), e AS (
    SELECT *,
        CASE WHEN names IS NULL THEN 'no field format (header line) for this line'
             WHEN len(v) <> len(names)
             THEN 'wrong number of fields: ' || len(v) || ' instead of ' || len(names)
                  || ' (format: ' || header || ')'
        END AS e1
    FROM c
), b AS (
    SELECT *, CASE WHEN e1 IS NULL THEN {_BAD_VALUE} END AS bad FROM e
), r AS (
    SELECT origin, locator, item, header,
        coalesce(e1,
            CASE WHEN bad IS NOT NULL THEN 'field ' || names[bad] ||
                CASE WHEN checks[bad] = -1 THEN ' is not an IP address: '
                     ELSE ' is not an integer from 0 to ' || checks[bad] || ': ' END
                || left(v[bad], 64) END,
            CASE WHEN (p_start IS NULL OR v[p_start] = '-') AND (p_end IS NULL OR v[p_end] = '-')
                      AND {_FILE_TIME} IS NULL
                 THEN 'no time: start and end are missing or ''-'' and the file name has no delivery time'
            END) AS error
    FROM b
)
SELECT origin, locator,
       CASE WHEN error IS NULL THEN header || {_NL} || item ELSE item END AS raw,
       'vpcflow' AS route, error
FROM r
"""


def _value(column: str, typ: str) -> str:
    v = f"nullif(v[p_{column}], '-')"
    if typ == "TIMESTAMPTZ":
        return f"to_timestamp(TRY_CAST({v} AS BIGINT)) AS {column}"
    if typ in ("INTEGER", "BIGINT"):
        return f"TRY_CAST({v} AS {typ}) AS {column}"
    return f"{v} AS {column}"


_POSITIONS = ",\n           ".join(f"list_position(names, {lit(f)}) AS p_{c}" for f, c, *_ in FIELDS)
_VALUES = ",\n        ".join(_value(c, t) for _, c, t, *_ in FIELDS)
_PROTOCOL_NAME = "CASE protocol " + " ".join(f"WHEN {n} THEN {lit(s)}" for n, s in PROTOCOLS.items()) + " END"
_OUT = ", ".join(
    c if c != "protocol" else f"protocol, {_PROTOCOL_NAME} AS protocol_name" for _, c, *_ in FIELDS
)
_TIME = "coalesce(start_time, end_time, file_time)"

TYPED_SQL = f"""
WITH h AS (
    SELECT header, names,
           array_to_string(list_sort(names), ' ') AS canon_names,
           list_grade_up(names) AS perm,
           list_filter(range(1, len(names) + 1), lambda i:
               NOT list_contains({_KNOWN_LIST}, names[i]) AND list_position(names, names[i]) = i) AS p_extra,
           {_POSITIONS}
    -- The IS NOT NULL changes no result (the join below never matches a NULL header) but lowers the
    -- planner's estimate of this relation (a handful of formats) below the records': without it the
    -- records become the join's build side and all rows come out of one thread (2x slower on 2 cores).
    FROM (SELECT header, string_split(header, ' ') AS names
          FROM (SELECT DISTINCT left(raw, strpos(raw, {_NL}) - 1) AS header FROM _records)
          WHERE header IS NOT NULL)
), r AS (
    SELECT origin, locator, raw, strpos(raw, {_NL}) AS nl FROM _records
), s AS (
    SELECT r.origin, r.locator, substr(r.raw, r.nl + 1) AS line, h.* EXCLUDE (header),
           string_split(substr(r.raw, r.nl + 1), ' ') AS v0
    FROM r JOIN h ON h.header = left(r.raw, r.nl - 1)
), t AS (
    SELECT *, {_SPLIT.format(line="line")} AS v FROM s
), x AS (
    SELECT origin, locator, line, v, names, canon_names, perm, p_extra,
        {_VALUES}
    FROM t
), y AS (
    SELECT *, CASE WHEN start_time IS NULL AND end_time IS NULL THEN {_FILE_TIME} END AS file_time
    FROM x
)
SELECT
    'sha256:' || sha256(canon_names || {_NL} || array_to_string(list_select(v, perm), ' ')
                        || coalesce({_NL} || CAST(file_time AS VARCHAR), '')
                        || CASE WHEN NOT list_contains(names, 'interface-id')
                                THEN coalesce({_NL} || nullif({_FLOW_LOG}, ''), '') ELSE '' END) AS event_uid,
    {_TIME} AS event_time,
    CAST({_TIME} AS DATE) AS event_date,
    4001 AS class_uid,
    {_OUT},
    CASE WHEN len(p_extra) > 0
         THEN to_json(map(list_transform(p_extra, lambda i: names[i]),
                          list_transform(p_extra, lambda i: nullif(v[i], '-')))) END AS extra,
    to_json(line) AS raw, origin, locator,
    CASE WHEN {_TIME} IS NULL THEN 'no event time (start, end or file delivery time)' END AS _reject
FROM y
"""

# Parquet delivery: one item per row, the values joined by spaces ('-' for null or empty),
# the header from the file's column names (underscores become hyphens).
PARQUET_ITEMS_SQL = """
SELECT $1 AS origin, 'row ' || (file_row_number + 1) AS locator,
       concat_ws(' ', *COLUMNS(* EXCLUDE (file_row_number))) AS item, $2 AS header
FROM (
    SELECT file_row_number,
           coalesce(nullif(CAST(COLUMNS(* EXCLUDE (file_row_number)) AS VARCHAR), ''), '-')
    FROM read_parquet($3, file_row_number = true, hive_partitioning = false)
)
"""

# -- formats and framing -------------------------------------------------------------------------

_NAMES_LINE = re.compile(r"\s*(?:\$\{)?[a-z][a-z0-9_-]*\}?(?:\s+(?:\$\{)?[a-z][a-z0-9_-]*\}?)*\s*")
_V2_LINE = re.compile(r"\d{1,3} (?:\d{12}|unknown|-) eni-[0-9a-f]+ \S+ \S+ \S+ \S+ \S+ \S+ \S+ (?:\d+|-) (?:\d+|-) \S+ \S+\s*$")


def normalise_format(fmt: str) -> str:
    """Field names of a format, space-separated: ``${a-b}`` and ``a_b`` become ``a-b``."""
    return " ".join(t.strip("${}").replace("_", "-").lower() for t in fmt.split())


def header_format(line: str) -> str | None:
    """The format named by a header line, or None when the line is not a header.

    A header holds only field-name-like words, at least one of them a known field (record
    values are numbers, addresses, ids or upper-case words, never field names).
    """
    if not _NAMES_LINE.fullmatch(line):
        return None
    fmt = normalise_format(line)
    names = fmt.split(" ")
    known = any(n in KNOWN for n in names)
    return fmt if known else None


def text_lines(
    origin: str, data: bytes, default_format: str
) -> tuple[list[int], list[str], list[int], list[str], list[Rejected]]:
    """Split a text file into records: line numbers, lines, index of each line's format
    in the returned formats, the formats, and rejected (non-UTF-8) lines.

    Header lines set the format of the lines after them; lines before any header use
    ``default_format``.
    """
    formats = [normalise_format(default_format)]
    current = 0
    nums: list[int] = []
    lines: list[str] = []
    fmt_idx: list[int] = []
    rejected: list[Rejected] = []
    try:
        parts: list[str] | list[bytes] = data.decode("utf-8").split("\n")
    except UnicodeDecodeError:
        parts = data.split(b"\n")
    for n, part in enumerate(parts, start=1):
        if isinstance(part, bytes):
            try:
                line = part.decode("utf-8")
            except UnicodeDecodeError as exc:
                rejected.append(Rejected(origin, f"line {n}", f"not valid UTF-8 at column {exc.start + 1}", part))
                continue
        else:
            line = part
        if n == 1:
            line = line.lstrip("\ufeff")
        if line.endswith("\r"):
            line = line[:-1]
        if not line or line.isspace():
            continue
        if "a" <= line[0] <= "z" or line[0] in " $\t":
            fmt = header_format(line)
            if fmt is not None:
                if fmt not in formats:
                    formats.append(fmt)
                current = formats.index(fmt)
                continue
        nums.append(n)
        lines.append(line)
        fmt_idx.append(current)
    return nums, lines, fmt_idx, formats, rejected


def _frame_text(ctx: FrameContext, f: InputFile) -> None:
    data, damage = read_all(f.path)
    tail = b""
    if damage and not data.endswith(b"\n"):
        # The stream was cut inside its last line: a cut flow record still splits into fields
        # (``987`` for ``987654321``), so that line is quarantined, never loaded.
        cut = data.rfind(b"\n") + 1
        data, tail = data[:cut], data[cut:]
    nums, lines, fmt_idx, formats, rejected = text_lines(f.origin, data, ctx.config.vpcflow.default_format)
    for r in rejected:
        ctx.reject(r)
    if damage and tail.strip():
        n = data.count(b"\n") + 1
        ctx.reject(Rejected(f.origin, f"line {n}", f"{damage}; line {n} is cut off", tail))
    elif damage:
        ctx.reject(Rejected(f.origin, f"byte {len(data)}", damage, b""))
    header = pa.array(formats, pa.string()).take(pa.array(fmt_idx, pa.int32()))
    ctx.add_items_arrow(line_items_table(f.origin, pa.table({"n": pa.array(nums, pa.int64()),
                                                             "item": pa.array(lines, pa.string())}), header))


def _frame_parquet(ctx: FrameContext, f: InputFile) -> None:
    import pyarrow.parquet as pq

    try:
        names = pq.read_schema(f.path).names
        header = normalise_format(" ".join(n.replace(" ", "-") for n in names))
        ctx.add_items_sql(PARQUET_ITEMS_SQL, [f.origin, header, str(f.path)])
    except (EngineError, OSError, pa.ArrowException) as exc:
        reason = f"unreadable Parquet file: {str(exc).splitlines()[0][:300]}"
        ctx.reject(Rejected(f.origin, "file", reason, f.path.read_bytes()))


def frame(ctx: FrameContext, files: Sequence[InputFile]) -> None:
    """Fill ``_items`` with one item per flow record of text and Parquet files."""
    for f in files:
        if read_head(f.path, 4) == PARQUET_MAGIC:
            _frame_parquet(ctx, f)
        else:
            _frame_text(ctx, f)


# -- detection -----------------------------------------------------------------------------------

_TELLING = frozenset({"srcaddr", "dstaddr", "interface-id", "log-status", "pkt-srcaddr", "flow-direction"})


def detect(s: Sniff) -> int:
    """Header line with flow field names (95), v2-looking records (90), flow Parquet (90)."""
    if s.is_parquet:
        cols = {normalise_format(c) for c in s.parquet_columns}
        known = cols & KNOWN
        return 90 if len(known) >= 3 and known & _TELLING else 0
    text = s.text.lstrip("\ufeff")
    lines = text.split("\n")
    if len(s.head) >= SNIFF_BYTES:
        lines = lines[:-1]  # maybe cut short
    lines = [ln.rstrip("\r") for ln in lines if ln.strip()][:6]
    if not lines or lines[0].lstrip()[:1] in ("{", "["):
        return 0
    fmt = header_format(lines[0])
    if fmt is not None and len(set(fmt.split(" ")) & KNOWN) >= 2:
        return 95
    matches = sum(bool(_V2_LINE.match(ln)) for ln in lines)
    if matches == len(lines):
        return 90
    return 70 if _V2_LINE.match(lines[0]) else 0


OBSERVABLES = (
    Observable("srcaddr", "ip", "srcaddr", bin_expr="srcaddr_bin"),
    Observable("dstaddr", "ip", "dstaddr", bin_expr="dstaddr_bin"),
    # Packet addresses only when they differ from the interface addresses (NAT, TGW, ...).
    Observable("pkt-srcaddr", "ip", "CASE WHEN pkt_srcaddr IS DISTINCT FROM srcaddr THEN pkt_srcaddr END",
               bin_expr="CASE WHEN pkt_srcaddr IS DISTINCT FROM srcaddr THEN pkt_srcaddr_bin END"),
    Observable("pkt-dstaddr", "ip", "CASE WHEN pkt_dstaddr IS DISTINCT FROM dstaddr THEN pkt_dstaddr END",
               bin_expr="CASE WHEN pkt_dstaddr IS DISTINCT FROM dstaddr THEN pkt_dstaddr_bin END"),
    Observable("account-id", "account", "nullif(account_id, 'unknown')"),
    Observable("instance-id", "resource", "instance_id"),
    Observable("interface-id", "resource", "interface_id"),
    Observable("vpc-id", "resource", "vpc_id"),
    Observable("subnet-id", "resource", "subnet_id"),
)

SOURCE = Source(
    name="vpcflow",
    doc=__doc__ or "",
    tables=(VPCFLOW,),
    framing="custom",
    detect=detect,
    records_sql=RECORDS_SQL,
    typed_sql={"vpcflow": TYPED_SQL},
    ip_columns={"vpcflow": tuple(IpColumn(c, c) for c in ADDRESS_COLUMNS)},
    observables={"vpcflow": OBSERVABLES},
    frame=frame,
)
