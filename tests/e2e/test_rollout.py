# SPDX-License-Identifier: Apache-2.0
"""The demo's rollout (issues 7 and 16): `meshlet rollout -f examples/canary/rollout.yaml`
walks 10% -> 25% -> 50% -> 100% on the seed's own configuration (ports moved, mTLS off)
while wrk loads meshlet; zero failed requests across the reloads, each step's split as the
proxy counted it within 5 sigma of its weight, and after the cutover not one request to
v1."""
import json
import math
import re
import shutil
import signal
import subprocess
import urllib.request

from meshlet_proc import Meshlet, free_port


def v1_requests(admin_port):
    with urllib.request.urlopen(f"http://127.0.0.1:{admin_port}/stats/prometheus") as r:
        text = r.read().decode()
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith("istio_requests_total{") and 'destination_version="v1"' in line)


def test_rollout_under_load(meshlet_bin, repo_root, tmp_path):
    canary = repo_root / "examples" / "canary"
    gw = free_port()
    ports = {19081: free_port(), 19082: free_port(), 19083: free_port()}
    for name in ("gateway.yaml", "service.yaml", "destination-rule.yaml", "virtual-service.yaml"):
        text = (canary / name).read_text().replace("number: 8080", f"number: {gw}")
        for old, new in ports.items():
            text = text.replace(f"http: {old}", f"http: {new}")
        text = text.replace("mode: ISTIO_MUTUAL", "mode: DISABLE")
        (tmp_path / name).write_text(text)
    backend = str(repo_root / "build" / "backend")
    procs = [subprocess.Popen([backend, "--listen", f"127.0.0.1:{port}", "--name", version],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
             for port, version in zip(ports.values(), ("v1", "v1", "v2"))]
    m = Meshlet(meshlet_bin, tmp_path, workers=2).start()
    try:
        load = subprocess.Popen(["wrk", "-t1", "-c8", "-d40s", "-H", "Host: api.example.com",
                                 f"http://127.0.0.1:{gw}/orders/1"],
                                stdout=subprocess.PIPE, text=True)
        shutil.copy(canary / "rollout.yaml", tmp_path / "rollout.yaml")
        out = subprocess.run([meshlet_bin, "rollout", "-f", str(tmp_path / "rollout.yaml"),
                              "--metrics", f"127.0.0.1:{m.admin_port}", "--min-duration", "1s",
                              "--min-requests", "100", "--interval", "250ms", "-o", "json"],
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stdout + out.stderr
        v1_at_cutover = v1_requests(m.admin_port)
        load.send_signal(signal.SIGINT)  # wrk prints its summary
        wrk = load.communicate(timeout=30)[0]
        events = [json.loads(line) for line in out.stdout.splitlines()]
        assert [e["weight"] for e in events if e["event"] == "step"] == [10, 25, 50, 100]
        last = {}  # each step's last reading: its whole window
        for e in events:
            if e["event"] == "progress":
                last[e["weight"]] = e["stats"]
        for pct, st in last.items():
            v1, v2 = st["stable"]["requests"] or 0, st["canary"]["requests"]
            assert st["canary"]["success_rate"] == 100.0, st
            n, p = v1 + v2, pct / 100
            assert n >= 100
            if pct < 100:
                assert abs(v2 - n * p) <= 5 * math.sqrt(n * p * (1 - p)), (pct, st)
            else:
                assert v1 == 0, st  # cutover: nothing to v1
        # wrk ran through every reload: no failed request, none to v1 after the cutover
        assert int(re.search(r"(\d+) requests in", wrk).group(1)) > 1000, wrk
        assert "Non-2xx" not in wrk and "Socket errors" not in wrk, wrk
        assert v1_requests(m.admin_port) == v1_at_cutover
    finally:
        assert m.stop() == 0, m.logs()
        for p in procs:
            p.terminate()
            p.wait(5)
