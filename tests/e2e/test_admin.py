# SPDX-License-Identifier: Apache-2.0
"""The admin API (issue 7): /ready, /healthz, /clusters (text and ?format=json: endpoints,
labels, health, ejection state, counters), /config_dump (the live snapshot as JSON with
its version and files), /logging (read and change the level), unknown paths 404.
Issue 12: / and /help list every endpoint; mutating ones need POST; /stats?filter= and
?format=json; /splits readable and as JSON; /listeners; /server_info."""
import json
import re
import urllib.error
import urllib.parse
import urllib.request

import pytest

from backend import Backend
from configs import canary_config, destination_rule, service_entry
from meshlet_proc import eventually, free_port, serving
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


# --- Envoy's admin endpoints (issue 12) ---

ENDPOINTS = {"/", "/certs", "/clusters", "/config_dump", "/explain", "/healthcheck/fail",
             "/healthcheck/ok",
             "/healthz", "/help", "/listeners", "/logging", "/quitquitquit", "/ready", "/reload",
             "/server_info", "/splits", "/stats", "/stats/prometheus"}
MUTATING = {"/healthcheck/fail", "/healthcheck/ok", "/quitquitquit", "/reload"}


def listed(text):
    """{path: description} from Envoy's "admin commands are:" list."""
    lines = text.splitlines()
    assert lines[0].endswith("admin commands are:"), text
    out = {}
    for ln in lines[1:]:
        m = re.fullmatch(r"  (/\S*): (\S.*)", ln)
        assert m, ln
        out[m.group(1)] = m.group(2)
    return out


@pytest.mark.parametrize("path", ["/", "/help"])
def test_root_and_help_list_every_endpoint(proxy, path):
    status, _, text = call(proxy, path)
    assert status == 200
    endpoints = listed(text)
    assert set(endpoints) >= ENDPOINTS, set(endpoints) ^ ENDPOINTS
    for p in MUTATING:
        assert "POST" in endpoints[p], (p, endpoints[p])
    for p in set(endpoints) - MUTATING - {"/explain"}:  # every one listed answers
        assert call(proxy, p)[0] == 200, p
    assert call(proxy, "/explain")[0] == 400  # it needs ?method=&url=


def test_unknown_path_is_404_with_the_list(proxy):
    status, _, text = call(proxy, "/nope")
    assert status == 404 and text.startswith("invalid path. admin commands are:")
    assert set(listed(text[len("invalid path. "):])) >= ENDPOINTS


@pytest.mark.parametrize("path", sorted(MUTATING))
def test_mutating_endpoints_require_post(proxy, path):
    status, _, text = call(proxy, path)
    assert (status, text) == (405, "Method GET not allowed, POST required.\n")
    assert call(proxy, "/ready")[0::2] == (200, "LIVE\n")  # nothing changed


def stats_text(proxy, query=""):
    status, _, text = call(proxy, "/stats" + query)
    assert status == 200, text
    return dict(ln.split(": ", 1) for ln in text.splitlines())


def test_stats_filter_is_a_regex_on_the_name(proxy):
    every = stats_text(proxy)
    pattern = r"^cluster\..*\|v1\|.*upstream_rq_2xx$"
    got = stats_text(proxy, "?filter=" + urllib.parse.quote(pattern))
    assert got == {k: v for k, v in every.items() if re.search(pattern, k)}
    assert got == {"cluster.outbound|9080|v1|orders.shop.svc.cluster.local.upstream_rq_2xx": "9"}
    # unanchored, as Envoy's: a match anywhere in the name
    assert set(stats_text(proxy, "?filter=reload_")) == {"server.reload_success",
                                                         "server.reload_failure"}
    status, _, text = call(proxy, "/stats?filter=" + urllib.parse.quote("(unclosed"))
    assert status == 400 and "Invalid re2 regex" in text


def test_stats_json_is_envoys_shape(proxy):
    status, ctype, text = call(proxy, "/stats?format=json")
    assert status == 200 and ctype == "application/json"
    doc = json.loads(text)
    assert list(doc) == ["stats"]
    as_dict = {s["name"]: s["value"] for s in doc["stats"]}
    assert all(isinstance(v, int) for v in as_dict.values())
    text_stats = stats_text(proxy)
    assert set(as_dict) == set(text_stats)
    assert as_dict["server.live"] == 1 and as_dict["server.concurrency"] == 1
    doc = json.loads(call(proxy, "/stats?format=json&filter=config_version")[2])
    assert [s["name"] for s in doc["stats"]] == ["server.config_version"]


def fresh_split(proxy):
    """A reload (counts start again with each config version), then 10 requests: 9 v1, 1 v2."""
    assert call(proxy, "/reload", "POST")[0] == 200
    for _ in range(10):
        assert meshlet.get(proxy.gw, "/orders")[0] == 200


def test_splits_text_is_readable(proxy):
    fresh_split(proxy)
    status, _, text = call(proxy, "/splits")
    assert status == 200
    assert text.startswith("Weighted routes of config version ")
    head = "gateway shop/edge, host api.example.com, route 5 'split' (VirtualService shop/orders)"
    block = text.split(head)[1].split("\n\n")[0]
    rows = [ln.split() for ln in block.splitlines()[2:4]]
    # destination, weight, configured, observed, (requests)
    assert rows[0] == ["orders.shop.svc.cluster.local", "subset", "v1", "90", "90.0%", "90.0%",
                       "(9)"], block
    assert rows[1] == ["orders.shop.svc.cluster.local", "subset", "v2", "10", "10.0%", "10.0%",
                       "(1)"], block
    assert ": 10 request(s)" in text


def test_splits_json(proxy):
    fresh_split(proxy)
    status, ctype, text = call(proxy, "/splits?format=json")
    assert status == 200 and ctype == "application/json"
    doc = json.loads(text)
    (route,) = [r for r in doc["routes"]
                if r["name"] == "split" and r["listener"] == "gateway shop/edge"]
    assert route["virtual_host"] == "api.example.com" and route["route"] == 5
    assert route["virtual_service"] == "shop/orders" and route["requests"] == 10
    assert {d["host"] for d in route["destinations"]} == {"orders.shop.svc.cluster.local"}
    assert [(d["subset"], d["weight"], d["configured_percent"], d["requests"],
             d["observed_percent"]) for d in route["destinations"]] == [
        ("v1", 90, 90.0, 9, 90.0), ("v2", 10, 10.0, 1, 10.0)]
    assert len(route["workers"]) == 1 and len(route["workers"][0]["counters"]) == 2


def test_listeners(proxy):
    status, _, text = call(proxy, "/listeners")
    assert status == 200
    lines = set(text.splitlines())
    assert f"gateway shop/edge::127.0.0.1:{proxy.gw}" in lines, lines
    assert f"mesh::127.0.0.1:{proxy.mesh_port}" in lines, lines
    status, ctype, text = call(proxy, "/listeners?format=json")
    assert status == 200 and ctype == "application/json"
    by_name = {l["name"]: l["local_address"]["socket_address"]
               for l in json.loads(text)["listener_statuses"]}
    assert by_name["gateway shop/edge"] == {"address": "127.0.0.1", "port_value": proxy.gw}
    assert by_name["mesh"] == {"address": "127.0.0.1", "port_value": proxy.mesh_port}


def test_server_info(proxy, meshlet_bin):
    status, ctype, text = call(proxy, "/server_info")
    assert status == 200 and ctype == "application/json"
    doc = json.loads(text)
    version = meshlet.run(meshlet_bin, "version").out.split()[1]
    assert doc["version"] == version and doc["state"] == "LIVE"
    assert re.fullmatch(r"\d+s", doc["uptime_current_epoch"])
    assert doc["uptime_all_epochs"] == doc["uptime_current_epoch"]
    o = doc["command_line_options"]
    assert o["concurrency"] == 1 and o["log_level"] == "info" and o["drain_time"] == "5.000s"
    assert o["config"] == [str(proxy.dir)] and o["namespace"] == "shop"
    assert o["admin"] == f"127.0.0.1:{proxy.admin_port}"
    assert o["mesh_listen"] == f"127.0.0.1:{proxy.mesh_port}" and o["watch"] is True


def test_admin_requests_give_back_fds_and_memory(proxy):
    """Every kind of answer (200, 400, 404, 405, JSON, filtered) closes its connection and
    frees what it built: the fd count is back and RSS does not grow with the requests."""
    import os
    import socket

    def fds():
        return len(os.listdir(f"/proc/{proxy.proc.pid}/fd"))

    def rss_kb():
        with open(f"/proc/{proxy.proc.pid}/status") as f:
            return int(next(ln for ln in f if ln.startswith("VmRSS:")).split()[1])

    paths = ["/help", "/stats?format=json&filter=cluster", "/stats?filter=%28", "/splits",
             "/splits?format=json", "/listeners?format=json", "/server_info", "/certs", "/nope"]
    for p in paths:  # warm up (first-use allocations)
        call(proxy, p)
    before_fds, before_rss = fds(), rss_kb()
    for _ in range(30):
        for p in paths:
            assert call(proxy, p)[0] in (200, 400, 404)
        assert call(proxy, "/healthcheck/ok")[0] == 405
        with socket.create_connection(("127.0.0.1", proxy.admin_port), timeout=5) as s:
            s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n"
                      b"Content-Length: 1\r\nContent-Length: 2\r\n\r\n")
            assert s.recv(100).startswith(b"HTTP/1.1 400")
    assert eventually(lambda: fds() <= before_fds), (fds(), before_fds)  # none kept
    print(f"fds {before_fds} -> {fds()}, VmRSS {before_rss} -> {rss_kb()} kB")
    with open(f"/proc/{proxy.proc.pid}/maps") as f:
        sanitized = "libasan" in f.read()  # ASan keeps freed memory in quarantine
    assert sanitized or rss_kb() - before_rss < 2048, (before_rss, rss_kb())
    assert call(proxy, "/ready")[0::2] == (200, "LIVE\n")  # and it still answers
