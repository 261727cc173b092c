# SPDX-License-Identifier: Apache-2.0
"""`meshlet rollout` (issue 16) with real processes on 127.0.0.1: a meshlet gateway, the C
backend as v1 and v2 (v2 can be told to fail or to be slow), wrk load through the gateway,
and the rollout reading the proxy's own Istio metrics. A healthy canary goes to 100% with
no failed request; a canary that fails at the 25% step, or is slow, is rolled back within
that step; a killed rollout resumes at its step; abort restores stable."""
import json
import os
import re
import signal
import subprocess
import time
import urllib.request

import pytest

from configs import canary_config
from meshlet_proc import Meshlet, eventually, free_port, stop_process

VS_WEIGHTS = re.compile(r"subset: v1\}\n\s+weight: (\d+)\n.*subset: v2\}\n\s+weight: (\d+)", re.S)


def rollout_yaml(steps, min_duration="1s", min_requests=30, interval="200ms", checks="",
                 extra=""):
    items = "\n".join(f"  - weight: {w}" for w in steps)
    return f"""\
# the canary of orders
apiVersion: meshlet.io/v1alpha1
kind: Rollout
metadata: {{name: orders-v2, namespace: shop}}
spec:
  virtualService: orders
  route: split
  stable: {{host: orders, subset: v1}}
  canary: {{host: orders, subset: v2}}
  steps:
{items}
  minDuration: {min_duration}
  minRequests: {min_requests}
  interval: {interval}
  checks:
    minSuccessRate: 99
{checks}{extra}"""


class Setup:
    def __init__(self, meshlet_bin, repo_root, tmp_path, v2_args=()):
        self.bin = meshlet_bin
        self.backend = str(repo_root / "build" / "backend")
        self.v1p, self.v2p, self.gw = free_port(), free_port(), free_port()
        self.procs = [
            subprocess.Popen([self.backend, "--listen", f"127.0.0.1:{self.v1p}", "--name", "v1"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
            subprocess.Popen([self.backend, "--listen", f"127.0.0.1:{self.v2p}", "--name", "v2",
                              *v2_args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
        try:
            self._configure(meshlet_bin, tmp_path)
        except BaseException:  # nothing started is left running
            if getattr(self, "m", None):
                self.m.stop()
            for p in self.procs:
                p.terminate()
                p.wait(5)
            raise
        self.load = None

    def _configure(self, meshlet_bin, tmp_path):
        self.conf_dir = tmp_path / "config"
        self.conf_dir.mkdir()
        self.vs = self.conf_dir / "config.yaml"
        self.vs.write_text("# weights are shifted by meshlet rollout\n"
                           + canary_config(self.gw, self.v1p, self.v2p, weights=(100, 0)))
        self.ro = tmp_path / "rollout.yaml"
        self.m = Meshlet(meshlet_bin, self.conf_dir, workers=2, extra=("-n", "shop")).start()
        self.admin = f"127.0.0.1:{self.m.admin_port}"

    def weights(self):
        m = VS_WEIGHTS.search(self.vs.read_text())
        return int(m.group(1)), int(m.group(2))

    def rollout(self, *args, wait=True, timeout=60):
        cmd = [self.bin, "rollout", *args]
        if wait:
            return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def start_load(self, seconds, connections=4):
        self.load = subprocess.Popen(
            ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "-H", "Host: api.example.com",
             f"http://127.0.0.1:{self.gw}/orders"], stdout=subprocess.PIPE, text=True)

    def stop_load(self, interrupt=True):
        """wrk's summary: (requests, non-2xx, socket errors line or None)."""
        if interrupt and self.load.poll() is None:
            self.load.send_signal(signal.SIGINT)
        out = self.load.communicate(timeout=30)[0]
        total = int(re.search(r"(\d+) requests in", out).group(1))
        non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
        errors = re.search(r"Socket errors:.*", out)
        return total, int(non2xx.group(1)) if non2xx else 0, errors.group(0) if errors else None

    def fault(self, query):
        urllib.request.urlopen(f"http://127.0.0.1:{self.v2p}/_fault{query}", timeout=5).read()

    def close(self):
        if self.load and self.load.poll() is None:
            self.load.kill()
            self.load.wait()
        code = self.m.stop()
        for p in self.procs:
            p.terminate()
            p.wait(5)
        assert code == 0, self.m.logs()


@pytest.fixture
def setup(meshlet_bin, repo_root, tmp_path):
    made = []

    def make(**kw):
        s = Setup(meshlet_bin, repo_root, tmp_path, **kw)
        made.append(s)
        return s
    yield make
    for s in made:
        s.close()


def events(text):
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def splits_weights(s):
    """(v1, v2) as the proxy routes them; a weight-0 destination is not listed."""
    for r in json.loads(s.m.admin("/splits?format=json"))["routes"]:
        if r["name"] == "split":
            w = {d["subset"]: d["weight"] for d in r["destinations"]}
            return w.get("v1", 0), w.get("v2", 0)
    return None


def test_healthy_canary_goes_to_100_with_no_failed_request(setup):
    s = setup()
    s.ro.write_text(rollout_yaml([5, 25, 50, 100], checks="    maxP99: 1s\n"))
    s.start_load(30)
    r = s.rollout("-f", str(s.ro), "-c", str(s.conf_dir), "--metrics", s.admin, "-o", "json")
    total, non2xx, errors = s.stop_load()
    assert r.returncode == 0, r.stderr
    ev = events(r.stdout)
    assert [e["weight"] for e in ev if e["event"] == "step"] == [5, 25, 50, 100]
    assert ev[-1]["event"] == "succeeded" and ev[-1]["phase"] == "succeeded"
    # every step saw canary traffic and passed its checks with numbers
    progress = [e for e in ev if e["event"] == "progress"]
    assert progress and all(c["ok"] for e in progress for c in e["checks"] if c["known"])
    assert max(e["stats"]["canary"]["requests"] for e in progress) >= 30
    assert s.weights() == (0, 100)
    assert eventually(lambda: splits_weights(s) == (0, 100))
    assert total > 500 and non2xx == 0 and errors is None, (total, non2xx, errors)
    assert "# weights are shifted by meshlet rollout" in s.vs.read_text()  # the rest is kept
    st = s.rollout("status", "-f", str(s.ro), "-c", str(s.conf_dir), "-o", "json")
    assert json.loads(st.stdout)["state"]["phase"] == "succeeded", st.stdout + st.stderr


def test_canary_failing_at_25_percent_is_rolled_back_within_that_step(setup):
    s = setup()
    s.ro.write_text(rollout_yaml([5, 25, 50, 100], min_duration="2s", min_requests=50))
    s.start_load(40)
    p = s.rollout("-f", str(s.ro), "-c", str(s.conf_dir), "--metrics", s.admin, "-o", "json",
                  wait=False)
    seen = []
    try:
        for line in p.stdout:
            e = json.loads(line)
            seen.append(e)
            if e["event"] == "step" and e["weight"] == 25:
                s.fault("?status=503")  # v2 breaks now
        err = p.stderr.read()
        code = p.wait(60)
    finally:
        if p.poll() is None:
            p.kill()
    s.stop_load()
    assert code == 3, err
    last = seen[-1]
    assert last["event"] == "rolled_back" and last["step"] == 2, last  # the 25% step
    assert [e["weight"] for e in seen if e["event"] == "step"] == [5, 25]
    assert "success_rate" in err and "< floor 99.0%" in err, err
    assert s.weights() == (100, 0)
    assert eventually(lambda: splits_weights(s) == (100, 0))
    # the proxy's /rollout (its dashboard) has the rollout's last word
    shown = json.loads(s.m.admin("/rollout"))
    assert shown["phase"] == "rolled_back" and shown["step"] == 2 and shown["weight"] == 0
    assert any(not c["ok"] and c["name"] == "success_rate" for c in shown["checks"]), shown
    # after the rollback, v1 serves everything: a fresh load has no failure
    s.start_load(1)
    total, non2xx, errors = s.stop_load(interrupt=False)
    assert total > 50 and non2xx == 0 and errors is None


def test_slow_canary_trips_the_latency_check(setup):
    s = setup(v2_args=("--delay-ms", "120"))
    s.ro.write_text(rollout_yaml([10, 100], min_duration="2s", min_requests=20,
                                 checks="    maxP99: 50ms\n"))
    s.start_load(30)
    r = s.rollout("-f", str(s.ro), "-c", str(s.conf_dir), "--metrics", s.admin)
    s.stop_load()
    assert r.returncode == 3, r.stdout + r.stderr
    assert "p99" in r.stderr and "> bound 50" in r.stderr.replace(" ms", ""), r.stderr
    assert "step 1/2" in r.stdout  # the text line of the step it failed in
    assert s.weights() == (100, 0)


def test_killed_rollout_resumes_at_its_step(setup):
    s = setup()
    s.ro.write_text(rollout_yaml([5, 25, 100], min_duration="1s", min_requests=20,
                                 extra="  steps:\n" if False else ""))
    text = s.ro.read_text().replace("  - weight: 25\n", "  - weight: 25\n    minDuration: 30s\n")
    s.ro.write_text(text)
    s.start_load(40)
    p = s.rollout("-f", str(s.ro), "-c", str(s.conf_dir), "--metrics", s.admin, "-o", "json",
                  wait=False)
    for line in p.stdout:
        e = json.loads(line)
        if e["event"] == "progress" and e["weight"] == 25:
            break
    p.send_signal(signal.SIGKILL)  # a crash mid-step
    p.wait(10)
    assert s.weights() == (75, 25)
    st = s.rollout("status", "-f", str(s.ro), "-c", str(s.conf_dir))
    assert "observing, step 2/3 (25% canary)" in st.stdout and "(gone)" in st.stdout, st.stdout
    again = s.rollout("-f", str(s.ro), "-c", str(s.conf_dir), "--metrics", s.admin)
    assert again.returncode == 2 and "resume" in again.stderr  # not a second start
    # resume from the saved step (with a shorter minimum, as a person would after a crash)
    s.ro.write_text(text.replace("minDuration: 30s", "minDuration: 1s"))
    r = s.rollout("resume", "-f", str(s.ro), "-c", str(s.conf_dir), "--metrics", s.admin,
                  "-o", "json")
    s.stop_load()
    assert r.returncode == 0, r.stderr
    assert [e["weight"] for e in events(r.stdout) if e["event"] == "step"] == [25, 100]
    assert s.weights() == (0, 100)


def test_abort_restores_stable_and_stops_the_running_rollout(setup):
    s = setup()
    s.ro.write_text(rollout_yaml([10, 50, 100], min_duration="60s", min_requests=10))
    s.start_load(30)
    p = s.rollout("-f", str(s.ro), "-c", str(s.conf_dir), "--metrics", s.admin, "-o", "json",
                  wait=False)
    try:
        ticks = 0
        for line in p.stdout:
            if json.loads(line)["event"] == "progress":
                ticks += 1
                if ticks == 1:
                    fds = len(os.listdir(f"/proc/{p.pid}/fd"))
                if ticks == 8:  # each tick reads /stats and /splits and posts /rollout
                    break
        assert len(os.listdir(f"/proc/{p.pid}/fd")) == fds  # none kept across ticks
        assert s.weights() == (90, 10)
        a = s.rollout("abort", "-f", str(s.ro), "-c", str(s.conf_dir))
        assert a.returncode == 0, a.stderr
        assert s.weights() == (100, 0)
        assert p.wait(15) == 6
        assert "aborted" in p.stderr.read()
    finally:
        if p.poll() is None:
            p.kill()
    s.stop_load()
    assert eventually(lambda: splits_weights(s) == (100, 0))
    st = s.rollout("status", "-f", str(s.ro), "-c", str(s.conf_dir), "-o", "json")
    assert json.loads(st.stdout)["state"]["phase"] == "aborted"
    r = s.rollout("resume", "-f", str(s.ro), "-c", str(s.conf_dir), "--metrics", s.admin)
    assert r.returncode == 2 and "nothing to resume" in r.stderr


def test_rollout_from_flags_alone(setup):
    s = setup()
    s.start_load(20)
    r = s.rollout("--virtual-service", "shop/orders", "--route", "split", "--stable", "orders:v1",
                  "--canary", "orders:v2", "--steps", "50,100", "--min-duration", "500ms",
                  "--min-requests", "10", "--interval", "200ms", "-n", "shop",
                  "-c", str(s.conf_dir), "--metrics", s.admin)
    total, non2xx, _ = s.stop_load()
    assert r.returncode == 0, r.stderr
    assert "succeeded" in r.stdout and non2xx == 0
    assert s.weights() == (0, 100)


def test_proxy_that_never_applies_the_weight_rolls_back(setup):
    s = setup()
    s.ro.write_text(rollout_yaml([50, 100]))
    dead = free_port()
    r = s.rollout("-f", str(s.ro), "-c", str(s.conf_dir), "--metrics", s.admin,
                  "--metrics", f"127.0.0.1:{dead}", "--apply-timeout", "1s")
    assert r.returncode == 3, r.stderr
    assert f"127.0.0.1:{dead}" in r.stderr and "in force" in r.stderr, r.stderr
    assert s.weights() == (100, 0)


def test_bad_rollout_file_is_refused_with_its_position(setup):
    s = setup()
    s.ro.write_text(rollout_yaml([50, 25]))
    r = s.rollout("-f", str(s.ro), "-c", str(s.conf_dir), "--metrics", s.admin)
    assert r.returncode == 1
    assert f"{s.ro}:" in r.stderr and "spec.steps[1].weight" in r.stderr, r.stderr
    assert s.weights() == (100, 0)
    c = subprocess.run([s.bin, "check", "-n", "shop", str(s.conf_dir), str(s.ro)],
                       capture_output=True, text=True)
    assert c.returncode == 1 and "does not grow" in c.stdout


def test_proxy_serves_with_a_rollout_in_its_config_dir(setup):
    """The Rollout kind may sit beside the config: the proxy skips it, check reads it."""
    s = setup()
    (s.conf_dir / "rollout.yaml").write_text(rollout_yaml([50, 100]))
    body = json.loads(s.m.admin("/config_dump"))
    assert body  # reloaded or not, it still serves
    assert eventually(lambda: "error" not in s.m.admin("/ready").lower())
    c = subprocess.run([s.bin, "check", "-n", "shop", str(s.conf_dir)], capture_output=True,
                       text=True)
    assert c.returncode == 0, c.stdout
    assert os.path.exists(s.conf_dir / "rollout.yaml")
    time.sleep(0.3)
    assert splits_weights(s) == (100, 0)


def test_rollout_with_the_config_in_etcd(meshlet_bin, repo_root, tmp_path):
    """--etcd: each step is one guarded transaction on the VirtualService's key (the rest of
    its YAML kept), the state is kept under PREFIX/.rollout/, and the proxy following the
    prefix serves each step."""
    from etcd import Etcd
    store = Etcd().start()
    backend = str(repo_root / "build" / "backend")
    v1p, v2p, gw = free_port(), free_port(), free_port()
    procs = [subprocess.Popen([backend, "--listen", f"127.0.0.1:{p}", "--name", n],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
             for p, n in ((v1p, "v1"), (v2p, "v2"))]
    conf = tmp_path / "config.yaml"
    conf.write_text(canary_config(gw, v1p, v2p, weights=(100, 0)))
    etcd_args = ("--etcd", store.url, "--etcd-prefix", "/meshlet")
    m = None
    try:
        a = subprocess.run([meshlet_bin, "apply", "-f", str(conf), *etcd_args],
                           capture_output=True, text=True, timeout=60)
        assert a.returncode == 0, a.stderr
        m = Meshlet(meshlet_bin, None, workers=2, extra=("-n", "shop", *etcd_args)).start()
        ro = tmp_path / "rollout.yaml"
        ro.write_text(rollout_yaml([50, 100], min_requests=20))
        load = subprocess.Popen(["wrk", "-t1", "-c4", "-d30s", "-H", "Host: api.example.com",
                                 f"http://127.0.0.1:{gw}/orders"], stdout=subprocess.PIPE,
                                text=True)
        r = subprocess.run([meshlet_bin, "rollout", "-f", str(ro), *etcd_args, "--metrics",
                            f"127.0.0.1:{m.admin_port}", "-o", "json"],
                           capture_output=True, text=True, timeout=60)
        load.send_signal(signal.SIGINT)
        out = load.communicate(timeout=30)[0]
        assert r.returncode == 0, r.stderr
        assert [e["weight"] for e in events(r.stdout) if e["event"] == "step"] == [50, 100]
        assert "Non-2xx" not in out and "Socket errors" not in out, out
        g = subprocess.run([meshlet_bin, "get", "VirtualService", "shop/orders", "-o", "yaml",
                            *etcd_args], capture_output=True, text=True, timeout=60)
        assert VS_WEIGHTS.search(g.stdout).groups() == ("0", "100"), g.stdout
        assert "name: canary-header" in g.stdout  # the rest of the document is kept
        st = subprocess.run([meshlet_bin, "rollout", "status", "-f", str(ro), *etcd_args,
                             "-o", "json"], capture_output=True, text=True, timeout=60)
        assert json.loads(st.stdout)["state"]["phase"] == "succeeded", st.stdout + st.stderr
        assert json.loads(st.stdout)["weight_in_config"] == 100
        # the state key is not config: the proxy and `check --etcd` ignore it
        c = subprocess.run([meshlet_bin, "check", *etcd_args, "-n", "shop"], capture_output=True,
                           text=True, timeout=60)
        assert c.returncode == 0, c.stdout
    finally:
        if m:
            assert m.stop() == 0, m.logs()
        for p in procs:
            p.terminate()
            p.wait(5)
        store.stop()


def test_rollout_watches_a_fleet_of_two_proxies(setup, meshlet_bin):
    """Two proxies on one config (the gateway port shared by SO_REUSEPORT): every step
    waits for both to have the weight, and the checks count both proxies' requests."""
    s = setup()
    other = Meshlet(meshlet_bin, s.conf_dir, workers=1, extra=("-n", "shop")).start()
    try:
        s.ro.write_text(rollout_yaml([50, 100], min_requests=50))
        s.start_load(30, connections=16)  # spread over both proxies' listening sockets
        r = s.rollout("-f", str(s.ro), "-c", str(s.conf_dir), "--metrics", s.admin,
                      "--metrics", f"127.0.0.1:{other.admin_port}", "-o", "json")
        s.stop_load()
        assert r.returncode == 0, r.stderr
        last = [e for e in events(r.stdout) if e["event"] == "progress" and e["weight"] == 50][-1]

        def canary_requests(port):
            text = urllib.request.urlopen(f"http://127.0.0.1:{port}/stats/prometheus",
                                          timeout=5).read().decode()
            return sum(float(x.rsplit(" ", 1)[1]) for x in text.splitlines()
                       if x.startswith("istio_requests_total{")
                       and 'destination_version="v2"' in x)
        served = [canary_requests(s.m.admin_port), canary_requests(other.admin_port)]
        assert all(n > 0 for n in served), served  # both proxies carried the canary
        assert last["stats"]["canary"]["requests"] >= 50
        assert eventually(lambda: json.loads(other.admin("/rollout"))["phase"] == "succeeded")
    finally:
        assert other.stop() == 0, other.logs()


def test_rollout_checks_with_prometheus(setup, repo_root, tmp_path):
    """--prometheus: the same checks as PromQL over the step's window, against a real
    Prometheus scraping the proxy; a failing canary is rolled back by what Prometheus saw."""
    from test_rollout_promql import prometheus_bin
    prometheus = prometheus_bin(repo_root)  # before anything is started that must be stopped
    s = setup(v2_args=("--fail", "503"))
    prom_port = free_port()
    (tmp_path / "prometheus.yml").write_text(f"""\
global: {{scrape_interval: 250ms, evaluation_interval: 1s}}
scrape_configs:
- job_name: meshlet
  metrics_path: /stats/prometheus
  static_configs:
  - targets: ['{s.admin}']
""")
    prom = subprocess.Popen(
        [str(prometheus), f"--config.file={tmp_path / 'prometheus.yml'}",
         f"--storage.tsdb.path={tmp_path / 'tsdb'}", f"--web.listen-address=127.0.0.1:{prom_port}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        def ready():
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{prom_port}/-/ready",
                                            timeout=1) as r:
                    return r.status == 200
            except OSError:
                return False
        assert eventually(ready, 30)
        s.ro.write_text(rollout_yaml([50, 100], min_duration="2s", min_requests=20,
                                     interval="500ms"))
        s.start_load(40)
        r = s.rollout("-f", str(s.ro), "-c", str(s.conf_dir), "--metrics", s.admin,
                      "--prometheus", f"http://127.0.0.1:{prom_port}", "-o", "json")
        s.stop_load()
        assert r.returncode == 3, r.stdout + r.stderr
        assert "success_rate" in r.stderr and "< floor 99.0%" in r.stderr, r.stderr
        assert s.weights() == (100, 0)
    finally:
        stop_process(prom)


def test_ctrl_c_pauses_the_rollout_where_it_is(setup):
    """SIGINT (Ctrl-C) mid-step: the weights stay, the state says paused at that step (exit
    6), and resume goes on from it."""
    s = setup()
    s.ro.write_text(rollout_yaml([10, 50, 100], min_duration="30s", min_requests=10))
    s.start_load(30)
    p = s.rollout("-f", str(s.ro), "-c", str(s.conf_dir), "--metrics", s.admin, wait=False)
    try:
        assert eventually(lambda: s.weights() == (90, 10), 10)
        time.sleep(0.5)
        p.send_signal(signal.SIGINT)
        assert p.wait(10) == 6
        assert "interrupted at step 1 (10% canary)" in p.stderr.read()
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert s.weights() == (90, 10)
    st = s.rollout("status", "-f", str(s.ro), "-c", str(s.conf_dir), "-o", "json")
    state = json.loads(st.stdout)["state"]
    assert state["phase"] == "paused" and state["step"] == 0 and state["pid"] == 0, state
    s.ro.write_text(s.ro.read_text().replace("minDuration: 30s", "minDuration: 500ms"))
    r = s.rollout("resume", "-f", str(s.ro), "-c", str(s.conf_dir), "--metrics", s.admin,
                  "-o", "json")
    s.stop_load()
    assert r.returncode == 0, r.stderr
    assert [e["weight"] for e in events(r.stdout) if e["event"] == "step"] == [10, 50, 100]


@pytest.mark.parametrize("steps", [[50, 100], [100]])
def test_canary_with_every_endpoint_ejected_is_rolled_back(setup, steps):
    """Outlier detection ejects the failing canary's only endpoint: its requests become 503
    UH, which carry no version label, so no success rate by version sees them. The reach
    check (routed by /splits vs answered) does, at a split step and at 100% (where the
    stable's weight is 0 and the route has one destination left)."""
    s = setup(v2_args=("--fail", "503"))
    s.vs.write_text(s.vs.read_text().replace(
        "  host: orders\n  subsets:",
        "  host: orders\n  trafficPolicy: {outlierDetection: {consecutive5xxErrors: 1, "
        "interval: 1s, baseEjectionTime: 60s, maxEjectionPercent: 100}}\n  subsets:"))
    assert eventually(lambda: json.loads(s.m.admin("/splits?format=json"))["version"] == 2, 10)
    s.ro.write_text(rollout_yaml(steps, min_requests=50))
    s.start_load(30)
    r = s.rollout("-f", str(s.ro), "-c", str(s.conf_dir), "--metrics", s.admin, timeout=40)
    s.stop_load()
    assert r.returncode == 3, r.stdout + r.stderr
    assert "reach: canary answered" in r.stderr and "(503 UH)" in r.stderr, r.stderr
    assert s.weights() == (100, 0)


@pytest.mark.parametrize("threshold", [1, 4])
def test_failure_threshold_rolls_back_after_that_many_failed_evaluations(setup, threshold):
    """checks.failureThreshold: N failed evaluations in a row before the rollback (one per
    interval), where the default rolls back on the first."""
    s = setup(v2_args=("--fail", "503"))
    s.ro.write_text(rollout_yaml([50, 100], min_requests=10, interval="200ms",
                                 checks=f"    failureThreshold: {threshold}\n"))
    s.start_load(30)
    r = s.rollout("-f", str(s.ro), "-c", str(s.conf_dir), "--metrics", s.admin, "-o", "json")
    s.stop_load()
    assert r.returncode == 3, r.stderr
    failing = [e for e in events(r.stdout) if e["event"] == "progress"
               and e["canary_requests"] >= 10  # judged: the step's minimum is in
               and any(c["known"] and not c["ok"] for c in e["checks"])]
    assert len(failing) == threshold, (threshold, len(failing))
    if threshold > 1:
        assert f"({threshold} evaluations in a row)" in r.stderr, r.stderr
