"""Property-based tests of the framing parsers, the address forms and CloudTrail typing."""

from __future__ import annotations

import ipaddress
import json
import re
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from cairn.lake.addresses import bin_to_ip, classify, ip_map, ip_to_bin, parse_ip
from cairn.sources.framing import line_items, line_table, salvage_document
from conftest import Lake

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_scalars = st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=20)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
records = st.lists(st.dictionaries(st.text(min_size=1, max_size=8), json_values, min_size=1, max_size=4),
                   min_size=1, max_size=8)


def layout(recs: list[dict[str, Any]], container: str, indent: int | None) -> tuple[bytes, list[tuple[int, int]]]:
    """Serialise ``recs`` and return the byte span of each record."""
    parts = [json.dumps(r, indent=indent, ensure_ascii=False).encode() for r in recs]
    head = f'{{"{container}": [\n'.encode() if container else b"[\n"
    data, spans = head, []
    for i, p in enumerate(parts):
        spans.append((len(data), len(data) + len(p)))
        data += p + (b",\n" if i < len(parts) - 1 else b"")
    data += b"\n]}" if container else b"\n]"
    return data, spans


@SETTINGS
@given(records, st.sampled_from(["", "Records", "Events"]), st.sampled_from([None, 1]), st.data())
def test_salvage_recovers_every_record_before_the_damage(recs: list[dict[str, Any]], container: str,
                                                         indent: int | None, data: st.DataObject) -> None:
    doc, spans = layout(recs, container, indent)
    label = f"{container}[{{}}]" if container else "[{}]"
    # Undamaged: everything comes back, byte for byte.
    items, rejected = salvage_document("o", doc)
    assert rejected == []
    assert [(loc, text.encode()) for _, loc, text, _ in items] == [
        (label.format(i + 1), doc[a:b]) for i, (a, b) in enumerate(spans)]
    damage = data.draw(st.sampled_from(["truncate", "corrupt"]))
    at = data.draw(st.integers(0, len(doc) - 1))
    if damage == "truncate":
        broken = doc[:at]
    else:
        byte = data.draw(st.sampled_from([b"\xff", b"{", b"]", b'"', b",", b"\x00"]))
        broken = doc[:at] + byte + doc[at + 1:]
        assume(broken != doc)
    items, rejected = salvage_document("o", broken, "damaged" if damage == "truncate" else None)
    got = {loc: text.encode() for _, loc, text, _ in items}
    # Every record that ends before the damage is recovered exactly, under its own locator.
    for i, (_, b) in enumerate(spans):
        if b <= at:
            assert got[label.format(i + 1)] == doc[spans[i][0]:b]
    # Recovered + rejected covers the input: only structure (brackets, commas, the
    # container's key, blanks) is left once their bytes are blanked out.
    left = bytearray(broken)
    for r in rejected:
        start = int(re.search(r"byte (\d+)", r.locator).group(1))
        assert broken[start:start + len(r.raw)] == r.raw
        left[start:start + len(r.raw)] = b" " * len(r.raw)
    cursor = 0
    for _, _, text, _ in items:
        start = broken.find(text.encode(), cursor)
        assert start >= 0
        cursor = start + len(text.encode())
        left[start:cursor] = b" " * (cursor - start)
    rest = bytes(left).replace(f'"{container}"'.encode(), b"", 1) if container else bytes(left)
    assert set(rest) <= set(b"[]{},: \n"), rest
    assert all(re.match(r"(byte \d+|(doc \d+ )?(\w*\[\d+\]|document)( \(byte \d+\))?)$", r.locator)
               for r in rejected), rejected


@SETTINGS
@given(st.lists(st.binary(max_size=30).filter(lambda b: b"\n" not in b), min_size=1, max_size=10),
       st.sampled_from([b"\n", b"\r\n"]))
def test_line_items_numbers_and_keeps_every_line(lines: list[bytes], eol: bytes) -> None:
    data = eol.join(lines) + eol
    items, rejected = line_items("o", data)
    expected = {}
    for n, raw in enumerate(lines, start=1):
        raw = raw.removesuffix(b"\r") if eol == b"\n" else raw  # a lone trailing CR reads as CRLF
        if raw.strip():
            expected[f"line {n}"] = raw
    got = {loc: text.encode() for _, loc, text, _ in items} | {r.locator: r.raw for r in rejected}
    assert got == expected
    for r in rejected:
        with pytest.raises(UnicodeDecodeError):
            r.raw.decode("utf-8")
        assert r.reason.startswith("not valid UTF-8 at column ")



_TEXT_LINE = st.one_of(
    st.text(alphabet=st.sampled_from(list(' \t\r\x0b\x0c\x1c\u3000\u00a0{}"a1é')), max_size=12),
    st.sampled_from(['{"a": 1}', "", " ", "\r", "\r\r", "x\r", "\x0b\x0c", "\u3000", "\ufeff{}"]),
)


@SETTINGS
@given(st.lists(_TEXT_LINE, max_size=40), st.sampled_from(["\n", "\r\n", ""]))
def test_line_table_equals_line_items(lines: list[str], end: str) -> None:
    """The bulk splitter keeps the same lines with the same numbers; non-UTF-8 data is left to line_items."""
    data = ("\n".join(lines) + end).encode()
    items, rejected = line_items("o", data)
    table = line_table(data)
    assert table is not None and rejected == []
    assert [f"line {n}" for n in table["n"].to_pylist()] == [loc for _, loc, _, _ in items]
    assert table["item"].to_pylist() == [text for _, _, text, _ in items]
    assert line_table(data + b"\xff\n") is None

ipv4 = st.integers(0, 2**32 - 1).map(ipaddress.IPv4Address)
ipv6 = st.integers(0, 2**128 - 1).map(ipaddress.IPv6Address)


@SETTINGS
@given(st.one_of(ipv4, ipv6))
def test_ip_binary_round_trip(addr: ipaddress.IPv4Address | ipaddress.IPv6Address) -> None:
    b = ip_to_bin(addr)
    assert len(b) == 16
    kind, ip, ip_bin, domain = classify(str(addr))
    assert kind == "ip" and ip_bin == b and domain is None
    canonical = addr.ipv4_mapped if addr.version == 6 and addr.ipv4_mapped else addr
    assert ip == str(canonical) == bin_to_ip(b)
    assert parse_ip(ip) == canonical
    # Upper case, brackets and the mapped form of an IPv4 address all give the same row.
    assert classify(f"[{str(addr).upper()}]")[1:3] == (ip, b)
    if addr.version == 4:
        assert classify(f"::ffff:{addr}")[1:3] == (ip, b)
        assert classify(".".join(f"{int(o):03d}" for o in str(addr).split(".")))[1:3] == (ip, b)


_ADDRESS_TEXTS = st.one_of(
    ipv4.map(str), ipv6.map(str), ipv6.map(lambda a: a.exploded.upper()), ipv4.map(lambda a: f"::ffff:{a}"),
    ipv4.map(lambda a: ".".join(f"{int(o):03d}" for o in str(a).split("."))), ipv4.map(lambda a: f" {a} "),
    st.text(alphabet="0123456789abcdefABCDEF:.[]% ", max_size=24),
    st.sampled_from(["ec2.amazonaws.com", "AWS Internal", "example.org", "", "::", "::1", "::1.2.3.4", "::102:304",
                     "1::2::3", "12345::", "256.1.1.1", "01.2.3.4", "fe80::1%eth0", "[2001:db8::1]"]),
)


@SETTINGS
@given(st.lists(_ADDRESS_TEXTS, max_size=40))
def test_ip_map_equals_classify(values: list[str]) -> None:
    """The vectorised map (plain IPv4 by Arrow, plain IPv6 by inet_pton/ntop) answers as classify does."""
    got = {r["value"]: (r["kind"], r["ip"], r["ip_bin"], r["domain"]) for r in ip_map([*values, None]).to_pylist()}
    assert got == {v: classify(v) for v in values}


@SETTINGS
@given(st.one_of(ipv4, ipv6), st.one_of(ipv4, ipv6))
def test_ip_binary_order_is_numeric_order(a: Any, b: Any) -> None:
    def number(x: Any) -> int:
        return int(ipaddress.IPv6Address(f"::ffff:{x}")) if x.version == 4 else int(x)

    assert (ip_to_bin(a) < ip_to_bin(b)) == (number(a) < number(b))


@SETTINGS
@given(st.sampled_from(["ec2.amazonaws.com", "Lambda.AmazonAWS.com", "ssm.amazonaws.com.cn", "AWS Internal",
                        "aws internal", "example.org", "host-1.corp.example.", "", "  ", "not an address", "1.2.3"]))
def test_classify_names(value: str) -> None:
    kind, ip, ip_bin, domain = classify(value)
    assert ip is None and ip_bin is None
    low = value.strip().lower().rstrip(".")
    expected = {"": "empty", "aws internal": "aws_internal", "not an address": "other", "1.2.3": "other",
                "example.org": "hostname", "host-1.corp.example": "hostname"}.get(low, "service")
    assert kind == expected
    assert domain == (low if kind in ("service", "hostname") else None)


# -- CloudTrail normalisation round trip ---------------------------------------------------

ident = st.text("abcdefghijklmnopqrstuvwxyz0123456789-_", min_size=1, max_size=12)
account = st.from_regex(r"[0-9]{12}", fullmatch=True)
times = st.datetimes(datetime(2005, 1, 1), datetime(2035, 1, 1)).map(lambda d: d.replace(microsecond=0, tzinfo=UTC))


@st.composite
def cloudtrail_record(draw: st.DrawFn) -> dict[str, Any]:
    acct = draw(account)
    kind = draw(st.sampled_from(["IAMUser", "AssumedRole", "Root", "AWSService"]))
    role, session, user = draw(ident), draw(ident), draw(ident)
    key = draw(st.sampled_from(["AKIA", "ASIA"])) + draw(st.from_regex(r"[A-Z0-9]{16}", fullmatch=True))
    ui: dict[str, Any] = {"type": kind, "accountId": acct}
    if kind == "IAMUser":
        ui |= {"principalId": "AIDA" + user.upper(), "arn": f"arn:aws:iam::{acct}:user/{user}",
               "userName": user, "accessKeyId": key}
    elif kind == "AssumedRole":
        ui |= {"principalId": f"AROA{role.upper()}:{session}",
               "arn": f"arn:aws:sts::{acct}:assumed-role/{role}/{session}", "accessKeyId": key,
               "sessionContext": {"sessionIssuer": {"type": "Role", "arn": f"arn:aws:iam::{acct}:role/{role}",
                                                    "accountId": acct, "userName": role},
                                  "attributes": {"mfaAuthenticated": draw(st.sampled_from(["true", "false"])),
                                                 "creationDate": "2024-01-01T00:00:00Z"}}}
    elif kind == "Root":
        ui |= {"principalId": acct, "arn": f"arn:aws:iam::{acct}:root"}
    else:
        ui |= {"invokedBy": "ec2.amazonaws.com"}
    source = draw(st.one_of(ipv4.map(str), ipv6.map(str),
                            st.sampled_from(["ec2.amazonaws.com", "AWS Internal", "cloudformation.amazonaws.com"])))
    rec: dict[str, Any] = {
        "eventVersion": f"1.{draw(st.integers(0, 11)):02d}",
        "userIdentity": ui,
        "eventTime": draw(times).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "eventSource": draw(st.sampled_from(["iam.amazonaws.com", "s3.amazonaws.com", "sts.amazonaws.com"])),
        "eventName": draw(st.sampled_from(["GetObject", "CreateUser", "DeleteTrail", "PutBucketPolicy", "Foo"])),
        "awsRegion": draw(st.sampled_from(["us-east-1", "eu-west-3", "ap-southeast-2"])),
        "sourceIPAddress": source,
        "userAgent": draw(st.text(max_size=30)),
        "requestParameters": draw(st.none() | st.dictionaries(ident, json_scalars, max_size=3)),
        "responseElements": None,
        "requestID": str(uuid.UUID(int=draw(st.integers(0, 2**64)))),
        "eventID": str(uuid.uuid4()),
        "readOnly": draw(st.booleans()),
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": acct,
    }
    if draw(st.booleans()):
        rec["errorCode"], rec["errorMessage"] = "AccessDenied", draw(st.text(min_size=1, max_size=20))
    if draw(st.booleans()):
        rec["resources"] = [{"ARN": f"arn:aws:s3:::{draw(ident)}", "accountId": acct, "type": "AWS::S3::Bucket"}
                            for _ in range(draw(st.integers(0, 3)))]
    return rec


@pytest.fixture(scope="module")
def shared_lake(tmp_path_factory: pytest.TempPathFactory) -> Any:
    lake = Lake(tmp_path_factory.mktemp("prop") / "ws")
    yield lake
    lake.close()


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(cloudtrail_record(), min_size=1, max_size=6))
def test_cloudtrail_typed_columns_equal_the_inputs(shared_lake: Any, recs: list[dict[str, Any]]) -> None:
    path = Path(shared_lake.root.parent / f"in-{recs[0]['eventID']}.json")
    path.write_text(json.dumps({"Records": recs}))
    s = shared_lake.ingest(path)
    assert (s.records_read, s.loaded, s.quarantined) == (len(recs), len(recs), 0)
    for rec in recs:
        row = shared_lake.dicts("SELECT * FROM cloudtrail WHERE event_uid = ?", [rec["eventID"]])[0]
        ui = rec["userIdentity"]
        when = datetime.strptime(rec["eventTime"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        assert row["event_time"] == when and row["event_time"].utcoffset() == timedelta(0)
        assert row["event_date"] == when.date()
        for col, field in [("event_version", "eventVersion"), ("event_source", "eventSource"),
                           ("event_name", "eventName"), ("aws_region", "awsRegion"),
                           ("source_ip_address", "sourceIPAddress"), ("user_agent", "userAgent"),
                           ("request_id", "requestID"), ("recipient_account_id", "recipientAccountId"),
                           ("error_code", "errorCode"), ("read_only", "readOnly")]:
            assert row[col] == rec.get(field), col
        assert row["status"] == ("failure" if "errorCode" in rec else "success")
        assert row["identity_type"] == ui["type"] and row["account_id"] == ui["accountId"]
        assert row["access_key_id"] == ui.get("accessKeyId") and row["identity_arn"] == ui.get("arn")
        issuer = ui.get("sessionContext", {}).get("sessionIssuer", {}).get("arn")
        assert row["session_issuer_arn"] == issuer
        expected_principal = issuer if ui["type"] == "AssumedRole" else (
            ui.get("invokedBy") if ui["type"] == "AWSService" else ui.get("arn"))
        assert row["principal_arn"] == expected_principal
        assert row["session_name"] == (ui["arn"].rsplit("/", 1)[1] if ui["type"] == "AssumedRole" else None)
        arns = [r["ARN"] for r in rec["resources"]] if "resources" in rec else None
        assert row["resource_arns"] == arns
        kind, ip, ip_bin, domain = classify(rec["sourceIPAddress"])
        assert (row["src_ip_kind"], row["src_ip"], row["src_ip_bin"], row["src_domain"]) == (kind, ip, ip_bin, domain)
        assert json.loads(row["raw"]) == rec
        got = row["request_parameters"]
        assert (None if got is None else json.loads(got)) == rec["requestParameters"]
