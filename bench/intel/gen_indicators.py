"""Deterministic big indicator feed for the load benchmark, from the real feeds in ``../shared/data``.

The base set is the maltrail static trails (flattened CSV, 1.85M rows) followed by the ipsum list
(120k IPv4 addresses, as maltrail rows of category ``malicious``, trail ``ipsum``). Replay ``k >= 1``
of the base set re-keys every value so that it is a new indicator: domains get the label ``r<k>.``
in front, URLs ``/r<k>`` appended to the path (before any fragment), IPv4 addresses (ip, ip:port,
CIDR) a first octet rotated by ``37k`` within 1-223 (some land in special ranges and are refused by
the sanity checks, as real data would be). The output is a maltrail CSV, so the real parser reads it.
(ESET's hash lists cannot be written as maltrail rows; the indicator count comes from the other two.)

Usage: python bench/intel/gen_indicators.py OUT.csv ROWS [--maltrail PATH] [--ipsum PATH]
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from cairn.engines.duckdb_engine import DuckDBEngine

DATA = Path(__file__).resolve().parents[3] / "shared/data"
MALTRAIL = DATA / "ti-stamparm-maltrail/maltrail_static_trails.csv.gz"
IPSUM = DATA / "ti-stamparm-ipsum/ipsum.txt"
_CSV = "read_csv(?, header = true, all_varchar = true, delim = ',', quote = '\"', escape = '\"', ignore_errors = true)"
_IPSUM = ("read_csv(?, header = false, all_varchar = true, delim = '\t', ignore_errors = true, "
          "columns = {'ip': 'VARCHAR', 'count': 'VARCHAR'})")


def write_feed(dst: Path, rows: int, *, maltrail: Path = MALTRAIL, ipsum: Path | None = IPSUM) -> int:
    """Write ``rows`` rows of maltrail CSV (base set, then re-keyed replays) to ``dst``; returns rows.

    A finished file is reused (``<dst>.rows`` records its row count)."""
    marker = dst.with_suffix(".rows")
    if dst.exists() and marker.exists() and marker.read_text() == str(rows):
        return rows
    tmp = dst.parent / "tmp-gen"
    e = DuckDBEngine(memory_limit="1GB", temp_directory=tmp)
    e.execute("SET preserve_insertion_order = true")
    parts = [f"SELECT indicator, indicator_type, category, trail, reference FROM {_CSV}"]
    params = [str(maltrail)]
    if ipsum is not None:
        parts.append(f"SELECT ip, 'ip', 'malicious', 'ipsum', 'https://github.com/stamparm/ipsum' FROM {_IPSUM} "
                     "WHERE NOT starts_with(ip, '#')")
        params.append(str(ipsum))
    e.execute(f"CREATE TEMP TABLE base AS SELECT *, row_number() OVER () AS n FROM ({' UNION ALL '.join(parts)})",
              params)
    n = int(e.scalar("SELECT count(*) FROM base"))
    octet = "TRY_CAST(split_part(indicator, '.', 1) AS INTEGER)"
    shifted = (f"CASE WHEN {octet} BETWEEN 1 AND 223 AND regexp_full_match(split_part(indicator, '.', 1), '[0-9]+') "
               f"THEN CAST(({octet} - 1 + 37 * k) % 223 + 1 AS VARCHAR) || '.' || "
               f"split_part(indicator, '.', 2) || '.' || split_part(indicator, '.', 3) || '.' || "
               f"split_part(indicator, '.', 4) ELSE indicator END")
    out = str(dst).replace("'", "''")
    e.execute(
        f"""COPY (
            SELECT CASE WHEN k = 0 THEN indicator
                        WHEN indicator_type IN ('ip', 'ip_port', 'cidr') THEN {shifted}
                        WHEN indicator_type = 'url' THEN regexp_replace(indicator, '(#|$)', '/r' || k || '\\1')
                        ELSE 'r' || k || '.' || indicator END AS indicator,
                   indicator_type, category, trail, reference
            FROM base, range(0, {-(-rows // n)}) r(k)
            WHERE k * {n} + n <= {rows}
            ORDER BY k, n
        ) TO '{out}' (HEADER, DELIMITER ',')"""
    )
    e.close()
    shutil.rmtree(tmp, ignore_errors=True)
    marker.write_text(str(rows))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("rows", type=int)
    ap.add_argument("--maltrail", type=Path, default=MALTRAIL)
    ap.add_argument("--ipsum", type=Path, default=IPSUM)
    ap.add_argument("--no-ipsum", action="store_true", help="maltrail rows only")
    a = ap.parse_args()
    a.out.parent.mkdir(parents=True, exist_ok=True)
    write_feed(a.out, a.rows, maltrail=a.maltrail, ipsum=None if a.no_ipsum else a.ipsum)
    print(f"{a.rows:,} rows -> {a.out}")


if __name__ == "__main__":
    main()
