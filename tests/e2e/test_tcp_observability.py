# SPDX-License-Identifier: Apache-2.0
"""What a TCP connection leaves behind (issue 17): Istio's TCP families
(istio_tcp_connections_opened_total / _closed_total, istio_tcp_sent_bytes_total: bytes to
the client, istio_tcp_received_bytes_total: bytes from it) under Istio's TCP labels
(request_protocol "tcp", no response_code), a failed connection's response flag, an
exposition promtool parses, and one access log line per connection (TLS passthrough: the
server name). Backends: build/tcp-backend (each connection starts with "vN\\n", then echo)."""
import json
import subprocess

import pytest

from certs import self_signed
from meshlet_proc import Meshlet, eventually, free_port
from tcp_backend import TcpBackend, tls_client
from test_metrics import ENVOY_NAMES, promtool, samples, total
from test_tcp import config

@pytest.fixture
def l4(meshlet_bin, tmp_path):
    """meshlet with a Gateway TCP server split 90/10 between tcp-backend v1 and v2 (a dead
    endpoint instead when asked): start(dead=False, *extra) returns (meshlet, gateway port)."""
    started = []

    def start(*extra, dead=False):
        v1, v2 = TcpBackend(tag="v1"), TcpBackend(tag="v2")
        started.extend([v1, v2])
        gw = free_port()
        eps = [(free_port() if dead else v1.port, "v1"), (v2.port, "v2")]
        (tmp_path / "config.yaml").write_text(config(gw, eps, (100, 0) if dead else (90, 10)))
        m = Meshlet(meshlet_bin, tmp_path, extra=("--namespace", "shop", *extra))
        started.append(m)
        m.start()
        return m, gw
    yield start
    for p in reversed(started):
        p.stop()


def exchange(gw):
    """One connection through <gw>: "hello\\n" sent, the version line and the echo read;
    the version."""
    import socket
    with socket.create_connection(("127.0.0.1", gw), timeout=5) as s:
        s.sendall(b"hello\n")
        got = b""
        while got.count(b"\n") < 2:
            more = s.recv(100)
            assert more, got
            got += more
    tag, echo = got.decode().split("\n")[:2]
    assert echo == "hello"
    return tag


def test_tcp_families_count_connections_and_bytes(l4):
    m, gw = l4()
    tags = [exchange(gw) for _ in range(20)]
    assert tags.count("v1") == 18 and tags.count("v2") == 2  # one worker: smooth WRR, exact
    opened = "istio_tcp_connections_opened_total"
    assert eventually(lambda: total(m, "istio_tcp_connections_closed_total") == 20)
    assert total(m, opened, destination_version="v1") == 18
    assert total(m, opened, destination_version="v2") == 2
    for lab, _ in samples(m, opened):
        assert lab["request_protocol"] == "tcp" and "response_code" not in lab, lab
        assert lab["reporter"] == "source" and lab["response_flags"] == "-", lab
        assert lab["destination_service"] == "echo.shop.svc.cluster.local", lab
    # Bytes on the client's side: 6 from each client, "vN\n" + the echo of 6 back to it.
    assert total(m, "istio_tcp_received_bytes_total") == 20 * 6
    assert total(m, "istio_tcp_sent_bytes_total") == 20 * 9


def test_failed_connect_counts_opened_and_closed_with_uf(l4):
    m, gw = l4(dead=True)
    import socket
    for _ in range(3):
        with socket.create_connection(("127.0.0.1", gw), timeout=5) as s:
            s.settimeout(5)
            assert s.recv(10) == b""  # no endpoint reachable: closed
    assert eventually(lambda: total(m, "istio_tcp_connections_closed_total") == 3)
    flags = {lab["response_flags"] for lab, _ in samples(m, "istio_tcp_connections_opened_total")}
    # UF, with URX once the connect attempts ran out (Envoy's meaning of URX for TCP)
    assert flags and all("UF" in f.split(",") for f in flags), flags
    assert total(m, "istio_tcp_sent_bytes_total") == 0


def test_promtool_parses_the_tcp_exposition(l4):
    tool = promtool()
    assert tool, "promtool missing: scripts/deps.sh fetches it into build/tools"
    m, gw = l4()
    for _ in range(3):
        exchange(gw)
    text = m.admin("/stats/prometheus")
    for family in ("istio_tcp_connections_opened_total", "istio_tcp_connections_closed_total",
                   "istio_tcp_sent_bytes_total", "istio_tcp_received_bytes_total"):
        assert f"# TYPE {family} counter\n" in text
    r = subprocess.run([tool, "check", "metrics"], input=text, capture_output=True, text=True,
                       timeout=30)
    assert r.returncode in (0, 3), r.stderr + r.stdout  # 3: style remarks only
    for line in (r.stdout + r.stderr).splitlines():
        assert line.split(" ")[0] in ENVOY_NAMES, line


def log_lines(path, n, seconds=5):
    assert eventually(lambda: path.exists() and path.read_text().count("\n") >= n, seconds), \
        path.read_text() if path.exists() else "no log"
    return path.read_text().splitlines()


def test_access_log_line_per_connection(l4, tmp_path):
    log = tmp_path / "access.log"
    m, gw = l4("--access-log", str(log))
    exchange(gw)
    (line,) = log_lines(log, 1)
    e = json.loads(line)
    assert e["method"] is None and e["response_code"] == 0 and e["response_flags"] == "-"
    assert e["bytes_received"] == 6 and e["bytes_sent"] == 9
    assert e["upstream_cluster"] == "outbound|7000|v1|echo.shop.svc.cluster.local"
    assert e["upstream_host"].startswith("127.0.0.1:")
    assert e["downstream_local_address"] == f"127.0.0.1:{gw}"
    assert e["downstream_remote_address"].startswith("127.0.0.1:")
    assert e["requested_server_name"] is None


PASSTHROUGH = """\
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {{name: edge, namespace: shop}}
spec:
  selector: {{istio: ingressgateway}}
  servers:
  - port: {{number: {gw}, name: tls, protocol: TLS}}
    hosts: [echo.example.com]
    tls: {{mode: PASSTHROUGH}}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {{name: echo, namespace: shop}}
spec:
  hosts: [echo.shop.svc.cluster.local]
  location: MESH_INTERNAL
  ports: [{{number: 7443, name: tls, protocol: TLS}}]
  resolution: STATIC
  endpoints: [{{address: 127.0.0.1, ports: {{tls: {port}}}}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: echo, namespace: shop}}
spec:
  hosts: [echo.example.com]
  gateways: [edge]
  tls:
  - match: [{{port: {gw}, sniHosts: [echo.example.com]}}]
    route: [{{destination: {{host: echo.shop.svc.cluster.local, port: {{number: 7443}}}}}}]
"""


def test_passthrough_log_names_the_server(meshlet_bin, tmp_path):
    cert, key = self_signed(tmp_path / "echo", name="echo.example.com")
    log = tmp_path / "access.log"
    gw = free_port()
    with TcpBackend(tag="tls", tls=(cert, key)) as b:
        (tmp_path / "config.yaml").write_text(PASSTHROUGH.format(gw=gw, port=b.port))
        m = Meshlet(meshlet_bin, tmp_path, extra=("--access-log", str(log),
                                                  "--access-log-format", "text"))
        m.start()
        try:
            with tls_client(gw, "echo.example.com") as s:
                s.sendall(b"hi\n")
                got = b""
                while got.count(b"\n") < 2:
                    got += s.recv(100)
                assert got == b"tls\nhi\n"
            (line,) = log_lines(log, 1)
            assert '"- - -" 0 - ' in line, line
            assert line.endswith(f" 127.0.0.1:{gw} echo.example.com"), line
        finally:
            assert m.stop() == 0, m.logs()
