"""Where ``stdout`` actions write: the process's stdout, unless stdout carries a JSON document.

``cairn --json detect`` (or ``detect --json``, ``cairn --json actions deliver|dispatch|test``) prints
one machine-readable summary on stdout; alert lines of a ``stdout`` action written before it would
make that output unparseable. While stdout is *reserved* the lines go to stderr instead.

Stdout is reserved inside :func:`reserve_stdout`: the CLI enters it for the global ``--json`` and
for ``cairn detect --json``; other callers that print JSON themselves can too.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TextIO

_RESERVED: ContextVar[bool] = ContextVar("cairn_actions_stdout_reserved", default=False)


@contextmanager
def reserve_stdout(reserved: bool = True) -> Iterator[None]:
    """Within the block, ``stdout`` actions write to stderr (when ``reserved``)."""
    token = _RESERVED.set(reserved or _RESERVED.get())
    try:
        yield
    finally:
        _RESERVED.reset(token)


def stdout_reserved() -> bool:
    """Whether stdout carries a JSON document now (see the module docstring)."""
    return _RESERVED.get()


def alert_stream() -> TextIO:
    """The stream ``stdout`` actions write to: ``sys.stdout``, or ``sys.stderr`` while stdout is reserved."""
    return sys.stderr if stdout_reserved() else sys.stdout
