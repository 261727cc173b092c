# SPDX-License-Identifier: Apache-2.0
"""ISTIO_MUTUAL origination (issue 6, spec §4.8, §6.4): with `--identity`, meshlet connects
to mTLS endpoints with its workload certificate, checks the server's chain against the mesh
root and its SPIFFE ID against the destination's (subjectAltNames, else the endpoints'
service accounts); a mismatch, a server of another CA or a plaintext server is a connect
failure (503). Automatic mTLS picks endpoints labelled security.istio.io/tlsMode: istio.
Backends are Python TLS servers that require a client certificate from the mesh root and
record the client's SPIFFE ID."""
import subprocess
import time

import pytest

from backend import Backend
import meshlet
from configs import destination_rule, edge_routes, gateway
from meshlet_proc import free_port, serving


def workload(meshlet_bin, root, out, sa, ns="shop"):
    meshlet.ca(meshlet_bin, "issue", "--dir", str(root), "--ns", ns, "--sa", sa, "--out", str(out))
    return (str(out / "cert-chain.pem"), str(out / "key.pem"), str(out / "root-cert.pem"))


def entry(name, port, sa=None, labels=""):
    account = f", serviceAccount: {sa}" if sa else ""
    return f"""\
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {{name: {name}, namespace: shop}}
spec:
  hosts: [{name}.shop.svc.cluster.local]
  location: MESH_INTERNAL
  ports: [{{number: 9080, name: http, protocol: HTTP}}]
  resolution: STATIC
  endpoints:
  - {{address: 127.0.0.1, ports: {{http: {port}}}{account}{labels}}}
"""


def rule(name, tls, more=""):
    return destination_rule(name, f"{{tls: {tls}{more}}}")


@pytest.fixture(scope="module")
def proxy(meshlet_bin, tmp_path_factory):
    d = tmp_path_factory.mktemp("mtls")
    root, other_root = d / "ca", d / "other-ca"
    meshlet.ca(meshlet_bin, "init", "--dir", str(root))
    meshlet.ca(meshlet_bin, "init", "--dir", str(other_root))
    orders = Backend("orders", tls=workload(meshlet_bin, root, d / "orders", "orders")).start()
    stranger = Backend("stranger", tls=workload(meshlet_bin, other_root, d / "stranger",
                                                "orders")).start()
    plain = Backend("plain").start()
    workload(meshlet_bin, root, d / "gateway", "gateway", ns="istio-system")
    gw = free_port()
    docs = [
        gateway(gw),
        entry("orders", orders.port, sa="orders"), rule("orders", "{mode: ISTIO_MUTUAL}"),
        entry("wrong-san", orders.port, sa="orders"),
        rule("wrong-san", "{mode: ISTIO_MUTUAL, subjectAltNames: "
                          "[spiffe://cluster.local/ns/shop/sa/payments]}"),
        entry("wrong-sa", orders.port, sa="payments"), rule("wrong-sa", "{mode: ISTIO_MUTUAL}"),
        entry("stranger", stranger.port, sa="orders"), rule("stranger", "{mode: ISTIO_MUTUAL}"),
        entry("plain", plain.port), rule("plain", "{mode: ISTIO_MUTUAL}"),
        entry("auto", orders.port, sa="orders",
              labels=", labels: {security.istio.io/tlsMode: istio}"),
        entry("auto-plain", plain.port),
        entry("disabled", plain.port, labels=", labels: {security.istio.io/tlsMode: istio}"),
        rule("disabled", "{mode: DISABLE}"),
        entry("auto-disabled", plain.port,
              labels=", labels: {security.istio.io/tlsMode: istio, app: legacy}"),
        """\
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: legacy, namespace: shop}
spec: {selector: {matchLabels: {app: legacy}}, mtls: {mode: DISABLE}}
""",
        entry("rotate", orders.port, sa="orders"),
        rule("rotate", "{mode: ISTIO_MUTUAL}",
             ", connectionPool: {http: {maxRequestsPerConnection: 1}}"),
    ]
    names = ["orders", "wrong-san", "wrong-sa", "stranger", "plain", "auto", "auto-plain",
             "disabled", "rotate", "auto-disabled"]
    docs.append(edge_routes("mtls", "\n".join(f"""\
  - match: [{{uri: {{prefix: /{n}/}}}}]
    route: [{{destination: {{host: {n}}}}}]
    retries: {{attempts: 0}}""" for n in names)))
    with serving(meshlet_bin, d, "---\n".join(docs), [orders, stranger, plain],
                 extra=("--identity", str(d / "gateway"))) as m:
        m.gw_port, m.orders, m.plain, m.dir, m.root = gw, orders, plain, d, root
        yield m


def get(proxy, path):
    status, _, body = meshlet.get(proxy.gw_port, path)
    return status, body


def peers(backend, prefix):
    return [p for h, p in zip(backend.hits, backend.server.peers) if h.startswith(prefix)]


def test_istio_mutual_presents_the_workload_identity(proxy):
    for i in range(5):
        assert get(proxy, f"/orders/{i}")[0] == 200
    assert peers(proxy.orders, "/orders/") == ["spiffe://cluster.local/ns/istio-system/sa/gateway"] * 5


def test_the_server_must_be_who_the_destination_expects(proxy):
    for path in ("/wrong-san/1", "/wrong-sa/1", "/stranger/1", "/plain/1"):
        status, body = get(proxy, path)
        assert status == 503, path
        assert body.endswith(b"reset reason: connection failure"), (path, body)
    assert not peers(proxy.orders, "/wrong-")
    assert "SAN mismatch: the server is spiffe://cluster.local/ns/shop/sa/orders" in proxy.logs()
    assert "certificate verify failed" in proxy.logs()


def test_automatic_mtls_follows_the_tls_mode_label(proxy):
    assert get(proxy, "/auto/1")[0] == 200
    assert peers(proxy.orders, "/auto/") == ["spiffe://cluster.local/ns/istio-system/sa/gateway"]
    assert get(proxy, "/auto-plain/1")[0] == 200  # no label: plain text
    assert get(proxy, "/disabled/1")[0] == 200  # explicit DISABLE wins over the label
    assert peers(proxy.plain, "/auto-plain/") == [None]
    # Labelled, but its own PeerAuthentication is DISABLE: automatic mTLS stays off (§6.4).
    assert get(proxy, "/auto-disabled/1")[0] == 200


def test_explain_states_the_tls_the_proxy_uses(proxy, meshlet_bin):
    def explain(path):
        return meshlet.explain(meshlet_bin, proxy.dir, proxy.gw_port, path)
    assert ("tls: ISTIO_MUTUAL to 1 of 1 endpoint(s), SNI outbound_.9080_._.orders.shop.svc."
            "cluster.local, the server must be spiffe://cluster.local/ns/shop/sa/orders"
            in explain("/orders/1"))
    assert "ISTIO_MUTUAL (automatic, by the tlsMode label)" in explain("/auto/1")
    assert "tls: DISABLE (plain text)" in explain("/disabled/1")
    assert "no endpoint labelled security.istio.io/tlsMode=istio: plain text" in explain(
        "/auto-plain/1")


def test_admin_clusters_show_mtls_and_the_verified_peer(proxy):
    assert get(proxy, "/orders/admin")[0] == 200
    lines = proxy.admin("/clusters").splitlines()
    orders = [ln for ln in lines if ln.startswith("outbound|9080||orders.shop.svc.cluster.local::")]
    assert any(ln.endswith("::tls::istio_mutual") for ln in orders)
    assert any(ln.endswith("::peer_identity::spiffe://cluster.local/ns/shop/sa/orders")
               for ln in orders)
    plain = [ln for ln in lines if ln.startswith("outbound|9080||auto-plain.")]
    assert any(ln.endswith("::tls::none") for ln in plain)


def test_a_rotated_certificate_is_used_by_new_connections(proxy, meshlet_bin):
    def serial_now(i):
        assert get(proxy, f"/rotate/{i}")[0] == 200  # a new connection every request
        return proxy.orders.server.serials[-1]
    before = serial_now(0)
    meshlet.ca(meshlet_bin, "issue", "--dir", str(proxy.root), "--ns", "istio-system",
       "--sa", "gateway", "--out", str(proxy.dir / "gateway"))
    new = subprocess.run(["openssl", "x509", "-in", str(proxy.dir / "gateway" / "cert-chain.pem"),
                          "-noout", "-serial"], capture_output=True, text=True).stdout
    new = new.strip().split("=")[1].upper()
    deadline = time.monotonic() + 5
    seen = before
    i = 1
    while seen == before and time.monotonic() < deadline:
        time.sleep(0.2)
        seen = serial_now(i)
        i += 1
    assert seen != before and seen.lstrip("0") == new.lstrip("0")
    assert "identity spiffe://cluster.local/ns/istio-system/sa/gateway reloaded" in proxy.logs()

