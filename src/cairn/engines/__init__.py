"""SQL engines: one small interface, DuckDB by default."""

from cairn.engines.base import Engine
from cairn.engines.duckdb_engine import DuckDBEngine

__all__ = ["DuckDBEngine", "Engine"]
