# SPDX-License-Identifier: Apache-2.0
"""The trust boundary at a gateway (issue 12). A Gateway listener is Envoy's edge
(use_remote_address: true): its clients are external, so their x-envoy-* headers (e.g.
x-envoy-original-path: /admin) are dropped and their x-request-id is replaced by one of
meshlet's own (Envoy: unless preserve_external_request_id). Between mesh hops (the mesh
listener the local app sends to, an inbound sidecar) both are kept. And CONNECT, which
meshlet does not proxy, is refused with Envoy's 403 and never forwarded."""
import http.client
import json
import re
import socket

import pytest

from backend import Backend
from configs import gateway, service_entry
from meshlet_proc import eventually, free_port, serving
from raw import read_response

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")

CLIENT = {
    "x-envoy-original-path": "/admin",
    "X-Envoy-Retry-On": "5xx",
    "x-envoy-force-trace": "1",
    "x-request-id": "chosen-by-the-client",
    "x-envoyish": "not envoy's",
    "x-other": "kept",
}


@pytest.fixture
def proxy(meshlet_bin, tmp_path):
    echo = Backend("echo").start()
    gw, inbound = free_port(), free_port()
    log = tmp_path / "access.log"
    config = "---\n".join([
        gateway(gw),
        service_entry("echo", "shop", [(echo.port, {})]),
        """\
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: istio-system}
spec: {mtls: {mode: DISABLE}}
""",
        """\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: echo, namespace: shop}
spec:
  hosts: [api.example.com, echo]
  gateways: [edge, mesh]
  http:
  - match: [{uri: {prefix: /rw/}}]
    rewrite: {uri: /}
    route: [{destination: {host: echo}}]
  - route: [{destination: {host: echo}}]
""",
    ])
    with serving(meshlet_bin, tmp_path, config, [echo],
                 extra=("--access-log", str(log), "--inbound",
                        f"{inbound}=127.0.0.1:{echo.port}")) as m:
        m.gw, m.inbound, m.echo, m.log = gw, inbound, echo, log
        yield m


def seen(port, path, host):
    """The request headers the backend saw for GET <path> sent with CLIENT's headers."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.request("GET", path, headers={"Host": host, **CLIENT})
    r = c.getresponse()
    body = r.read()
    c.close()
    assert r.status == 200, body
    return json.loads(body)["headers"]


def test_gateway_drops_client_envoy_headers_and_request_id(proxy):
    h = seen(proxy.gw, "/edge", "api.example.com")
    # meshlet's own: the try count and Istio's metadata exchange (a gateway sends both)
    own = {"x-envoy-attempt-count", "x-envoy-peer-metadata", "x-envoy-peer-metadata-id"}
    assert not [k for k in h if k.startswith("x-envoy-") and k not in own], h
    assert h["x-envoy-attempt-count"] == "1"
    assert h["x-envoy-peer-metadata-id"].startswith("router~"), h
    assert h["x-envoyish"] == "not envoy's" and h["x-other"] == "kept"
    assert UUID.match(h["x-request-id"]), h["x-request-id"]
    # The access log reports the id the backend got, not the client's.
    assert eventually(lambda: proxy.log.exists() and proxy.log.read_text().strip(), 3)
    entry = json.loads(proxy.log.read_text().splitlines()[-1])
    assert entry["request_id"] == h["x-request-id"]


def test_gateway_rewrite_sets_its_own_original_path(proxy):
    h = seen(proxy.gw, "/rw/x", "api.example.com")
    assert h["x-envoy-original-path"] == "/rw/x"
    assert "x-envoy-retry-on" not in h and "x-envoy-force-trace" not in h


@pytest.mark.parametrize("hop", ["mesh", "inbound"])
def test_mesh_hops_keep_them(proxy, hop):
    port = proxy.mesh_port if hop == "mesh" else proxy.inbound
    h = seen(port, "/hop", "echo")
    for k, v in CLIENT.items():
        assert h[k.lower()] == v, (k, h)


@pytest.mark.parametrize("hop", ["gateway", "mesh"])
def test_connect_is_refused_not_forwarded(proxy, hop):
    port = proxy.gw if hop == "gateway" else proxy.mesh_port
    host = "api.example.com:80" if hop == "gateway" else "echo:80"
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(f"CONNECT {host} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
        r = read_response(s)
        assert (r.status, r.complete, r.headers.get("connection")) == (403, True, "close")
        assert s.recv(1) == b""
    assert proxy.echo.hits == []  # nothing reached the backend
    text = proxy.admin("/stats/prometheus")
    assert re.search(r'istio_requests_total\{[^}]*response_code="403"[^}]*\} 1', text), text
