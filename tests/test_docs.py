"""The generated reference docs match the code."""

from __future__ import annotations

from pathlib import Path

from cairn.lake.docs import render

ROOT = Path(__file__).resolve().parents[1]


def test_lake_reference_is_current() -> None:
    committed = (ROOT / "docs" / "lake.md").read_text(encoding="utf-8")
    assert committed == render(), "docs/lake.md is stale: run `python -m cairn.lake.docs > docs/lake.md`"


def test_readme_opens_with_the_two_commands() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = text.split("```sh\n", 1)[1].split("```", 1)[0].strip().splitlines()
    assert len(block) == 2
    assert block[0].endswith("cairn demo")
    assert "pytest" in block[1]
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert block[1] in ci, ".ci/run must call the README's test command"
