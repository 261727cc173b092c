# SPDX-License-Identifier: Apache-2.0
"""The admin API (issue 7): /ready, /healthz, /clusters (text and ?format=json: endpoints,
labels, health, ejection state, counters), /config_dump (the live snapshot as JSON with
its version and files), /logging (read and change the level), unknown paths 404."""
import json
import urllib.error
import urllib.request

import pytest

from backend import Backend
from configs import canary_config, destination_rule, service_entry
from meshlet_proc import free_port, serving
import meshlet

EXTRA = """\
  - name: doomed
    match: [{uri: {prefix: /doomed}}]
    route: [{destination: {host: doomed}}]
"""


def call(m, path, method="GET"):
    req = urllib.request.Request(f"http://127.0.0.1:{m.admin_port}{path}", method=method)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.headers.get("content-type"), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("content-type"), e.read().decode()


@pytest.fixture(scope="module")
def proxy(meshlet_bin, tmp_path_factory):
    v1, v2 = Backend("v1").start(), Backend("v2").start()
    bad = Backend("bad", fail_status=503).start()
    gw = free_port()
    config = "---\n".join([
        canary_config(gw, v1.port, v2.port, extra=EXTRA),
        service_entry("doomed", "shop", [(bad.port, {"app": "doomed"})]),
        destination_rule("doomed", "{outlierDetection: {consecutive5xxErrors: 1, interval: 10s, "
                                   "baseEjectionTime: 60s, maxEjectionPercent: 100}}"),
    ])
    d = tmp_path_factory.mktemp("admin")
    with serving(meshlet_bin, d, config, [v1, v2, bad], workers=1) as m:
        m.gw, m.dir, m.v1, m.bad = gw, d, v1, bad
        for _ in range(10):
            meshlet.get(gw, "/orders")
        meshlet.get(gw, "/doomed")  # a 503 that ejects the only endpoint
        yield m


def test_ready_and_healthz(proxy):
    assert call(proxy, "/ready")[0::2] == (200, "LIVE\n")
    assert call(proxy, "/healthz")[0] == 200
    assert call(proxy, "/nope")[0] == 404


def test_clusters_text(proxy):
    status, _, text = call(proxy, "/clusters")
    assert status == 200
    v1 = f"outbound|9080|v1|orders.shop.svc.cluster.local::127.0.0.1:{proxy.v1.port}"
    lines = set(text.splitlines())
    assert f"{v1}::health_flags::healthy" in lines
    assert f"{v1}::label::version=v1" in lines
    assert f"{v1}::rq_total::9" in lines  # 90/10 of 10, every one a 200
    assert f"{v1}::rq_success::9" in lines
    assert "outbound|9080|v1|orders.shop.svc.cluster.local::upstream_rq_total::9" in lines
    doomed = f"outbound|9080||doomed.shop.svc.cluster.local::127.0.0.1:{proxy.bad.port}"
    assert f"{doomed}::health_flags::/failed_outlier_check" in lines
    assert f"{doomed}::ejections::1" in lines
    assert f"{doomed}::rq_error::1" in lines


def test_clusters_json(proxy):
    status, ctype, text = call(proxy, "/clusters?format=json")
    assert status == 200 and ctype == "application/json"
    doc = json.loads(text)
    by_name = {c["name"]: c for c in doc["clusters"]}
    v2 = by_name["outbound|9080|v2|orders.shop.svc.cluster.local"]
    assert v2["subset"] == "v2" and v2["host"] == "orders.shop.svc.cluster.local"
    assert v2["stats"]["upstream_rq_total"] == 1 and v2["stats"]["upstream_rq_2xx"] == 1
    (ep,) = v2["endpoints"]
    assert ep["labels"] == {"version": "v2"} and ep["health"] == "healthy"
    assert ep["rq_total"] == 1 and not ep["ejected"] and ep["tls"] == "none"
    (bad,) = by_name["outbound|9080||doomed.shop.svc.cluster.local"]["endpoints"]
    assert bad["ejected"] and bad["health"] == "/failed_outlier_check"
    assert bad["ejections"] == 1 and bad["ejected_at_ms"] > 0 and bad["rq_error"] == 1
    assert by_name["outbound|9080||doomed.shop.svc.cluster.local"]["stats"][
        "ejections_active"] == 1
    assert "outbound|9080|v3|orders.shop.svc.cluster.local" in by_name  # no endpoints


def test_config_dump(proxy):
    status, ctype, text = call(proxy, "/config_dump")
    assert status == 200 and ctype == "application/json"
    doc = json.loads(text)
    stats = dict(x.split(": ", 1) for x in call(proxy, "/stats")[2].splitlines())
    assert doc["version"] == int(stats["server.config_version"])
    assert doc["files"] == [str(proxy.dir / "config.yaml")]
    (gw,) = [l for l in doc["listeners"] if l["port"] == proxy.gw]
    assert gw["kind"] == "gateway"
    (vh,) = [v for v in gw["virtual_hosts"] if v["host"] == "api.example.com"]
    split = next(r for r in vh["routes"] if r["name"] == "split")
    assert split["virtual_service"] == "shop/orders"
    assert [(d["subset"], d["weight"]) for d in split["destinations"]] == [("v1", 90), ("v2", 10)]
    slow = next(r for r in vh["routes"] if r["name"] == "slow")
    assert slow["timeout_ms"] == 300
    teapot = next(r for r in vh["routes"] if r["name"] == "teapot")
    assert teapot["action"] == "direct_response" and teapot["status"] == 418
    clusters = {c["name"]: c for c in doc["clusters"]}
    doomed = clusters["outbound|9080||doomed.shop.svc.cluster.local"]
    assert doomed["outlier_detection"]["consecutive_5xx"] == 1
    assert doomed["outlier_detection"]["base_ejection_ms"] == 60000
    assert doomed["endpoints"][0]["labels"] == {"app": "doomed"}


def test_logging_level(proxy):
    assert call(proxy, "/logging")[0::2] == (200, "level: info\n")
    assert call(proxy, "/logging?level=loud", "POST")[0] == 400
    assert call(proxy, "/logging?level=error", "POST")[0::2] == (200, "level: error\n")
    assert call(proxy, "/reload", "POST")[0] == 200
    assert "reload (POST /reload)" not in proxy.logs()  # info is below error
    assert call(proxy, "/logging?level=info", "POST")[0::2] == (200, "level: info\n")
    assert call(proxy, "/reload", "POST")[0] == 200
    assert "reload (POST /reload)" in proxy.logs()


def test_admin_binds_loopback_by_default(meshlet_bin):
    r = meshlet.run(meshlet_bin, "run", "--help")
    assert "admin server (default 127.0.0.1:15000)" in r.out
