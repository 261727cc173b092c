# SPDX-License-Identifier: Apache-2.0
"""Inbound sidecars (issue 6, spec §6.2-6.3): `meshlet run --inbound PORT=APP` in front of
an app, with the PeerAuthentication mode composed for this workload. STRICT refuses
anything that is not mTLS from the mesh (plain text, another CA's certificate, an expired
one); PERMISSIVE serves both, telling TLS from plain text by the first byte; a port-level
DISABLE serves plain text. The app gets Envoy's x-forwarded-client-cert for mTLS requests
and never a client's own. End to end: a gateway meshlet reaches the STRICT sidecar over
ISTIO_MUTUAL."""
import http.client
import json
import socket
import ssl
import subprocess
import time

import pytest

from backend import Backend
from h2backend import H2Backend
import meshlet
from configs import edge_routes, gateway
from meshlet_proc import Meshlet, free_port
from test_metrics import parse

GATEWAY_ID = "spiffe://cluster.local/ns/istio-system/sa/gateway"
ORDERS_ID = "spiffe://cluster.local/ns/shop/sa/orders"


def peer_auth(name, ns, spec):
    return f"""\
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {{name: {name}, namespace: {ns}}}
spec: {spec}
"""


@pytest.fixture(scope="module")
def mesh(meshlet_bin, tmp_path_factory):
    d = tmp_path_factory.mktemp("inbound")
    meshlet.ca(meshlet_bin, "init", "--dir", str(d / "ca"))
    meshlet.ca(meshlet_bin, "init", "--dir", str(d / "other-ca"))
    for sa, ns, root in (("orders", "shop", "ca"), ("gateway", "istio-system", "ca"),
                         ("stranger", "shop", "other-ca")):
        meshlet.ca(meshlet_bin, "issue", "--dir", str(d / root), "--ns", ns, "--sa", sa,
           "--out", str(d / sa))
    meshlet.ca(meshlet_bin, "issue", "--dir", str(d / "ca"), "--ns", "shop", "--sa", "late",
       "--out", str(d / "late"), "--ttl", "1s")
    app = Backend("app").start()
    sidecars = {}
    configs = {
        "strict": peer_auth("default", "istio-system", "{mtls: {mode: STRICT}}"),
        "permissive": peer_auth("default", "shop", "{mtls: {mode: PERMISSIVE}}"),
        "port-disable": None,  # written below: it needs its own port number
    }
    procs = []
    for name, pa in configs.items():
        port = free_port()
        if pa is None:
            pa = peer_auth("default", "shop", "{mtls: {mode: STRICT}}") + "---\n" + peer_auth(
                "orders", "shop", f"{{selector: {{matchLabels: {{app: orders}}}}, "
                                  f"portLevelMtls: {{{port}: {{mode: DISABLE}}}}}}")
        (d / name).mkdir()
        (d / name / "pa.yaml").write_text(pa)
        m = Meshlet(meshlet_bin, d / name, extra=(
            "--namespace", "shop", "--identity", str(d / "orders"), "--label", "app=orders",
            "--inbound", f"{port}=127.0.0.1:{app.port}")).start()
        procs.append(m)
        sidecars[name] = port
    # A gateway meshlet that reaches the STRICT sidecar with ISTIO_MUTUAL.
    gw = free_port()
    (d / "edge").mkdir()
    (d / "edge" / "c.yaml").write_text("---\n".join([
        gateway(gw),
        f"""\
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {{name: orders, namespace: shop}}
spec:
  hosts: [orders.shop.svc.cluster.local]
  location: MESH_INTERNAL
  ports: [{{number: 9080, name: http, protocol: HTTP}}]
  resolution: STATIC
  endpoints:
  - {{address: 127.0.0.1, ports: {{http: {sidecars['strict']}}}, serviceAccount: orders}}
""",
        """\
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: orders, namespace: shop}
spec:
  host: orders
  trafficPolicy:
    tls: {mode: ISTIO_MUTUAL}
    connectionPool: {http: {maxRequestsPerConnection: 1}}  # a handshake per request
""",
        edge_routes("edge", """\
  - route: [{destination: {host: orders}}]
"""),
    ]))
    edge = Meshlet(meshlet_bin, d / "edge", extra=(
        "--namespace", "istio-system", "--identity", str(d / "gateway"))).start()
    procs.append(edge)
    try:
        yield {"dir": d, "app": app, "sidecars": sidecars, "edge": gw, "procs": procs,
               "edge_proc": edge}
    finally:
        codes = [p.stop() for p in procs]
        app.stop()
        assert codes == [0] * len(procs), [p.logs() for p in procs]


def tls_client(mesh, who):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False  # SPIFFE identities are URI SANs, not host names
    ctx.load_verify_locations(str(mesh["dir"] / "ca" / "root-cert.pem"))
    ctx.load_cert_chain(str(mesh["dir"] / who / "cert-chain.pem"),
                        str(mesh["dir"] / who / "key.pem"))
    return ctx


def request(port, path, ctx=None, headers=None):
    c = (http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=5) if ctx
         else http.client.HTTPConnection("127.0.0.1", port, timeout=5))
    c.request("GET", path, headers={"Host": "orders", **(headers or {})})
    r = c.getresponse()
    out = r.status, json.loads(r.read())
    c.close()
    return out


def refused(port, path, ctx=None):
    try:
        request(port, path, ctx)
    except (OSError, http.client.HTTPException, ssl.SSLError):
        return True
    return False


def test_gateway_to_strict_sidecar_over_istio_mutual(mesh):
    c = http.client.HTTPConnection("127.0.0.1", mesh["edge"], timeout=5)
    c.request("GET", "/orders/1", headers={"Host": "api.example.com",
                                           "x-forwarded-client-cert": "By=forged"})
    r = c.getresponse()
    body = json.loads(r.read())
    assert r.status == 200
    xfcc = body["headers"]["x-forwarded-client-cert"]
    assert xfcc.startswith(f"By={ORDERS_ID};Hash=")
    assert xfcc.endswith(f';Subject="";URI={GATEWAY_ID}')
    assert len(xfcc.split(";")[1]) == len("Hash=") + 64  # SHA-256, hex
    # The gateway's client spoke plain HTTP: the sidecar keeps what the gateway set.
    assert body["headers"]["x-forwarded-proto"] == "http"


def test_both_reporters_name_the_identities_mtls_proved(mesh):
    """Istio's labels on both sides of one mTLS hop: the gateway (reporter source) names its
    own identity and the sidecar's as its handshake proved it; the sidecar (reporter
    destination) names the caller by its certificate (namespace from the SPIFFE id) and
    itself by its flags."""
    assert request(mesh["edge"], "/labels", headers={"Host": "api.example.com"})[0] == 200

    def series(m, reporter):
        got = [lab for n, lab, v in parse(m.admin("/stats/prometheus"))
               if n == "istio_requests_total" and lab.get("reporter") == reporter and v > 0
               and lab.get("response_code") == "200"]
        assert got, m.admin("/stats/prometheus")
        return got[0]

    out = series(mesh["edge_proc"], "source")
    assert out["source_principal"] == GATEWAY_ID
    assert out["source_workload_namespace"] == "istio-system"
    assert out["source_cluster"] == "Kubernetes"
    assert out["destination_principal"] == ORDERS_ID
    assert out["destination_workload_namespace"] == "shop"
    assert out["destination_service"] == "orders.shop.svc.cluster.local"
    assert out["connection_security_policy"] == "unknown"  # Istio's source reporter
    assert out["grpc_response_status"] == ""
    inbound = series(mesh["procs"][0], "destination")  # the STRICT sidecar
    assert inbound["source_principal"] == GATEWAY_ID
    assert inbound["source_workload_namespace"] == "istio-system"
    assert inbound["source_canonical_revision"] == "latest"
    assert inbound["destination_principal"] == ORDERS_ID
    assert inbound["destination_workload"] == "orders"
    assert inbound["destination_app"] == "orders"
    assert inbound["destination_canonical_service"] == "orders"
    assert inbound["destination_service_namespace"] == "shop"
    # no service in the sidecar's config selects it: its canonical name, as Istio falls back
    assert inbound["destination_service"] == "orders"
    assert inbound["connection_security_policy"] == "mutual_tls"
    names = list(inbound)
    assert names[:5] == ["reporter", "source_workload", "source_canonical_service",
                         "source_canonical_revision", "source_workload_namespace"], names


def test_strict_refuses_what_is_not_mesh_mtls(mesh):
    port = mesh["sidecars"]["strict"]
    assert refused(port, "/strict/plain")
    assert refused(port, "/strict/stranger", tls_client(mesh, "stranger"))
    time.sleep(1.5)  # the "late" certificate (1 s) has expired
    assert refused(port, "/strict/expired", tls_client(mesh, "late"))
    assert not [h for h in mesh["app"].hits if h.startswith("/strict/")]
    # The same port serves a mesh client.
    status, body = request(port, "/strict/ok", tls_client(mesh, "gateway"))
    assert status == 200 and body["headers"]["x-forwarded-client-cert"].endswith(GATEWAY_ID)


def test_permissive_serves_both_and_strips_forged_xfcc(mesh):
    port = mesh["sidecars"]["permissive"]
    status, body = request(port, "/permissive/plain",
                           headers={"x-forwarded-client-cert": "By=x;URI=spiffe://evil"})
    assert status == 200 and "x-forwarded-client-cert" not in body["headers"]
    assert body["headers"]["x-forwarded-proto"] == "http"
    status, body = request(port, "/permissive/mtls", tls_client(mesh, "gateway"))
    assert status == 200 and body["headers"]["x-forwarded-client-cert"].endswith(GATEWAY_ID)
    assert body["headers"]["x-forwarded-proto"] == "https"


def test_port_level_disable_serves_plain_text(mesh):
    status, _ = request(mesh["sidecars"]["port-disable"], "/port/plain")
    assert status == 200


def test_a_strict_inbound_needs_an_identity(meshlet_bin, tmp_path):
    (tmp_path / "pa.yaml").write_text(peer_auth("default", "istio-system",
                                                "{mtls: {mode: STRICT}}"))
    p = subprocess.run([meshlet_bin, "run", "-c", str(tmp_path), "--admin",
                        f"127.0.0.1:{free_port()}", "--inbound", f"{free_port()}=127.0.0.1:1"],
                       capture_output=True, text=True, timeout=10)
    assert p.returncode == 2 and "is STRICT (PeerAuthentication) and needs --identity" in p.stderr


def test_new_upstream_connections_resume_the_tls_session(mesh):
    def stat(name):
        line = next(ln for ln in mesh["edge_proc"].admin("/stats").splitlines()
                    if ln.startswith(name + ":"))
        return int(line.split(":")[1])
    hs0, resumed0 = stat("tls.upstream_handshakes"), stat("tls.upstream_session_resumed")
    for i in range(6):
        c = http.client.HTTPConnection("127.0.0.1", mesh["edge"], timeout=5)
        c.request("GET", f"/orders/resume-{i}", headers={"Host": "api.example.com"})
        assert c.getresponse().status == 200
        c.close()
    assert stat("tls.upstream_handshakes") - hs0 == 6
    assert stat("tls.upstream_session_resumed") - resumed0 >= 5  # all but maybe the first


def test_real_clients_curl_and_openssl(mesh):
    d, strict = mesh["dir"], mesh["sidecars"]["strict"]
    permissive = mesh["sidecars"]["permissive"]
    # curl in plain text: served by PERMISSIVE, cut by STRICT (no HTTP answer at all).
    p = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                        f"http://127.0.0.1:{permissive}/curl/plain"],
                       capture_output=True, text=True, timeout=10)
    assert p.stdout == "200"
    p = subprocess.run(["curl", "-s", "-m", "5", f"http://127.0.0.1:{strict}/curl/strict"],
                       capture_output=True, text=True, timeout=10)
    assert p.returncode in (52, 56)  # empty reply / connection reset
    # openssl s_client: the mesh's client certificate gets an answer, another CA's does not.
    def s_client(who):
        return subprocess.run(
            ["openssl", "s_client", "-connect", f"127.0.0.1:{strict}", "-ign_eof",
             "-cert", str(d / who / "cert-chain.pem"), "-key", str(d / who / "key.pem"),
             "-CAfile", str(d / "ca" / "root-cert.pem")],
            input="GET /s_client HTTP/1.1\r\nHost: orders\r\nConnection: close\r\n\r\n",
            capture_output=True, text=True, timeout=10)
    assert "HTTP/1.1 200" in s_client("gateway").stdout
    assert "HTTP/1.1" not in s_client("stranger").stdout


def h2_get_over(sock, path):
    """One HTTP/2 GET on TLS socket <sock>: (status, body)."""
    import h2.config
    import h2.connection
    import h2.events
    c = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    c.initiate_connection()
    c.send_headers(1, [(":method", "GET"), (":scheme", "https"), (":authority", "orders"),
                       (":path", path)], end_stream=True)
    sock.sendall(c.data_to_send())
    status, body = None, b""
    while True:
        data = sock.recv(65536)
        assert data, "closed before the answer"
        for e in c.receive_data(data):
            if isinstance(e, h2.events.ResponseReceived):
                status = dict(e.headers)[b":status"]
            elif isinstance(e, h2.events.DataReceived):
                body += e.data
                c.acknowledge_received_data(e.flow_controlled_length, 1)
            elif isinstance(e, h2.events.StreamEnded):
                return status, body
        sock.sendall(c.data_to_send())


@pytest.mark.parametrize("alpn,proto", [(["istio-h2"], "istio-h2"), (["istio-other"], None)])
def test_an_istio_sidecars_http2_is_served(mesh, meshlet_bin, tmp_path, alpn, proto):
    """An Istio sidecar's HTTP/2 client offers ALPN istio-h2 (its outbound ALPN override):
    the inbound takes it as h2; and an HTTP/2 preface on a TLS connection whose ALPN chose
    nothing is HTTP/2 too (Envoy's codec AUTO), not an HTTP/1.1 request to refuse. The app
    speaks HTTP/2 (a port of unknown protocol keeps the client's)."""
    app = H2Backend("h2app").start()
    port = free_port()
    (tmp_path / "pa.yaml").write_text(peer_auth("default", "shop", "{mtls: {mode: STRICT}}"))
    m = Meshlet(meshlet_bin, tmp_path, extra=(
        "--namespace", "shop", "--identity", str(mesh["dir"] / "orders"),
        "--inbound", f"{port}=127.0.0.1:{app.port}")).start()
    try:
        ctx = tls_client(mesh, "gateway")
        ctx.set_alpn_protocols(alpn)
        with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
            with ctx.wrap_socket(raw) as s:
                assert s.selected_alpn_protocol() == proto
                status, body = h2_get_over(s, "/h2")
        assert status == b"200", body
        assert json.loads(body)["version"] == "h2app"
    finally:
        code = m.stop()
        app.stop()
    assert code == 0, m.logs()


def test_an_istio_sidecars_http1_is_served(mesh):
    ctx = tls_client(mesh, "gateway")
    ctx.set_alpn_protocols(["istio-http/1.1"])
    c = http.client.HTTPSConnection("127.0.0.1", mesh["sidecars"]["strict"], context=ctx,
                                    timeout=5)
    c.request("GET", "/h1", headers={"Host": "orders"})
    r = c.getresponse()
    assert r.status == 200 and c.sock.selected_alpn_protocol() == "istio-http/1.1"
    r.read()
    c.close()
