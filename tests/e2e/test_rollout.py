# SPDX-License-Identifier: Apache-2.0
"""The canary, watched (issue 7): examples/canary/rollout.sh walks 10% -> 50% -> 100% on
the seed's own configuration (ports moved, mTLS off) while wrk loads meshlet; zero failed
requests across the reloads, the split counted after each step within 5 sigma of the
weights, and after the cutover not one request to v1."""
import math
import os
import re
import subprocess
import urllib.request

from meshlet_proc import Meshlet, free_port

STEP = re.compile(r"step (\d+)% to v2: v1 (\d+), v2 (\d+) \([\d.]+% to v2\); errors (\d+) of (\d+)")


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
        load = subprocess.Popen(["wrk", "-t1", "-c8", "-d10s", "-H", "Host: api.example.com",
                                 f"http://127.0.0.1:{gw}/orders/1"],
                                stdout=subprocess.PIPE, text=True)
        env = dict(os.environ, CONFIG=str(tmp_path / "virtual-service.yaml"),
                   ADMIN=f"127.0.0.1:{m.admin_port}", GATEWAY=f"127.0.0.1:{gw}",
                   REQUESTS="300", MAX_ERRORS="0")
        out = subprocess.run([str(canary / "rollout.sh")], env=env, capture_output=True,
                             text=True, timeout=60)
        assert out.returncode == 0, out.stdout + out.stderr
        v1_at_cutover = v1_requests(m.admin_port)
        wrk = load.communicate(timeout=30)[0]
        steps = [tuple(map(int, s)) for s in STEP.findall(out.stdout)]
        assert [s[0] for s in steps] == [10, 50, 100], out.stdout
        for pct, v1, v2, errors, total in steps:
            assert errors == 0, out.stdout
            n, p = v1 + v2, pct / 100
            assert n >= 300
            if pct < 100:
                assert abs(v2 - n * p) <= 5 * math.sqrt(n * p * (1 - p)), out.stdout
            else:
                assert v1 == 0, out.stdout  # cutover: nothing to v1
        # wrk ran through every reload: no failed request, none to v1 after the cutover
        assert int(re.search(r"(\d+) requests in", wrk).group(1)) > 1000, wrk
        assert "Non-2xx" not in wrk and "Socket errors" not in wrk, wrk
        assert v1_requests(m.admin_port) == v1_at_cutover
    finally:
        assert m.stop() == 0, m.logs()
        for p in procs:
            p.terminate()
            p.wait(5)
