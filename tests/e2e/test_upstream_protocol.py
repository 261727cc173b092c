# SPDX-License-Identifier: Apache-2.0
"""The upstream protocol Istio would choose for each pool (issue 14): shown by `meshlet
explain` (text and JSON) and `/clusters`, and spoken: HTTP/2 pools reach an HTTP/2
backend."""
import http.client
import json
import subprocess

from configs import gateway
from h2backend import H2Backend
from meshlet_proc import eventually, free_port, serving


def config(gw, grpc_port, web_port, upgrade="UPGRADE"):
    """orders: port 9090 declared GRPC, port 9080 HTTP; subset v1 inherits the top-level
    h2UpgradePolicy, v2 has its own connectionPool without one. The Kubernetes Service of the
    host declares its ports (as Istio, it wins over the ServiceEntry): 9090 GRPC by its name,
    9091 HTTP2 by appProtocol although the ServiceEntry says HTTP."""
    return gateway(gw) + f"""---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {{name: orders, namespace: shop}}
spec:
  hosts: [orders.shop.svc.cluster.local]
  location: MESH_INTERNAL
  ports:
  - {{number: 9090, name: grpc, protocol: GRPC}}
  - {{number: 9080, name: http, protocol: HTTP}}
  - {{number: 9091, name: web, protocol: HTTP}}
  resolution: STATIC
  endpoints:
  - {{address: 127.0.0.1, ports: {{grpc: {grpc_port}, http: {web_port}, web: {web_port}}},
     labels: {{version: v1}}}}
---
apiVersion: v1
kind: Service
metadata: {{name: orders, namespace: shop}}
spec:
  selector: {{app: orders}}
  ports:
  - {{port: 9090, name: grpc-orders}}
  - {{port: 9080, name: http}}
  - {{port: 9091, name: web, appProtocol: kubernetes.io/h2c}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: orders, namespace: shop}}
spec:
  host: orders
  trafficPolicy:
    connectionPool: {{http: {{h2UpgradePolicy: {upgrade}}}}}
  subsets:
  - {{name: v1, labels: {{version: v1}}}}
  - name: v2
    labels: {{version: v1}}
    trafficPolicy: {{connectionPool: {{tcp: {{maxConnections: 100}}}}}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: orders, namespace: shop}}
spec:
  hosts: [api.example.com]
  gateways: [edge]
  http:
  - match: [{{uri: {{prefix: /grpc}}}}]
    route: [{{destination: {{host: orders, port: {{number: 9090}}}}}}]
  - match: [{{uri: {{prefix: /v2}}}}]
    route: [{{destination: {{host: orders, subset: v2, port: {{number: 9080}}}}}}]
  - match: [{{uri: {{prefix: /h2c}}}}]
    route: [{{destination: {{host: orders, subset: v2, port: {{number: 9091}}}}}}]
  - route: [{{destination: {{host: orders, subset: v1, port: {{number: 9080}}}}}}]
"""


def explain(binary, directory, url, json_out=False):
    args = [binary, "explain", "-c", str(directory), "-n", "shop", "GET", url]
    p = subprocess.run(args + (["-o", "json"] if json_out else []), capture_output=True,
                       text=True, timeout=30)
    assert p.returncode == 0, (p.stdout, p.stderr)
    return json.loads(p.stdout) if json_out else p.stdout


def test_explain_shows_the_upstream_protocol_and_why(meshlet_bin, tmp_path):
    gw = free_port()
    (tmp_path / "c.yaml").write_text(config(gw, 19991, 19992))
    out = explain(meshlet_bin, tmp_path, f"http://api.example.com:{gw}/grpc")
    assert "upstream protocol: HTTP/2 (port 9090 is GRPC (Kubernetes Service shop/orders))\n" in out
    out = explain(meshlet_bin, tmp_path, f"http://api.example.com:{gw}/x")
    assert "upstream protocol: HTTP/2 (h2UpgradePolicy: UPGRADE)" in out
    out = explain(meshlet_bin, tmp_path, f"http://api.example.com:{gw}/v2")
    assert "upstream protocol: HTTP/1.1 (port 9080 is HTTP (Kubernetes Service shop/orders))\n" in out
    out = explain(meshlet_bin, tmp_path, f"http://api.example.com:{gw}/h2c")
    assert "upstream protocol: HTTP/2 (port 9091 is HTTP2 (Kubernetes Service shop/orders))" in out
    doc = explain(meshlet_bin, tmp_path, f"http://api.example.com:{gw}/v2", json_out=True)
    (dest,) = doc["route"]["destinations"]
    assert dest["upstreamProtocol"] == "http1" and dest["loadBalancer"] == "LEAST_REQUEST"
    doc = explain(meshlet_bin, tmp_path, f"http://api.example.com:{gw}/grpc", json_out=True)
    (dest,) = doc["route"]["destinations"]
    assert dest["upstreamProtocol"] == "http2"
    assert dest["upstreamProtocolReason"] == "port 9090 is GRPC (Kubernetes Service shop/orders)"


def get(port, path):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        c.request("GET", path, headers={"Host": "api.example.com"})
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


def test_http2_pools_are_served_over_http2(meshlet_bin, tmp_path):
    b = H2Backend("v1").start()
    gw = free_port()
    inbound = free_port()
    with serving(meshlet_bin, tmp_path, config(gw, b.port, b.port), [b],
                 extra=("--inbound", f"{inbound}=127.0.0.1:{b.port}")) as m:
        # the HTTP/2 pools reach an HTTP/2-only backend (the v2 pool on 9080 is HTTP/1.1)
        for path in ("/grpc", "/x", "/h2c"):
            status, body = get(gw, path)
            assert status == 200 and json.loads(body)["version"] == "v1", (path, body)
        clusters = json.loads(m.admin("/clusters?format=json"))["clusters"]
        proto = {c["name"]: c["upstream_protocol"] for c in clusters}
        assert proto["outbound|9090||orders.shop.svc.cluster.local"] == "http2"
        assert proto["outbound|9080|v2|orders.shop.svc.cluster.local"] == "http1"
        # the inbound pool's port declares nothing: the client's protocol, as a sidecar
        # sniffs; no note for it (it would name every such pool)
        (app,) = [c for c in clusters if c["name"] == f"inbound|{inbound}||"]
        assert app["upstream_protocol"] == "client" and "upstream_protocol_gateway" not in app
        text = m.admin("/clusters").splitlines()
        assert "outbound|9080|v1|orders.shop.svc.cluster.local::upstream_protocol::http2" in text
        # a reload: DO_NOT_UPGRADE leaves the GRPC and h2c ports at HTTP/2 and takes v1 back
        # to HTTP/1.1
        (tmp_path / "config.yaml").write_text(config(gw, b.port, b.port, "DO_NOT_UPGRADE"))
        req = http.client.HTTPConnection("127.0.0.1", m.admin_port, timeout=10)
        req.request("POST", "/reload")
        assert req.getresponse().status == 200
        req.close()
        assert eventually(lambda: "outbound|9080|v1|orders.shop.svc.cluster.local::"
                          "upstream_protocol::http1" in m.admin("/clusters").splitlines())
        status, _ = get(gw, "/grpc")
        assert status == 200
        assert "outbound|9080|v1|orders.shop.svc.cluster.local::upstream_protocol::http1" in \
            m.admin("/clusters").splitlines()
