"""The cairn exception hierarchy.

    CairnError                 root of everything cairn raises on purpose
    ├── ConfigError            the config file or an option is wrong
    ├── InputError             an input file or record cannot be used (names file and place)
    │   └── StrictModeError    --strict and at least one record was quarantined
    ├── EngineError            the SQL engine failed
    ├── WorkspaceError         the workspace is missing, locked or damaged
    └── RemoteError            a remote service (S3, HTTP) failed
        └── TransientError     ... and trying again later may work

Each carries an ``exit_code`` used by the CLI.
"""

from __future__ import annotations


class CairnError(Exception):
    """Root of cairn's errors."""

    exit_code = 1


class ConfigError(CairnError):
    """A setting is missing or invalid."""

    exit_code = 2


class InputError(CairnError):
    """An input cannot be read; the message names the file, place and reason."""

    exit_code = 3

    def __init__(self, message: str, *, origin: str | None = None, locator: str | None = None):
        where = ":".join(p for p in (origin, locator) if p)
        super().__init__(f"{where}: {message}" if where else message)
        self.origin = origin
        self.locator = locator


class StrictModeError(InputError):
    """Raised under ``--strict`` when records were quarantined."""

    exit_code = 4


class EngineError(CairnError):
    """The SQL engine rejected or failed a statement."""

    exit_code = 5


class WorkspaceError(CairnError):
    """The workspace cannot be used."""

    exit_code = 6


class RemoteError(CairnError):
    """A remote service failed."""

    exit_code = 7


class TransientError(RemoteError):
    """A remote failure worth retrying (throttling, timeouts, 5xx)."""
