# SPDX-License-Identifier: Apache-2.0
"""A reload restarts no sequence (issue 18): a new snapshot starts from what the old one's
balancers had learnt. Round-robin cursors of endpoints that stay, requests in flight (for
least-request picks) and, when the config is the same (a DNS answer changed, or an
unchanged file was reloaded), the split counters carry over. Each test reloads between
requests, where a reset would send every request to the first pick."""
import http.client
import threading
import time
import urllib.request

from backend import Backend
from configs import canary_config, destination_rule, edge_routes, gateway, service_entry
from dns_server import DnsServer
from meshlet_proc import Meshlet, eventually, free_port
from test_dns import named_endpoints


def get(port, path, host="api.example.com"):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    c.request("GET", path, headers={"Host": host})
    r = c.getresponse()
    r.read()
    c.close()
    return r.status


def reload(m):
    req = urllib.request.Request(f"http://127.0.0.1:{m.admin_port}/reload", method="POST")
    with urllib.request.urlopen(req, timeout=30) as r:
        assert r.status == 200


def stat(m, name):
    for line in m.admin("/stats").splitlines():
        k, _, v = line.partition(": ")
        if k == name:
            return int(v)
    return 0


def pool(gw, backends, policy=None):
    """Gateway <gw> routing api.example.com to ServiceEntry "pool" over <backends>."""
    docs = [gateway(gw), service_entry("pool", "shop", [(b.port, {}) for b in backends])]
    if policy:
        docs.append(destination_rule("pool", policy))
    docs.append(edge_routes("pool", "  - route: [{destination: {host: pool}}]\n"))
    return "---\n".join(docs)


def start(meshlet_bin, tmp_path, config, extra=()):
    (tmp_path / "config.yaml").write_text(config)
    return Meshlet(meshlet_bin, tmp_path, workers=1,
                   extra=("-n", "shop", "--no-watch", *extra)).start()


def test_a_split_keeps_its_place_across_reloads_of_the_same_config(meshlet_bin, tmp_path):
    v1, v2 = Backend("v1").start(), Backend("v2").start()
    gw = free_port()
    m = start(meshlet_bin, tmp_path, canary_config(gw, v1.port, v2.port, weights=(90, 10)))
    try:
        before = stat(m, "server.config_version")
        for _ in range(20):
            assert get(gw, "/orders") == 200
            reload(m)
        assert stat(m, "server.config_version") == before + 20
        # 90/10 over 20 picks is exactly 18/2; restarted at every reload it would be 20/0
        assert (len(v1.hits), len(v2.hits)) == (18, 2)
    finally:
        assert m.stop() == 0, m.logs()
        v1.stop()
        v2.stop()


def test_round_robin_continues_across_reloads(meshlet_bin, tmp_path):
    bs = [Backend(f"b{i}").start() for i in range(3)]
    gw = free_port()
    m = start(meshlet_bin, tmp_path, pool(gw, bs, "{loadBalancer: {simple: ROUND_ROBIN}}"))
    try:
        for _ in range(30):
            assert get(gw, "/x") == 200
            reload(m)
        assert [len(b.hits) for b in bs] == [10, 10, 10]
    finally:
        assert m.stop() == 0, m.logs()
        for b in bs:
            b.stop()


def test_least_request_sees_requests_in_flight_from_before_a_reload(meshlet_bin, tmp_path):
    a, b = Backend("a").start(), Backend("b").start()
    gw = free_port()
    m = start(meshlet_bin, tmp_path, pool(gw, [a, b]))  # LEAST_REQUEST, Istio's default
    try:
        slow = threading.Thread(target=get, args=(gw, "/held?delay_ms=2000"))
        slow.start()
        assert eventually(lambda: stat(m, "cluster.outbound|9080||pool.shop.svc.cluster.local"
                                          ".upstream_cx_active") == 1), m.admin("/stats")
        reload(m)
        # Two endpoints: every pick compares both, so the one without a request in flight
        # wins each time; had the count restarted with the snapshot, ties would go either way.
        for _ in range(12):
            assert get(gw, "/quick") == 200
        slow.join(20)
        held = a if a.hits and a.hits[-1].startswith("/held") else b
        other = b if held is a else a
        assert [h for h in other.hits if h == "/quick"] == ["/quick"] * 12, (a.hits, b.hits)
        assert "/quick" not in held.hits
    finally:
        assert m.stop() == 0, m.logs()
        a.stop()
        b.stop()


def test_a_dns_answer_keeps_the_cursors_and_ejections_of_addresses_that_stay(meshlet_bin,
                                                                            tmp_path):
    """Endpoints a, b and bad (a 503 backend that outlier detection ejects) by name, c
    without an answer yet; c's answer comes: the rebuild keeps bad ejected and round robin
    goes on from where it was (after a, b), where a reset would start again at a."""
    a, b, c = Backend("a").start(), Backend("b").start(), Backend("c").start()
    bad = Backend("bad", fail_status=503).start()
    dns = DnsServer({"a.test": ["127.0.0.1"], "b.test": ["127.0.0.1"],
                     "bad.test": ["127.0.0.1"]}, ttl=1).start()
    config = named_endpoints([("a.test", a.port), ("b.test", b.port), ("bad.test", bad.port),
                              ("c.test", c.port)]) + """\
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: pay, namespace: shop}
spec:
  host: api.payments.test
  trafficPolicy:
    loadBalancer: {simple: ROUND_ROBIN}
    outlierDetection: {consecutive5xxErrors: 1, interval: 1s, baseEjectionTime: 60s,
                       maxEjectionPercent: 100}
"""
    m = start(meshlet_bin, tmp_path, config,
              ("--dns-server", f"127.0.0.1:{dns.port}", "--dns-min-refresh", "1s"))
    try:
        named = (("a", a), ("b", b), ("bad", bad), ("c", c))
        seen = []

        def one():
            """One request; the endpoints it reached, in order (bad's 503 is retried)."""
            counts = [len(x.hits) for _, x in named]
            get(m.mesh_port, "/x", host="api.payments.test")
            new = [(x.server.times[i], n) for (n, x), k in zip(named, counts)
                   for i in range(k, len(x.hits))]
            seen.extend(n for _, n in sorted(new))

        for _ in range(40):  # until bad is ejected and the last pick was a
            one()
            if bad.hits and seen[-1] == "a" and "bad" in seen[:-1]:
                break
        assert "/failed_outlier_check" in m.admin("/clusters"), seen
        assert seen[-1] == "a", seen
        reloads = stat(m, "server.reload_success")
        dns.set("c.test", ["127.0.0.1"])
        assert eventually(lambda: stat(m, "server.reload_success") > reloads, 15), m.logs()
        assert "DNS answer" in m.logs()
        n_bad = len(bad.hits)
        mark = len(seen)
        for _ in range(9):
            one()
        after = seen[mark:]
        assert len(bad.hits) == n_bad, after  # still ejected
        assert after[0] == "b", seen  # goes on after a; a reset would start again at a
        assert sorted(after) == ["a"] * 3 + ["b"] * 3 + ["c"] * 3, after
    finally:
        assert m.stop() == 0, m.logs()
        for x in (a, b, c, bad):
            x.stop()
        dns.stop()
