"""SQL snippets shared by the JSON sources.

Everything here builds SQL *expressions* from column names chosen by the
sources themselves (never from data), so the engine does all the work: no
Python UDFs on the hot path.

* :func:`content_uid`: a record's content hash, identical whether the record
  came from a JSON line or from an array element.
* :func:`pascal_spec`: the boto3 (PascalCase) twin of a camelCase
  ``json_transform`` spec. DuckDB struct field names are case-insensitive, so
  ``coalesce(jc, jp)`` over ``jc = CASE WHEN NOT pascal THEN json_transform(raw, C) END``
  and ``jp = CASE WHEN pascal THEN json_transform(raw, P) END`` (computed one query
  level below) reads both casings with the same field paths, each record being
  transformed once. Do not write one ``CASE`` over both transforms: the engine
  casts one branch to the other's type and pushes that cast into
  ``json_transform``, whose key matching is case-sensitive (all NULL).
* :func:`ip_text` / :func:`ip_bin` / :func:`ip_list`: canonical text and the
  16-byte form of IP addresses held in *lists* (answer records, interface
  addresses), giving the same answers as :func:`cairn.lake.addresses.parse_ip`.
  Scalar address columns use :class:`~cairn.sources.base.IpColumn` instead.
"""

from __future__ import annotations

import json
import re
from typing import Any

from cairn.lake.addresses import IPV4_RE


def lit(text: str) -> str:
    """A SQL string literal of a constant of the code (a name, a pattern; never data: data is bound)."""
    return "'" + text.replace("'", "''") + "'"


def cwl_body(item: str = "item") -> str:
    """SQL: the item without the timestamp CloudWatch Logs exports write before each message
    (``2024-07-29T12:00:00.000Z {...}``)."""
    return (
        f"CASE WHEN regexp_matches({item}, '^[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}T[0-9:.]+Z [{{[]') "
        f"THEN substr({item}, strpos({item}, ' ') + 1) ELSE {item} END"
    )


def json_kind(x: str) -> str:
    """SQL naming the kind of a JSON value for messages: 'an array', 'a string', ..."""
    return (
        f"CASE WHEN json_type({x}) IN ('UBIGINT', 'BIGINT', 'DOUBLE', 'HUGEINT') THEN 'a number' "
        f"WHEN json_type({x}) = 'VARCHAR' THEN 'a string' WHEN json_type({x}) = 'BOOLEAN' THEN 'a boolean' "
        f"WHEN json_type({x}) = 'ARRAY' THEN 'an array' ELSE lower(json_type({x})) END"
    )


def content_uid(raw: str = "raw") -> str:
    """``'sha256:' || sha256(<minified JSON of raw>)``: the dedup key of id-less records."""
    return f"'sha256:' || sha256(json({raw})::VARCHAR)"


def pascal_spec(spec: str) -> str:
    """The same ``json_transform`` spec with every key's first letter upper-cased."""

    def conv(node: Any) -> Any:
        if isinstance(node, dict):
            return {k[:1].upper() + k[1:]: conv(v) for k, v in node.items()}
        if isinstance(node, list):
            return [conv(v) for v in node]
        return node

    return json.dumps(conv(json.loads(spec)), separators=(",", ":"))


def compact_spec(spec: str) -> str:
    """A ``json_transform`` spec on one line (specs are written pretty for reading)."""
    return json.dumps(json.loads(spec), separators=(",", ":"))


def _parts(s: str) -> str:
    return f"CASE WHEN {s} = '' THEN []::VARCHAR[] ELSE string_split({s}, ':') END"


def _v6_groups(x: str) -> str:
    """The eight hex groups of an IPv6 text (``::`` expanded); garbage in, garbage out."""
    head, tail = _parts(f"split_part({x}, '::', 1)"), _parts(f"split_part({x}, '::', 2)")
    fill = f"list_transform(range(greatest(0, 8 - len({head}) - len({tail}))), lambda _i: '0')"
    return (
        f"CASE WHEN contains({x}, '::') THEN list_concat({head}, {fill}, {tail}) "
        f"ELSE string_split({x}, ':') END"
    )


def _v6_valid(x: str, g: str) -> str:
    head, tail = _parts(f"split_part({x}, '::', 1)"), _parts(f"split_part({x}, '::', 2)")
    return (
        f"(regexp_full_match({x}, '[0-9a-f:]{{2,39}}') AND NOT contains({x}, ':::') "
        f"AND length({x}) - length(replace({x}, '::', '')) <= 2 "
        f"AND (NOT contains({x}, '::') OR len({head}) + len({tail}) <= 7) "
        f"AND len({g}) = 8 "
        f"AND coalesce(list_bool_and(list_transform({g}, lambda _p: regexp_full_match(_p, '[0-9a-f]{{1,4}}'))), false))"
    )


def _v6_text(g: str) -> str:
    """RFC 5952 text of eight groups: leading zeros dropped, longest zero run (>= 2) as ``::``."""
    short = f"list_transform({g}, lambda _p: coalesce(nullif(ltrim(_p, '0'), ''), '0'))"
    runs = [":" + ":".join(["0"] * n) + ":" for n in range(8, 1, -1)]
    squeeze = " ".join(f"WHEN contains(_t, '{r}') THEN regexp_replace(_t, '{r}', '::')" for r in runs)
    # _t has a padding colon at each end; the substring drops it unless it became part of "::".
    lead = "CASE WHEN starts_with(_c, '::') THEN 1 ELSE 2 END"
    trail = "CASE WHEN ends_with(_c, '::') THEN length(_c) ELSE length(_c) - 1 END"
    return (
        f"list_transform([':' || array_to_string({short}, ':') || ':'], lambda _t: "
        f"list_transform([CASE {squeeze} ELSE _t END], lambda _c: "
        f"substring(_c, {lead}, {trail} - {lead} + 1))[1])[1]"
    )


def _mapped_v4(g: str) -> str:
    """IPv4 text of an IPv4-mapped group list (``::ffff:a.b.c.d``), else NULL."""
    hx = [f"('0x' || {g}[{i}])::INTEGER" for i in (7, 8)]
    return (
        f"CASE WHEN list_transform({g}[1:5], lambda _p: ltrim(_p, '0')) = ['', '', '', '', ''] "
        f"AND ltrim({g}[6], '0') = 'ffff' THEN printf('%d.%d.%d.%d', "
        f"{hx[0]} // 256, {hx[0]} % 256, {hx[1]} // 256, {hx[1]} % 256) END"
    )


def _prepare(x: str) -> str:
    """Lower-case, trimmed, without brackets or zone id; a trailing dotted quad in
    IPv6 (``::ffff:1.2.3.4``) becomes two hex groups."""
    v = f"split_part(lower(trim({x})), '%', 1)"
    v = f"list_transform([{v}], lambda _s: CASE WHEN starts_with(_s, '[') AND ends_with(_s, ']') THEN substring(_s, 2, length(_s) - 2) ELSE _s END)[1]"
    quad = [f"split_part(regexp_extract(_e, '[^:]*$'), '.', {i})::INTEGER" for i in range(1, 5)]
    return (
        f"list_transform([{v}], lambda _e: CASE WHEN regexp_full_match(_e, '[0-9a-f:]*:{IPV4_RE}') "
        f"THEN regexp_extract(_e, '^(.*:)', 1) || printf('%x:%x', {quad[0]} * 256 + {quad[1]}, "
        f"{quad[2]} * 256 + {quad[3]}) ELSE _e END)[1]"
    )


_PADDED_V4 = r"[0-9]{1,3}(\.[0-9]{1,3}){3}"


def _padded_v4(v: str) -> str:
    """Dotted decimal, zero-padded octets allowed ("10.0.0.07"), as canonical text or NULL."""
    octets = [f"split_part({v}, '.', {i})::INTEGER" for i in range(1, 5)]
    return f"CASE WHEN greatest({', '.join(octets)}) <= 255 THEN printf('%d.%d.%d.%d', {', '.join(octets)}) END"


def ip_text(x: str) -> str:
    """SQL giving the canonical text of the address in ``x``, or NULL when it is not one.

    Same answer as :func:`cairn.lake.addresses.parse_ip`: IPv4 is dotted-quad
    (zero-padded octets read as decimal), IPv6 follows RFC 5952, IPv4-mapped IPv6
    becomes IPv4, brackets and zone ids are dropped.
    """
    general = (
        f"list_transform([{_prepare(x)}], lambda _v: CASE "
        f"WHEN regexp_full_match(_v, '{_PADDED_V4}') THEN {_padded_v4('_v')} "
        f"ELSE list_transform([{_v6_groups('_v')}], lambda _g: CASE WHEN {_v6_valid('_v', '_g')} "
        f"THEN coalesce({_mapped_v4('_g')}, {_v6_text('_g')}) END)[1] END)[1]"
    )
    # A plain dotted quad is its own canonical text: most values skip the general path (~5x faster).
    return f"CASE WHEN regexp_full_match({x}, '{IPV4_RE}') THEN {x} ELSE {general} END"


def ip_bin(x: str) -> str:
    """SQL giving the 16-byte form of a *canonical* address (the output of :func:`ip_text`).

    ``x`` is repeated in the result, so it should be a column or lambda variable; anything else is
    bound once through a one-element list (which costs ~2x on a plain column: hence not always).
    """
    if not _NAME.fullmatch(x):
        return f"list_transform([{x}], lambda _a: {ip_bin('_a')})[1]"
    v4 = "printf('%02x%02x%02x%02x', " + ", ".join(
        f"split_part({x}, '.', {i})::INTEGER" for i in range(1, 5)
    ) + ")"
    v6 = f"array_to_string(list_transform({_v6_groups(x)}, lambda _p: lpad(_p, 4, '0')), '')"
    return (
        f"CASE WHEN {x} IS NULL THEN NULL "
        f"WHEN contains({x}, '.') THEN unhex('00000000000000000000ffff' || {v4}) "
        f"ELSE unhex({v6}) END"
    )


_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")


def unique(values: str) -> str:
    """SQL giving a list without NULLs and repeats, first occurrences in order."""
    return (
        f"list_transform([list_filter({values}, lambda _y: _y IS NOT NULL)], lambda _l: "
        f"list_filter(_l, lambda _u, _i: list_position(_l, _u) = _i))[1]"
    )


def ip_list(values: str) -> str:
    """SQL giving the canonical addresses held in a VARCHAR[], in order, each once (others dropped)."""
    return unique(f"list_transform({values}, lambda _x: {ip_text('_x')})")


def ip_bins(addresses: str) -> str:
    """SQL giving the 16-byte forms of a list of canonical addresses, in the same order."""
    return f"list_transform({addresses}, lambda _z: {ip_bin('_z')})"
