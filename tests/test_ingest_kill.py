"""An ingest killed with SIGKILL at any point leaves nothing visible; the next run sweeps
its files and ends with exactly the lake a clean run gives."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from conftest import Lake, bundled_stratus_dir
from ctdata import gz, records_doc, rekeyed, trail_key, write

FILES = 150
PER_FILE = 100
BATCH = "[ingest]\nbatch_files = 6\n"


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """150 trail files (~46k records) in the S3 key layout, plus a little damage."""
    root = tmp_path_factory.mktemp("corpus")
    records = [r for f in sorted(bundled_stratus_dir().glob("*.json")) for r in json.loads(f.read_text())][:PER_FILE]
    for n in range(FILES):
        batch = rekeyed(records, n % 140)  # the last 10 files repeat earlier events
        minute = f"2024-07-29T{n // 60:02d}:{n % 60:02d}"
        write(root, trail_key("us-east-1", minute, n=n), gz(records_doc(batch)))
    write(root, "AWSLogs/bad/part.json", b'{"Records": [{"eventVersion": "2.0", "eventTime": "2024-01-01T00:00:00Z"}, 7]}')
    return root


def _cairn(ws: Path, *args: str) -> list[str]:
    return [sys.executable, "-c", "from cairn.cli.main import run; run()", "-w", str(ws), *args]


def _run(ws: Path, corpus: Path) -> dict[str, Any]:
    out = subprocess.run(_cairn(ws, "--json", "ingest", str(corpus)), capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def _snapshot(ws: Path) -> dict[str, Any]:
    lake = Lake(ws)
    try:
        snap = {t: lake.rows(f"SELECT count(*), list(event_uid ORDER BY event_uid) FROM {t}")[0]
                for t in ("cloudtrail", "cloudtrail_insights")}
        snap["observables"] = lake.scalar("SELECT count(*) FROM observables")
        snap["quarantine"] = lake.rows("SELECT count(*), list(locator ORDER BY locator) FROM quarantine")[0]
        listed = {r[0] for r in lake.rows("SELECT path FROM _cairn_files")}
        on_disk = {p.relative_to(ws / "lake").as_posix() for p in (ws / "lake").rglob("*.parquet")}
        assert on_disk == listed, "orphan or missing parquet files"
        assert lake.scalar("SELECT count(*) FROM _cairn_keys WHERE table_name = 'cloudtrail'") == snap["cloudtrail"][0]
        return snap
    finally:
        lake.close()


@pytest.fixture(scope="module")
def clean(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    ws = tmp_path_factory.mktemp("clean") / "ws"
    ws.mkdir()
    (ws / "cairn.toml").write_text(BATCH)
    summary = _run(ws, corpus)
    assert summary["balanced"] and summary["loaded"] == 140 * PER_FILE and summary["duplicates"] == 10 * PER_FILE
    return _snapshot(ws)


def _staged(ws: Path) -> int:
    return sum(1 for _ in (ws / "staging").rglob("*.parquet")) if (ws / "staging").exists() else 0


@pytest.mark.slow
@pytest.mark.parametrize("when", [3])
def test_sigkill_then_rerun_equals_clean_run(when: int, corpus: Path, clean: dict[str, Any], tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "cairn.toml").write_text(BATCH)
    proc = subprocess.Popen(_cairn(ws, "--json", "ingest", str(corpus)), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while _staged(ws) < when and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    assert proc.poll() is None, "the run ended before it could be killed; make the corpus bigger"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert _staged(ws) >= when
    # Nothing of the killed run is visible.
    lake = Lake(ws)
    try:
        assert lake.scalar("SELECT count(*) FROM cloudtrail") == 0
        assert lake.scalar("SELECT count(*) FROM _cairn_runs") == 0
    finally:
        lake.close()
    summary = _run(ws, corpus)
    assert summary["balanced"] and summary["loaded"] == 140 * PER_FILE
    assert not list((ws / "staging").iterdir())
    assert _snapshot(ws) == clean
