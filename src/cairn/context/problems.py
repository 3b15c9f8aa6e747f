"""Problems found in inventory files, and the error that lists them all.

Every problem names the file, the line, the record (``accounts record 3``: the
third record of that kind in the file, counting from 1) and the field::

    inventory/accounts.csv:4: accounts record 3: account_id: '12345' is not an AWS account id (12 digits)

Loading collects every problem of every file before deciding: by default any
problem fails the whole load (nothing is written) and :class:`InventoryError`
lists them all; with ``skip_invalid`` the bad records are left out and the
problems are returned in the load report instead.
"""

from __future__ import annotations

from dataclasses import dataclass

from cairn.errors import InputError


@dataclass(frozen=True)
class Problem:
    """One problem in an inventory file."""

    origin: str
    """The file, as the user named it."""
    line: int | None
    """1-based line of the field (or of the record, or of the file-level problem)."""
    message: str
    kind: str | None = None
    """accounts, networks, identities or assets (None for file-level problems)."""
    record: int | None = None
    """1-based index of the record among the file's records of that kind."""
    field: str | None = None

    def __str__(self) -> str:
        where = f"{self.origin}:{self.line}" if self.line else self.origin
        rec = f" {self.kind} record {self.record}:" if self.record is not None else ""
        fld = f" {self.field}:" if self.field else ""
        return f"{where}:{rec}{fld} {self.message}"


class InventoryError(InputError):
    """Inventory files have problems; nothing was loaded. ``problems`` lists every one."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = list(problems)
        n = len(self.problems)
        lines = "\n".join(f"  {p}" for p in self.problems)
        super().__init__(
            f"{n} problem{'s' if n != 1 else ''} in inventory files; nothing was loaded "
            f"(--skip-invalid loads the valid records):\n{lines}"
        )
