# SPDX-License-Identifier: Apache-2.0
"""DNS endpoints (issue 18): a ServiceEntry with resolution DNS is resolved by meshlet's own
resolver against a test DNS server (--dns-server), as Envoy resolves Istio's DNS clusters:
the egress example with TLS origination works; a DNS server that stops answering keeps the
last good addresses (and says so in /clusters, /stats and /stats/prometheus); a name that
never resolves gives 503 UH with a clear /clusters reason; a DNS server that answers late
stalls neither requests, nor POST /reload, nor the admin port; a reload that brings a new
name serves the old config until the name answers, and lets go of names no longer used.
Every answer is 127.0.0.1: only it may be a target here."""
import http.client
import re
import subprocess
import threading
import time
import urllib.error
import urllib.request

import pytest

import meshlet
from backend import Backend
from certs import self_signed
from dns_server import DnsServer
from meshlet_proc import Meshlet, eventually, free_port
from test_metrics import ENVOY_NAMES, parse, promtool


def egress(port, target, host="api.payments.test", tls_ca=None):
    """ServiceEntry <host> (resolution DNS, HTTP port <port> to <target>) and, with
    <tls_ca>, a DestinationRule that originates TLS to it (Istio's egress TLS origination)."""
    docs = [f"""\
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {{name: pay, namespace: shop}}
spec:
  hosts: [{host}]
  location: MESH_EXTERNAL
  resolution: DNS
  ports: [{{number: {port}, name: http, protocol: HTTP, targetPort: {target}}}]
"""]
    if tls_ca:
        docs.append(f"""\
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: pay, namespace: shop}}
spec:
  host: {host}
  trafficPolicy:
    tls: {{mode: SIMPLE, caCertificates: {tls_ca}, sni: {host}}}
""")
    return "---\n".join(docs)


def named_endpoints(endpoints):
    """ServiceEntry api.payments.test (resolution DNS) whose endpoints are names:
    <endpoints> a list of (name, port)."""
    eps = "\n".join(f"  - {{address: {n}, ports: {{http: {p}}}}}" for n, p in endpoints)
    return f"""\
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {{name: pay, namespace: shop}}
spec:
  hosts: [api.payments.test]
  location: MESH_EXTERNAL
  resolution: DNS
  ports: [{{number: {free_port()}, name: http, protocol: HTTP}}]
  endpoints:
{eps}
"""


def get(m, host="api.payments.test", timeout=10):
    c = http.client.HTTPConnection("127.0.0.1", m.mesh_port, timeout=timeout)
    c.request("GET", "/x", headers={"Host": host})
    r = c.getresponse()
    out = (r.status, r.read())
    c.close()
    return out


def clusters(m):
    return m.admin("/clusters")


@pytest.fixture
def started(meshlet_bin, tmp_path):
    made = []

    def start(config, dns, extra=()):
        (tmp_path / "config.yaml").write_text(config)
        # names are asked again after 1 s at the soonest, not Envoy's 5 s: shorter waits
        m = Meshlet(meshlet_bin, tmp_path, extra=("-n", "shop", "--dns-server",
                                                  f"127.0.0.1:{dns.port}", "--dns-min-refresh",
                                                  "1s", *extra))
        made.append(m)
        return m.start()
    yield start
    for m in made:
        assert m.stop() == 0, m.logs()


def test_egress_with_tls_origination_resolves_through_meshlets_resolver(started, tmp_path):
    crt, key = self_signed(tmp_path / "pay", "api.payments.test")
    backend = Backend("pay", tls=(str(crt), str(key), None)).start()
    dns = DnsServer({"api.payments.test": ["127.0.0.1"]}, ttl=30).start()
    try:
        m = started(egress(free_port(), backend.port, tls_ca=crt), dns)
        status, body = get(m)
        assert status == 200, body
        text = clusters(m)
        assert "::dns_name::api.payments.test" in text, text
        assert "::dns::api.payments.test::state::resolved" in text, text
        assert "::dns::api.payments.test::addresses::127.0.0.1" in text, text
        assert dns.queries.get("api.payments.test", 0) >= 1
        ex = meshlet.run(m.args[0], "explain", "--admin", f"127.0.0.1:{m.admin_port}", "--mesh",
                         "GET", "http://api.payments.test/x")
        assert ex.code == 0 and "(DNS api.payments.test)" in ex.out, ex
        stats = m.admin("/stats")
        assert "dns.name.api.payments.test.addresses: 1" in stats, stats
        assert "dns.cares.resolve_total: " in stats, stats
    finally:
        backend.stop()
        dns.stop()


def test_a_silent_dns_server_keeps_the_last_good_addresses(started):
    backend = Backend("pay").start()
    dns = DnsServer({"api.payments.test": ["127.0.0.1"]}, ttl=1).start()
    try:
        m = started(egress(free_port(), backend.port), dns)
        assert get(m)[0] == 200
        dns.drop = True  # from now on no answer: the TTL runs out, the refresh times out
        assert eventually(lambda: "::dns::api.payments.test::failures::0" not in clusters(m),
                          15), clusters(m)
        for _ in range(20):
            assert get(m)[0] == 200
        text = clusters(m)
        assert "::dns::api.payments.test::addresses::127.0.0.1" in text, text
        assert "::dns::api.payments.test::last_error::" in text, text
        # the same in Prometheus's form, which promtool reads
        prom = m.admin("/stats/prometheus")
        series = {(n, lab.get("name")): v for n, lab, v in parse(prom)}
        assert series[("meshlet_dns_failures_total", "api.payments.test")] >= 1, prom
        assert series[("meshlet_dns_queries_total", "api.payments.test")] >= 2, prom
        assert series[("meshlet_dns_addresses", "api.payments.test")] == 1, prom
        assert series[("envoy_dns_cares_get_addr_failure", None)] >= 1, prom
        r = subprocess.run([promtool(), "check", "metrics"], input=prom, capture_output=True,
                           text=True, timeout=30)
        assert r.returncode in (0, 3), r.stderr + r.stdout  # 3: parsed, with style remarks
        for line in (r.stdout + r.stderr).splitlines():
            assert line.split(" ")[0] in ENVOY_NAMES, line
    finally:
        backend.stop()
        dns.stop()


def test_a_name_that_never_resolves_is_503_uh_with_the_reason(started):
    dns = DnsServer({}, ttl=1).start()  # NXDOMAIN for everything
    try:
        m = started(egress(free_port(), free_port(), host="gone.payments.test"), dns)
        status, body = get(m, host="gone.payments.test")
        assert status == 503, body
        text = clusters(m)
        assert "::dns::gone.payments.test::state::no answer yet" in text, text
        assert "::dns::gone.payments.test::last_error::" in text, text
        ex = meshlet.run(m.args[0], "explain", "--admin", f"127.0.0.1:{m.admin_port}", "--mesh",
                         "GET", "http://gone.payments.test/x")
        assert "no DNS answer yet for gone.payments.test" in ex.out, ex
    finally:
        dns.stop()


def test_a_late_dns_server_stalls_neither_admin_nor_reload_nor_requests(started):
    backend = Backend("pay").start()
    dns = DnsServer({"api.payments.test": ["127.0.0.1"]}, ttl=1).start()
    dns.delay = 5.0
    try:
        m = started(egress(free_port(), backend.port), dns)  # ready after its bounded wait
        # The answer comes after meshlet's query gave up (3 s): the name stays unresolved,
        # and meanwhile the admin port, a reload and a request all answer (the request
        # 503: no address yet), none waiting for DNS.
        assert "::dns::api.payments.test::" in clusters(m)
        with urllib.request.urlopen(urllib.request.Request(
                f"http://127.0.0.1:{m.admin_port}/reload", method="POST"), timeout=10) as r:
            assert r.status == 200
        assert get(m)[0] == 503
        assert "::dns::api.payments.test::state::resolved" not in clusters(m)
        dns.delay = 0.0
        assert eventually(lambda: get(m)[0] == 200, 20)
    finally:
        backend.stop()
        dns.stop()


def test_the_egress_example_runs(meshlet_bin, repo_root):
    import os
    import subprocess
    r = subprocess.run(["bash", "examples/egress/run.sh"], cwd=repo_root, capture_output=True,
                       text=True, timeout=60, env={**os.environ, "MESHLET": meshlet_bin})
    assert r.returncode == 0, r.stdout + r.stderr
    assert "payment API over TLS: ok" in r.stdout, r.stdout + r.stderr
    assert "::dns::api.payments.test::state::resolved" in r.stdout, r.stdout
    c = subprocess.run([meshlet_bin, "check", "-n", "shop", "examples/egress"], cwd=repo_root,
                       capture_output=True, text=True, timeout=30)
    assert c.returncode == 0, c.stdout + c.stderr


def test_a_new_answer_moves_traffic_with_no_failed_request(started):
    a, b = Backend("a").start(), Backend("b").start()
    dns = DnsServer({"a.payments.test": ["127.0.0.1"]}, ttl=1).start()  # b: NXDOMAIN
    config = named_endpoints([("a.payments.test", a.port), ("b.payments.test", b.port)])
    try:
        m = started(config, dns)
        statuses = [get(m)[0] for _ in range(20)]
        assert statuses == [200] * 20 and not b.hits, (statuses, len(b.hits))
        dns.set("b.payments.test", ["127.0.0.1"])  # b's next try finds it
        failed = 0
        for _ in range(600):  # at most a minute of requests, 0.1 s apart
            failed += get(m)[0] != 200
            if len(b.hits) >= 5:
                break
            time.sleep(0.1)
        assert len(b.hits) >= 5, len(b.hits)
        assert failed == 0
        assert "::dns::b.payments.test::state::resolved" in clusters(m)
    finally:
        a.stop()
        b.stop()
        dns.stop()


def test_a_name_whose_every_address_fails_is_asked_again_before_its_ttl(started):
    dead = free_port()  # the name resolves, but nothing listens at its address and port
    dns = DnsServer({"moved.payments.test": ["127.0.0.1"]}, ttl=60).start()
    config = named_endpoints([("moved.payments.test", dead)])
    try:
        m = started(config, dns)
        assert dns.queries.get("moved.payments.test") == 1
        assert get(m)[0] == 503  # connect failures to its only address
        # asked again within the resolver's minimum refresh (1 s here), not at the 60 s TTL
        assert eventually(lambda: dns.queries.get("moved.payments.test", 0) >= 2, 15), \
            dns.queries
    finally:
        dns.stop()


def test_a_name_the_config_no_longer_uses_is_no_longer_asked(started, tmp_path):
    backend = Backend("pay").start()
    dns = DnsServer({"old.payments.test": ["127.0.0.1"], "new.payments.test": ["127.0.0.1"]},
                    ttl=1).start()
    try:
        m = started(named_endpoints([("old.payments.test", backend.port)]), dns)
        assert get(m)[0] == 200
        (tmp_path / "config.yaml").write_text(
            named_endpoints([("new.payments.test", backend.port)]))
        req = urllib.request.Request(f"http://127.0.0.1:{m.admin_port}/reload", method="POST")
        assert urllib.request.urlopen(req, timeout=30).status == 200
        assert get(m)[0] == 200
        text = clusters(m)
        assert "::dns::new.payments.test::" in text and "old.payments.test" not in text, text
        stats = m.admin("/stats")
        assert "dns.name.new.payments.test.queries" in stats
        assert "dns.name.old.payments.test" not in stats, stats
        old = dns.queries.get("old.payments.test")
        # TTL 1 s, so a kept name is asked again at the minimum refresh (1 s here)
        assert eventually(lambda: dns.queries.get("new.payments.test", 0) >= 2, 15), dns.queries
        assert dns.queries.get("old.payments.test") == old, dns.queries
    finally:
        backend.stop()
        dns.stop()


def test_a_broken_config_on_disk_stops_no_dns_update(started, tmp_path):
    """A DNS answer rebuilds the config in force, as it was checked: an edit that does not
    pass `meshlet check` (refused, the old config serving) does not hold DNS back."""
    a, b = Backend("a").start(), Backend("b").start()
    dns = DnsServer({"a.payments.test": ["127.0.0.1"]}, ttl=1).start()  # b: NXDOMAIN
    try:
        m = started(named_endpoints([("a.payments.test", a.port), ("b.payments.test", b.port)]),
                    dns)
        assert get(m)[0] == 200 and not b.hits
        (tmp_path / "config.yaml").write_text("kind: ServiceEntry\nspec: [not, a, map]\n")
        req = urllib.request.Request(f"http://127.0.0.1:{m.admin_port}/reload", method="POST")
        with pytest.raises(urllib.error.HTTPError):
            urllib.request.urlopen(req, timeout=30)
        dns.set("b.payments.test", ["127.0.0.1"])
        assert eventually(lambda: get(m)[0] == 200 and len(b.hits) > 0, 20), m.logs()
        assert "reload (DNS answer): config version" in m.logs()
        assert all(get(m)[0] == 200 for _ in range(10))
    finally:
        a.stop()
        b.stop()
        dns.stop()


def test_a_new_answer_under_wrk_moves_traffic_with_no_failed_request(started, repo_root):
    """wrk through meshlet while b's name gets its answer (it had none): b takes a share of
    the traffic within the resolver's refresh, and no request fails on the way."""
    backend = repo_root / "build" / "backend"
    pa, pb = free_port(), free_port()
    procs = [subprocess.Popen([str(backend), "--listen", f"127.0.0.1:{p}", "--name", n],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
             for p, n in ((pa, "a"), (pb, "b"))]
    dns = DnsServer({"a.payments.test": ["127.0.0.1"]}, ttl=1).start()  # b: NXDOMAIN
    try:
        m = started(named_endpoints([("a.payments.test", pa), ("b.payments.test", pb)]), dns)
        assert eventually(lambda: get(m)[0] == 200)
        timer = threading.Timer(1.0, dns.set, ("b.payments.test", ["127.0.0.1"]))
        timer.start()
        out = subprocess.run(["wrk", "-t1", "-c16", "-d5s", "-H", "Host: api.payments.test",
                              f"http://127.0.0.1:{m.mesh_port}/x"],
                             capture_output=True, text=True, timeout=60).stdout
        timer.join()
        total = int(re.search(r"(\d+) requests in", out).group(1))
        assert total > 1000, out
        assert "Non-2xx" not in out, out
        assert "Socket errors" not in out, out
        text = clusters(m)
        assert "::dns::b.payments.test::state::resolved" in text, text
        b_total = re.search(rf"::127\.0\.0\.1:{pb}::rq_total::(\d+)", text)
        assert b_total and int(b_total.group(1)) > 0, text
    finally:
        for p in procs:
            p.terminate()
            p.wait(5)
        dns.stop()
