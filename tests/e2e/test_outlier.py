# SPDX-License-Identifier: Apache-2.0
"""Outlier detection (spec §4.7) on real traffic: a broken endpoint is ejected on the
threshold at once, gets nothing for baseEjectionTime, returns on an interval sweep, and a
second ejection lasts twice as long; the state is shared by the workers; maxEjectionPercent
caps ejections (Istio's default 10% never ejects from two hosts); with every endpoint
ejected the answer is 503 UH; minHealthPercent turns panic mode on; connect failures count
as 503s."""
import time

import pytest

from backend import Backend
import meshlet
from configs import destination_rule, edge_routes, gateway, service_entry
from meshlet_proc import free_port, serving


def rule(name, outlier, lb="ROUND_ROBIN"):
    return destination_rule(name, f"{{loadBalancer: {{simple: {lb}}}, outlierDetection: {outlier}}}")


ROUTES = {  # prefix -> service
    "/eject": "flaky", "/default-cap": "flaky-default", "/cap-50": "mostly-bad",
    "/all": "bad-only", "/panic": "panic", "/dead": "half-dead",
}


@pytest.fixture(scope="module")
def proxy(meshlet_bin, tmp_path_factory):
    good = Backend("good").start()
    bads = [Backend(f"bad{i}", fail_status=503).start() for i in range(3)]
    gw, dead = free_port(), free_port()
    b0, b1, b2 = (b.port for b in bads)
    fast = "interval: 200ms, baseEjectionTime: 1s, maxEjectionPercent: 100"
    config = "---\n".join([
        gateway(gw),
        service_entry("flaky", "shop", [(good.port, {}), (b0, {})]),
        rule("flaky", f"{{consecutive5xxErrors: 3, {fast}}}"),
        service_entry("flaky-default", "shop", [(good.port, {}), (b0, {})]),
        rule("flaky-default", "{consecutive5xxErrors: 1}"),
        service_entry("mostly-bad", "shop", [(good.port, {}), (b0, {}), (b1, {}), (b2, {})]),
        rule("mostly-bad", "{consecutive5xxErrors: 1, maxEjectionPercent: 50}"),
        service_entry("bad-only", "shop", [(b0, {})]),
        rule("bad-only", "{consecutive5xxErrors: 1, maxEjectionPercent: 100}"),
        service_entry("panic", "shop", [(b0, {}), (b1, {})]),
        rule("panic", "{consecutive5xxErrors: 1, maxEjectionPercent: 100, minHealthPercent: 60}"),
        service_entry("half-dead", "shop", [(good.port, {}), (dead, {})]),
        rule("half-dead", "{consecutive5xxErrors: 2, maxEjectionPercent: 100}"),
        edge_routes("outlier", "\n".join(
            f"""\
  - match: [{{uri: {{prefix: {p}}}}}]
    route: [{{destination: {{host: {svc}}}}}]
    retries: {{attempts: {2 if svc == "half-dead" else 0}}}""" for p, svc in ROUTES.items())),
    ])
    d = tmp_path_factory.mktemp("outlier")
    with serving(meshlet_bin, d, config, [good, *bads], workers=2) as m:
        m.gw_port, m.good, m.bads, m.dead, m.dir = gw, good, bads, dead, d
        yield m


def get(proxy, path):
    """One request on a new connection (so that both workers serve some): (status, body)."""
    status, _, body = meshlet.get(proxy.gw_port, path)
    return status, body


def hit_times(backend, prefix):
    return [t for p, t in zip(backend.hits, backend.server.times) if p.startswith(prefix)]


def hits(backend, prefix):
    return sum(1 for p in backend.hits if p.startswith(prefix))


def test_ejected_for_base_time_then_twice_as_long(proxy):
    bad = proxy.bads[0]
    deadline = time.monotonic() + 8
    codes = []
    while len(hit_times(bad, "/eject")) < 9 and time.monotonic() < deadline:
        codes.append(get(proxy, f"/eject/{len(codes)}")[0])
        time.sleep(0.01)
    t = hit_times(bad, "/eject")
    assert len(t) >= 9, t
    assert codes.count(503) == len(t)  # no retries: each failure reached one client
    # Three failures in a row, then nothing for 1 s (ejected on the third at once) until an
    # interval sweep (every 200 ms) returns it; three more failures, then 2 s.
    first_gap, second_gap = t[3] - t[2], t[6] - t[5]
    assert 1.0 <= first_gap < 1.0 + 0.2 + 0.6, t
    assert 2.0 <= second_gap < 2.0 + 0.2 + 0.6, t
    assert max(t[1] - t[0], t[2] - t[1], t[4] - t[3], t[5] - t[4]) < 0.5, t


def test_default_cap_never_ejects_one_of_two(proxy):
    for i in range(40):
        get(proxy, f"/default-cap/{i}")
    assert hits(proxy.bads[0], "/default-cap") >= 15  # still in rotation


def test_max_ejection_percent_caps_ejections(proxy):
    for i in range(60):
        get(proxy, f"/cap-50/{i}")
    # Of three broken endpoints in four, 50% lets two go: (1+1)/4 <= 50% < (2+1)/4. Each
    # ejected one failed once; the third stays in rotation.
    counts = sorted(hits(b, "/cap-50") for b in proxy.bads)
    assert counts[0] == counts[1] == 1 and counts[2] >= 10, counts
    flags = [line for line in proxy.admin("/clusters").splitlines()
             if "|mostly-bad." in line and "health_flags" in line]
    assert len(flags) == 4
    assert sum(f.endswith("/failed_outlier_check") for f in flags) == 2


def test_every_endpoint_ejected_is_503_no_healthy_upstream(proxy):
    status, body = get(proxy, "/all/1")
    assert status == 503 and b'"status": 503' in body  # the backend's own answer
    for i in range(5):
        status, body = get(proxy, f"/all/{i + 2}")
        assert (status, body) == (503, b"no healthy upstream")
    assert hits(proxy.bads[0], "/all") == 1


def test_min_health_percent_panics_over_every_endpoint(proxy):
    for i in range(30):
        get(proxy, f"/panic/{i}")
    # Both are ejected, healthy 0% < 60%: panic mode balances over both anyway.
    assert hits(proxy.bads[0], "/panic") > 5 and hits(proxy.bads[1], "/panic") > 5


def test_connect_failures_eject_and_retries_hide_them(proxy):
    assert all(get(proxy, f"/dead/{i}")[0] == 200 for i in range(30))
    flags = [line for line in proxy.admin("/clusters").splitlines()
             if "|half-dead." in line and f":{proxy.dead}::health_flags" in line]
    assert flags and flags[0].endswith("/failed_outlier_check")


def test_explain_states_the_detector_and_its_cap(proxy, meshlet_bin):
    def explain(path):
        return meshlet.explain(meshlet_bin, proxy.dir, proxy.gw_port, path)
    assert ("outlier detection: eject after 3 consecutive 5xx, interval 200ms, base ejection "
            "1000ms, at most 100% of 2 endpoint(s) ejected, no panic mode") in explain("/eject")
    assert "at most 10% of 2 endpoint(s) ejected (so none can be)" in explain("/default-cap")
    assert "panic below 60% healthy" in explain("/panic")
