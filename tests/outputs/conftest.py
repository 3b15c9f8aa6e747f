"""A workspace with the bundled samples enriched both ways: lake (ingest + refresh) and streaming."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from cairn.demo import samples_dir
from cairn.enrich import refresh
from cairn.lake.ingest import Ingestor
from cairn.outputs.stream import enrich_inputs
from outputs.outputs_support import Enriched, prepare_workspace


@pytest.fixture(scope="session")
def enriched(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Enriched]:
    """Bundled samples: ingested + refreshed into the lake, and streamed through ``enrich_inputs``."""
    ws, engine = prepare_workspace(tmp_path_factory.mktemp("outputs") / "ws")
    summary = Ingestor(ws, engine).run([str(samples_dir())])
    assert summary.balanced and summary.committed
    refresh(engine, ws)
    stream = enrich_inputs(engine, ws, [str(samples_dir())])
    yield Enriched(ws, engine, stream)
    engine.close()


@pytest.fixture(scope="session")
def ws_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A closed workspace folder with the bundled intel and inventory, for the command line."""
    root = tmp_path_factory.mktemp("cli") / "ws"
    _, engine = prepare_workspace(root)
    engine.close()
    return root


@pytest.fixture(scope="session")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Enriched]:
    """Another workspace with the bundled intel and inventory (no events), for tests that stream other inputs
    or change the intel: ``enriched`` stays as built."""
    ws, engine = prepare_workspace(tmp_path_factory.mktemp("scratch") / "ws")
    yield Enriched(ws, engine, None)  # type: ignore[arg-type]
    engine.close()
