# SPDX-License-Identifier: Apache-2.0
"""GET /stats/prometheus (issue 7): Istio's standard metrics with Istio's labels (the
destination_version of a canary split counted exactly, response flags NR, UH, UF, UO, UT,
URX, FI, DC), their histograms consistent, Envoy's cluster counters (retries, timeouts,
overflows, connections), health and reload gauges, and an exposition Prometheus's own
checker parses."""
import http.client
import os
import re
import shutil
import socket
import subprocess
import threading
import time

import pytest

from backend import Backend
from configs import canary_config, destination_rule, service_entry
from meshlet_proc import free_port, serving

EXTRA_ROUTES = """\
  - name: abort
    match: [{uri: {prefix: /abort}}]
    fault: {abort: {httpStatus: 418, percentage: {value: 100}}}
    route: [{destination: {host: orders, subset: v1}}]
  - name: retried
    match: [{uri: {prefix: /status}}]
    route: [{destination: {host: orders, subset: v1}}]
    retries: {attempts: 2, retryOn: 5xx}
  - name: dead
    match: [{uri: {prefix: /dead}}]
    route: [{destination: {host: dead}}]
    retries: {attempts: 0}
  - name: narrow
    match: [{uri: {prefix: /narrow}}]
    route: [{destination: {host: narrow}}]
"""

LINE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse(text):
    """[(name, {label: value}, float)] of every sample line."""
    out = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = LINE.match(line)
        assert m, f"unparsable sample line: {line!r}"
        out.append((m.group(1), dict(LABEL.findall(m.group(3) or "")), float(m.group(4))))
    return out


def samples(m, name, **labels):
    return [(lab, v) for n, lab, v in parse(m.admin("/stats/prometheus"))
            if n == name and all(lab.get(k) == val for k, val in labels.items())]


def total(m, name, **labels):
    return sum(v for _, v in samples(m, name, **labels))


def get(port, path):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.request("GET", path, headers={"Host": "api.example.com"})
    r = c.getresponse()
    r.read()
    c.close()
    return r.status


@pytest.fixture(scope="module")
def proxy(meshlet_bin, tmp_path_factory):
    v1, v2 = Backend("v1").start(), Backend("v2").start()
    gw, dead = free_port(), free_port()
    config = "---\n".join([
        canary_config(gw, v1.port, v2.port, extra=EXTRA_ROUTES),
        service_entry("dead", "shop", [(dead, {})]),
        service_entry("narrow", "shop", [(v1.port, {})]),
        destination_rule("narrow", "{connectionPool: {http: {http2MaxRequests: 1}}}"),
    ])
    d = tmp_path_factory.mktemp("metrics")
    with serving(meshlet_bin, d, config, [v1, v2], workers=1,
                 extra=("--workload", "edge-gateway")) as m:
        m.gw = gw
        yield m


def test_split_counted_by_destination_version(proxy):
    before = {v: total(proxy, "istio_requests_total", destination_version=v, response_code="200")
              for v in ("v1", "v2")}
    for _ in range(100):
        assert get(proxy.gw, "/orders") == 200
    after = {v: total(proxy, "istio_requests_total", destination_version=v, response_code="200")
             for v in ("v1", "v2")}
    # one worker, smooth weighted split: exactly 90 and 10
    assert after["v1"] - before["v1"] == 90
    assert after["v2"] - before["v2"] == 10
    (labels, _), = [s for s in samples(proxy, "istio_requests_total", destination_version="v2",
                                       response_code="200")]
    assert labels["reporter"] == "source"
    assert labels["source_workload"] == "edge-gateway"
    assert labels["source_workload_namespace"] == "shop"
    assert labels["destination_service"] == "orders.shop.svc.cluster.local"
    assert labels["destination_service_name"] == "orders"
    assert labels["destination_service_namespace"] == "shop"
    assert labels["response_flags"] == "-"
    assert labels["request_protocol"] == "http"
    assert labels["connection_security_policy"] == "unknown"


def flags_of(m, code):
    return {lab["response_flags"] for lab, v in samples(m, "istio_requests_total",
                                                        response_code=str(code)) if v}


def test_response_flags(proxy):
    assert get(proxy.gw, "/nowhere") == 404
    assert "NR" in flags_of(proxy, 404)
    assert get(proxy.gw, "/v3") == 503  # subset without endpoints
    assert get(proxy.gw, "/dead") == 503  # nothing listens
    assert {"UH", "UF"} <= flags_of(proxy, 503)
    assert get(proxy.gw, "/abort") == 418
    assert flags_of(proxy, 418) == {"FI"}
    assert get(proxy.gw, "/slow?delay_ms=800") == 504  # route timeout 300 ms
    assert "UT" in flags_of(proxy, 504)
    retries = total(proxy, "envoy_cluster_upstream_rq_retry",
                    cluster_name="outbound|9080|v1|orders.shop.svc.cluster.local")
    assert get(proxy.gw, "/status/503") == 503  # 3 tries, every one a 503
    assert "URX" in flags_of(proxy, 503)
    assert total(proxy, "envoy_cluster_upstream_rq_retry",
                 cluster_name="outbound|9080|v1|orders.shop.svc.cluster.local") == retries + 2


def test_overflow_is_uo(proxy):
    out = []
    t = threading.Thread(target=lambda: out.append(get(proxy.gw, "/narrow?delay_ms=600")))
    t.start()
    time.sleep(0.2)
    assert get(proxy.gw, "/narrow") == 503  # http2MaxRequests 1: refused at once
    t.join(10)
    assert out == [200]
    assert "UO" in flags_of(proxy, 503)
    assert total(proxy, "envoy_cluster_upstream_rq_pending_overflow",
                 cluster_name="outbound|9080||narrow.shop.svc.cluster.local") >= 1


def test_client_gone_is_dc(proxy):
    s = socket.create_connection(("127.0.0.1", proxy.gw))
    s.sendall(b"GET /orders?delay_ms=500 HTTP/1.1\r\nHost: api.example.com\r\n\r\n")
    time.sleep(0.1)
    s.close()

    def dc():
        return [lab for lab, v in samples(proxy, "istio_requests_total") if v and
                lab["response_flags"] == "DC"]
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not dc():
        time.sleep(0.1)
    assert dc()


def test_histograms_agree_with_counts(proxy):
    for _ in range(5):
        get(proxy.gw, "/orders")
    text = proxy.admin("/stats/prometheus")
    rows = parse(text)
    counts = {tuple(sorted(lab.items())): v for n, lab, v in rows if n == "istio_requests_total"}
    assert counts
    for family in ("istio_request_duration_milliseconds", "istio_request_bytes",
                   "istio_response_bytes"):
        for n, lab, v in rows:
            if n == family + "_count":
                assert counts[tuple(sorted(lab.items()))] == v
            if n == family + "_bucket" and lab["le"] == "+Inf":
                key = tuple(sorted((k, x) for k, x in lab.items() if k != "le"))
                assert counts[key] == v
    # buckets are cumulative
    by_series = {}
    for n, lab, v in rows:
        if n == "istio_request_duration_milliseconds_bucket":
            key = tuple(sorted((k, x) for k, x in lab.items() if k != "le"))
            by_series.setdefault(key, []).append(v)
    for values in by_series.values():
        assert values == sorted(values) and len(values) == 20
    # request bytes: a GET head is between 40 and 1000 bytes
    sums = [v for n, lab, v in rows if n == "istio_request_bytes_sum"]
    assert sums and all(v > 0 for v in sums)


def test_cluster_and_server_stats(proxy):
    get(proxy.gw, "/orders")
    cl = "outbound|9080|v1|orders.shop.svc.cluster.local"
    assert total(proxy, "envoy_cluster_upstream_rq_total", cluster_name=cl) >= 1
    assert total(proxy, "envoy_cluster_upstream_rq_xx", cluster_name=cl,
                 envoy_response_code_class="2") >= 1
    assert total(proxy, "envoy_cluster_upstream_cx_active", cluster_name=cl) >= 1
    assert total(proxy, "envoy_cluster_membership_total", cluster_name=cl) == 1
    assert total(proxy, "envoy_cluster_membership_healthy", cluster_name=cl) == 1
    assert total(proxy, "meshlet_endpoint_healthy", cluster_name=cl) == 1
    assert total(proxy, "envoy_server_live") == 1
    assert total(proxy, "meshlet_config_version") >= 1
    assert samples(proxy, "meshlet_config_reloads_total", result="failure")
    stats = proxy.admin("/stats")
    assert re.search(rf"cluster\.{re.escape(cl)}\.upstream_rq_total: [1-9]", stats)


def promtool():
    here = os.path.dirname(os.path.abspath(__file__))
    local = os.path.join(here, "..", "..", "build", "tools", "promtool")
    return local if os.access(local, os.X_OK) else shutil.which("promtool")


# Names Envoy and Istio themselves use, which promtool's style lint would rename.
ENVOY_NAMES = ("envoy_cluster_upstream_rq_retry", "envoy_cluster_upstream_rq_retry_overflow",
               "envoy_cluster_upstream_rq_timeout", "envoy_cluster_upstream_rq_pending_overflow",
               "envoy_cluster_upstream_rq_xx", "envoy_cluster_membership_total",
               "istio_request_duration_milliseconds", "envoy_dns_cares_get_addr_failure",
               "envoy_server_days_until_first_cert_expiring")  # a proxy with --identity


def test_promtool_parses_the_exposition(proxy):
    tool = promtool()
    assert tool, "promtool missing: scripts/deps.sh fetches it into build/tools"
    get(proxy.gw, "/orders")
    get(proxy.gw, "/nowhere")
    text = proxy.admin("/stats/prometheus")
    r = subprocess.run([tool, "check", "metrics"], input=text, capture_output=True, text=True,
                       timeout=30)
    # 0: clean; 3: parsed, with style remarks; 1 would be a parse error
    assert r.returncode in (0, 3), r.stderr + r.stdout
    for line in (r.stdout + r.stderr).splitlines():
        assert line.split(" ")[0] in ENVOY_NAMES, line
    # Istio's mesh dashboard lists proxies by their istio_build series
    builds = [(lab, v) for n, lab, v in parse(text) if n == "istio_build"]
    assert len(builds) == 1 and builds[0][1] == 1, builds
    assert builds[0][0]["component"] == "proxy" and builds[0][0]["tag"].startswith("meshlet-")
