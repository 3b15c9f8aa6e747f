"""Fixtures of the triage tests: one lake holding the Stratus Red Team and OTRF attack logs plus the
bundled GuardDuty and Security Hub samples (ingested once per module)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from conftest import Lake

SAMPLES = Path(str(resources.files("cairn") / "data" / "samples"))
STRATUS = SAMPLES / "cloudtrail" / "stratus-red-team"
OTRF = SAMPLES / "cloudtrail" / "otrf" / "ec2_proxy_s3_exfiltration_2020-09-14011940.json"


def stratus(name: str) -> list[dict[str, Any]]:
    """Records of one Stratus technique file."""
    return json.loads((STRATUS / f"{name}.json").read_text(encoding="utf-8"))


def otrf() -> list[dict[str, Any]]:
    """The OTRF records (Logstash JSON lines)."""
    return [json.loads(line) for line in OTRF.read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.fixture(scope="module")
def attack_lake(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lake]:
    lake = Lake(tmp_path_factory.mktemp("triage") / "ws")
    lake.ingest(SAMPLES / "cloudtrail", SAMPLES / "guardduty", SAMPLES / "securityhub")
    yield lake
    lake.close()
