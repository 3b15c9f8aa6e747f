"""The engine interface every table operation in cairn goes through.

Statements are plain, portable SQL with ``?`` or ``$name`` parameters; values
from users or files are always bound, never pasted into the text.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, Protocol

import pyarrow as pa

Params = Sequence[Any] | Mapping[str, Any] | None


class Engine(Protocol):
    """A SQL engine cairn can run its statements on."""

    dialect: str

    def execute(self, sql: str, params: Params = None) -> None:
        """Run a statement that returns nothing of interest."""

    def rows(self, sql: str, params: Params = None) -> list[tuple[Any, ...]]:
        """Run a query and return its rows as tuples."""

    def arrow(self, sql: str, params: Params = None) -> pa.Table:
        """Run a query and return an Arrow table."""

    def register(self, name: str, table: pa.Table) -> None:
        """Expose an Arrow table to SQL under ``name``."""

    def unregister(self, name: str) -> None:
        """Remove a table exposed with :meth:`register`."""

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Commit the statements run inside on success, roll back on error."""
        yield

    def close(self) -> None:
        """Release the engine's resources."""
