"""The Zircolite approach, run by ``bench/detect/run.py`` in its own venv (pySigma's SQLite backend).

Reads the gzipped trail files, flattens every CloudTrail record into dotted keys as Zircolite does
(nested objects become ``a.b.c`` columns, lists are kept as JSON text), loads them into an in-memory
SQLite table ``logs`` whose columns are ``TEXT COLLATE NOCASE`` (Zircolite's schema; Sigma compares
case-insensitively), registers ``regexp`` as a Python function (Zircolite does the same), converts
the Sigma rules with ``pysigma-backend-sqlite`` and runs every query, fetching the matching rows.

    bench/.venv-sqlite/bin/python bench/detect/zircolite_sqlite.py CORPUS RULES_DIR   # prints JSON
"""

from __future__ import annotations

import glob
import gzip
import json
import re
import sqlite3
import sys
import time
from pathlib import Path
from typing import Any


def flatten(record: dict[str, Any], prefix: str = "", out: dict[str, Any] | None = None) -> dict[str, Any]:
    """Zircolite-style flattening: dotted keys for objects, JSON text for lists, scalars as they are."""
    out = {} if out is None else out
    for k, v in record.items():
        key = prefix + k
        if isinstance(v, dict):
            flatten(v, key + ".", out)
        elif isinstance(v, list):
            out[key] = json.dumps(v)
        else:
            out[key] = v
    return out


def _regexp(pattern: str, value: Any) -> int:
    if value is None:
        return 0
    return 1 if re.search(pattern, str(value)) else 0


def main(corpus: str, rules_dir: str) -> dict[str, Any]:
    from sigma.backends.sqlite import sqliteBackend
    from sigma.collection import SigmaCollection

    started = time.monotonic()
    files = sorted(glob.glob(str(Path(corpus) / "AWSLogs" / "**" / "*.json.gz"), recursive=True))
    # pass 1: the columns (Zircolite also discovers the fields before creating the table)
    keys: dict[str, str] = {}  # SQLite column names are case-insensitive: one column per lower-cased key
    for f in files:
        with gzip.open(f, "rt", encoding="utf-8") as fh:
            for rec in json.load(fh)["Records"]:
                for k in flatten(rec):
                    keys.setdefault(k.lower(), k)
    cols = list(keys.values())
    con = sqlite3.connect(":memory:")
    con.create_function("regexp", 2, _regexp, deterministic=True)
    con.execute("CREATE TABLE logs (row_id INTEGER PRIMARY KEY, "
                + ", ".join('"' + c.replace('"', '""') + '" TEXT COLLATE NOCASE' for c in cols) + ")")
    index = {c.lower(): i for i, c in enumerate(cols)}
    insert = ("INSERT INTO logs (" + ", ".join('"' + c.replace('"', '""') + '"' for c in cols) + ") VALUES ("
              + ", ".join("?" for _ in cols) + ")")
    events = 0
    for f in files:  # pass 2: the rows
        with gzip.open(f, "rt", encoding="utf-8") as fh:
            rows = []
            for rec in json.load(fh)["Records"]:
                row: list[Any] = [None] * len(cols)
                for k, v in flatten(rec).items():
                    row[index[k.lower()]] = v
                rows.append(row)
        con.executemany(insert, rows)
        events += len(rows)
    con.commit()
    loaded = time.monotonic() - started

    rule_files = sorted(Path(rules_dir).glob("*.yml"))
    collection = SigmaCollection.load_ruleset([str(p) for p in rule_files], collect_errors=True)
    backend = sqliteBackend(collect_errors=True, table="logs")
    converted, failed, matches, query_errors = 0, [], {}, {}
    for rule in collection.rules:
        title = rule.title
        try:
            queries = backend.convert_rule(rule)
        except Exception as exc:  # any conversion failure is reported with its reason
            failed.append({"rule": title, "reason": f"{type(exc).__name__}: {exc}"})
            continue
        if rule.errors or not queries:
            failed.append({"rule": title, "reason": "; ".join(str(e) for e in rule.errors) or "no query"})
            continue
        converted += 1
        n = 0
        for q in queries:
            try:
                n += len(con.execute(q).fetchall())
            except sqlite3.Error as exc:
                query_errors[title] = str(exc)
        matches[str(rule.id or title)] = n
    total = time.monotonic() - started
    return {"events": events, "columns": len(cols), "load_seconds": round(loaded, 3),
            "rules_seconds": round(total - loaded, 3), "seconds": round(total, 3), "rules": len(collection.rules),
            "converted": converted, "failed": failed, "query_errors": query_errors, "matches": matches}


if __name__ == "__main__":
    json.dump(main(sys.argv[1], sys.argv[2]), sys.stdout)
