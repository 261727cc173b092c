# SPDX-License-Identifier: Apache-2.0
"""examples/tcp-canary and examples/tls-passthrough (issue 17), run as a user runs them:
`meshlet check` passes on both; the canary's run.sh sends 100 connections through the
Gateway and sees exactly 90 reach v1 and 10 v2 (one worker: smooth WRR per connection);
the passthrough run.sh sees the backend's own certificate through meshlet, an echo over
TLS, another server name refused. Every port they use is shifted to free ones, and their
ports are free again after they end."""
import os
import random
import re
import subprocess

import pytest

from test_demo import port_free

def run_example(meshlet_bin, repo_root, tmp_path, name, ports):
    for _ in range(200):
        shift = random.randrange(1000, 9000)
        if all(port_free(p + shift) for p in ports):
            break
    else:
        pytest.fail("no free set of ports for the example")
    env = dict(os.environ, MESHLET=meshlet_bin, PORT_SHIFT=str(shift),
               WORKDIR=str(tmp_path / "work"))
    r = subprocess.run([str(repo_root / "examples" / name / "run.sh")], env=env,
                       capture_output=True, text=True, timeout=120)
    out = r.stdout + r.stderr
    for p in ports:
        assert port_free(p + shift), f"port {p + shift} still taken after run.sh\n{out}"
    return r.returncode, out


@pytest.mark.parametrize("name", ["tcp-canary", "tls-passthrough"])
def test_check_passes(meshlet_bin, repo_root, name):
    r = subprocess.run([meshlet_bin, "check", str(repo_root / "examples" / name)],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stdout + r.stderr
    assert " 0 error(s)" in r.stdout, r.stdout


CANARY_PORTS = [9000, 15092, 15093, 9101, 9102]


def test_tcp_canary_splits_100_connections_90_10(meshlet_bin, repo_root, tmp_path):
    rc, out = run_example(meshlet_bin, repo_root, tmp_path, "tcp-canary", CANARY_PORTS)
    assert rc == 0, out
    assert "split: v1=90 v2=10 errors=0" in out, out


def test_tcp_canary_metrics(meshlet_bin, repo_root, tmp_path):
    rc, out = run_example(meshlet_bin, repo_root, tmp_path, "tcp-canary", CANARY_PORTS)
    assert rc == 0, out
    # each connection: 6 bytes from the client, "vN\n" and the echo back to it
    assert "metrics: opened v1 90 v2 10; closed v1 90 v2 10; bytes sent 900, received 600" \
        in out, out


def test_tls_passthrough_keeps_the_backend_certificate(meshlet_bin, repo_root, tmp_path):
    rc, out = run_example(meshlet_bin, repo_root, tmp_path, "tls-passthrough",
                          [9443, 15094, 15095, 9201])
    assert rc == 0, out
    want = re.search(r"backend certificate: (\S+)", out).group(1)
    assert f"seen through meshlet: {want}" in out, out
    assert "echo: tls-echo hello" in out and "other.example.com: refused" in out, out
