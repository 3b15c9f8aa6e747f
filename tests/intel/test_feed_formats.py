"""Each feed format on real feed slices (tests/fixtures/intel) and on small written examples."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from feeds_support import FIX, parse, rows

from cairn.errors import InputError
from cairn.intel.formats import detect, get_format
from cairn.intel.inputs import LocalInput


def test_ipsum_counts_become_confidence_and_tags():
    r = parse("ipsum", FIX / "ipsum" / "ipsum-head.txt")
    got = rows(r)
    assert len(got) == 201 and not r.rejects
    first = got[0]
    assert (first["value"], first["type"], first["confidence"], first["tags"], first["locator"]) == (
        "77.90.185.20", "ip", 100, ["blocklists:10"], "line 8")
    counts = Counter(int(x["tags"][0].split(":")[1]) for x in got)
    assert all(x["confidence"] == min(100, 20 * int(x["tags"][0].split(":")[1])) for x in got)
    assert sum(counts.values()) == 201


def test_plain_lists(tmp_path: Path):
    f = tmp_path / "list.txt"
    f.write_bytes(
        b"# banner\r\n; also a comment\r\n\r\n198.51.100.7\r\n192.0.2.0/24 ; SBL123\r\n"
        b"0.0.0.0 evil.example other.example\r\n127.0.0.1 sink.example\r\n203.0.113.5:8080\r\n"
        b"[2001:db8::1]:443\r\nhxxp://evil[.]example/x  # trailing comment\r\n"
    )
    got = [(x["type"], x["value"], x["locator"]) for x in rows(parse("plain", f))]
    assert got == [
        (None, "198.51.100.7", "line 4"), (None, "192.0.2.0/24", "line 5"),
        ("domain", "evil.example", "line 6"), ("domain", "other.example", "line 6"),
        ("domain", "sink.example", "line 7"), (None, "203.0.113.5:8080", "line 8"),
        (None, "[2001:db8::1]:443", "line 9"), (None, "hxxp://evil[.]example/x", "line 10"),
    ]


@pytest.mark.parametrize("name", ["tor-exit-nodes-head.lst", "tor-nodes-ipv6.lst"])
def test_tor_lists_as_plain(name: str):
    r = parse("plain", FIX / "tor" / name)
    lines = [ln for ln in (FIX / "tor" / name).read_text().splitlines() if ln.strip()]
    assert [x["value"] for x in rows(r)] == lines


def test_hash_lists_as_plain():
    r = parse("plain", FIX / "eset" / "emotet.sha256")
    assert len(rows(r)) == 9 and all(len(x["value"]) == 64 for x in rows(r))


def test_misp_event_export_with_port_and_composites():
    got = rows(parse("misp", FIX / "eset" / "events" / "borleias.json"))
    ip = next(x for x in got if x["type"] == "ip")
    assert (ip["value"], ip["port"], ip["detect"], ip["tags"]) == ("94.75.207.3", 35247, False, ["SSHDoor"])
    assert ip["reference"] == "MISP event 5bbe5659-4794-490a-bb44-7ec50a016219: SSHDoor : Borleias"
    assert ip["locator"] == "event 5bbe5659-4794-490a-bb44-7ec50a016219 attribute 5bbe567e-a8d4-4a8c-ae53-01550a016219"
    assert str(ip["first_seen"].date()) == "2018-10-10" and ip["last_seen"].isoformat() == "2018-10-10T19:48:01+00:00"
    both = rows(parse("misp", FIX / "eset" / "events" / "coruscant.json"))
    assert {(x["type"], x["value"]) for x in both} >= {("domain", "patf.site90.net"), ("ip", "153.92.0.100")}


def test_misp_response_export_and_unsupported_types():
    r = parse("misp", FIX / "eset" / "2018-11-20_Zebrocy.json")
    assert Counter(x["type"] for x in rows(r)) == {"md5": 5, "sha1": 5, "sha256": 5, "email": 11, "url": 2}
    assert {u.reason for u in r.unsupported} == {"MISP attribute type 'text' is not an indicator type cairn matches"}


def test_misp_folder_of_exports(tmp_path: Path):
    r = parse("misp", FIX / "eset")
    assert len(rows(r)) > 40
    assert not r.rejects


def misp_event(uuid: str, attrs: list[dict], **extra) -> dict:
    return {"Event": {"uuid": uuid, "info": f"event {uuid[:4]}", "date": "2024-05-01", "threat_level_id": "1",
                      "timestamp": "1714560000", "Tag": [{"name": "tlp:amber"}, {"name": 'misp-galaxy:malpedia="Emotet"'},
                                                         {"name": "campaign-x"}],
                      "Attribute": attrs, **extra}}


def write_misp_feed(root: Path) -> Path:
    e1, e2 = "11111111-1111-4111-8111-111111111111", "22222222-2222-4222-8222-222222222222"
    attrs = [
        {"uuid": "a1", "type": "ip-dst|port", "value": "45.155.205.7|8443", "to_ids": True, "timestamp": "1714600000"},
        {"uuid": "a2", "type": "domain", "value": "evil.example", "to_ids": False, "deleted": True},
        {"uuid": "a3", "type": "filename|sha256", "value": "x.exe|" + "ab" * 32, "to_ids": True,
         "Tag": [{"name": "tlp:red"}]},
        {"uuid": "a4", "type": "mutex", "value": "Global\\m", "to_ids": False},
    ]
    obj = [{"uuid": "o1", "name": "file", "Attribute": [
        {"uuid": "a5", "type": "md5", "value": "D41D8CD98F00B204E9800998ECF8427E", "to_ids": True,
         "first_seen": "2024-04-01T00:00:00+00:00", "last_seen": "2024-04-02T00:00:00.000000+00:00"}]}]
    root.mkdir(parents=True, exist_ok=True)
    (root / f"{e1}.json").write_text(json.dumps(misp_event(e1, attrs, Object=obj)))
    (root / f"{e2}.json").write_text(json.dumps(misp_event(e2, [
        {"uuid": "b1", "type": "url", "value": "hxxp://evil[.]example/gate.php", "to_ids": True}])))
    manifest = {e: {"info": "x", "date": "2024-05-01", "timestamp": "1714560000", "Orgc": {"name": "t"}} for e in (e1, e2)}
    (root / "manifest.json").write_text(json.dumps(manifest))
    (root / "hashes.csv").write_text("0123,11111111-1111-4111-8111-111111111111\n")
    return root


def test_misp_feed_folder(tmp_path: Path):
    r = parse("misp", write_misp_feed(tmp_path / "feed"))
    got = {x["locator"].split()[-1]: x for x in rows(r)}
    assert set(got) == {"a1", "a3", "a5", "b1"}
    assert r.meta["counts"] == {"deleted": 1}
    assert [u.locator.split()[-1] for u in r.unsupported] == ["a4"]
    a1, a3, a5 = got["a1"], got["a3"], got["a5"]
    assert (a1["type"], a1["value"], a1["port"], a1["detect"], a1["severity"], a1["tlp"]) == (
        "ip", "45.155.205.7", 8443, True, "high", "amber")
    assert a1["malware_family"] == ["Emotet"] and a1["tags"] == ["campaign-x"]
    assert (a3["type"], a3["value"], a3["tlp"]) == ("sha256", "ab" * 32, "red")
    assert " object o1 " in a5["locator"] and a5["first_seen"].isoformat() == "2024-04-01T00:00:00+00:00"


def test_maltrail_trail_text_file():
    r = parse("maltrail", FIX / "maltrail" / "malware" / "zeus.txt")
    got = rows(r)
    assert len(got) == 60 and got[0]["value"] == "aefalcon.com" and got[0]["locator"] == "line 6"
    assert {x["malware_family"][0] for x in got} == {"zeus"} and {x["threat_type"] for x in got} == {"malware"}
    assert got[0]["reference"].startswith("https://zeustracker.abuse.ch/monitor.php")
    assert all(x["tags"] == ["maltrail:zeus"] for x in got)


def test_maltrail_flat_csv():
    r = parse("maltrail", FIX / "maltrail" / "maltrail_sample.csv")
    got = rows(r)
    reasons = Counter(u.reason for u in r.unsupported)
    assert reasons["regular expression trail (cairn matches literal values)"] == 4
    assert reasons["URL path trail without host (maltrail matches request paths)"] == 24
    assert len(got) + len(r.unsupported) == 167 and not r.rejects
    by_type = Counter(x["type"] for x in got)
    assert by_type["ip"] == 55 and by_type["domain"] >= 60
    scanners = [x for x in got if x["threat_type"] == "mass_scanner"]
    assert scanners and all(x["malware_family"] is None for x in scanners)
    assert all(x["locator"].startswith("line ") for x in got)


FEODO = (
    '################################################################\n'
    '# abuse.ch Feodo Tracker Botnet C2 IP Blocklist (CSV)          #\n'
    '################################################################\n'
    '"first_seen_utc","dst_ip","dst_port","c2_status","last_online","malware"\n'
    '"2024-05-01 10:11:12","198.51.100.7","447","online","2024-05-20","QakBot"\n'
    '"2024-05-02 00:00:00","198.51.100.8","8080","offline","2024-05-03","Emotet"\n'
    '# Number of entries: 2\n'
)
URLHAUS = (
    '# abuse.ch URLhaus Database Dump (CSV)\n'
    '# id,dateadded,url,url_status,last_online,threat,tags,urlhaus_link,reporter\n'
    '"1","2024-05-01 01:02:03","http://evil.example/a.exe","online","2024-05-02 00:00:00","malware_download",'
    '"elf,mozi","https://urlhaus.abuse.ch/url/1/","anon"\n'
)
THREATFOX = (
    '# ThreatFox IOCs: CSV export\n'
    '# "first_seen_utc","ioc_id","ioc_value","ioc_type","threat_type","fk_malware","malware_alias",'
    '"malware_printable","last_seen_utc","confidence_level","is_compromised","reference","tags","anonymous","reporter"\n'
    '"2024-05-01 01:02:03", "1", "198.51.100.9:443", "ip:port", "botnet_cc", "win.cobalt", "None", '
    '"Cobalt Strike", "None", "75", "0", "None", "c2,cs", "0", "x"\n'
    '"2024-05-01 01:02:03", "2", "[2001:db8::9]:8443", "ip:port", "botnet_cc", "win.cobalt", "None", '
    '"Cobalt Strike", "2024-05-03 00:00:00", "50", "0", "https://ref.example/x", "None", "0", "x"\n'
    '"2024-05-01 01:02:03", "3", "' + "c" * 64 + '", "sha256_hash", "payload", "x", "None", "Agent", "None", '
    '"100", "0", "None", "None", "0", "x"\n'
    '"2024-05-01 01:02:03", "4", "x", "yara_rule", "payload", "x", "None", "Agent", "None", "1", "0", "None", '
    '"None", "0", "x"\n'
    '# Number of entries: 4\n'
)


def test_abusech_feodo(tmp_path: Path):
    f = tmp_path / "ipblocklist.csv"
    f.write_text(FEODO)
    got = rows(parse("abusech", f))
    assert [(x["value"], x["port"], x["malware_family"], x["tags"], x["threat_type"]) for x in got] == [
        ("198.51.100.7", 447, ["QakBot"], ["c2_status:online"], "c2"),
        ("198.51.100.8", 8080, ["Emotet"], ["c2_status:offline"], "c2")]
    assert got[0]["first_seen"].isoformat() == "2024-05-01T10:11:12+00:00" and got[0]["locator"] == "line 5"


def test_abusech_urlhaus(tmp_path: Path):
    f = tmp_path / "csv.txt"
    f.write_text(URLHAUS)
    (x,) = rows(parse("abusech", f))
    assert (x["type"], x["value"], x["threat_type"], x["reference"]) == (
        "url", "http://evil.example/a.exe", "malware_download", "https://urlhaus.abuse.ch/url/1/")
    assert x["tags"] == ["elf", "mozi", "url_status:online"]


def test_abusech_threatfox(tmp_path: Path):
    f = tmp_path / "full.csv"
    f.write_text(THREATFOX)
    r = parse("abusech", f)
    got = rows(r)
    assert [(x["type"], x["value"], x["confidence"], x["last_seen"] is None) for x in got] == [
        ("ip", "198.51.100.9:443", 75, True), ("ip", "[2001:db8::9]:8443", 50, False), ("sha256", "c" * 64, 100, True)]
    assert got[0]["malware_family"] == ["Cobalt Strike"] and got[0]["tags"] == ["c2", "cs"]
    assert got[0]["reference"] is None and got[1]["reference"] == "https://ref.example/x"
    assert [u.reason for u in r.unsupported] == ["indicator type 'yara_rule' is not one cairn matches"]


def test_csv_mapped_with_mapping(tmp_path: Path):
    f = tmp_path / "x.csv"
    f.write_text('# exported\n"ioc", "kind", "seen"\n"evil.example", "hostname", "2024-01-02"\n'
                 '"198.51.100.1", "ipv4", "None"\n"a,b"\n')
    r = parse("csv", f, columns={"value": "ioc", "type": "kind", "first_seen": "seen"})
    assert [(x["type"], x["value"], x["first_seen"] is not None) for x in rows(r)] == [
        ("domain", "evil.example", True), ("ip", "198.51.100.1", False)]
    assert [(j.locator, j.reason) for j in r.rejects] == [("line 5", "1 fields, the header has 3")]


def test_csv_headerless_by_column_number(tmp_path: Path):
    f = tmp_path / "x.csv"
    f.write_text("1,evil.example\n2,198.51.100.1\n")
    got = rows(parse("csv", f, columns={"value": "2"}, options={"header": "none"}))
    assert [x["value"] for x in got] == ["evil.example", "198.51.100.1"]


def test_csv_without_mapping_is_an_error(tmp_path: Path):
    f = tmp_path / "x.csv"
    f.write_text("a,b\n")
    with pytest.raises(InputError, match="column mapping"):
        parse("csv", f)


GUARDDUTY = [
    ("guardduty-txt", "198.51.100.1\n192.0.2.0/24\n", [("ip", "198.51.100.1"), ("ip", "192.0.2.0/24")]),
    ("guardduty-otx", "Indicator type,Indicator,Description\nIPv4,198.51.100.1,pulse x\n"
                      "FileHash-MD5," + "a" * 32 + ",y\nhostname,evil.example,z\n",
     [("ip", "198.51.100.1"), ("md5", "a" * 32), ("domain", "evil.example")]),
    ("guardduty-alienvault", "198.51.100.1#4#2#Malicious Host;Scanning Host#US#City#37.7,-122.4#11\n",
     [("ip", "198.51.100.1")]),
    ("guardduty-proofpoint", "ip, category, score\n198.51.100.1, 1, 127\nevil.example, 21, 64\n",
     [(None, "198.51.100.1"), (None, "evil.example")]),
    ("guardduty-fireeye", "reportId,title,ThreatScape,ip,domain,md5,url,malwareFamily,actor,publishDate,webLink\n"
                          "r-1,t,cyber,198.51.100.1,evil.example,,,Emotet,TA542,2024-01-01,https://ref.example/r-1\n",
     [("ip", "198.51.100.1"), ("domain", "evil.example")]),
]


@pytest.mark.parametrize(("fmt", "text", "expected"), GUARDDUTY)
def test_guardduty_formats(tmp_path: Path, fmt: str, text: str, expected: list):
    f = tmp_path / "list"
    f.write_text(text)
    got = rows(parse(fmt, f))
    assert [(x["type"], x["value"]) for x in got] == expected


def test_guardduty_field_mappings(tmp_path: Path):
    f = tmp_path / "av"
    f.write_text("198.51.100.1#4#9#Malicious Host;Scanning Host#US#City#1,2#3\n")
    (x,) = rows(parse("guardduty-alienvault", f))
    assert (x["confidence"], x["severity"], x["threat_type"], x["tags"]) == (
        40, "critical", "malicious host", ["Malicious Host", "Scanning Host"])
    f.write_text("198.51.100.1,1,127\nevil.example,99,0\n")
    a, b = rows(parse("guardduty-proofpoint", f))
    assert (a["threat_type"], a["confidence"], b["threat_type"], b["confidence"]) == ("c2", 100, "et-category-99", 0)


STIX_DOC = json.dumps({"type": "bundle", "id": "bundle--1", "objects": [
    {"type": "indicator", "spec_version": "2.1", "id": "indicator--1", "pattern": "[ipv4-addr:value = '198.51.100.1']",
     "pattern_type": "stix", "valid_from": "2024-01-01T00:00:00Z"}]})

DETECT = [
    ("ipsum.txt", (FIX / "ipsum" / "ipsum-head.txt").read_text(), "ipsum"),
    ("trails.csv", (FIX / "maltrail" / "maltrail_sample.csv").read_text(), "maltrail"),
    ("zeus.txt", (FIX / "maltrail" / "malware" / "zeus.txt").read_text(), "maltrail"),
    ("event.json", (FIX / "eset" / "events" / "borleias.json").read_text(), "misp"),
    ("bundle.json", STIX_DOC, "stix"),
    ("ipblocklist.csv", FEODO, "abusech"),
    ("csv.txt", URLHAUS, "abusech"),
    ("full.csv", THREATFOX, "abusech"),
    ("tor.lst", (FIX / "tor" / "tor-exit-nodes-head.lst").read_text(), "plain"),
    ("otx.csv", GUARDDUTY[1][1], "guardduty-otx"),
    ("av.txt", "198.51.100.1#4#2#Malicious Host#US#City#37.7,-122.4#11\n", "guardduty-alienvault"),
]


@pytest.mark.parametrize(("name", "text", "fmt"), DETECT)
def test_auto_detection(tmp_path: Path, name: str, text: str, fmt: str):
    f = tmp_path / name
    f.write_text(text)
    assert detect(LocalInput(f)).name == fmt


def test_auto_detection_of_folders_and_gzip(tmp_path: Path):
    import gzip

    assert detect(LocalInput(write_misp_feed(tmp_path / "feed"))).name == "misp"
    g = tmp_path / "x.gz"
    g.write_bytes(gzip.compress((FIX / "ipsum" / "ipsum-head.txt").read_bytes()))
    assert detect(LocalInput(g)).name == "ipsum"
    assert len(rows(parse("ipsum", g))) == 201


def test_format_aliases():
    assert get_format("OTX_CSV").name == "guardduty-otx" and get_format("TXT").name == "guardduty-txt"
