"""OCSF ``evidences`` of findings: the initiator of a GuardDuty network connection is the src_endpoint
(the instance for OUTBOUND, the remote peer for INBOUND / UNKNOWN), both ports are kept, and the
observables of the two addresses follow them; port probes and API calls keep the caller as the source.

The findings are derived from the bundled GuardDuty sample (an AWS_API_CALL finding) by replacing
``service.action``, as tests/fixtures/guardduty/README.md describes; the Security Hub one from the
bundled ASFF sample by adding a ``Network`` object. Addresses are documentation or private ones, and
45.33.32.156 (scanme.nmap.org, the address of the QA report).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from cairn.demo import samples_dir
from cairn.outputs.ocsf import iter_events
from cairn.outputs.stream import enrich_inputs
from outputs.ocsf_schema import validate

GD = samples_dir() / "guardduty" / "panther" / "guardduty-findings.jsonl"
SH = samples_dir() / "securityhub" / "panther" / "asff-findings.jsonl"
REMOTE, LOCAL = "45.33.32.156", "10.0.0.5"
CONN = "service.action.networkConnectionAction"


def _connection(direction: str | None) -> dict[str, Any]:
    action: dict[str, Any] = {
        "blocked": False, "protocol": "TCP", "remoteIpDetails": {"ipAddressV4": REMOTE},
        "remotePortDetails": {"port": 443, "portName": "HTTPS"}, "localIpDetails": {"ipAddressV4": LOCAL},
        "localPortDetails": {"port": 51000, "portName": "Unknown"}}
    if direction is not None:
        action["connectionDirection"] = direction
    return {"actionType": "NETWORK_CONNECTION", "networkConnectionAction": action}


PROBE = {"actionType": "PORT_PROBE", "portProbeAction": {"blocked": False, "portProbeDetails": [
    {"localPortDetails": {"port": 22}, "localIpDetails": {"ipAddressV4": LOCAL},
     "remoteIpDetails": {"ipAddressV4": "203.0.113.1"}},
    {"localPortDetails": {"port": 80}, "remoteIpDetails": {"ipAddressV4": "203.0.113.2"}}]}}
API_BY_IP = {"actionType": "AWS_API_CALL", "awsApiCallAction": {
    "api": "GetCallerIdentity", "serviceName": "sts.amazonaws.com", "callerType": "Remote IP",
    "remoteIpDetails": {"ipAddressV4": "198.51.100.7"}}}
ACTIONS: dict[str, dict[str, Any] | None] = {
    "outbound": _connection("OUTBOUND"), "inbound": _connection("INBOUND"), "unknown": _connection("UNKNOWN"),
    "missing": _connection(None), "probe": PROBE, "api": None,  # None: the sample's own AWS_API_CALL action
    "api_ip": API_BY_IP}


def _finding(name: str, action: dict[str, Any] | None) -> dict[str, Any]:
    f = json.loads(GD.read_text().splitlines()[1])
    assert f["service"]["action"]["actionType"] == "AWS_API_CALL"
    f["id"] = name
    f["arn"] = f["arn"].rsplit("/", 1)[0] + "/" + name
    if action is not None:
        f["service"]["action"] = action
    return f


@pytest.fixture(scope="module")
def events(scratch: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """The OCSF event of each derived finding, by finding id, through ``cairn enrich``'s path."""
    src = tmp_path_factory.mktemp("gd") / "gd_net.jsonl"
    src.write_text("".join(json.dumps(_finding(n, a)) + "\n" for n, a in ACTIONS.items()), encoding="utf-8")
    r = enrich_inputs(scratch.engine, scratch.ws, [str(src)])
    evs = list(iter_events(scratch.engine, "guardduty_findings", r.views["guardduty_findings"], r.matches))
    return {e["metadata"]["uid"]: e for e in evs}


def _ips(ev: dict[str, Any]) -> dict[str, str]:
    """Observable value -> OCSF path, for the IP observables of an event."""
    return {o["value"]: o["name"] for o in ev.get("observables", []) if o["type_id"] == 2}


def test_outbound_connection_starts_at_the_instance(events: dict[str, dict[str, Any]]) -> None:
    ev = events["outbound"]
    assert ev["evidences"] == [{"src_endpoint": {"ip": LOCAL, "port": 51000},
                                "dst_endpoint": {"ip": REMOTE, "port": 443}}]
    assert _ips(ev) == {LOCAL: "evidences.src_endpoint.ip", REMOTE: "evidences.dst_endpoint.ip"}
    assert "unmapped" not in ev and validate(ev) == []


@pytest.mark.parametrize("name", ["inbound", "unknown", "missing"])
def test_inbound_or_unknown_connection_starts_at_the_remote_peer(events: dict[str, dict[str, Any]],
                                                                 name: str) -> None:
    ev = events[name]
    assert ev["evidences"] == [{"src_endpoint": {"ip": REMOTE, "port": 443},
                                "dst_endpoint": {"ip": LOCAL, "port": 51000}}]
    assert _ips(ev) == {REMOTE: "evidences.src_endpoint.ip", LOCAL: "evidences.dst_endpoint.ip"}
    assert "unmapped" not in ev and validate(ev) == []


def test_port_probe_starts_at_the_first_prober(events: dict[str, dict[str, Any]]) -> None:
    ev = events["probe"]
    assert ev["evidences"] == [{"src_endpoint": {"ip": "203.0.113.1"}, "dst_endpoint": {"ip": LOCAL, "port": 22}}]
    probers = "service.action.portProbeAction.portProbeDetails[].remoteIpDetails.ipAddressV4"
    assert _ips(ev) == {LOCAL: "evidences.dst_endpoint.ip", "203.0.113.1": "unmapped." + probers,
                        "203.0.113.2": "unmapped." + probers}
    assert ev["unmapped"] == {probers: ["203.0.113.1", "203.0.113.2"]}
    assert validate(ev) == []


def test_api_call_keeps_the_caller_as_source(events: dict[str, dict[str, Any]]) -> None:
    # the sample: iam:PutRolePolicy called by cloudformation.amazonaws.com (a domain caller)
    ev = events["api"]
    assert ev["evidences"] == [{"src_endpoint": {"domain": "cloudformation.amazonaws.com"},
                                "api": {"operation": "PutRolePolicy", "service": {"name": "iam.amazonaws.com"}}}]
    domains = {o["value"]: o["name"] for o in ev["observables"] if o["type_id"] == 1}
    assert domains == {"cloudformation.amazonaws.com": "evidences.src_endpoint.domain"}
    assert _ips(ev) == {} and validate(ev) == []
    ev = events["api_ip"]
    assert ev["evidences"] == [{"src_endpoint": {"ip": "198.51.100.7"},
                                "api": {"operation": "GetCallerIdentity", "service": {"name": "sts.amazonaws.com"}}}]
    assert _ips(ev) == {"198.51.100.7": "evidences.src_endpoint.ip"} and validate(ev) == []


def test_security_hub_source_port_is_kept(scratch: Any, tmp_path: Path) -> None:
    f = json.loads(SH.read_text().splitlines()[0])
    f["Network"] = {"Direction": "IN", "Protocol": "TCP", "SourceIpV4": REMOTE, "SourcePort": 443,
                    "DestinationIpV4": LOCAL, "DestinationPort": 51000}
    src = tmp_path / "sh.json"
    src.write_text(json.dumps(f), encoding="utf-8")
    r = enrich_inputs(scratch.engine, scratch.ws, [str(src)])
    (ev,) = iter_events(scratch.engine, "securityhub_findings", r.views["securityhub_findings"], r.matches)
    assert ev["evidences"][0]["src_endpoint"] == {"ip": REMOTE, "port": 443}
    assert ev["evidences"][0]["dst_endpoint"] == {"ip": LOCAL, "port": 51000}
    assert validate(ev) == []
