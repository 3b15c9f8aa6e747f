"""Shared fixtures of the test suite."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from cairn.engines.duckdb_engine import DuckDBEngine
from cairn.lake.catalog import Catalog
from cairn.lake.ingest import Ingestor, RunSummary
from cairn.workspace import Workspace

FIXTURES = Path(__file__).parent / "fixtures"
CT_FIXTURES = FIXTURES / "cloudtrail"


def bundled_stratus_dir() -> Path:
    """The Stratus Red Team detonation logs bundled with cairn (35 files, 310 records)."""
    return Path(str(resources.files("cairn") / "data" / "samples" / "cloudtrail" / "stratus-red-team"))


def stratus_records(*names: str) -> list[dict[str, Any]]:
    """Records of the Stratus fixture files (all of them when no name is given)."""
    files = [CT_FIXTURES / "stratus" / f"{n}.json" for n in names] or sorted(
        (CT_FIXTURES / "stratus").glob("*.json")
    )
    return [r for f in files for r in json.loads(f.read_text(encoding="utf-8"))]


class Lake:
    """A workspace opened in-process: ingest into it and query it."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.ws = Workspace.open(root)
        self.engine = DuckDBEngine(self.ws.catalog_path)
        Catalog(self.engine, self.ws.lake)

    def ingest(self, *targets: Path | str, source: str = "auto", strict: bool | None = None) -> RunSummary:
        """One ingest run; every run must balance."""
        summary = Ingestor(self.ws, self.engine, source=source, strict=strict).run([str(t) for t in targets])
        assert summary.balanced, summary
        assert summary.committed
        return summary

    def rows(self, sql: str, params: Any = None) -> list[tuple[Any, ...]]:
        return self.engine.rows(sql, params)

    def scalar(self, sql: str, params: Any = None) -> Any:
        return self.engine.scalar(sql, params)

    def dicts(self, sql: str, params: Any = None) -> list[dict[str, Any]]:
        return self.engine.arrow(sql, params).to_pylist()

    def quarantine(self) -> list[dict[str, Any]]:
        return self.dicts("SELECT origin, locator, reason, raw, source FROM quarantine ORDER BY origin, locator")

    def snapshot(self) -> dict[str, Any]:
        """Row counts and sorted keys of every table, to compare lakes."""
        out: dict[str, Any] = {}
        for table in ("cloudtrail", "cloudtrail_insights"):
            out[table] = [r[0] for r in self.rows(f"SELECT event_uid FROM {table} ORDER BY 1")]
        out["observables"] = self.rows(
            "SELECT source, field, type, value, event_uid FROM observables ORDER BY ALL"
        )
        out["quarantine"] = self.rows("SELECT origin, locator, reason FROM quarantine ORDER BY ALL")
        return out

    def close(self) -> None:
        self.engine.close()


@pytest.fixture
def make_lake(tmp_path: Path) -> Iterator[Any]:
    """Factory of in-process lakes under ``tmp_path`` (closed at teardown)."""
    opened: list[Lake] = []

    def make(name: str = "ws") -> Lake:
        lake = Lake(tmp_path / name)
        opened.append(lake)
        return lake

    yield make
    for lake in opened:
        lake.close()


@pytest.fixture
def lake(make_lake: Any) -> Lake:
    """A fresh in-process lake."""
    return make_lake()


@dataclass
class CliResult:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Any:
    """Run the ``cairn`` command in-process: ``cli("-w", ws, "tables")`` -> CliResult."""
    from cairn.cli.main import run

    def invoke(*args: Any) -> CliResult:
        capsys.readouterr()
        monkeypatch.setattr(sys, "argv", ["cairn", *map(str, args)])
        code = 0
        try:
            run()
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        out, err = capsys.readouterr()
        return CliResult(code, out, err)

    monkeypatch.delenv("CAIRN_WORKSPACE", raising=False)
    monkeypatch.delenv("CAIRN_CONFIG", raising=False)
    return invoke


# -- moto: one AWS API server on 127.0.0.1 for the whole session ------------------------------------
@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    """A moto server on 127.0.0.1 (started once; tests get it through :func:`moto`)."""
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def moto(moto_server: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """The moto endpoint, reset (no state from other tests), with test credentials in the environment
    and cairn's AWS clients pointed at it."""
    import urllib.request

    urllib.request.urlopen(urllib.request.Request(f"{moto_server}/moto-api/reset", method="POST")).read()
    for var in ("AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    for var in ("SECURITYHUB", "ACCOUNT", "ORGANIZATIONS"):
        monkeypatch.delenv(f"CAIRN_AWS_ENDPOINT_URL_{var}", raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("CAIRN_AWS_ENDPOINT_URL", moto_server)
    return moto_server
