"""Helpers of the feed tests: fixtures paths, a store in a temp workspace, parse helpers, a test HTTP server."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from cairn.engines.duckdb_engine import DuckDBEngine
from cairn.intel.formats import ParseContext, get_format
from cairn.intel.inputs import LocalInput
from cairn.intel.model import ParseResult, collect
from cairn.intel.store import IntelStore, LoadReport, LoadSettings
from cairn.workspace import Workspace

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "intel"
SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"


def shared(*parts: str) -> Path:
    """A file of ../shared/data; the test is skipped when it is absent."""
    p = SHARED.joinpath(*parts)
    if not p.exists():
        pytest.skip(f"{p} not available")
    return p


def parse(fmt: str, path: Path, **ctx: Any) -> ParseResult:
    """Run one parser over a file and collect its chunks."""
    c = ParseContext(**ctx)
    return collect(get_format(fmt).parse(LocalInput(path), c), c.meta)


def rows(result: ParseResult) -> list[dict[str, Any]]:
    """Parsed rows as dicts."""
    return result.indicators.to_pylist()


@dataclass
class Store:
    """A workspace with an intel store."""

    ws: Workspace
    engine: DuckDBEngine
    store: IntelStore

    def load(self, path: Path | str, source: str = "feed", fmt: str = "auto", settings: LoadSettings | None = None,
             **ctx: Any) -> LoadReport:
        from cairn.intel.feeds import load_target

        return load_target(self.store, str(path), source, fmt=fmt, columns=ctx.pop("columns", None),
                           options=ctx.pop("options", None), settings=settings or LoadSettings())

    def q(self, sql: str, params: Any = None) -> list[tuple[Any, ...]]:
        return self.engine.rows(sql, params)

    def dicts(self, sql: str, params: Any = None) -> list[dict[str, Any]]:
        return self.engine.arrow(sql, params).to_pylist()


@pytest.fixture(name="st")
def st_fixture(tmp_path: Path) -> Iterator[Store]:
    """A fresh workspace and store."""
    ws = Workspace.open(tmp_path / "ws")
    engine = DuckDBEngine(ws.catalog_path, temp_directory=ws.root / "tmp")
    yield Store(ws, engine, IntelStore(ws, engine))
    engine.close()


@dataclass
class Route:
    """What the test server answers for one path."""

    body: bytes = b""
    etag: str | None = None
    last_modified: str | None = None
    fail_first: list[int] = field(default_factory=list)
    """Status codes to answer first, one per request (e.g. [503])."""
    delay: float = 0.0


@dataclass
class Server:
    """A local HTTP server on 127.0.0.1 with programmable routes and a request log."""

    url: str
    routes: dict[str, Route]
    log: list[tuple[str, dict[str, str]]]


@pytest.fixture(name="http_server")
def http_server_fixture() -> Iterator[Server]:
    """Serve ``routes`` on 127.0.0.1 in a thread (ETag / If-Modified-Since / 304 / failures / delays)."""
    routes: dict[str, Route] = {}
    log: list[tuple[str, dict[str, str]]] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            import time

            log.append((self.path, dict(self.headers.items())))
            r = routes.get(self.path)
            if r is None:
                self.send_error(404)
                return
            if r.fail_first:
                self.send_response(r.fail_first.pop(0))
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            if r.delay:
                time.sleep(r.delay)
            if (r.etag and self.headers.get("If-None-Match") == r.etag) or (
                    r.last_modified and self.headers.get("If-Modified-Since") == r.last_modified):
                self.send_response(304)
                self.end_headers()
                return
            self.send_response(200)
            if r.etag:
                self.send_header("ETag", r.etag)
            if r.last_modified:
                self.send_header("Last-Modified", r.last_modified)
            self.send_header("Content-Length", str(len(r.body)))
            self.end_headers()
            self.wfile.write(r.body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Server(f"http://127.0.0.1:{server.server_address[1]}", routes, log)
    finally:
        server.shutdown()
        server.server_close()


def no_sleep() -> Callable[[float], None]:
    """A sleep that records instead of waiting."""
    waits: list[float] = []

    def sleep(s: float) -> None:
        waits.append(s)

    sleep.waits = waits  # type: ignore[attr-defined]
    return sleep
