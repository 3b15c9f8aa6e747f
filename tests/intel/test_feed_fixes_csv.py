"""Mapped CSV fixes: a port cell that is not a port rejects the row."""

from __future__ import annotations

from pathlib import Path

from feeds_support import Store, st_fixture  # noqa: F401


def test_mapped_port_out_of_range_or_not_a_number_is_rejected(st: Store, tmp_path: Path):
    f = tmp_path / "p.csv"
    f.write_text("v,p\n1.2.3.4,8080\n1.2.3.5,99999\n1.2.3.6,abc\n1.2.3.7,\n")
    r = st.load(f, "c", fmt="csv", columns={"value": "v", "port": "p"})
    assert (r.parsed, r.loaded, r.rejected) == (4, 2, 2)
    assert st.q("SELECT value, port FROM indicators ORDER BY value") == [("1.2.3.4", 8080), ("1.2.3.7", None)]
    assert st.q("SELECT kind, locator, reason, raw FROM intel_rejects ORDER BY locator") == [
        ("parse", "line 3", "port 99999 out of range", "1.2.3.5,99999"),
        ("parse", "line 4", "port 'abc' is not a number", "1.2.3.6,abc")]
