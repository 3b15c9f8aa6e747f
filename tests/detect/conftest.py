"""Lakes shared by the Sigma tests (built once per session: ingest takes a second or two)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from cairn.detect.sigma import RuleSet, load_rules, run_rules
from conftest import Lake, bundled_stratus_dir
from detect.sigmadata import LOGIN_EVENTS, SIGMAHQ, panther_events_file, write_records

OTRF = bundled_stratus_dir().parent / "otrf"


@pytest.fixture(scope="session")
def corpus_lake(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lake]:
    """Stratus Red Team detonations (35 techniques) + OTRF + Panther CloudTrail events, in a
    ``Lake`` of tests/conftest.py built once per session."""
    root = tmp_path_factory.mktemp("sigma-corpus")
    lake = Lake(root / "ws")
    lake.ingest(bundled_stratus_dir(), OTRF, panther_events_file(root / "panther.jsonl"))
    yield lake
    lake.close()


@pytest.fixture(scope="session")
def sigmahq_rules() -> RuleSet:
    """SigmaHQ's CloudTrail rules (rules/ only)."""
    return load_rules([SIGMAHQ / "rules"])


@pytest.fixture(scope="session")
def corpus_matches(corpus_lake: Lake, sigmahq_rules: RuleSet) -> Any:
    """Matches of the SigmaHQ rules on the corpus, with the origin file of each event."""
    table = run_rules(corpus_lake.engine, sigmahq_rules)
    corpus_lake.engine.register("_sigmahq_matches", table)
    try:
        return corpus_lake.engine.arrow(
            "SELECT m.*, c.origin FROM _sigmahq_matches m JOIN cloudtrail c USING (event_uid)")
    finally:
        corpus_lake.engine.unregister("_sigmahq_matches")


@pytest.fixture(scope="session")
def logins(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lake]:
    """The failed and successful console logins of ``sigmadata.LOGIN_EVENTS`` in a lake."""
    root = tmp_path_factory.mktemp("sigma-correlation")
    lake = Lake(root / "ws")
    lake.ingest(write_records(root / "events.json", LOGIN_EVENTS))
    yield lake
    lake.close()
