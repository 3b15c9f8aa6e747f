"""DuckDB implementation of :class:`cairn.engines.base.Engine`."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from cairn.engines.base import Params
from cairn.errors import EngineError

# Offline by default: never download extensions at run time.
_CONFIG = {
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
}


class DuckDBEngine:
    """An embedded DuckDB database (a file, or in memory when ``path`` is None)."""

    dialect = "duckdb"

    def __init__(
        self,
        path: Path | str | None = None,
        *,
        read_only: bool = False,
        threads: int | None = None,
        memory_limit: str | None = None,
        temp_directory: Path | str | None = None,
    ) -> None:
        config: dict[str, Any] = dict(_CONFIG)
        if threads:
            config["threads"] = threads
        if memory_limit:
            config["memory_limit"] = memory_limit
        if temp_directory:
            os.makedirs(temp_directory, exist_ok=True)
            config["temp_directory"] = str(temp_directory)
        try:
            self.con = duckdb.connect(
                str(path) if path else ":memory:", read_only=read_only, config=config
            )
        except duckdb.Error as exc:
            raise EngineError(f"cannot open DuckDB database {path or ':memory:'}: {exc}") from exc
        self.path = path
        self.execute("SET TimeZone = 'UTC'")

    def execute(self, sql: str, params: Params = None) -> None:
        """Run a statement and discard any result."""
        try:
            self.con.execute(sql, params).fetchall()
        except duckdb.Error as exc:
            raise EngineError(_message(exc, sql)) from exc

    def rows(self, sql: str, params: Params = None) -> list[tuple[Any, ...]]:
        """Run a query and return all rows."""
        try:
            return self.con.execute(sql, params).fetchall()
        except duckdb.Error as exc:
            raise EngineError(_message(exc, sql)) from exc

    def scalar(self, sql: str, params: Params = None) -> Any:
        """Run a query and return the first column of the first row (or None)."""
        result = self.rows(sql, params)
        return result[0][0] if result else None

    def arrow(self, sql: str, params: Params = None) -> pa.Table:
        """Run a query and return an Arrow table."""
        try:
            return self.con.sql(sql, params=params).to_arrow_table()
        except duckdb.Error as exc:
            raise EngineError(_message(exc, sql)) from exc

    def register(self, name: str, table: pa.Table) -> None:
        """Expose an Arrow table (or anything DuckDB can scan) as ``name``."""
        self.con.register(name, table)

    def unregister(self, name: str) -> None:
        """Forget a registered table."""
        self.con.unregister(name)

    @contextmanager
    def unordered(self) -> Iterator[None]:
        """Statements inside may produce and insert rows in any order (``preserve_insertion_order``
        off: the engine then runs order-keeping sinks, such as an INSERT from an Arrow scan, on
        every thread). The previous setting is restored; inside a failed transaction the engine
        refuses that, and the statement's own error is the one that propagates."""
        keep = self.scalar("SELECT current_setting('preserve_insertion_order')")
        self.execute("SET preserve_insertion_order = false")
        try:
            yield
        finally:
            with suppress(EngineError):
                self.execute(f"SET preserve_insertion_order = {'true' if keep else 'false'}")

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """BEGIN ... COMMIT, rolling back on any exception."""
        self.execute("BEGIN TRANSACTION")
        try:
            yield
        except BaseException:
            self.con.execute("ROLLBACK").fetchall()
            raise
        self.execute("COMMIT")

    def close(self) -> None:
        """Close the connection."""
        self.con.close()

    def __enter__(self) -> DuckDBEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _message(exc: Exception, sql: str) -> str:
    head = " ".join(sql.split())[:200]
    return f"{type(exc).__name__}: {exc} (while running: {head})"
