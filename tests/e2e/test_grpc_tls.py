# SPDX-License-Identifier: Apache-2.0
"""gRPC to TLS upstreams (issue 14): an HTTP/2 pool negotiates `h2` by ALPN under
ISTIO_MUTUAL (the workload certificate, the server's SPIFFE ID checked) and SIMPLE TLS,
against real grpcio servers that speak nothing but h2 over TLS. The client side is h2c
from a grpcio client to the Gateway."""
import grpc
import pytest

import meshlet
from certs import self_signed
from configs import destination_rule, edge_routes, gateway
from grpc_backend import SERVICE, GrpcBackend
from meshlet_proc import free_port, serving

AUTH = "api.example.com"
GATEWAY_ID = "spiffe://cluster.local/ns/istio-system/sa/gateway"


def workload(meshlet_bin, root, out, sa, ns="shop"):
    meshlet.ca(meshlet_bin, "issue", "--dir", str(root), "--ns", ns, "--sa", sa, "--out", str(out))
    return (str(out / "cert-chain.pem"), str(out / "key.pem"), str(out / "root-cert.pem"))


def grpc_entry(name, port, sa=None):
    account = f", serviceAccount: {sa}" if sa else ""
    return f"""\
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {{name: {name}, namespace: shop}}
spec:
  hosts: [{name}.shop.svc.cluster.local]
  location: MESH_INTERNAL
  ports: [{{number: 9090, name: grpc, protocol: GRPC}}]
  resolution: STATIC
  endpoints:
  - {{address: 127.0.0.1, ports: {{grpc: {port}}}{account}}}
"""


@pytest.fixture(scope="module")
def proxy(meshlet_bin, tmp_path_factory):
    d = tmp_path_factory.mktemp("grpctls")
    root = d / "ca"
    meshlet.ca(meshlet_bin, "init", "--dir", str(root))
    mutual = GrpcBackend("mesh", tls=workload(meshlet_bin, root, d / "echo", "echo")).start()
    crt, key = self_signed(d / "server", "simple.shop.svc.cluster.local")
    simple = GrpcBackend("simple", tls=(str(crt), str(key), None)).start()
    workload(meshlet_bin, root, d / "gateway", "gateway", ns="istio-system")
    gw = free_port()
    config = "---\n".join([
        gateway(gw),
        grpc_entry("echo", mutual.port, sa="echo"),
        destination_rule("echo", "{tls: {mode: ISTIO_MUTUAL}}"),
        grpc_entry("wrong", mutual.port, sa="payments"),
        destination_rule("wrong", "{tls: {mode: ISTIO_MUTUAL}}"),
        grpc_entry("simple", simple.port),
        destination_rule("simple", f"{{tls: {{mode: SIMPLE, caCertificates: {crt}}}}}"),
        edge_routes("routes", """\
  - match: [{headers: {x-to: {exact: simple}}}]
    route: [{destination: {host: simple}}]
  - match: [{headers: {x-to: {exact: wrong}}}]
    route: [{destination: {host: wrong}}]
    retries: {attempts: 0}
  - route: [{destination: {host: echo}}]
"""),
    ])
    with serving(meshlet_bin, d, config, [], extra=("--identity", str(d / "gateway"))) as m:
        m.mutual, m.simple = mutual, simple
        m.channel = grpc.insecure_channel(f"127.0.0.1:{gw}",
                                          options=[("grpc.default_authority", AUTH)])
        yield m
        m.channel.close()
    mutual.stop()
    simple.stop()


def unary(channel):
    return channel.unary_unary(f"/{SERVICE}/Unary", request_serializer=lambda b: b,
                               response_deserializer=lambda b: b)


def test_istio_mutual_speaks_h2_by_alpn_with_the_workload_identity(proxy):
    call = unary(proxy.channel)
    for i in range(5):
        assert call(f"m{i}".encode(), timeout=10) == f"mesh:m{i}".encode()
    assert proxy.mutual.peers[-5:] == [("ssl", [GATEWAY_ID])] * 5
    # Bidirectional streaming over the same TLS pool.
    bidi = proxy.channel.stream_stream(f"/{SERVICE}/Bidi", request_serializer=lambda b: b,
                                       response_deserializer=lambda b: b)
    assert list(bidi(iter([b"a", b"b", b"c"]), timeout=10)) == [b"mesh:a", b"mesh:b", b"mesh:c"]


def test_a_server_of_another_identity_is_unavailable(proxy):
    before = len(proxy.mutual.calls)
    with pytest.raises(grpc.RpcError) as e:
        unary(proxy.channel)(b"x", timeout=10, metadata=[("x-to", "wrong")])
    assert e.value.code() == grpc.StatusCode.UNAVAILABLE
    assert len(proxy.mutual.calls) == before  # no call reached it


def test_simple_tls_speaks_h2_by_alpn(proxy):
    for i in range(3):
        got = unary(proxy.channel)(f"s{i}".encode(), timeout=10, metadata=[("x-to", "simple")])
        assert got == f"simple:s{i}".encode()
    assert proxy.simple.peers[-3:] == [("ssl", [])] * 3


def test_grpc_through_a_strict_sidecar(meshlet_bin, tmp_path):
    """The whole mesh path: grpcio client → gateway (h2c) → ISTIO_MUTUAL, h2 by ALPN →
    a STRICT inbound sidecar → the app's plain h2c gRPC server (the client's protocol,
    as a sidecar keeps it for a port without one declared)."""
    from meshlet_proc import Meshlet
    root = tmp_path / "ca"
    meshlet.ca(meshlet_bin, "init", "--dir", str(root))
    workload(meshlet_bin, root, tmp_path / "orders", "orders")
    workload(meshlet_bin, root, tmp_path / "gateway", "gateway", ns="istio-system")
    app = GrpcBackend("app").start()
    side_port, gw = free_port(), free_port()
    (tmp_path / "side").mkdir()
    (tmp_path / "side" / "pa.yaml").write_text("""\
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: istio-system}
spec: {mtls: {mode: STRICT}}
""")
    side = Meshlet(meshlet_bin, tmp_path / "side", extra=(
        "--namespace", "shop", "--identity", str(tmp_path / "orders"), "--label", "app=orders",
        "--inbound", f"{side_port}=127.0.0.1:{app.port}")).start()
    (tmp_path / "edge").mkdir()
    (tmp_path / "edge" / "c.yaml").write_text("---\n".join([
        gateway(gw), grpc_entry("orders", side_port, sa="orders"),
        destination_rule("orders", "{tls: {mode: ISTIO_MUTUAL}}"),
        edge_routes("edge", "  - route: [{destination: {host: orders}}]\n")]))
    edge = Meshlet(meshlet_bin, tmp_path / "edge", extra=(
        "--namespace", "istio-system", "--identity", str(tmp_path / "gateway"))).start()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{gw}",
                                   options=[("grpc.default_authority", AUTH)]) as ch:
            for i in range(3):
                assert unary(ch)(f"c{i}".encode(), timeout=10) == f"app:c{i}".encode()
            stream = ch.unary_stream(f"/{SERVICE}/ServerStream", request_serializer=lambda b: b,
                                     response_deserializer=lambda b: b)
            assert len(list(stream(b"s", timeout=10))) == 5
        assert app.calls.count("Unary") == 3
        # The sidecar's own access to the app was HTTP/2 (gRPC servers speak nothing else),
        # and its inbound side saw mTLS from the gateway.
        text = side.admin("/stats/prometheus")
        assert 'request_protocol="grpc"' in text and 'connection_security_policy="mutual_tls"' \
            in text, text
    finally:
        codes = [edge.stop(), side.stop()]
        app.stop()
    assert codes == [0, 0]
