# SPDX-License-Identifier: Apache-2.0
"""The seed's canary over mutual TLS (issue 6): two workloads behind STRICT inbound
sidecars, a gateway reaching them with ISTIO_MUTUAL, and the 90/10 split still exact."""
import http.client
import json

import pytest

from backend import Backend
import meshlet
from configs import mtls_canary
from meshlet_proc import Meshlet, free_port


@pytest.fixture(scope="module")
def canary(meshlet_bin, tmp_path_factory):
    d = tmp_path_factory.mktemp("mtls-split")
    meshlet.ca(meshlet_bin, "init", "--dir", str(d / "ca"))
    meshlet.ca(meshlet_bin, "issue", "--dir", str(d / "ca"), "--ns", "prod", "--sa", "orders",
       "--out", str(d / "orders"))
    meshlet.ca(meshlet_bin, "issue", "--dir", str(d / "ca"), "--ns", "istio-system", "--sa", "gateway",
       "--out", str(d / "gateway"))
    (d / "sidecar").mkdir()
    (d / "sidecar" / "pa.yaml").write_text("""\
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: prod}
spec: {mtls: {mode: STRICT}}
""")
    apps, procs, ports = [], [], {}
    for version in ("v1", "v2"):
        app = Backend(version).start()
        port = free_port()
        procs.append(Meshlet(meshlet_bin, d / "sidecar", extra=(
            "--namespace", "prod", "--identity", str(d / "orders"),
            "--label", f"version={version}", "--inbound", f"{port}=127.0.0.1:{app.port}")).start())
        apps.append(app)
        ports[version] = port
    gw = free_port()
    (d / "edge").mkdir()
    (d / "edge" / "c.yaml").write_text(mtls_canary(gw, ports))
    procs.append(Meshlet(meshlet_bin, d / "edge", extra=(
        "--namespace", "prod", "--identity", str(d / "gateway"))).start())
    try:
        yield gw, apps
    finally:
        codes = [p.stop() for p in procs]
        for a in apps:
            a.stop()
        assert codes == [0, 0, 0]


def test_ninety_ten_over_mutual_tls(canary):
    gw, apps = canary
    c = http.client.HTTPConnection("127.0.0.1", gw, timeout=10)
    versions = []
    for i in range(1000):
        c.request("GET", f"/orders/{i}", headers={"Host": "api.example.com"})
        r = c.getresponse()
        assert r.status == 200
        body = json.loads(r.read())
        assert body["headers"]["x-forwarded-client-cert"].endswith(
            "URI=spiffe://cluster.local/ns/istio-system/sa/gateway")
        versions.append(body["version"])
    c.close()
    assert versions.count("v2") == 100  # the smooth split is exact over any 1,000
    # The sidecar kept its connections to the app alive: a handful, not one per request.
    assert len(set(apps[0].server.ports)) < 10
