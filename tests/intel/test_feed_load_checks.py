"""Load accounting (parsed = loaded + duplicates + rejected + sanity), loads that are not feeds of their
format, validation of load settings and format options, and STIX entries that are not objects."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from feeds_support import Store, parse, st_fixture  # noqa: F401

from cairn.config import Config
from cairn.errors import ConfigError, InputError
from cairn.intel.feeds import feed_configs, parse_feed
from cairn.intel.formats import check_arguments, get_format
from cairn.intel.store import LoadReport, LoadSettings, check_settings

EVENT = {"Event": {"uuid": "5f0c1b1e-0000-4000-8000-000000000001", "info": "test event", "date": "2024-03-01",
                   "Attribute": [{"uuid": "5f0c1b1e-0000-4000-8000-0000000000a1", "type": "ip-dst",
                                  "value": "45.155.205.1", "to_ids": True}]}}


def balanced(r: LoadReport) -> bool:
    return r.parsed == r.loaded + r.duplicates + r.rejected + r.sanity_dropped and r.duplicates >= 0


def test_parse_rejects_count_as_parsed_and_duplicates_are_never_negative(st: Store, tmp_path: Path):
    f = tmp_path / "ipsum.txt"
    f.write_text("45.155.205.1\t3\n45.155.205.1\t2\n45.155.205.2\tbad\n999.1.1.1\t1\n10.0.0.1\t1\n")
    r = st.load(f, "ip", fmt="ipsum")
    assert (r.parsed, r.loaded, r.duplicates, r.rejected, r.sanity_dropped) == (5, 1, 1, 2, 1)
    assert balanced(r)
    stored = st.dicts("SELECT parsed, loaded, duplicates, rejected, sanity_dropped FROM intel_feed_versions")
    assert stored == [{"parsed": 5, "loaded": 1, "duplicates": 1, "rejected": 2, "sanity_dropped": 1}]
    assert sorted(st.q("SELECT kind, locator FROM intel_rejects")) == [
        ("normalize", "line 4"), ("parse", "line 3"), ("sanity", "line 5")]


def test_misp_folder_with_a_non_event_file_is_balanced(st: Store, tmp_path: Path):
    folder = tmp_path / "misp"
    folder.mkdir()
    (folder / "event.json").write_text(json.dumps(EVENT))
    (folder / "other.json").write_text('{"hello": 1}')
    r = st.load(folder, "m")
    assert (r.format, r.parsed, r.loaded, r.duplicates, r.rejected) == ("misp", 2, 1, 0, 1)
    assert balanced(r)


@pytest.mark.parametrize("name,text,fmt", [
    ("f/a.json", '{"hello": 1}', "auto"),  # a folder: misp, and its only file is no event
    ("b.json", '{"hello": 1}', "auto"),  # detected as plain: the one line is no indicator
    ("c.txt", "no way\n*.bad\n", "plain"),
])
def test_a_load_where_nothing_is_a_feed_fails_and_keeps_the_current_version(st: Store, tmp_path: Path, name: str,
                                                                             text: str, fmt: str):
    good = tmp_path / "good.txt"
    good.write_text("45.155.205.1\n")
    first = st.load(good, "x")
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    target = path.parent if name.startswith("f/") else path
    with pytest.raises(InputError) as exc:
        st.load(target, "x", fmt=fmt)
    msg = str(exc.value)
    assert msg.startswith(f"{target}: not a ") and "rejected" in msg and "current version of x is kept" in msg
    assert st.q("SELECT feed_version FROM intel_feed_versions WHERE source = 'x' AND is_current") == \
        [(first.feed_version,)]
    assert st.q("SELECT count(*) FROM intel_feed_versions") == [(1,)]
    assert st.q("SELECT value FROM indicators") == [("45.155.205.1",)]


def test_feeds_that_are_empty_or_partly_bad_still_load(st: Store, tmp_path: Path):
    empty = tmp_path / "empty.txt"
    empty.write_text("# nothing listed today\n")
    assert st.load(empty, "e", fmt="plain").status == "loaded"
    sanity = tmp_path / "own.txt"
    sanity.write_text("10.0.0.1\n")
    r = st.load(sanity, "s", fmt="plain")  # refused by sanity checks: the feed is real, its entries are not used
    assert (r.status, r.loaded, r.sanity_dropped) == ("loaded", 0, 1)


# -- settings and options ------------------------------------------------------------------------------

@pytest.mark.parametrize("settings,needle", [
    (LoadSettings(confidence=500), "confidence must be 0-100, got 500"),
    (LoadSettings(confidence=-1), "confidence must be 0-100, got -1"),
    (LoadSettings(tlp="purple"), "tlp must be one of clear, green, amber, amber+strict, red"),
    (LoadSettings(severity="extreme"), "severity must be one of informational, low, medium, high, critical"),
    (LoadSettings(max_age_days=-5), "max_age_days must be a number of days >= 0"),
    (LoadSettings(decay_half_life_days=float("nan")), "decay_half_life_days must be a number of days >= 0"),
    (LoadSettings(max_prefix_v4=33), "max_prefix_v4 must be 0-32"),
])
def test_bad_settings_are_refused(settings: LoadSettings, needle: str):
    with pytest.raises(ConfigError, match="^" + needle.replace("+", r"\+").replace("(", r"\(")):
        check_settings(settings)


def test_settings_are_canonicalised():
    s = check_settings(LoadSettings(tlp="TLP:WHITE", severity=" High ", confidence=0, max_age_days=0))
    assert (s.tlp, s.severity, s.confidence) == ("clear", "high", 0)
    assert check_settings(LoadSettings(tlp="amber+strict")).tlp == "amber+strict"


def test_store_refuses_bad_settings_before_writing(st: Store, tmp_path: Path):
    f = tmp_path / "l.txt"
    f.write_text("45.155.205.1\n")
    with pytest.raises(ConfigError, match="confidence"):
        st.load(f, "x", settings=LoadSettings(confidence=101))
    assert st.q("SELECT count(*) FROM intel_feed_versions") == [(0,)]


@pytest.mark.parametrize("fmt,columns,options,needle", [
    ("plain", {}, {"preset": "nosuch"}, "format option 'preset' is not an option of format plain (its options are type)"),
    ("plain", {}, {"type": "bogus"}, "format option type='bogus' of format plain: must be one of ip, domain"),
    ("abusech", {}, {"preset": "nosuch"}, "format option preset='nosuch' of format abusech: must be one of feodo"),
    ("stix", {}, {"type": "ip"}, "format option 'type' is not an option of format stix (it takes no options)"),
    ("csv", {"value": "a"}, {"delimiter": ";;"}, "format option delimiter=';;': must be one character"),
    ("csv", {"valu": "a"}, {}, "column mapping (--map / columns): unknown field(s) valu"),
    ("csv", {"port": "a"}, {}, "column mapping (--map / columns) needs value=<column>"),
    ("plain", {"value": "a"}, {}, "column mapping (--map / columns) is read by the csv format only"),
])
def test_unknown_options_and_mappings_are_refused(fmt: str, columns: dict[str, str], options: dict[str, str],
                                                  needle: str):
    with pytest.raises(ConfigError) as exc:
        check_arguments(get_format(fmt), columns, options)
    assert str(exc.value).startswith(needle)


def test_known_options_pass():
    check_arguments(get_format("plain"), {}, {"type": "IP"})
    check_arguments(get_format("csv"), {"value": "2"}, {"header": "none", "delimiter": "\\t"})
    check_arguments(get_format("abusech"), {}, {"preset": "feodo"})
    check_arguments(get_format("maltrail"), {}, {"trail": "emotet", "category": "malware"})


def test_load_target_checks_options_of_the_detected_format(st: Store, tmp_path: Path):
    f = tmp_path / "l.txt"
    f.write_text("45.155.205.1\n")
    with pytest.raises(ConfigError, match="format option type='bogus'"):
        st.load(f, "x", options={"type": "bogus"})
    assert st.q("SELECT count(*) FROM intel_feed_versions") == [(0,)]


@pytest.mark.parametrize("values,needle", [
    ({"path": "x", "confidence": 500}, "[intel.feeds.f] confidence must be 0-100 (-1: none), got 500"),
    ({"path": "x", "confidence": -2}, "[intel.feeds.f] confidence must be 0-100 (-1: none), got -2"),
    ({"path": "x", "tlp": "purple"}, "[intel.feeds.f] tlp must be one of"),
    ({"path": "x", "severity": "extreme"}, "[intel.feeds.f] severity must be one of"),
    ({"path": "x", "max_age_days": -5}, "[intel.feeds.f] max_age_days must be a non-negative number"),
    ({"path": "x", "max_prefix_v6": 200}, "[intel.feeds.f] max_prefix_v6 must be 0-128, got 200"),
    ({"path": "x", "timeout": 0}, "[intel.feeds.f] timeout must be a number of seconds > 0"),
    ({"path": "x", "retries": -1}, "[intel.feeds.f] retries must be >= 0"),
])
def test_config_feed_sections_are_validated_the_same_way(values: dict[str, Any], needle: str):
    with pytest.raises(ConfigError) as exc:
        parse_feed("f", values)
    assert str(exc.value).startswith(needle)


def test_config_feed_with_valid_settings():
    feed = parse_feed("f", {"path": "x", "confidence": 80, "tlp": "white", "severity": "High"})
    assert check_settings(feed.settings()).tlp == "clear"
    assert parse_feed("f", {"path": "x", "confidence": -1}).settings().confidence is None  # documented "none"
    assert feed_configs(Config()) == {}


@pytest.mark.parametrize("args,needle", [
    (["--confidence", "500"], "--confidence must be 0-100, got 500"),
    (["--confidence", "-1"], "--confidence must be 0-100, got -1"),
    (["--tlp", "purple"], "--tlp must be one of"),
    (["--severity", "extreme"], "--severity must be one of"),
    (["--max-age-days", "-5"], "--max-age-days must be a number of days >= 0"),
    (["--half-life-days", "-1"], "--half-life-days must be a number of days >= 0"),
    (["-o", "preset=nosuch"], "format option 'preset' is not an option of format plain"),
    (["-o", "type=bogus"], "format option type='bogus'"),
    (["--map", "value=ip,value=port"], "--map gives value twice (value=ip and value=port)"),
    (["-o", "type=ip", "-o", "type=domain"], "--option gives type twice"),
])
def test_cli_load_refuses_bad_options(cli: Any, tmp_path: Path, args: list[str], needle: str):
    f = tmp_path / "p.txt"
    f.write_text("1.2.3.4\n")
    ws = tmp_path / "ws"
    r = cli("--workspace", ws, "intel", "load", "-s", "c", *args, f)
    assert r.code == 2, r.out + r.err
    assert needle in " ".join((r.out + r.err).split())
    listed = cli("--workspace", ws, "--json", "intel", "feeds")
    assert listed.json()["versions"] == []


def test_cli_load_json_report_of_a_non_feed(cli: Any, tmp_path: Path):
    folder = tmp_path / "f"
    folder.mkdir()
    (folder / "a.json").write_text('{"hello":1}\n')
    r = cli("--workspace", tmp_path / "ws", "--json", "intel", "load", "-s", "x", folder)
    assert r.code == 3
    assert "not a misp feed" in " ".join(r.err.split()) and str(folder) in r.err.replace("\n", "")


# -- STIX entries that are not objects ----------------------------------------------------------------------

def test_stix_entries_that_are_not_objects_are_rejected(st: Store, tmp_path: Path):
    ind = {"type": "indicator", "spec_version": "2.1", "id": "indicator--00000000-0000-4000-8000-000000000001",
           "pattern_type": "stix", "pattern": "[ipv4-addr:value = '45.155.205.7']",
           "valid_from": "2024-01-01T00:00:00Z", "modified": "2024-01-01T00:00:00Z"}
    f = tmp_path / "bundle.json"
    f.write_text(json.dumps({"type": "bundle", "id": "bundle--1", "spec_version": "2.1",
                             "objects": [ind, "a string", 5, None, [1]]}))
    res = parse("stix", f)
    assert [(r.locator, r.reason) for r in res.rejects] == [
        ("objects[1]", "not a STIX object (a JSON string)"), ("objects[2]", "not a STIX object (a JSON number)"),
        ("objects[3]", "not a STIX object (a JSON null)"), ("objects[4]", "not a STIX object (a JSON array)")]
    assert res.indicators.num_rows == 1
    r = st.load(f, "stix")
    assert (r.parsed, r.loaded, r.rejected) == (5, 1, 4) and balanced(r)
    assert r.reasons["parse: not a STIX object (a JSON string)"] == 1
    assert st.q("SELECT raw FROM intel_rejects WHERE locator = 'objects[1]'") == [('"a string"',)]


def test_stix_bundle_of_only_non_objects_is_not_a_feed(st: Store, tmp_path: Path):
    f = tmp_path / "bundle.json"
    f.write_text(json.dumps({"type": "bundle", "id": "bundle--1", "spec_version": "2.1", "objects": ["x", 1]}))
    with pytest.raises(InputError, match="not a stix feed: all 2 entries were rejected"):
        st.load(f, "stix")


def test_cli_option_value_may_hold_a_comma(cli: Any, tmp_path: Path):
    f = tmp_path / "p.csv"
    f.write_text("host-a,1.2.3.4\nhost-b,5.6.7.8\n")
    ws = tmp_path / "ws"
    r = cli("--workspace", ws, "--json", "intel", "load", "-s", "c", "--format", "csv",
            "-o", "header=none,delimiter=,", "--map", "value=2", f)
    assert r.code == 0, r.out + r.err
    assert r.json()["loaded"] == 2


def test_rejects_table_shows_raw_text_verbatim(cli: Any, tmp_path: Path):
    """Raw feed text with brackets was read as terminal markup: `*[dot]evil[dot]com` showed as `*evilcom`."""
    f = tmp_path / "rm.txt"
    f.write_text("1.1.1.1\n*[dot]evil[dot]com\n[red]bad\n", encoding="utf-8")
    ws = tmp_path / "ws"
    assert cli("--workspace", ws, "intel", "load", "-s", "rm", f).code == 0
    r = cli("--workspace", ws, "intel", "rejects", "--source", "rm")
    assert r.code == 0, r.err
    assert "*[dot]evil[dot]com" in r.out and "[red]bad" in r.out
