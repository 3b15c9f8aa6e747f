"""The SQL enrichment equals the slow Python reference on random data: IPv4 and IPv6 ranges that nest and
overlap, range boundaries, IPv4-mapped addresses, parent domains, validity windows, max-age and decay
against random event times, several sources."""

from __future__ import annotations

import ipaddress
from collections import Counter
from datetime import UTC, datetime, timedelta

from enrich_support import EnrichWs, enrich_ws_fixture, observables_table  # noqa: F401
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reference import Ind

from cairn.enrich import enrich_relation

T0 = datetime(2026, 1, 1, tzinfo=UTC)
POOLS = [ipaddress.ip_network("10.1.0.0/16"), ipaddress.ip_network("45.60.0.0/16"),
         ipaddress.ip_network("2001:db8:1::/48"), ipaddress.ip_network("2a02:6b8:77::/48")]
DOMAINS = ["evil-cairn.zz", "a.evil-cairn.zz", "b.a.evil-cairn.zz", "other-cairn.zz"]
HOSTS = ["x.a.evil-cairn.zz", "evil-cairn.zz", "notevil-cairn.zz", "b.a.evil-cairn.zz", "www.other-cairn.zz"]
SOURCES = ["fa", "fb", "fc"]

_time = st.integers(0, 10 * 24 * 60).map(lambda m: T0 + timedelta(minutes=m))
_opt_time = st.one_of(st.none(), _time)


@st.composite
def networks(draw: st.DrawFn) -> str:
    pool = draw(st.sampled_from(POOLS))
    full = 32 if pool.version == 4 else 128
    plen = draw(st.integers(pool.prefixlen, full))
    addr = pool.network_address + draw(st.integers(0, pool.num_addresses - 1))
    net = ipaddress.ip_network(f"{addr}/{plen}", strict=False)
    return str(net.network_address) if plen == full else str(net)


@st.composite
def indicators(draw: st.DrawFn) -> Ind:
    is_ip = draw(st.integers(0, 4)) > 0
    return Ind(
        source=draw(st.sampled_from(SOURCES)), type="ip" if is_ip else "domain",
        value=draw(networks()) if is_ip else draw(st.sampled_from(DOMAINS)),
        valid_from=draw(_opt_time), valid_until=draw(_opt_time), last_seen=draw(_opt_time),
        first_seen=draw(_opt_time), confidence=draw(st.one_of(st.none(), st.integers(0, 100))),
        threat_type=draw(st.sampled_from([None, "malware", "scanner", "tor", "weird"])),
        detect=draw(st.integers(0, 5)) > 0,
    )


@st.composite
def scenario(draw: st.DrawFn) -> tuple[list[Ind], list[dict]]:
    inds = draw(st.lists(indicators(), min_size=1, max_size=25))
    policy = {s: (draw(st.sampled_from([0.0, 1.0, 3.0])), draw(st.sampled_from([0.0, 2.0]))) for s in SOURCES}
    loaded = T0 + timedelta(days=5)
    for i in inds:
        i.max_age_days, i.half_life_days = policy[i.source]
        i.loaded_at = loaded
    # Observed addresses: anywhere in the pools, and on / next to indicator boundaries.
    edges = []
    for i in inds:
        if i.type == "ip":
            net = ipaddress.ip_network(i.value, strict=False)
            for a in (int(net.network_address) - 1, int(net.network_address), int(net.broadcast_address),
                      int(net.broadcast_address) + 1):
                edges.append(ipaddress.ip_address(a) if net.version == 6 else ipaddress.IPv4Address(a % 2**32))
    addr = st.one_of(
        st.builds(lambda p, o: p.network_address + o % p.num_addresses, st.sampled_from(POOLS), st.integers(0, 2**20)),
        st.sampled_from(edges) if edges else st.nothing(),
    )
    obs = []
    for _ in range(draw(st.integers(1, 30))):
        if draw(st.integers(0, 5)) == 0:
            obs.append({"type": "hostname", "value": draw(st.sampled_from(HOSTS)), "event_time": draw(_time)})
            continue
        a = draw(addr)
        text = str(a)
        if a.version == 4 and draw(st.integers(0, 6)) == 0:
            text = f"::ffff:{a}"  # IPv4-mapped IPv6 as some sources write it
        obs.append({"type": "ip", "value": text, "event_time": draw(_time)})
    return inds, obs


def _sql_result(ew: EnrichWs, obs: list[dict]) -> tuple[Counter, dict[int, int]]:
    e = ew.engine
    e.register("_t_obs", observables_table(obs))
    try:
        enrich_relation(e, "_t_obs", "_t")
        matches = e.rows("SELECT CAST(substr(event_uid, 2) AS INTEGER), intel_source, matched, match_kind, "
                         "most_specific, confidence, score_id FROM _t_matches")
        scores = dict(e.rows("SELECT CAST(substr(event_uid, 2) AS INTEGER), score_id FROM _t_observables"))
        n = e.scalar("SELECT count(*) FROM _t_observables")
        assert n == len(obs)
    finally:
        e.unregister("_t_obs")
    return Counter(matches), scores


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow])
@given(scenario())
def test_sql_equals_reference(enrich_ws: EnrichWs, case: tuple[list[Ind], list[dict]]) -> None:
    inds, obs = case
    enrich_ws.set_feeds(inds)
    got_matches, got_scores = _sql_result(enrich_ws, obs)
    ref_matches, ref_scores = enrich_ws.ref.enrich(obs, inds)
    want = Counter((m["row"], m["intel_source"], m["matched"], m["match_kind"], m["most_specific"], m["confidence"],
                    m["score_id"]) for m in ref_matches)
    assert got_matches == want
    assert got_scores == ref_scores
    STATS["matches"] += len(ref_matches)
    STATS["scored"] += sum(1 for s in ref_scores.values() if s > 3)
    STATS["cases"] += 1


STATS: Counter = Counter()


def test_property_exercised_matches() -> None:
    """The random cases above produced matches and non-trivial verdicts (the generator is not vacuous)."""
    if STATS["cases"]:
        assert STATS["matches"] > STATS["cases"], STATS
        assert STATS["scored"] > 0, STATS
