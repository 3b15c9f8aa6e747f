"""Step timings of an ingest run, for profiling; off unless ``CAIRN_PROFILE`` is set.

``CAIRN_PROFILE=1`` prints a table of the run's steps (calls, wall seconds, CPU
seconds of the whole process, i.e. every engine thread) to standard error when the
run ends; ``CAIRN_PROFILE=<path>`` appends the same figures to ``<path>`` as one
JSON line per run. Disabled, a step costs one attribute lookup.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

ENV = "CAIRN_PROFILE"


class StepTimer:
    """Accumulates wall and CPU time per named step."""

    def __init__(self, target: str | None = None) -> None:
        self.target = target if target is not None else os.environ.get(ENV, "")
        self.enabled = bool(self.target) and self.target != "0"
        self.steps: dict[str, list[float]] = {}  # name -> [calls, wall, cpu]
        self._t0 = (time.perf_counter(), time.process_time())

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        """Time the block as ``name`` (nested steps are counted in both)."""
        if not self.enabled:
            yield
            return
        w0, c0 = time.perf_counter(), time.process_time()
        try:
            yield
        finally:
            s = self.steps.setdefault(name, [0, 0.0, 0.0])
            s[0] += 1
            s[1] += time.perf_counter() - w0
            s[2] += time.process_time() - c0

    def figures(self, **extra: Any) -> dict[str, Any]:
        """The totals and every step, JSON-friendly."""
        wall = time.perf_counter() - self._t0[0]
        cpu = time.process_time() - self._t0[1]
        return {
            **extra,
            "wall_s": round(wall, 3),
            "cpu_s": round(cpu, 3),
            "steps": {
                k: {"calls": int(v[0]), "wall_s": round(v[1], 3), "cpu_s": round(v[2], 3)}
                for k, v in self.steps.items()
            },
        }

    def report(self, **extra: Any) -> None:
        """Write the figures to standard error (``CAIRN_PROFILE=1``) or append them to a file."""
        if not self.enabled:
            return
        data = self.figures(**extra)
        if self.target != "1":
            with open(self.target, "a", encoding="utf-8") as fh:
                fh.write(json.dumps(data) + "\n")
            return
        total = data["cpu_s"] or 1.0
        lines = [f"{'step':<24} {'calls':>6} {'wall s':>9} {'CPU s':>9} {'CPU %':>6}"]
        for name, s in data["steps"].items():
            lines.append(
                f"{name:<24} {s['calls']:>6} {s['wall_s']:>9.2f} {s['cpu_s']:>9.2f} "
                f"{100 * s['cpu_s'] / total:>5.1f}%"
            )
        lines.append(f"{'run':<24} {'':>6} {data['wall_s']:>9.2f} {data['cpu_s']:>9.2f}")
        head = " ".join(f"{k}={v}" for k, v in extra.items())
        sys.stderr.write(f"[{ENV}] {head}\n" + "\n".join(lines) + "\n")
