# SPDX-License-Identifier: Apache-2.0
"""HTTP/2 to upstreams (issue 14): a pool whose port is declared HTTP2 (or GRPC, or with
h2UpgradePolicy UPGRADE) speaks HTTP/2 with prior knowledge, many requests sharing one
connection per endpoint and worker as streams. The head is the one HTTP/1.1 would get
(:authority from the host, proxy headers, attempt count); retries, the split and resets
behave as over HTTP/1.1. Backends: tests/e2e/lib/h2backend.py (python3-h2)."""
import json
import subprocess
import urllib.request

import pytest

from configs import edge_routes, gateway
from h2backend import H2Backend
from meshlet_proc import eventually, free_port, serving

AUTH = "api.example.com"


def h2_service(name, endpoints, protocol="HTTP2"):
    lines = "\n".join(f"  - {{address: 127.0.0.1, ports: {{h2: {p}}}"
                      + (f", labels: {{version: {v}}}" if v else "") + "}" for p, v in endpoints)
    return f"""\
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {{name: {name}, namespace: shop}}
spec:
  hosts: [{name}.shop.svc.cluster.local]
  location: MESH_INTERNAL
  ports:
  - {{number: 9090, name: h2, protocol: {protocol}}}
  resolution: STATIC
  endpoints:
{lines}
"""


@pytest.fixture
def proxy(meshlet_bin, tmp_path):
    v1, v2 = H2Backend("v1").start(), H2Backend("v2").start()
    bad, rst = H2Backend("bad", fail_status=503).start(), H2Backend("rst", reset=True).start()
    gw = free_port()
    config = "---\n".join([
        gateway(gw),
        h2_service("orders", [(v1.port, "v1"), (v2.port, "v2")]),
        """\
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: orders, namespace: shop}
spec:
  host: orders
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
""",
        h2_service("half", [(v1.port, None), (bad.port, None)]),
        h2_service("resets", [(rst.port, None)]),
        edge_routes("routes", """\
  - match: [{uri: {prefix: /retried}}]
    route: [{destination: {host: half}}]
    retries: {attempts: 2, retryOn: 5xx}
  - match: [{uri: {prefix: /reset}}]
    route: [{destination: {host: resets}}]
    retries: {attempts: 0}
  - route:
    - {destination: {host: orders, subset: v1}, weight: 90}
    - {destination: {host: orders, subset: v2}, weight: 10}
"""),
    ])
    with serving(meshlet_bin, tmp_path, config, [v1, v2, bad, rst]) as m:
        m.gw, m.v1, m.v2 = gw, v1, v2
        yield m


def curl(port, path, *args):
    out = subprocess.run(["curl", "-sS", "-H", f"Host: {AUTH}", "-o", "-", "-w", "\n%{http_code}",
                          *args, f"http://127.0.0.1:{port}{path}"],
                         capture_output=True, timeout=20)
    assert out.returncode == 0, out.stderr
    body, _, code = out.stdout.rpartition(b"\n")
    return int(code), body


def test_http1_client_to_an_http2_upstream(proxy):
    code, body = curl(proxy.gw, "/orders/1?x=y")
    assert code == 200
    seen = json.loads(body)
    assert seen["path"] == "/orders/1?x=y" and seen["authority"] == AUTH
    h = seen["headers"]
    assert h[":method"] == "GET" and h[":scheme"] == "http"
    assert h["x-envoy-attempt-count"] == "1" and h["x-forwarded-for"] == "127.0.0.1"
    assert "host" not in h and "connection" not in h


def test_http2_client_to_an_http2_upstream(proxy):
    code, body = curl(proxy.gw, "/orders/2", "--http2-prior-knowledge")
    assert code == 200 and json.loads(body)["authority"] == AUTH


def test_request_body_to_an_http2_upstream(proxy, tmp_path):
    (tmp_path / "b").write_bytes(b"x" * (1024 * 1024 + 7))
    code, body = curl(proxy.gw, "/orders/up", "--data-binary", f"@{tmp_path / 'b'}")
    assert code == 200 and json.loads(body)["body_length"] == 1024 * 1024 + 7


def test_streams_share_upstream_connections_and_split_exactly(proxy):
    out = subprocess.run(["h2load", "-n", "1000", "-c", "4", "-m", "25", "-H", f":authority: {AUTH}",
                          f"http://127.0.0.1:{proxy.gw}/orders/many"],
                         capture_output=True, timeout=60, text=True)
    assert "1000 succeeded" in out.stdout, out.stdout
    assert len([p for p in proxy.v2.hits if p == "/orders/many"]) == 100
    # 100 streams in flight at most, over one connection per endpoint (one worker).
    assert proxy.v1.connections == 1 and proxy.v2.connections == 1


def test_5xx_from_an_http2_upstream_is_retried(proxy):
    for i in range(10):
        code, body = curl(proxy.gw, f"/retried/{i}")
        assert code == 200 and json.loads(body)["version"] == "v1"


def test_a_reset_stream_is_503_ur(proxy):
    """Envoy's body and flag for a stream the server reset: "remote reset", UR."""
    code, body = curl(proxy.gw, "/reset/x")
    assert code == 503 and b"reset reason: remote reset" in body, body
    code, _ = curl(proxy.gw, "/orders/after")
    assert code == 200


def test_idle_http2_upstream_connections_close_after_idle_timeout(meshlet_bin, tmp_path):
    b = H2Backend("v1").start()
    gw = free_port()
    config = "---\n".join([
        gateway(gw), h2_service("idle", [(b.port, None)]),
        """\
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: idle, namespace: shop}
spec:
  host: idle
  trafficPolicy: {connectionPool: {http: {idleTimeout: 1s}}}
""",
        edge_routes("routes", "  - route: [{destination: {host: idle}}]\n"),
    ])
    with serving(meshlet_bin, tmp_path, config, [b]) as m:
        assert curl(gw, "/a")[0] == 200
        assert b.connections == 1
        assert eventually(lambda: b.closed == 1, 5), b.closed  # idle for 1 s: closed
        assert curl(gw, "/b")[0] == 200  # a new connection for the next request
        assert b.connections == 2
        assert m.proc.poll() is None


def test_use_client_protocol_follows_an_http2_client(meshlet_bin, tmp_path):
    b = H2Backend("v1").start()
    gw = free_port()
    config = "---\n".join([
        gateway(gw), h2_service("mirror", [(b.port, None)], protocol="HTTP"),
        """\
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: mirror, namespace: shop}
spec:
  host: mirror
  trafficPolicy: {connectionPool: {http: {useClientProtocol: true}}}
""",
        edge_routes("routes", "  - route: [{destination: {host: mirror}}]\n"),
    ])
    with serving(meshlet_bin, tmp_path, config, [b]) as m:
        code, body = curl(gw, "/c", "--http2-prior-knowledge")
        assert code == 200 and json.loads(body)["headers"][":method"] == "GET"
        assert "upstream HTTP/2 not yet supported" not in m.logs()


def test_an_idle_connection_outlives_its_snapshot(meshlet_bin, tmp_path):
    """A reload frees the snapshot of the last request an idle HTTP/2 connection carried; its
    idleTimeout still closes it (it read that snapshot's pool settings: a use after free
    under ASan)."""
    b = H2Backend("v1").start()
    gw = free_port()

    def config(idle):
        return "---\n".join([
            gateway(gw), h2_service("idle", [(b.port, None)]),
            edge_routes("routes", "  - route: [{destination: {host: idle}}]\n"),
            f"""\
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: idle, namespace: shop}}
spec:
  host: idle
  trafficPolicy: {{connectionPool: {{http: {{idleTimeout: {idle}}}}}}}
"""])

    with serving(meshlet_bin, tmp_path, config("1s"), [b]) as m:
        assert curl(gw, "/a")[0] == 200
        (tmp_path / "config.yaml").write_text(config("2s"))
        req = urllib.request.Request(f"http://127.0.0.1:{m.admin_port}/reload", method="POST")
        with urllib.request.urlopen(req, timeout=10) as r:
            assert r.status == 200
        assert eventually(lambda: b.closed == 1, 5), b.closed
        assert m.proc.poll() is None
        assert curl(gw, "/b")[0] == 200 and b.connections == 2
