# SPDX-License-Identifier: Apache-2.0
"""The rollout's two sources of window figures agree: the delta of a meshlet's own
/stats/prometheus (scrape.c) and a real Prometheus server scraping that meshlet, asked in
PromQL (promql.c), over the same bounded load. build/rollout-probe is the test-only door
to both (tests/tools/rollout_probe.c)."""
import http.client
import json
import math
import os
import pathlib
import subprocess
import time
import urllib.parse
import urllib.request

import pytest

from backend import Backend
from configs import canary_config
from meshlet_proc import Meshlet, free_port, stop_process

SERVICE = "orders.shop.svc.cluster.local"
LOAD = 400  # requests, every tenth answered 503, the rest delayed 0, 7, 14 or 21 ms
SCRAPE_S = 0.25
BOUNDS = [0, 0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000]  # meshlet's, as far as it matters here

FAIL_ROUTE = """\
  - name: fail
    match:
    - uri: {prefix: /status}
    route:
    - destination: {host: orders, subset: v1}
      weight: 50
    - destination: {host: orders, subset: v2}
      weight: 50
"""


def tool(repo_root, name):
    """build/<name> beside the meshlet under test (build/asan/... for an ASan meshlet)."""
    mbin = pathlib.Path(os.environ.get("MESHLET", repo_root / "meshlet")).resolve()
    build = mbin.parent if mbin.parent != repo_root.resolve() else repo_root / "build"
    return build / name


def prometheus_bin(repo_root):
    for p in (repo_root / "build" / "tools" / "prometheus", pathlib.Path("/usr/bin/prometheus")):
        if os.access(p, os.X_OK):
            return p
    pytest.fail("prometheus not found: run scripts/deps.sh --test")


def prom_query(port, q):
    url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": q})
    with urllib.request.urlopen(url, timeout=5) as r:
        res = json.loads(r.read())["data"]["result"]
    return float(res[0]["value"][1]) if res else None


def proxy_total(m):
    """istio_requests_total of SERVICE summed, as the proxy says now."""
    total = 0
    for line in m.admin("/stats/prometheus").splitlines():
        if line.startswith("istio_requests_total{") and f'destination_service="{SERVICE}"' in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


def wait_for(pred, seconds, what, log):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.1)
    pytest.fail(f"{what} within {seconds}s (prometheus log: {log})")


def get(conn, path):
    conn.request("GET", path, headers={"Host": "api.example.com"})
    r = conn.getresponse()
    r.read()
    return r.status


def test_promql_window_matches_proxy_delta(meshlet_bin, repo_root, tmp_path):
    probe = tool(repo_root, "rollout-probe")
    assert os.access(probe, os.X_OK), f"{probe} missing: run make"
    prometheus = prometheus_bin(repo_root)  # before anything is started that must be stopped
    v1, v2 = Backend("v1").start(), Backend("v2").start()
    gw = free_port()
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "config.yaml").write_text(
        canary_config(gw, v1.port, v2.port, weights=(50, 50), extra=FAIL_ROUTE))
    m = Meshlet(meshlet_bin, tmp_path / "conf", workers=1, extra=("-n", "shop")).start()
    prom_port = free_port()
    (tmp_path / "prometheus.yml").write_text(f"""\
global: {{scrape_interval: {int(SCRAPE_S * 1000)}ms, evaluation_interval: 1s}}
scrape_configs:
- job_name: meshlet
  metrics_path: /stats/prometheus
  static_configs:
  - targets: ['127.0.0.1:{m.admin_port}']
""")
    log = tmp_path / "prometheus.log"
    prom = subprocess.Popen(
        [str(prometheus), f"--config.file={tmp_path / 'prometheus.yml'}",
         f"--storage.tsdb.path={tmp_path / 'tsdb'}",
         f"--web.listen-address=127.0.0.1:{prom_port}"],
        stdout=open(log, "w"), stderr=subprocess.STDOUT)
    probes = []
    try:
        def ready():
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{prom_port}/-/ready", timeout=1) as r:
                    return r.status == 200
            except OSError:
                return False
        wait_for(ready, 30, "prometheus ready", log)

        conn = http.client.HTTPConnection("127.0.0.1", gw, timeout=10)
        # Every series (v1, v2; 200, 503) exists before the window: increase() does not
        # count a series' first sample.
        for i in range(8):
            assert get(conn, "/status/503" if i % 2 else "/orders") in (200, 503)
        before = proxy_total(m)
        assert before == 8
        sel = f'destination_service="{SERVICE}"'
        wait_for(lambda: prom_query(prom_port, f"sum(istio_requests_total{{{sel}}})") == before,
                 30, "warm-up scraped", log)
        # Every sample taken from now on is whole. The window will start 1 to 2 s before
        # the load (so it holds such samples), and after t_full.
        t_full = time.time()
        wait_for(lambda: (prom_query(prom_port, f"max(timestamp(istio_requests_total{{{sel}}}))")
                          or 0) > t_full + 2.5, 30, "samples after the warm-up", log)
        t0 = time.time()

        for version in ("v1", "v2"):
            p = subprocess.Popen([str(probe), "delta", f"127.0.0.1:{m.admin_port}", SERVICE,
                                  version, "source"], stdin=subprocess.PIPE,
                                 stdout=subprocess.PIPE, text=True)
            probes.append(p)
            assert p.stdout.readline() == "ready\n"

        deadline = time.monotonic() + 60
        codes = {}
        for i in range(LOAD):
            assert time.monotonic() < deadline, "load took over 60 s"
            path = "/status/503" if i % 10 == 0 else f"/orders?delay_ms={(i % 4) * 7}"
            code = get(conn, path)
            codes[code] = codes.get(code, 0) + 1
        conn.close()
        assert codes == {200: LOAD - LOAD // 10, 503: LOAD // 10}

        own = {}
        for version, p in zip(("v1", "v2"), probes):
            out, _ = p.communicate("\n", timeout=30)
            assert p.returncode == 0, out
            own[version] = json.loads(out)
        after = proxy_total(m)
        assert after == before + LOAD
        assert own["v1"]["requests"] + own["v2"]["requests"] == LOAD

        wait_for(lambda: prom_query(prom_port, f"sum(istio_requests_total{{{sel}}})") == after,
                 30, "the load scraped", log)
        window = math.ceil(time.time() - t0) + 1
        # increase() extrapolates each series' first and last samples towards the window's
        # edges (at most 1.1 scrape intervals each, less for a series near zero): each
        # series' increase is its true one times a factor in [1, f].
        f = window / (window - 2.2 * SCRAPE_S)
        for version in ("v1", "v2"):
            r = subprocess.run([str(probe), "promql", f"http://127.0.0.1:{prom_port}", SERVICE,
                                version, "source", str(window)],
                               capture_output=True, text=True, timeout=60)
            assert r.returncode == 0, r.stderr
            got, want = json.loads(r.stdout), own[version]
            print(version, "proxy:", want, "prometheus:", got, "window", window)
            assert want["requests"] * (1 - 1e-9) <= got["requests"] <= want["requests"] * f
            # the 5xx and all requests each by their own factor
            lost = 100 - want["success_rate"]
            assert lost > 0  # the 503s reached this version
            assert 100 - lost * f - 1e-9 <= got["success_rate"] <= 100 - lost / f + 1e-9
            # buckets too, so a quantile may move, near a bound into the next bucket: it
            # stays within a bucket of the proxy's own
            for q in ("p99_ms", "p50_ms"):
                k = next(i for i, b in enumerate(BOUNDS) if want[q] <= b)
                assert BOUNDS[max(k - 2, 0)] <= got[q] <= BOUNDS[k + 1], (q, got, want)
                assert math.isclose(got[q], want[q], rel_tol=0.1), (q, got, want)
    finally:
        for p in probes:
            if p.poll() is None:
                p.kill()
                p.wait()
        stop_process(prom)
        code = m.stop()
        v1.stop()
        v2.stop()
    assert code == 0, m.logs()
