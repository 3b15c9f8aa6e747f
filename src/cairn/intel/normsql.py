"""Bulk normalisation in SQL: the same rules as :mod:`cairn.intel.normalize`, on whole tables.

Input: a table of :data:`~cairn.intel.model.PARSED_SCHEMA` rows plus ``_row`` (a row
number). Output: the temp table ``_intel_norm`` with the parsed columns, ``_raw`` (the
value as found), the canonical ``type``/``value``/``port``, the IP columns, ``hash_type``,
``note`` and ``reason`` (null when the value is valid).

String work (refang, case, trailing dots, ports, URL parts, hash and domain checks) runs
in the engine. Python runs only on *distinct* IP values (``ipaddress``) and on distinct
non-ASCII host names (IDNA), and the results are joined back.
"""

from __future__ import annotations

from collections.abc import Callable

import pyarrow as pa

from cairn.engines.duckdb_engine import DuckDBEngine
from cairn.intel import normalize as n

_IP_MAP = pa.schema(
    [
        ("k", pa.string()),
        ("value", pa.string()),
        ("reason", pa.string()),
        ("port", pa.int32()),
        ("ip_version", pa.int8()),
        ("prefix_len", pa.int32()),
        ("range_start", pa.binary()),
        ("range_end", pa.binary()),
        ("note", pa.string()),
    ]
)
_HOST_MAP = pa.schema([("k", pa.string()), ("host", pa.string()), ("reason", pa.string())])


def lit(text: str) -> str:
    """A SQL string literal of a constant written in cairn's code (never for data)."""
    return "'" + text.replace("'", "''") + "'"


def refang_sql(expr: str) -> str:
    """SQL applying :data:`~cairn.intel.normalize.REFANG_RULES` to ``expr``.

    Every rule needs a bracket or a defanged scheme, so values without either (nearly all)
    skip the chain of replacements."""
    out = expr
    for pattern, repl in n.REFANG_RULES:
        out = f"regexp_replace({out}, {lit(pattern)}, {lit(repl)}, 'g')"
    return f"CASE WHEN {_m(expr, n.REFANG_NEEDED)} THEN {out} ELSE {expr} END"


def _m(expr: str, pattern: str) -> str:
    return f"regexp_matches({expr}, {lit(pattern)})"


def _host_checks(h: str) -> str:
    """CASE giving the reason an ASCII lower-case host is invalid (NULL when valid).

    A name matching DOMAIN_VALID and at most 253 long fails none of DOMAIN_CHECKS, so the
    one regex decides the common case and the checks name the reason for the rest."""
    whens = " ".join(f"WHEN {_m(h, p)} THEN {lit(r)}" for p, r in n.DOMAIN_CHECKS)
    return (f"CASE WHEN length({h}) <= 253 AND {_m(h, n.DOMAIN_VALID)} THEN NULL {whens} "
            f"ELSE {lit(n.DOMAIN_INVALID)} END")


def _infer(v: str, d: str) -> str:
    rules = " ".join(f"WHEN {_m(v, p)} THEN {lit(t)}" for p, t in n.INFER_RULES)
    types = ", ".join(lit(t) for t in n.TYPES)
    algorithms = ", ".join(lit(t) for t in n.HASH_ALGORITHMS)
    return (
        f"CASE WHEN {d} = 'domain' AND {_m(v, n.IP_LIKE)} THEN 'ip' "
        f"WHEN {d} IN ({types}) THEN {d} WHEN {d} IN ({algorithms}) THEN 'hash' {rules} ELSE 'domain' END"
    )


_NON_ASCII = r"[^\x00-\x7f]"
_WS = "chr(9) || chr(10) || chr(11) || chr(12) || chr(13) || ' '"


def normalize_table(
    engine: DuckDBEngine,
    source: str,
    ip_hook: Callable[[n.Normalized], str | None] | None = None,
) -> None:
    """Create ``_intel_norm`` from the table or view ``source`` (a name cairn chose).

    ``ip_hook`` is called once per distinct valid IP value and may return a reason to refuse
    it (the sanity checks); such rows get ``reason`` set and ``note = 'sanity'``.
    """
    e = engine
    e.execute(
        f"CREATE OR REPLACE TEMP TABLE _intel_s1 AS SELECT * EXCLUDE (_v0), {_infer('_v', '_decl')} AS _t "
        f"FROM (SELECT p.*, {refang_sql('_v0')} AS _v, lower(coalesce(p.type, '')) AS _decl "
        f"FROM (SELECT *, trim(coalesce(value, ''), {_WS}) AS _v0 FROM {source}) p)"
    )
    # Split domain/email/URL values into their host part (and the rest) in SQL.
    ps, hp = n.PORT_SUFFIX, n.HOSTPORT
    e.execute(
        f"""CREATE OR REPLACE TEMP TABLE _intel_s2 AS
        SELECT *,
          CASE WHEN _t = 'domain' THEN (CASE WHEN contains(_v, ':') AND {_m('_v', ps)} THEN regexp_extract(_v, {lit(ps)}, 1) ELSE _v END)
               WHEN _t = 'email' THEN regexp_extract(_v, '^.*@(.*)$', 1)
               WHEN _t = 'url' THEN regexp_extract(_hostport, {lit(hp)}, 1) END AS _host_raw,
          CASE WHEN _t = 'domain' AND contains(_v, ':') THEN regexp_extract(_v, {lit(ps)}, 2)
               WHEN _t = 'url' THEN regexp_extract(_hostport, {lit(hp)}, 2) END AS _port_txt
        FROM (SELECT *,
          CASE WHEN _t = 'url' THEN regexp_extract(_u, {lit(n.URL_PARTS)}, 1) END AS _scheme,
          CASE WHEN _t = 'url' THEN regexp_replace(regexp_extract(_u, {lit(n.URL_PARTS)}, 2), '^.*@', '') END AS _hostport,
          CASE WHEN _t = 'url' THEN regexp_extract(regexp_extract(_u, {lit(n.URL_PARTS)}, 2), '^(.*)@', 1) END AS _userinfo,
          CASE WHEN _t = 'url' THEN regexp_extract(_u, {lit(n.URL_PARTS)}, 3) END AS _rest
        FROM (SELECT *, CASE WHEN _t = 'url' AND NOT {_m('_v', n.URL_LIKE)} AND {_m('_v', n.SCHEMELESS_URL)}
                             THEN 'http://' || _v ELSE _v END AS _u FROM _intel_s1))"""
    )
    _python_maps(e, ip_hook)
    h_ascii = "rtrim(lower(_host_raw), '.')"
    host = f"CASE WHEN {_m('_host_raw', _NON_ASCII)} THEN hm.host ELSE {h_ascii} END"
    host_reason = f"CASE WHEN {_m('_host_raw', _NON_ASCII)} THEN hm.reason ELSE {_host_checks(h_ascii)} END"
    url_host = (
        f"CASE WHEN starts_with(_host_raw, '[') THEN lower(_host_raw) "
        f"WHEN {_m('_host_raw', n.IPV4_LITERAL)} THEN _host_raw ELSE ({host}) END"
    )
    url_host_reason = (
        f"CASE WHEN starts_with(_host_raw, '[') THEN CASE WHEN NOT {_m('_host_raw', n.IPV6_LITERAL)} "
        f"THEN {lit(n.BAD_IP_LITERAL)} END WHEN {_m('_host_raw', n.IPV4_LITERAL)} THEN NULL "
        f"ELSE ({host_reason}) END"
    )
    hv = "lower(_v)"
    hash_reason = " ".join(f"WHEN {_m(hv, p)} THEN {lit(r)}" for p, r in n.HASH_CHECKS)
    lengths = ", ".join(str(k) for k in n.HASH_TYPES)
    hash_types = " ".join(f"WHEN {k} THEN {lit(t)}" for k, t in n.HASH_TYPES.items())
    declared_len = "CASE s._decl " + " ".join(f"WHEN {lit(t)} THEN {k}" for t, k in n.HASH_ALGORITHMS.items()) + " END"
    local = "regexp_extract(lower(_v), '^(.*)@', 1)"
    port_ok = "TRY_CAST(_port_txt AS INTEGER)"
    url_port = (
        "CASE WHEN coalesce(_port_txt, '') = '' OR (lower(_scheme) = 'http' AND _port_txt = '80') "
        "OR (lower(_scheme) = 'https' AND _port_txt = '443') THEN '' ELSE ':' || _port_txt END"
    )
    url_value = (
        "lower(_scheme) || '://' || CASE WHEN _userinfo = '' THEN '' ELSE _userinfo || '@' END "
        f"|| ({url_host}) || {url_port} || CASE WHEN starts_with(_rest, '/') THEN _rest ELSE '/' || _rest END"
    )
    e.execute(
        f"""CREATE OR REPLACE TEMP TABLE _intel_norm AS
        SELECT * EXCLUDE (_cv, _reason, _port_n, port, hash_type),
               CASE WHEN _reason IS NULL THEN _cv END AS value, _reason AS reason,
               CASE WHEN _reason IS NULL THEN CAST(coalesce(_port_n, port) AS INTEGER) END AS port,
               CASE WHEN _reason IS NULL THEN hash_type END AS hash_type
        FROM (SELECT s.* EXCLUDE (value, type, port, _v, _decl, _t, _u, _scheme, _hostport, _userinfo, _rest,
                                  _host_raw, _port_txt),
          s.value AS _raw, s._t AS type, s.port AS port,
          CASE s._t WHEN 'ip' THEN im.value WHEN 'hash' THEN {hv}
               WHEN 'domain' THEN ({host})
               WHEN 'email' THEN {local} || '@' || ({host})
               WHEN 'url' THEN {url_value} END AS _cv,
          CASE WHEN s._v = '' THEN 'empty value'
               WHEN s._t = 'ip' THEN im.reason
               WHEN s._t = 'hash' THEN CASE {hash_reason} WHEN length({hv}) NOT IN ({lengths})
                    THEN 'hash length ' || length({hv}) || ' matches no supported algorithm (md5 32, sha1 40, sha256 64, sha512 128)'
                    WHEN length({hv}) <> {declared_len}
                    THEN 'declared ' || s._decl || ' (' || {declared_len} || ' hex digits) but the value has '
                         || length({hv}) || ' (' || CASE length({hv}) {hash_types} END || ')' END
               WHEN s._t = 'domain' THEN CASE WHEN {port_ok} > 65535 THEN 'port ' || _port_txt || ' out of range'
                    ELSE ({host_reason}) END
               WHEN s._t = 'email' THEN CASE WHEN NOT contains(s._v, '@') OR NOT {_m(local, n.EMAIL_LOCAL_VALID)}
                    OR {_m("regexp_extract(s._v, '^(.*)@', 1)", _NON_ASCII)}
                    THEN 'not a valid e-mail address' WHEN ({host_reason}) IS NOT NULL THEN 'e-mail domain: ' || ({host_reason}) END
               WHEN s._t = 'url' THEN CASE WHEN starts_with(s._v, '/') THEN 'URL path without host (cannot be matched)'
                    WHEN NOT {_m('_u', n.URL_PARTS)} THEN 'not a valid URL'
                    WHEN NOT {_m('_hostport', n.HOSTPORT)} OR _host_raw = '' THEN 'URL without host'
                    WHEN ({url_host_reason}) IS NOT NULL THEN 'URL host: ' || ({url_host_reason}) END
          END AS _reason,
          CASE s._t WHEN 'ip' THEN im.port WHEN 'domain' THEN {port_ok} END AS _port_n,
          CASE WHEN s._t = 'hash' THEN CASE length({hv}) {hash_types} END END AS hash_type,
          im.ip_version, im.prefix_len, im.range_start, im.range_end, im.note
        FROM _intel_s2 s
        LEFT JOIN _intel_ip_map im ON s._t = 'ip' AND im.k = s._v
        LEFT JOIN _intel_host_map hm ON s._t IN ('domain', 'email', 'url') AND hm.k = s._host_raw)"""
    )
    for t in ("_intel_s1", "_intel_s2"):
        e.execute(f"DROP TABLE IF EXISTS {t}")
    e.unregister("_intel_ip_map")
    e.unregister("_intel_host_map")


def _python_maps(e: DuckDBEngine, ip_hook: Callable[[n.Normalized], str | None] | None) -> None:
    ips = e.arrow("SELECT DISTINCT _v FROM _intel_s2 WHERE _t = 'ip' AND _v <> ''").column(0).to_pylist()
    cols: dict[str, list[object]] = {f.name: [] for f in _IP_MAP}
    for v in ips:
        r = n.normalize_ip(v)
        reason, note = r.reason, r.note
        if reason is None and ip_hook is not None:
            sanity = ip_hook(r)
            if sanity:
                reason, note = sanity, "sanity"
        for k, x in (("k", v), ("value", r.value), ("reason", reason), ("port", r.port),
                     ("ip_version", r.ip_version), ("prefix_len", r.prefix_len),
                     ("range_start", r.range_start), ("range_end", r.range_end), ("note", note)):
            cols[k].append(x)
    e.register("_intel_ip_map", pa.table(cols, schema=_IP_MAP))
    hosts = e.arrow(
        f"SELECT DISTINCT _host_raw FROM _intel_s2 WHERE _t IN ('domain', 'email', 'url') "
        f"AND {_m('_host_raw', _NON_ASCII)}"
    ).column(0).to_pylist()
    out = [(h, *n.host_or_reason(h)) for h in hosts]
    e.register(
        "_intel_host_map",
        pa.table({"k": [o[0] for o in out], "host": [o[1] for o in out], "reason": [o[2] for o in out]},
                 schema=_HOST_MAP),
    )
