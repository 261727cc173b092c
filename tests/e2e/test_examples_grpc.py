# SPDX-License-Identifier: Apache-2.0
"""examples/grpc (issue 14): the gRPC canary a user runs with Debian's python3-grpcio.
run.sh starts two greeter versions and meshlet, makes 100 calls over one HTTP/2
connection and prints the split: exactly 90/10 (the weighted choice is smooth WRR per call,
one worker, one route), with no failed call though v2 answers every third call
UNAVAILABLE (the route retries it), and Istio's message counters agree. Whether it ends on
its own or by a signal, every process it started is gone and its ports are free."""
import os
import random
import re
import signal
import subprocess
import time

import pytest

from test_demo import alive, children, port_free

PORTS = [8090, 15090, 15091, 50051, 50052]  # before the shift


def free_shift():
    for _ in range(200):
        shift = random.randrange(1000, 9000)
        if all(port_free(p + shift) for p in PORTS):
            return shift
    pytest.fail("no free set of ports for the example")


def env_for(meshlet_bin, tmp_path, **extra):
    shift = free_shift()
    return shift, dict(os.environ, MESHLET=meshlet_bin, PORT_SHIFT=str(shift),
                       WORKDIR=str(tmp_path / "work"), PYTHON="/usr/bin/python3", **extra)


def test_run_sh_splits_100_calls_90_10_without_errors(meshlet_bin, repo_root, tmp_path):
    shift, env = env_for(meshlet_bin, tmp_path)
    r = subprocess.run([str(repo_root / "examples" / "grpc" / "run.sh")], env=env,
                       capture_output=True, text=True, timeout=120)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out + f"\nlogs in {tmp_path / 'work'}"
    assert "split: v1=90 v2=10 errors=0" in out, out
    # v2's 10 calls met UNAVAILABLE on every third try, and were retried
    m = re.search(r"metrics: istio_requests_total v1 (\d+) v2 (\d+); messages: (\d+) request, "
                  r"(\d+) response; retries (\d+)", out)
    assert m, out
    v1, v2, req, resp, retries = map(int, m.groups())
    assert v1 + v2 == 101  # and the streaming call
    assert (req, resp) == (101, 103)  # 100 unary calls 1/1, one stream 1/3
    assert retries >= 3
    assert all(port_free(p + shift) for p in PORTS), "run.sh left something listening"


def test_keep_mode_stops_everything_on_a_signal(meshlet_bin, repo_root, tmp_path):
    shift, env = env_for(meshlet_bin, tmp_path, KEEP="1", CALLS="20")
    log = open(tmp_path / "run.log", "w+")
    proc = subprocess.Popen([str(repo_root / "examples" / "grpc" / "run.sh")], env=env,
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while "Running until Ctrl-C" not in open(log.name).read():
            assert proc.poll() is None and time.monotonic() < deadline, open(log.name).read()
            time.sleep(0.05)
        started = children(proc.pid)
        assert len(started) >= 3, started  # two servers and meshlet
        os.kill(proc.pid, signal.SIGTERM)  # the script alone
        proc.wait(timeout=30)
        deadline = time.monotonic() + 30
        while any(alive(p) for p in started) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not any(alive(p) for p in started), open(log.name).read()
        assert all(port_free(p + shift) for p in PORTS)
        assert "split: v1=18 v2=2 errors=0" in open(log.name).read()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
