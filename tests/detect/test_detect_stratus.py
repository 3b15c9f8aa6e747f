"""Stratus Red Team detonations raise alerts from the matching SigmaHQ rules through ``cairn detect``.

The table technique -> expected rules is built from the rules' content (``sigma_oracle``: the rules'
selections and conditions evaluated in plain Python on each technique's records), not by hand.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import Lake, bundled_stratus_dir
from detect.detect_support import run, settings
from detect.sigma_oracle import candidate_rules
from detect.sigmadata import SIGMAHQ

SHARED = Path(__file__).parents[3] / "shared" / "data"
STRATUS = SHARED / "stratus-red-team-detonation-logs"
if not STRATUS.is_dir():
    STRATUS = bundled_stratus_dir()
RULES = SHARED / "sigma-aws-cloudtrail-rules" / "rules"
if not RULES.is_dir():
    RULES = SIGMAHQ / "rules"
TECHNIQUES = sorted(p.stem for p in STRATUS.glob("aws.*.json"))

EXPECTED: dict[str, set[str]] = {
    t: candidate_rules(RULES, json.loads((STRATUS / f"{t}.json").read_text(encoding="utf-8"))) for t in TECHNIQUES
}


@pytest.fixture(scope="module")
def detected(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Lake, dict[str, set[str]], int]]:
    """Lake of the detonations after ``cairn detect`` with SigmaHQ's rules: (lake, technique -> rule file
    names alerted on its records, alerts raised)."""
    lake = Lake(tmp_path_factory.mktemp("stratus-detect") / "ws")
    lake.ingest(STRATUS)
    s = run(lake, settings(sigma=[str(RULES)]))
    assert s.rules == {"sigma": 57} and not s.failed_sigma
    stems = {}
    from cairn.detect.sigma import load_rules

    for e in load_rules([RULES]):
        stems[e.id] = Path(e.path).stem
    fired: dict[str, set[str]] = defaultdict(set)
    for rid, origin in lake.rows("SELECT l.rule_id, c.origin FROM _cairn_alert_events l "
                                 "JOIN cloudtrail c ON c.event_uid = l.event_uid "
                                 "WHERE l.alert_id IN (SELECT alert_id FROM alerts)"):
        fired[Path(origin).stem].add(stems[rid])
    yield lake, fired, len(s.new_alerts)
    lake.close()


def test_the_expected_table_is_substantial() -> None:
    assert len(TECHNIQUES) == 35
    targeted = {t for t, rules in EXPECTED.items() if rules - {"aws_sts_assumerole_misuse"}}
    assert len(targeted) >= 12
    assert EXPECTED["aws.defense-evasion.cloudtrail-stop"] == {"aws_cloudtrail_disable_logging"}


@pytest.mark.parametrize("technique", TECHNIQUES)
def test_technique_raises_exactly_its_expected_rules(technique: str, detected: tuple[Lake, dict[str, set[str]], int]) \
        -> None:
    _, fired, _ = detected
    assert fired.get(technique, set()) == EXPECTED[technique]


def test_alerts_carry_entities_and_enrichment_and_a_rerun_adds_none(
        detected: tuple[Lake, dict[str, set[str]], int]) -> None:
    lake, _, raised = detected
    assert raised == lake.scalar("SELECT count(*) FROM alerts") > 12
    row = lake.dicts("SELECT * FROM alerts WHERE rule_id = '4db60cc0-36fb-42b7-9b58-a5b53019fb74' "
                     "ORDER BY first_seen LIMIT 1")[0]
    assert row["source"] == "cloudtrail" and row["identity"].startswith("arn:aws:iam::")
    assert row["ips"] and row["account_id"] and row["severity"] == "medium"
    again = run(lake, settings(sigma=[str(RULES)]))
    assert again.new_alerts == [] and again.input_files == 0
