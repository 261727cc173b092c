# SPDX-License-Identifier: Apache-2.0
"""TCP routing end to end: a Gateway TCP server, a VirtualService tcp route split 90/10
between two subsets of echo backends, and what the relay owes a byte stream: half-close
passed on both ways, back-pressure with a slow reader, connect failure to the next
endpoint, maxConnections, outlier ejection, reload with connections open, fds back."""
import json
import math
import os
import re
import shutil
import subprocess
import socket
import threading
import time

import pytest

from configs import gateway_servers, l4_service
from meshlet_proc import Meshlet, eventually, free_port
from raw import fd_count
from tcp_echo import TcpEcho, dial, read_all, read_line


def config(gw_port, endpoints, weights=(90, 10), policy=""):
    """Gateway TCP server on <gw_port>; ServiceEntry echo with <endpoints> [(port,
    version)]; subsets v1/v2; a tcp route split <weights>; <policy> a trafficPolicy flow
    mapping or ""."""
    tp = f"\n  trafficPolicy: {policy}" if policy else ""
    return "---\n".join([
        gateway_servers(f"""\
  - port: {{number: {gw_port}, name: tcp, protocol: TCP}}
    hosts: ["*"]
"""),
        l4_service("echo", 7000, [(p, f"labels: {{version: {v}}}") for p, v in endpoints]),
        f"""\
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: echo, namespace: shop}}
spec:
  host: echo.shop.svc.cluster.local{tp}
  subsets:
  - {{name: v1, labels: {{version: v1}}}}
  - {{name: v2, labels: {{version: v2}}}}
""", f"""\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: echo, namespace: shop}}
spec:
  hosts: ["*"]
  gateways: [edge]
  tcp:
  - route:
    - destination: {{host: echo.shop.svc.cluster.local, port: {{number: 7000}}, subset: v1}}
      weight: {weights[0]}
    - destination: {{host: echo.shop.svc.cluster.local, port: {{number: 7000}}, subset: v2}}
      weight: {weights[1]}
"""])


class Setup:
    def __init__(self, binary, tmp_path, weights=(90, 10), policy="", endpoints=None,
                 backends=None, workers=1, extra=()):
        self.v1 = TcpEcho("v1")
        self.v2 = TcpEcho("v2")
        self.backends = [self.v1, self.v2] + (backends or [])
        self.gw = free_port()
        eps = (endpoints(self) if callable(endpoints) else endpoints) if endpoints is not None \
            else [(self.v1.port, "v1"), (self.v2.port, "v2")]
        self.dir = tmp_path
        (tmp_path / "config.yaml").write_text(config(self.gw, eps, weights, policy))
        self.m = Meshlet(binary, tmp_path, workers=workers, extra=("--namespace", "shop", *extra))
        self.m.start()

    def close(self):
        code = self.m.stop()
        for b in self.backends:
            b.stop()
        assert code == 0, self.m.logs()


@pytest.fixture
def setup(meshlet_bin, tmp_path):
    made = []

    def make(**kw):
        s = Setup(meshlet_bin, tmp_path, **kw)
        made.append(s)
        return s
    yield make
    for s in made:
        s.close()


def five_sigma(n, p):
    return 5 * math.sqrt(n * p * (1 - p))


def test_split_is_per_connection_and_within_bounds(setup):
    s = setup()
    n = 400
    seen = {"v1": 0, "v2": 0}
    for _ in range(n):
        c = dial(s.gw)
        seen[read_line(c)] += 1
        c.close()
    print(seen)
    assert abs(seen["v2"] - n * 0.1) <= five_sigma(n, 0.1), seen
    assert seen["v1"] + seen["v2"] == n


def test_echo_and_half_close_from_the_client(setup):
    s = setup(weights=(100, 0))
    c = dial(s.gw)
    assert read_line(c) == "v1"
    payload = bytes(range(256)) * 4096  # 1 MiB
    t = threading.Thread(target=c.sendall, args=(payload,))
    t.start()
    got = b""
    while len(got) < len(payload):
        d = c.recv(65536)
        assert d, f"closed after {len(got)} bytes"
        got += d
    t.join()
    assert got == payload
    c.shutdown(socket.SHUT_WR)  # the backend sees the end, half-closes in turn
    assert read_all(c) == b""
    c.close()


def test_half_close_from_the_server_keeps_the_client_sending(setup):
    first = TcpEcho("first", close_first=True)
    s = setup(weights=(100, 0), endpoints=[(first.port, "v1")], backends=[first])
    c = dial(s.gw)
    assert read_line(c) == "first"
    assert c.recv(10) == b""  # the server's end of stream arrived
    c.sendall(b"x" * 100000)  # our side is still open
    c.shutdown(socket.SHUT_WR)
    assert eventually(lambda: first.received == 100000, 5), first.received
    c.close()


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        return int(next(ln for ln in f if ln.startswith("VmRSS:")).split()[1])


def test_slow_reader_back_pressure_bounds_memory(setup):
    gate = threading.Event()
    slow = TcpEcho("slow", read_pause=gate, echo=False)  # echoes would fill our side
    s = setup(weights=(100, 0), endpoints=[(slow.port, "v1")], backends=[slow])
    pid = s.m.proc.pid
    c = dial(s.gw)
    assert read_line(c) == "slow"
    before = rss_kb(pid)
    c.setblocking(False)
    sent = 0
    deadline = time.monotonic() + 3
    chunk = b"y" * 65536
    while time.monotonic() < deadline and sent < 256 << 20:
        try:
            sent += c.send(chunk)
        except BlockingIOError:
            time.sleep(0.01)
    after = rss_kb(pid)
    print(f"sent {sent} bytes before blocking; VmRSS {before} -> {after} kB")
    assert sent < 64 << 20, "nothing held the sender back"
    assert after - before < 2048, (before, after)
    gate.set()
    c.setblocking(True)
    assert eventually(lambda: slow.received == sent, 10), (slow.received, sent)
    c.close()


def test_connect_failure_goes_to_the_next_endpoint(setup):
    dead = free_port()  # nothing listens there
    s = setup(weights=(100, 0), endpoints=lambda s: [(dead, "v1"), (s.v1.port, "v1")])
    for _ in range(20):
        c = dial(s.gw)
        assert read_line(c) == "v1"
        c.close()


def test_max_connections_overflow_closes_the_new_client(setup):
    s = setup(weights=(100, 0), policy="{connectionPool: {tcp: {maxConnections: 1}}}")
    held = dial(s.gw)
    assert read_line(held) == "v1"
    extra = dial(s.gw)
    try:
        assert extra.recv(10) == b""
    except ConnectionResetError:
        pass
    held.sendall(b"still\n")
    assert held.recv(10) == b"still\n"
    held.close()
    assert eventually(lambda: read_line(dial(s.gw)) == "v1", 5)


def test_outlier_detection_ejects_a_dead_tcp_endpoint(setup):
    dead = free_port()
    s = setup(weights=(100, 0), endpoints=lambda s: [(dead, "v1"), (s.v1.port, "v1")],
              policy="{outlierDetection: {consecutive5xxErrors: 1, interval: 1s, "
                     "baseEjectionTime: 30s, maxEjectionPercent: 100}}")
    for _ in range(10):
        c = dial(s.gw)
        assert read_line(c) == "v1"
        c.close()
    assert eventually(lambda: f"127.0.0.1:{dead}::health_flags::/failed_outlier_check"
                      in s.m.admin("/clusters"), 5), s.m.admin("/clusters")
    accepted = s.v1.accepted
    for _ in range(10):
        c = dial(s.gw)
        assert read_line(c) == "v1"
        c.close()
    assert s.v1.accepted == accepted + 10


def test_reload_keeps_open_connections_on_their_route(setup):
    s = setup(weights=(100, 0))
    old = dial(s.gw)
    assert read_line(old) == "v1"
    (s.dir / "config.yaml").write_text(config(s.gw, [(s.v1.port, "v1"), (s.v2.port, "v2")], (0, 100)))
    import urllib.request
    urllib.request.urlopen(urllib.request.Request(
        f"http://127.0.0.1:{s.m.admin_port}/reload", method="POST"), timeout=5).read()
    assert eventually(lambda: read_line(dial(s.gw)) == "v2", 5)
    old.sendall(b"after reload\n")
    assert old.recv(100) == b"after reload\n"
    old.close()


def test_fds_come_back_after_clients_vanish(setup):
    s = setup(weights=(50, 50))
    pid = s.m.proc.pid

    def round_of_vanishing_clients():
        conns = []
        for _ in range(100):
            c = dial(s.gw)
            c.sendall(b"hello")
            conns.append(c)
        for c in conns:
            c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            c.close()  # a reset: the client vanished
    # The first round warms the worker's spare pipes (splice: up to 32, two fds each); three
    # more leave the count there, within those spares: a leak would add 100 per round.
    round_of_vanishing_clients()
    time.sleep(0.5)
    before = fd_count(pid)
    for _ in range(3):
        round_of_vanishing_clients()
    assert eventually(lambda: fd_count(pid) <= before + 64, 5), (before, fd_count(pid))
    print(f"fds {before} -> {fd_count(pid)} after 300 vanished clients")
    c = dial(s.gw)
    assert read_line(c) in ("v1", "v2")
    c.close()


def series(text, name):
    """{labels-dict-as-frozenset: value} of metric <name> in an exposition."""
    out = {}
    for line in text.splitlines():
        m = re.match(rf"{name}{{(.*)}} (\d+)$", line)
        if m:
            labels = dict(re.findall(r'(\w+)="([^"]*)"', m.group(1)))
            out[frozenset(labels.items())] = int(m.group(2))
    return out


def total(text, name, **want):
    return sum(v for k, v in series(text, name).items()
               if all((key, val) in k for key, val in want.items()))


def test_istio_tcp_metrics_and_one_access_log_line_per_connection(setup, tmp_path):
    log = tmp_path / "access.log"
    s = setup(weights=(50, 50), extra=("--access-log", str(log)))
    for _ in range(20):
        c = dial(s.gw)
        tag = read_line(c)
        c.sendall(b"abc\n")
        assert c.recv(10) == b"abc\n"
        c.shutdown(socket.SHUT_WR)
        assert read_all(c) == b""
        c.close()

    def text():
        return s.m.admin("/stats/prometheus")
    assert eventually(lambda: total(text(), "istio_tcp_connections_closed_total") == 20, 5), text()
    t = text()
    for v in ("v1", "v2"):
        assert total(t, "istio_tcp_connections_opened_total", destination_version=v,
                     request_protocol="tcp", reporter="source") == 10, t
    assert total(t, "istio_tcp_received_bytes_total") == 20 * 4, t
    assert total(t, "istio_tcp_sent_bytes_total") == 20 * (3 + 4), t
    here = os.path.dirname(os.path.abspath(__file__))
    tool = os.path.join(here, "..", "..", "build", "tools", "promtool")
    tool = tool if os.access(tool, os.X_OK) else shutil.which("promtool")
    assert tool, "promtool missing: scripts/deps.sh fetches it into build/tools"
    r = subprocess.run([tool, "check", "metrics"], input=t, capture_output=True, text=True,
                       timeout=30)
    assert r.returncode in (0, 3), r.stderr + r.stdout
    s.close()  # flushes the access log
    s.m.stop = lambda: 0
    lines = [json.loads(ln) for ln in log.read_text().splitlines()]
    assert len(lines) == 20, lines
    for e in lines:
        assert e["response_code"] == 0 and e["response_flags"] == "-", e
        assert (e["bytes_received"], e["bytes_sent"]) == (4, 7), e
        assert e["upstream_cluster"].startswith("outbound|7000|v"), e
        assert e["downstream_local_address"] == f"127.0.0.1:{s.gw}", e


def test_a_connection_no_endpoint_takes_is_counted_with_its_flag(setup, tmp_path):
    dead = free_port()
    s = setup(weights=(100, 0), endpoints=[(dead, "v1")])
    c = dial(s.gw)
    try:
        assert c.recv(10) == b""
    except ConnectionResetError:
        pass
    c.close()
    t = s.m.admin("/stats/prometheus")
    assert eventually(lambda: total(s.m.admin("/stats/prometheus"),
                                    "istio_tcp_connections_closed_total",
                                    response_flags="UF,URX") == 1, 5), t


def closed_by_proxy(c, seconds):
    """Whether the proxy ends <c> (end of stream or reset) within <seconds>."""
    c.settimeout(seconds)
    try:
        while c.recv(100):
            pass
        return True
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


def test_tcp_idle_timeout_closes_a_quiet_connection(setup):
    s = setup(weights=(100, 0), policy="{connectionPool: {tcp: {idleTimeout: 1s}}}")
    c = dial(s.gw)
    assert read_line(c) == "v1"
    assert closed_by_proxy(c, 10)
    c.close()
    assert eventually(lambda: total(s.m.admin("/stats/prometheus"),
                                    "istio_tcp_connections_closed_total") == 1)


def test_max_connection_duration_ends_a_busy_connection(setup):
    s = setup(weights=(100, 0), policy="{connectionPool: {tcp: {maxConnectionDuration: 1s}}}")
    c = dial(s.gw)
    assert read_line(c) == "v1"
    ended = False
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # busy all along: only the duration can end it
        try:
            c.sendall(b"tick\n")
            if not c.recv(100):
                ended = True
                break
        except (ConnectionResetError, BrokenPipeError):
            ended = True
            break
        time.sleep(0.05)
    assert ended
    c.close()


def test_consistent_hash_on_source_ip_keeps_a_client_on_one_endpoint(setup):
    a, b = TcpEcho("a"), TcpEcho("b")
    s = setup(weights=(100, 0), endpoints=[(a.port, "v1"), (b.port, "v1")], backends=[a, b],
              policy="{loadBalancer: {consistentHash: {useSourceIp: true}}}")
    tags = set()
    for _ in range(20):
        c = dial(s.gw)
        tags.add(read_line(c))
        c.close()
    assert len(tags) == 1, tags
