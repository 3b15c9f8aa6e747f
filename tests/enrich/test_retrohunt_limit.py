"""``cairn retrohunt --limit``: the rows left out of the table are counted and can be listed."""

from __future__ import annotations

import re
from pathlib import Path

from enrich_support import (  # noqa: F401
    CSV_COLUMNS,
    SampleLake,
    csv_feed,
    sample_lake_fixture,
    sample_template,
)


def test_limit_counts_hidden_matches_and_gives_a_query(sample_lake: SampleLake, tmp_path: Path, cli) -> None:
    ips = [r[0] for r in sample_lake.engine.rows(
        "SELECT DISTINCT value FROM observables WHERE type = 'ip' AND source = 'cloudtrail' ORDER BY value LIMIT 3")]
    sample_lake.load(csv_feed(tmp_path / "f.csv", [{"value": ip, "type": "ip", "threat_type": "c2",
                                                    "confidence": 90} for ip in ips]),
                     "partner", fmt="csv", columns=CSV_COLUMNS)
    sample_lake.engine.close()
    ws = sample_lake.ws.root
    total = cli("-w", ws, "--json", "retrohunt", "--dry-run").json()["new_matches"]
    assert total >= 2

    r = cli("-w", ws, "retrohunt", "--dry-run", "--limit", "1")
    assert r.code == 0, r.err
    assert f"{total - 1:,} more new matches not shown (--limit); none was marked as reported" in r.err

    r = cli("-w", ws, "retrohunt", "--limit", "1")
    assert r.code == 0, r.err
    assert f"{total - 1:,} more new matches not shown (--limit); all {total:,} were marked as reported" in r.err
    query = re.search(r'cairn query "(.+)"$', r.err.splitlines()[0])
    assert query, r.err
    listed = cli("-w", ws, "--json", "query", query.group(1))
    assert listed.code == 0, listed.err
    assert len(listed.json()) == total
    assert cli("-w", ws, "--json", "retrohunt").json()["new_matches"] == 0

    r = cli("-w", ws, "retrohunt", "--limit", "5")  # nothing hidden: no note
    assert "not shown" not in r.err
    sample_lake.engine = type(sample_lake.engine)(sample_lake.ws.catalog_path)
