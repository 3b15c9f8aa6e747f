"""VPC Flow Logs: every AWS doc example, custom orders, gzip, headerless, Parquet, bad lines."""

from __future__ import annotations

import gzip
import ipaddress
import json
import shutil
import tempfile
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cairn.lake.addresses import ip_to_bin, parse_ip
from cairn.sources.base import Sniff
from cairn.sources.detect import detect
from cairn.sources.vpcflow import ADDR, FIELDS, header_format
from conftest import FIXTURES, Lake

VF = FIXTURES / "vpcflow"
# An S3 delivery name: formats without start/end get this time (2019-08-27T19:50Z).
S3_NAME = "123456789010_vpcflowlogs_us-east-1_fl-1234abcd_20190827T1950Z_fe123456.log"
S3_TIME = datetime(2019, 8, 27, 19, 50, tzinfo=UTC)


def ts(epoch: int) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def flows(lake: Lake, where: str = "true") -> list[dict[str, Any]]:
    rows = lake.dicts(f"SELECT * FROM vpcflow WHERE {where}")
    return sorted(rows, key=lambda r: (r["origin"], int(r["locator"].split()[1])))


def as_s3(tmp_path: Path, fixture: str) -> Path:
    dest = tmp_path / "s3" / S3_NAME
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(VF / fixture, dest)
    return dest


# -- the doc examples -----------------------------------------------------------------------------


def test_default_v2_accept_reject_nodata_skipdata_icmp_ipv6(lake: Lake) -> None:
    s = lake.ingest(VF / "default-v2.log")
    assert (s.records_read, s.loaded, s.quarantined) == (7, 7, 0)
    assert s.sources == {"vpcflow": 1}
    r = flows(lake)
    first = r[0]
    assert first["locator"] == "line 2"
    assert {k: first[k] for k in (
        "version", "account_id", "interface_id", "srcaddr", "dstaddr", "srcport", "dstport", "protocol",
        "protocol_name", "packets", "bytes", "action", "log_status", "class_uid")} == {
        "version": 2, "account_id": "123456789010", "interface_id": "eni-1235b8ca123456789",
        "srcaddr": "172.31.16.139", "dstaddr": "172.31.16.21", "srcport": 20641, "dstport": 22,
        "protocol": 6, "protocol_name": "tcp", "packets": 20, "bytes": 4249, "action": "ACCEPT",
        "log_status": "OK", "class_uid": 4001}
    assert first["start_time"] == first["event_time"] == ts(1418530010)
    assert first["end_time"] == ts(1418530070)
    assert str(first["event_date"]) == "2014-12-14"
    assert first["srcaddr_bin"] == ip_to_bin(ipaddress.ip_address("172.31.16.139"))
    assert json.loads(first["raw"]) == (VF / "default-v2.log").read_text().splitlines()[1]
    assert first["extra"] is None and first["vpc_id"] is None
    assert first["event_uid"].startswith("sha256:") and len(first["event_uid"]) == 71
    assert [x["action"] for x in r] == ["ACCEPT", "REJECT", None, None, "ACCEPT", "REJECT", "ACCEPT"]
    # NODATA / SKIPDATA: loaded, with null addresses, ports and counts.
    for x, status in zip(r[2:4], ("NODATA", "SKIPDATA"), strict=True):
        assert x["log_status"] == status
        assert x["srcaddr"] is x["dstaddr"] is x["srcaddr_bin"] is x["srcport"] is x["packets"] is None
        assert x["event_time"] == ts(1431280876)
    assert r[3]["interface_id"] == "eni-11111111aaaaaaaaa"
    assert [x["protocol_name"] for x in r[4:6]] == ["icmp", "icmp"]
    assert (r[4]["srcport"], r[4]["dstport"]) == (0, 0)
    v6 = r[6]
    assert v6["srcaddr"] == "2001:db8:1234:a100:8d6e:3477:df66:f105"
    assert v6["dstaddr_bin"] == ipaddress.IPv6Address("2001:db8:1234:a102:3304:8879:34cf:4071").packed


def test_tcp_flags_v3_custom_order(lake: Lake) -> None:
    s = lake.ingest(VF / "tcp-flags-v3.log")
    assert (s.loaded, s.quarantined) == (8, 0)
    r = flows(lake)
    assert [x["tcp_flags"] for x in r] == [2, 18, 2, 18, 1, 1, 3, 19]
    # bytes comes before packets in this format.
    assert [(x["bytes"], x["packets"]) for x in r[:2]] == [(568, 8), (376, 7)]
    x = r[0]
    assert (x["version"], x["vpc_id"], x["subnet_id"], x["instance_id"], x["type"]) == (
        3, "vpc-abcdefab012345678", "subnet-aaaaaaaa012345678", "i-01234567890123456", "IPv4")
    assert (x["pkt_srcaddr"], x["pkt_dstaddr"]) == ("52.213.180.42", "10.0.0.62")
    assert x["pkt_srcaddr_bin"] == x["srcaddr_bin"]
    # The doc's last line has a double space: still 21 fields.
    assert (r[7]["dstport"], r[7]["pkt_srcaddr"], r[7]["locator"]) == (43638, "10.0.0.62", "line 9")


def test_traffic_path_service_name_flow_direction_v5(lake: Lake) -> None:
    assert lake.ingest(VF / "traffic-path-v5.log").loaded == 2
    ingress, egress = flows(lake)
    assert (ingress["pkt_src_aws_service"], ingress["pkt_dst_aws_service"]) == ("S3", None)
    assert (egress["pkt_src_aws_service"], egress["pkt_dst_aws_service"]) == (None, "S3")
    assert (ingress["flow_direction"], ingress["traffic_path"]) == ("ingress", None)
    assert (egress["flow_direction"], egress["traffic_path"]) == ("egress", 8)
    assert (ingress["region"], ingress["az_id"], ingress["sublocation_type"], ingress["sublocation_id"]) == (
        "ap-southeast-2", "apse2-az3", None, None)
    assert (ingress["packets"], ingress["bytes"], ingress["tcp_flags"]) == (14, 15044, 19)
    assert ingress["event_time"] == ts(1616729292)


def test_nat_gateway_without_times_is_quarantined_with_reason(lake: Lake) -> None:
    s = lake.ingest(VF / "nat-gateway.log")
    assert (s.loaded, s.quarantined) == (0, 6)
    reasons = {q["reason"] for q in lake.quarantine()}
    assert reasons == {"no time: start and end are missing or '-' and the file name has no delivery time"}
    assert lake.quarantine()[0]["raw"] == b"- eni-1235b8ca123456789 10.0.1.5 10.0.0.220 10.0.1.5 203.0.113.5"


def test_nat_gateway_with_s3_name_uses_delivery_time(lake: Lake, tmp_path: Path) -> None:
    s = lake.ingest(as_s3(tmp_path, "nat-gateway.log"))
    assert (s.loaded, s.quarantined) == (6, 0)
    r = flows(lake)
    assert {x["event_time"] for x in r} == {S3_TIME}
    assert r[0]["start_time"] is None and r[0]["instance_id"] is None
    assert (r[0]["dstaddr"], r[0]["pkt_dstaddr"]) == ("10.0.0.220", "203.0.113.5")
    assert r[4]["instance_id"] == "i-01234567890123456"
    # pkt-* observables only where they differ from the interface addresses.
    obs = lake.rows(
        "SELECT o.field, o.value FROM observables o JOIN vpcflow v USING (event_uid) "
        "WHERE v.locator = 'line 2' AND o.type = 'ip' ORDER BY 1")
    assert obs == [("dstaddr", "10.0.0.220"), ("pkt-dstaddr", "203.0.113.5"), ("srcaddr", "10.0.1.5")]


def test_nat_gateway_annotated_lines_are_malformed(lake: Lake) -> None:
    s = lake.ingest(VF / "nat-gateway-annotated.log")
    assert (s.loaded, s.quarantined) == (0, 2)
    q = lake.quarantine()
    assert [x["locator"] for x in q] == ["line 2", "line 3"]
    assert q[0]["reason"].startswith("wrong number of fields: 16 instead of 6 (format: instance-id ")


def test_transit_gateway_and_doc_elision_line(lake: Lake, tmp_path: Path) -> None:
    s = lake.ingest(as_s3(tmp_path, "transit-gateway.log"))
    assert (s.records_read, s.loaded, s.quarantined) == (5, 4, 1)
    (q,) = lake.quarantine()
    assert (q["locator"], q["raw"]) == ("line 3", b"...")
    assert q["reason"].startswith("wrong number of fields: 1 instead of 17")
    r = flows(lake)
    assert [x["instance_id"] for x in r] == ["i-01234567890123456", "i-01234567890123456", None, None]
    assert (r[2]["srcaddr"], r[2]["pkt_srcaddr"]) == ("10.40.1.175", "10.20.33.164")
    assert (r[3]["dstaddr"], r[3]["pkt_dstaddr"]) == ("10.40.2.31", "10.20.33.164")


def test_all_doc_examples_in_one_folder(lake: Lake, tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    for f in [*VF.glob("*.log"), VF / "README.md"]:
        shutil.copy(f, folder / f.name)
    s = lake.ingest(folder)
    # README.md is skipped; 7 + 7 + 8 + 2 + 2 + 6 + 5 records, timeless formats quarantined.
    assert s.skipped == {"documentation file": 1}
    assert s.sources == {"vpcflow": 7}
    assert s.records_read == 37
    assert s.loaded == 17  # the headerless copy duplicates default-v2.log
    assert s.duplicates == 7
    assert s.quarantined == 13


def test_bundled_demo_samples(lake: Lake) -> None:
    samples = Path(str(resources.files("cairn") / "data" / "samples" / "vpcflow"))
    s = lake.ingest(samples)
    assert (s.loaded, s.quarantined, s.files_skipped) == (9, 0, 2)  # two licence files


# -- variants -------------------------------------------------------------------------------------


def test_headerless_uses_default_format(lake: Lake) -> None:
    s = lake.ingest(VF / "cloudwatch-export-v2.log")
    assert s.sources == {"vpcflow": 1}
    assert (s.loaded, s.quarantined) == (7, 0)
    assert flows(lake)[0]["locator"] == "line 1"
    # The same records with a header line are the same events.
    again = lake.ingest(VF / "default-v2.log")
    assert (again.loaded, again.duplicates) == (0, 7)


def test_headerless_with_configured_custom_format(make_lake: Any, tmp_path: Path) -> None:
    root = tmp_path / "custom"
    root.mkdir()
    (root / "cairn.toml").write_text(
        '[sources.vpcflow]\ndefault_format = "${version} ${srcaddr} ${dstaddr} ${start} ${end} ${flow-direction}"\n')
    lake = make_lake("custom")
    src = tmp_path / "cwl.log"
    src.write_text("5 10.0.0.1 10.0.0.2 1616729292 1616729349 egress\n")
    s = lake.ingest(src, source="vpcflow")
    assert s.loaded == 1
    (x,) = flows(lake)
    assert (x["version"], x["srcaddr"], x["flow_direction"], x["event_time"]) == (
        5, "10.0.0.1", "egress", ts(1616729292))


def test_gzip_and_crlf(lake: Lake, tmp_path: Path) -> None:
    text = (VF / "traffic-path-v5.log").read_text().replace("\n", "\r\n")
    p = tmp_path / "flows.log.gz"
    p.write_bytes(gzip.compress(text.encode()))
    s = lake.ingest(p)
    assert (s.loaded, s.quarantined) == (2, 0)
    assert [x["log_status"] for x in flows(lake)] == ["OK", "OK"]


def test_field_order_does_not_change_the_event(lake: Lake, tmp_path: Path) -> None:
    lines = (VF / "default-v2.log").read_text().splitlines()
    rows = [ln.split(" ") for ln in lines]
    order = list(reversed(range(len(rows[0]))))
    p = tmp_path / "reversed.log"
    p.write_text("\n".join(" ".join(r[i] for i in order) for r in rows) + "\n")
    first = lake.ingest(p)
    assert first.loaded == 7
    assert flows(lake)[0]["srcport"] == 20641
    again = lake.ingest(VF / "default-v2.log")
    assert (again.loaded, again.duplicates) == (0, 7)


def test_unknown_fields_go_to_extra(lake: Lake, tmp_path: Path) -> None:
    p = tmp_path / "future.log"
    p.write_text(
        "version srcaddr future-field start end another-new\n"
        "9 10.1.2.3 abc 1616729292 1616729349 -\n")
    assert lake.ingest(p).loaded == 1
    (x,) = flows(lake)
    assert json.loads(x["extra"]) == {"future-field": "abc", "another-new": None}
    assert x["version"] == 9


def test_header_in_the_middle_switches_format(lake: Lake, tmp_path: Path) -> None:
    a = (VF / "default-v2.log").read_text()
    b = (VF / "traffic-path-v5.log").read_text()
    p = tmp_path / "concatenated.log"
    p.write_text(a + b)
    s = lake.ingest(p)
    assert (s.loaded, s.quarantined) == (9, 0)
    assert [x["version"] for x in flows(lake)][-3:] == [2, 5, 5]


def test_reingest_adds_nothing(lake: Lake, tmp_path: Path) -> None:
    first = lake.ingest(VF / "default-v2.log", VF / "tcp-flags-v3.log")
    assert first.loaded == 15
    again = lake.ingest(VF / "default-v2.log", VF / "tcp-flags-v3.log")
    assert (again.loaded, again.duplicates, again.quarantined) == (0, 15, 0)
    assert lake.scalar("SELECT count(*) FROM vpcflow") == 15
    assert lake.scalar("SELECT count(DISTINCT event_uid) FROM vpcflow") == 15


# -- Parquet delivery -----------------------------------------------------------------------------

V2_TYPES = {"version": pa.int32(), "srcport": pa.int32(), "dstport": pa.int32(), "protocol": pa.int32(),
            "packets": pa.int64(), "bytes": pa.int64(), "start": pa.int64(), "end": pa.int64(),
            "tcp_flags": pa.int32(), "traffic_path": pa.int32()}


def parquet_from_text(src: Path, dest: Path) -> None:
    """Write a flow log text file as AWS delivers it in Parquet: underscores, typed columns."""
    header, *lines = src.read_text().splitlines()
    names = [n.replace("-", "_") for n in header.split()]
    rows = [ln.split() for ln in lines]
    cols = {}
    for i, n in enumerate(names):
        vals = [None if r[i] == "-" else r[i] for r in rows]
        t = V2_TYPES.get(n, pa.string())
        cols[n] = pa.array([None if v is None else int(v) for v in vals] if t != pa.string() else vals, t)
    dest.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table(cols), dest, compression="gzip")


def test_parquet_delivery(lake: Lake, tmp_path: Path) -> None:
    dest = (tmp_path / "AWSLogs" / "aws-account-id=123456789010" / "aws-service=vpcflowlogs"
            / "aws-region=us-east-1" / "year=2014" / "123456789010_vpcflowlogs_us-east-1_fl-1_20141214T0405Z_ab.log.parquet")
    parquet_from_text(VF / "default-v2.log", dest)
    s = lake.ingest(tmp_path / "AWSLogs")
    assert s.sources == {"vpcflow": 1}
    assert (s.loaded, s.quarantined) == (7, 0)
    r = flows(lake)
    assert r[0]["locator"] == "row 1"
    assert (r[0]["srcaddr"], r[0]["dstport"], r[0]["packets"], r[0]["start_time"]) == (
        "172.31.16.139", 22, 20, ts(1418530010))
    assert r[2]["log_status"] == "NODATA" and r[2]["srcaddr"] is None
    assert r[6]["srcaddr"] == "2001:db8:1234:a100:8d6e:3477:df66:f105"
    assert r[0]["extra"] is None  # no Hive partition columns leak in
    # Text and Parquet forms of the same records are the same events.
    again = lake.ingest(VF / "default-v2.log")
    assert (again.loaded, again.duplicates) == (0, 7)


def test_parquet_v5_custom_columns(lake: Lake, tmp_path: Path) -> None:
    dest = tmp_path / "v5.parquet"
    parquet_from_text(VF / "traffic-path-v5.log", dest)
    assert lake.ingest(dest).loaded == 2
    assert [(x["traffic_path"], x["flow_direction"]) for x in flows(lake)] == [(None, "ingress"), (8, "egress")]


def test_damaged_parquet_is_quarantined_whole(lake: Lake, tmp_path: Path) -> None:
    p = tmp_path / "broken.parquet"
    p.write_bytes(b"PAR1" + b"\x00" * 64)
    s = lake.ingest(p, source="vpcflow")
    assert (s.loaded, s.quarantined) == (0, 1)
    (q,) = lake.quarantine()
    assert q["locator"] == "file" and q["reason"].startswith("unreadable Parquet file")


# -- malformed input ------------------------------------------------------------------------------


def test_malformed_lines_are_quarantined_with_line_numbers(lake: Lake, tmp_path: Path) -> None:
    good = "2 123456789010 eni-1235b8ca123456789 172.31.16.139 172.31.16.21 20641 22 6 20 4249 1418530010 1418530070 ACCEPT OK"
    lines = [
        (VF / "default-v2.log").read_text().splitlines()[0],
        good,
        good.replace(" 22 6 ", " ssh 6 "),                # 3: non-numeric port
        good.replace(" 20641 ", " 70000 "),               # 4: port out of range
        good.replace(" 6 20 ", " 6 twenty "),             # 5: packets
        good.replace("1418530010", "14185x0010"),         # 6: start
        good.replace("172.31.16.21", "not-an-ip"),        # 7: address
        good.rsplit(" ", 1)[0],                           # 8: 13 fields
        good + " extra",                                  # 9: 15 fields
        "",                                               # 10: blank, ignored
        good.replace(" 6 20 ", " 256 20 "),               # 11: protocol out of range
        good.replace("1418530070", "99999999999999999"),  # 12: end out of range
        good.replace("4249", "4250"),                     # 13: good
    ]
    p = tmp_path / "bad.log"
    data = "\n".join(lines).encode() + b"\n" + good.replace("OK", "O\xff").encode("latin-1") + b"\n"  # 14
    p.write_bytes(data)
    s = lake.ingest(p)
    assert (s.records_read, s.loaded, s.quarantined) == (12, 2, 10)
    got = {q["locator"]: q["reason"] for q in lake.quarantine()}
    assert got == {
        "line 3": "field dstport is not an integer from 0 to 65535: ssh",
        "line 4": "field srcport is not an integer from 0 to 65535: 70000",
        "line 5": "field packets is not an integer from 0 to 999999999999999999: twenty",
        "line 6": "field start is not an integer from 0 to 253402300799: 14185x0010",
        "line 7": "field dstaddr is not an IP address: not-an-ip",
        "line 8": got["line 8"],
        "line 9": got["line 9"],
        "line 11": "field protocol is not an integer from 0 to 255: 256",
        "line 12": "field end is not an integer from 0 to 253402300799: 99999999999999999",
        "line 14": f"not valid UTF-8 at column {len(good)}",
    }
    assert got["line 8"].startswith("wrong number of fields: 13 instead of 14 (format: version account-id")
    assert got["line 9"].startswith("wrong number of fields: 15 instead of 14")
    raw = {q["locator"]: q["raw"] for q in lake.quarantine()}
    assert raw["line 3"] == lines[2].encode()
    assert [x["locator"] for x in flows(lake)] == ["line 2", "line 13"]


@pytest.mark.parametrize("bad", ["999.31.16.139", "1.2.3", "abcd", "1.2.3.4.5", "1::2::3", "12345::1"])
def test_addresses_that_are_not_addresses_are_quarantined(lake: Lake, tmp_path: Path, bad: str) -> None:
    """An address field must hold an address: ``999.31.16.139`` passed a character check and was stored
    as NULL (no observable, an OCSF endpoint without ip) instead of being quarantined."""
    good = "2 123456789010 eni-0d0d 172.31.16.139 172.31.16.21 20641 22 6 20 4249 1418530010 1418530070 ACCEPT OK"
    p = tmp_path / "addr.log"
    p.write_text("\n".join([good, good.replace("172.31.16.139", bad), good.replace("172.31.16.21", "2001:db8::7")]))
    s = lake.ingest(p)
    assert (s.loaded, s.quarantined) == (2, 1)
    assert [(q["locator"], q["reason"]) for q in lake.quarantine()] == [
        ("line 2", f"field srcaddr is not an IP address: {bad}")]
    assert [x["dstaddr"] for x in flows(lake)] == ["172.31.16.21", "2001:db8::7"]


def test_cut_off_last_line_of_a_damaged_gzip_is_quarantined(lake: Lake, tmp_path: Path) -> None:
    """A stream cut inside its last record: that line still split into fields (``987`` for
    ``987654321``) and was loaded; the complete file read later then added the flow a second time."""
    text = (b"version interface-id srcaddr dstaddr start end action log-status bytes\n"
            b"2 eni-ffff 10.6.0.1 10.6.0.2 1600000000 1600000060 ACCEPT OK 4000\n"
            b"2 eni-ffff 10.6.0.3 10.6.0.2 1600000000 1600000060 ACCEPT OK 987654321\n")
    packed = gzip.compress(text, compresslevel=0)
    cut = tmp_path / "cut" / "flow.log.gz"
    cut.parent.mkdir()
    cut.write_bytes(packed[: 15 + text.index(b"987654321") + 3])
    s = lake.ingest(cut)
    assert (s.loaded, s.quarantined) == (1, 1)
    [q] = lake.quarantine()
    assert q["locator"] == "line 3" and q["reason"].startswith("damaged gzip stream") and q["reason"].endswith(
        "; line 3 is cut off")
    assert q["raw"] == b"2 eni-ffff 10.6.0.3 10.6.0.2 1600000000 1600000060 ACCEPT OK 987"
    whole = tmp_path / "whole" / "flow.log.gz"
    whole.parent.mkdir()
    whole.write_bytes(packed)
    s = lake.ingest(whole)
    assert (s.loaded, s.duplicates) == (1, 1)
    assert sorted(x["bytes"] for x in flows(lake)) == [4000, 987654321]


def test_equal_lines_of_two_flow_logs_without_interface_id_are_two_records(lake: Lake, tmp_path: Path) -> None:
    """Without ``interface-id`` the S3 file name's flow log (account, region, id) is part of the key."""
    head = "srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status"
    line = "10.3.0.1 10.3.0.2 40000 443 6 10 840 1700000000 1700000060 ACCEPT OK"
    names = ["111122223333_vpcflowlogs_us-east-1_fl-aaaa_20231114T2215Z_h1.log",
             "444455556666_vpcflowlogs_eu-west-1_fl-bbbb_20231114T2215Z_h2.log"]
    for name in names:
        (tmp_path / "in" / name).parent.mkdir(exist_ok=True)
        (tmp_path / "in" / name).write_text(f"{head}\n{line}\n")
    s = lake.ingest(tmp_path / "in")
    assert (s.records_read, s.loaded, s.duplicates) == (2, 2, 0)
    again = tmp_path / "again" / names[0]  # the same flow log's file read again: nothing new
    again.parent.mkdir()
    again.write_text(f"{head}\n{line}\n")
    s = lake.ingest(again)
    assert (s.loaded, s.duplicates) == (0, 1)


def test_strict_mode_fails_on_bad_line(lake: Lake, tmp_path: Path) -> None:
    from cairn.errors import StrictModeError

    p = tmp_path / "bad.log"
    p.write_text((VF / "default-v2.log").read_text() + "2 1 eni-1 - - - - - - - x y - NODATA\n")
    with pytest.raises(StrictModeError):
        lake.ingest(p, strict=True)
    assert lake.scalar("SELECT count(*) FROM vpcflow") == 0


# -- detection ------------------------------------------------------------------------------------


def sniff_of(text: str) -> Sniff:
    return Sniff("x", text.encode())


@pytest.mark.parametrize("fixture", [
    "default-v2.log", "cloudwatch-export-v2.log", "tcp-flags-v3.log", "nat-gateway.log",
    "transit-gateway.log", "traffic-path-v5.log"])
def test_detect_claims_flow_logs(fixture: str) -> None:
    s = detect(Sniff(fixture, (VF / fixture).read_bytes()))
    assert s is not None and s.name == "vpcflow"


def test_detect_leaves_json_alone() -> None:
    from cairn.sources.vpcflow import detect as vpc_detect

    panther = (VF / "json" / "panther-vpcflow-events.jsonl").read_bytes()
    assert vpc_detect(Sniff("p.jsonl", panther)) == 0
    assert vpc_detect(sniff_of('{"Records": [{"eventVersion": "1.08"}]}')) == 0
    assert vpc_detect(sniff_of("hello world\nthis is not a flow log\n")) == 0
    assert vpc_detect(Sniff("x", b"PAR1", is_parquet=True, parquet_columns=("eventName", "eventTime"))) == 0
    assert vpc_detect(Sniff("x", b"PAR1", is_parquet=True,
                            parquet_columns=("version", "account_id", "srcaddr", "log_status"))) == 90


def test_header_format_recognises_headers_only() -> None:
    assert header_format("version account-id interface-id") == "version account-id interface-id"
    assert header_format("${version} ${srcaddr}") == "version srcaddr"
    assert header_format("account_id srcaddr") == "account-id srcaddr"
    assert header_format("eni-1235b8ca123456789 vpc-abc") is None
    assert header_format("ingress") is None
    assert header_format("- eni-1 10.0.1.5") is None


# -- observables ----------------------------------------------------------------------------------


def test_observables(lake: Lake) -> None:
    lake.ingest(VF / "tcp-flags-v3.log")
    got = lake.rows(
        "SELECT field, type, count(*) FROM observables WHERE source = 'vpcflow' GROUP BY ALL ORDER BY ALL")
    assert got == [
        ("account-id", "account", 8), ("dstaddr", "ip", 8), ("instance-id", "resource", 8),
        ("interface-id", "resource", 8), ("srcaddr", "ip", 8), ("subnet-id", "resource", 8),
        ("vpc-id", "resource", 8)]
    assert lake.scalar("SELECT count(*) FROM observables WHERE type = 'ip' AND ip_bin IS NULL") == 0


# -- property: random formats and records ---------------------------------------------------------

_KIND = {f: (typ, check) for f, _c, typ, check, _d in FIELDS}
_COLUMN = {f: c for f, c, *_ in FIELDS}
_TEXT = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._:/-]{0,24}", fullmatch=True).filter(lambda v: v not in _KIND)


def _value(field: str) -> st.SearchStrategy[Any]:
    check = _KIND.get(field, ("VARCHAR", None))[1]
    if check == ADDR:
        v = st.ip_addresses().map(str)
    elif check is not None:
        v = st.integers(0, check)
    else:
        v = _TEXT
    return st.none() | v


@st.composite
def flow_files(draw: st.DrawFn) -> tuple[list[str], list[list[Any]]]:
    names = draw(st.lists(st.sampled_from(sorted(_KIND)), unique=True, max_size=12))
    names += draw(st.lists(st.sampled_from(["x-new", "future-field", "zz-top"]), unique=True, max_size=2))
    if "start" not in names:
        names.append("start")
    names = draw(st.permutations(names))
    # Every record needs a time: start is never null.
    record = st.tuples(*[st.integers(0, 4102444800) if n == "start" else _value(n) for n in names]).map(list)
    records = draw(st.lists(record, min_size=1, max_size=4, unique_by=lambda r: tuple(map(str, r))))
    return names, records


def _expected(field: str, value: Any) -> Any:
    typ, check = _KIND[field]
    if value is None:
        return None
    if check == ADDR:
        return str(parse_ip(value))
    if typ == "TIMESTAMPTZ":
        return ts(value)
    return value


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(flow_files())
def test_property_random_formats_parse_back(case: tuple[list[str], list[list[Any]]]) -> None:
    names, records = case
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        src = root / "flows.log"
        src.write_text(" ".join(names) + "\n" + "".join(
            " ".join("-" if v is None else str(v) for v in r) + "\n" for r in records))
        lake = Lake(root / "ws")
        try:
            s = lake.ingest(src, source="vpcflow")
            assert (s.loaded, s.quarantined) == (len(records), 0), lake.quarantine()
            got = flows(lake)
        finally:
            lake.close()
    for row, rec in zip(got, records, strict=True):
        extra = json.loads(row["extra"]) if row["extra"] else {}
        for name, value in zip(names, rec, strict=True):
            if name in _KIND:
                assert row[_COLUMN[name]] == _expected(name, value), name
            else:
                assert extra[name] == value
        assert row["event_time"] == ts(rec[names.index("start")])
