"""Athena SQL over the standard CloudTrail table, for users who keep their logs there.

The table is the one the CloudTrail console / AWS docs create (``CREATE EXTERNAL TABLE cloudtrail_logs
(eventversion STRING, useridentity STRUCT<...>, eventtime STRING, eventsource STRING, ...)``).
Two forms are produced: ``sql`` with ``?`` placeholders plus ``parameters`` (Athena prepared
statements / ``ExecutionParameters``: values never pasted into the text), and ``sql_literal`` with the
values quoted by sqlglot for copy and paste into the console.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from cairn.triage.identity import Identity

COLUMNS = """eventtime, eventsource, eventname, awsregion, sourceipaddress, useragent, errorcode, errormessage,
       useridentity.type AS identity_type, useridentity.arn AS identity_arn,
       useridentity.accesskeyid AS access_key_id, useridentity.principalid AS principal_id,
       useridentity.sessioncontext.sessionissuer.arn AS session_issuer_arn,
       requestparameters, eventid"""


def _ts(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def athena_sql(ident: Identity, resources: list[str], start: datetime, end: datetime,
               table: str = "cloudtrail_logs") -> dict[str, Any]:
    """The identity's and the resource's activity in [start, end] as Athena (Trino) SQL."""
    import sqlglot
    from sqlglot import exp

    if not table.replace("_", "").replace(".", "").isalnum():
        raise ValueError(f"not a table name: {table!r}")
    conds: list[str] = []
    params: list[str] = [_ts(start), _ts(end)]

    def any_of(column: str, values: list[str]) -> None:
        if values:
            conds.append(f"{column} IN ({', '.join('?' for _ in values)})")
            params.extend(values)

    any_of("useridentity.accesskeyid", ident.match_keys + [k for k in ident.access_keys if k not in ident.match_keys])
    any_of("useridentity.arn", ident.match_identity_arns)
    any_of("useridentity.sessioncontext.sessionissuer.arn",
           [a for a in ident.match_principal_arns if ":role/" in a])
    any_of("useridentity.arn", [a for a in ident.match_principal_arns if ":role/" not in a])
    any_of("useridentity.principalid", ident.match_principal_ids)
    any_of("useridentity.username", ident.match_users)
    for r in resources:
        conds.append("(contains(transform(resources, x -> x.arn), ?) OR strpos(requestparameters, ?) > 0)")
        params += [r, r]
    where = " OR ".join(conds) or "FALSE"
    sql = (f"SELECT {COLUMNS}\nFROM {table}\nWHERE eventtime BETWEEN ? AND ?\n  AND ({where})\n"
           "ORDER BY eventtime")
    # Literal form: substitute each ? with a sqlglot-quoted string literal.
    pieces = sql.split("?")
    lit = pieces[0]
    for value, rest in zip(params, pieces[1:], strict=True):
        lit += exp.Literal.string(value).sql(dialect="athena") + rest
    sqlglot.parse_one(lit, read="athena")  # fails loudly if we ever generate something Athena cannot parse
    return {"table": table, "sql": sql, "parameters": params, "sql_literal": lit}
