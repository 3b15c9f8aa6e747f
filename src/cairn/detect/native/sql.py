"""The hit statement of a native rule: its rows over new data, shaped as :data:`HIT_COLUMNS`."""

from __future__ import annotations

import re

from cairn.detect.native.rules import NativeRule

HIT_COLUMNS = ("rule_id", "source", "event_uid", "event_time", "title", "identity", "resource", "ips",
               "account_id", "dedup_key")
"""What every rule kind (Sigma, native, intel-match) produces for each matching event."""

_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")


def lit(text: str) -> str:
    """A SQL string literal (rule text; values from data are never pasted)."""
    return "'" + text.replace("'", "''") + "'"


def default_entities(table: str) -> dict[str, object]:
    """Entity expressions used when a rule does not name its own (from the table's Sigma profile)."""
    from cairn.detect.sigma.profiles import PROFILES

    base = table.removesuffix("_enriched")
    common = PROFILES[base].common if base in PROFILES else {}
    out: dict[str, object] = {}
    if "principal_arn" in common:
        out["identity"] = common["principal_arn"]
    if "src_ip" in common:
        out["ips"] = [common["src_ip"]]
    if base == "cloudtrail":
        out["account"] = "coalesce(recipient_account_id, account_id)"
    elif "account_id" in common:
        out["account"] = common["account_id"]
    return out


def render_template(template: str, columns: dict[str, str]) -> str:
    """SQL concatenating the literal parts of ``template`` with the named columns (``-`` when null)."""
    parts: list[str] = []
    pos = 0
    for m in _PLACEHOLDER.finditer(template):
        if m.start() > pos:
            parts.append(lit(template[pos:m.start()]))
        parts.append(f"coalesce(CAST({columns[m.group(1)]} AS VARCHAR), '-')")
        pos = m.end()
    if pos < len(template):
        parts.append(lit(template[pos:]))
    return "concat(" + ", ".join(parts) + ")" if parts else "''"


def hit_sql(rule: NativeRule, relation: str) -> str:
    """SELECT of :data:`HIT_COLUMNS` for the rows of ``rule`` over ``relation``."""
    ents = {**default_entities(rule.table), **rule.entities}
    ips = ents.get("ips") or []
    ips_sql = ("list_distinct(list_filter([" + ", ".join(f"CAST(({e}) AS VARCHAR)" for e in ips)  # type: ignore[union-attr]
               + "], lambda _x: _x IS NOT NULL AND _x <> ''))") if ips else "CAST([] AS VARCHAR[])"
    inner = [
        f"CAST(({ents['identity']}) AS VARCHAR) AS _e_identity" if "identity" in ents else
        "CAST(NULL AS VARCHAR) AS _e_identity",
        f"CAST(({ents['resource']}) AS VARCHAR) AS _e_resource" if "resource" in ents else
        "CAST(NULL AS VARCHAR) AS _e_resource",
        f"{ips_sql} AS _e_ips",
        f"CAST(({ents['account']}) AS VARCHAR) AS _e_account" if "account" in ents else
        "CAST(NULL AS VARCHAR) AS _e_account",
        *(f"CAST(({expr}) AS VARCHAR) AS _f_{name}" for name, expr in rule.fields.items()),
    ]
    cols = {"identity": "_e_identity", "resource": "_e_resource", "ips": "array_to_string(_e_ips, ', ')",
            "account": "_e_account", "source": lit(rule.base_table), "rule_title": lit(rule.title),
            **{name: f"_f_{name}" for name in rule.fields}}
    dedup = "concat_ws('|', " + ", ".join(f"coalesce(CAST({cols[d]} AS VARCHAR), '')" for d in rule.dedup) + ")" \
        if rule.dedup else "''"
    return f"""
    SELECT {lit(rule.id)} AS rule_id, {lit(rule.base_table)} AS source, CAST(event_uid AS VARCHAR) AS event_uid,
           CAST(event_time AS TIMESTAMPTZ) AS event_time, {render_template(rule.title_template, cols)} AS title,
           _e_identity AS identity, _e_resource AS resource, _e_ips AS ips, _e_account AS account_id,
           {dedup} AS dedup_key
    FROM (SELECT *, {', '.join(inner)} FROM ({rule.base_sql(relation)}) _rule_rows) _rule_hits"""
