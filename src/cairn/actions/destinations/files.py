"""``file`` (JSON lines, atomic appends) and ``stdout`` destinations."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from cairn.actions.destinations.base import Destination, option, transient
from cairn.actions.destinations.channel import alert_stream
from cairn.actions.destinations.message import dumps, envelope, text_body
from cairn.actions.settings import ActionConfig
from cairn.errors import ConfigError


def append_lines(path: Path, lines: list[str]) -> None:
    """Append lines atomically: each line one ``write`` on an ``O_APPEND`` descriptor under an exclusive
    lock (concurrent writers never interleave; a short write is undone), then one ``fsync`` before
    returning, so that a line reported written is on disk."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            for line in lines:
                data = (line.rstrip("\n") + "\n").encode()
                size = os.fstat(fd).st_size
                if os.write(fd, data) != len(data):  # disk full: undo the partial line
                    os.ftruncate(fd, size)
                    raise OSError(f"short write to {path}")
            os.fsync(fd)
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


class FileDestination(Destination):
    """``type = "file"``: one JSON line per alert (the webhook envelope)."""

    TYPE: ClassVar[str] = "file"
    OPTIONS: ClassVar[frozenset[str]] = frozenset({"path"})
    REQUIRED: ClassVar[frozenset[str]] = frozenset({"path"})
    BATCH: ClassVar[int] = 100

    @classmethod
    def check(cls, cfg: ActionConfig) -> None:
        if not option(cfg, "path", str):
            raise ConfigError(f"[actions.{cfg.name}] path must not be empty")

    def path(self) -> Path:
        """The file, relative paths against the workspace."""
        p = Path(self.opts["path"]).expanduser()
        if not p.is_absolute() and self.ctx.workspace is not None:
            p = Path(self.ctx.workspace.root) / p
        return p

    def send(self, alert: Mapping[str, Any], delivery_id: str) -> str | None:
        result = self.send_many([(delivery_id, alert)])[delivery_id]
        if isinstance(result, Exception):
            raise result
        return result

    def send_many(self, items: list[tuple[str, Mapping[str, Any]]]) -> dict[str, str | Exception | None]:
        path = self.path()
        lines = [dumps(envelope(a, action=self.cfg.name, delivery_id=d, test=bool(a.get("_test")))) for d, a in items]
        try:
            append_lines(path, lines)
        except OSError as exc:
            err = transient(f"file {self.cfg.name}: cannot append to {path}: {exc.strerror or exc}")
            return {d: err for d, _ in items}
        return {d: str(path) for d, _ in items}


class StdoutDestination(Destination):
    """``type = "stdout"``: a JSON line (``format = "json"``) or readable text per alert; on stderr while
    stdout carries a ``--json`` document (:mod:`cairn.actions.destinations.channel`)."""

    TYPE: ClassVar[str] = "stdout"
    OPTIONS: ClassVar[frozenset[str]] = frozenset({"format"})

    @classmethod
    def check(cls, cfg: ActionConfig) -> None:
        if option(cfg, "format", str, "json") not in ("json", "text"):
            raise ConfigError(f"[actions.{cfg.name}] format must be json or text")

    def send(self, alert: Mapping[str, Any], delivery_id: str) -> str | None:
        if self.opts.get("format", "json") == "json":
            text = dumps(envelope(alert, action=self.cfg.name, delivery_id=delivery_id,
                                  test=bool(alert.get("_test")))) + "\n"
        else:
            text = text_body(alert) + "\n"
        stream = alert_stream()
        stream.write(text)
        stream.flush()
        return None
