"""The Lambda handler writes the update ``cairn handle`` (and ``cairn securityhub enrich``) writes for the
same event and config: the write-back options come from one helper, ``[context.aws] criticality_tags``
included."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from cairn.actions import lambda_handler
from cairn.actions.lambda_handler import handler_options
from cairn.actions.securityhub_writeback import WritebackOptions, writeback_options
from cairn.config import load_config

from .conftest import BAD_IP, PAY
from .findings import gd_finding, imported_event

CONFIG = '[context.aws]\ncriticality_tags = ["tier"]\n'


def _updates(hub: Any) -> list[dict[str, Any]]:
    return [b for m, p, _, b in hub.server.requests if m == "PATCH" and p == "/findings/batchupdate"]


def test_options_carry_the_configured_criticality_tags(tmp_path: Path) -> None:
    cfg_file = tmp_path / "cairn.toml"
    cfg_file.write_text(CONFIG)
    config = load_config(cfg_file)
    assert writeback_options(config) == WritebackOptions(criticality_tags=("tier",))
    assert writeback_options(None) == WritebackOptions()
    env = {"CAIRN_UPDATED_BY": "sec-bot", "CAIRN_OVERWRITE_NOTE": "true"}
    assert handler_options(config, env) == WritebackOptions(updated_by="sec-bot", overwrite=True,
                                                            criticality_tags=("tier",))
    assert handler_options(config, {}) == WritebackOptions(criticality_tags=("tier",))


@pytest.mark.parametrize(("config", "criticality"), [(CONFIG, None), ("", "high")])
def test_handler_writes_what_cairn_handle_plans(hub: Any, template_ws: Path, tmp_path: Path, cli: Any,
                                                monkeypatch: pytest.MonkeyPatch, config: str,
                                                criticality: str | None) -> None:
    f = gd_finding(41, PAY, ip=BAD_IP)
    hub.client.batch_import_findings(Findings=[f])
    event = imported_event(f)
    cfg_file = tmp_path / "cairn.toml"
    cfg_file.write_text(config)

    cli_root = tmp_path / "cli-ws"
    shutil.copytree(template_ws, cli_root)
    shutil.copy(cfg_file, cli_root / "cairn.toml")
    ev = tmp_path / "event.json"
    ev.write_text(json.dumps(event))
    r = cli("-w", cli_root, "--json", "handle", "--dry-run", ev)
    assert r.code == 0, r.err
    (planned,) = r.json()["findings"]
    assert planned["status"] == "update"
    assert planned["update"]["UserDefinedFields"].get("cairn:criticality") == criticality
    assert _updates(hub) == []  # a dry run writes nothing

    monkeypatch.setenv("CAIRN_WORKSPACE_TEMPLATE", str(template_ws))
    monkeypatch.setenv("CAIRN_WORKSPACE", str(tmp_path / "lambda" / "cairn"))
    monkeypatch.setenv("CAIRN_CONFIG", str(cfg_file))
    monkeypatch.setenv("CAIRN_CONTEXT_SYNC", "off")
    monkeypatch.delenv("CAIRN_UPDATED_BY", raising=False)
    monkeypatch.delenv("CAIRN_OVERWRITE_NOTE", raising=False)
    monkeypatch.setattr(lambda_handler, "_WARM", None)
    try:
        result = lambda_handler.handler(event, None)
    finally:
        if lambda_handler._WARM is not None:
            lambda_handler._WARM.engine.close()
        monkeypatch.setattr(lambda_handler, "_WARM", None)
    assert result["updated"] == 1
    assert [x["marker"] for x in result["findings"]] == [planned["marker"]]
    (body,) = _updates(hub)
    assert body["FindingIdentifiers"] == [{"Id": f["Id"], "ProductArn": f["ProductArn"]}]
    assert {k: v for k, v in body.items() if k != "FindingIdentifiers"} == planned["update"]
