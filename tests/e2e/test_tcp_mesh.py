# SPDX-License-Identifier: Apache-2.0
"""TCP on the mesh side: a sidecar gets an outbound listener on the mesh address for a
ServiceEntry's TCP port, splits connections 90/10 by a mesh-bound VirtualService tcp route,
and originates ISTIO_MUTUAL to another sidecar whose --inbound-tcp listeners (STRICT
PeerAuthentication) terminate it in front of echo apps."""
import math
import socket

import pytest

import meshlet
from configs import l4_service
from meshlet_proc import Meshlet, free_port
from tcp_echo import TcpEcho, dial, read_line


@pytest.fixture(scope="module")
def mesh(meshlet_bin, tmp_path_factory):
    d = tmp_path_factory.mktemp("tcpmesh")
    root = d / "ca"
    meshlet.ca(meshlet_bin, "init", "--dir", str(root))
    for sa, out in (("web", "client-id"), ("db", "server-id")):
        meshlet.ca(meshlet_bin, "issue", "--dir", str(root), "--ns", "shop", "--sa", sa,
                   "--out", str(d / out))
    v1, v2 = TcpEcho("v1"), TcpEcho("v2")
    in1, in2, svc = free_port(), free_port(), free_port()
    server_dir, client_dir = d / "server", d / "client"
    server_dir.mkdir()
    client_dir.mkdir()
    (server_dir / "config.yaml").write_text("""\
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: strict, namespace: shop}
spec: {mtls: {mode: STRICT}}
""")
    sidecar_eps = [(in1, "serviceAccount: db, labels: {version: v1, security.istio.io/tlsMode: istio}"),
                   (in2, "serviceAccount: db, labels: {version: v2, security.istio.io/tlsMode: istio}")]
    (client_dir / "config.yaml").write_text(l4_service("db", svc, sidecar_eps) + f"""\
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: db, namespace: shop}}
spec:
  host: db.shop.svc.cluster.local
  subsets:
  - {{name: v1, labels: {{version: v1}}}}
  - {{name: v2, labels: {{version: v2}}}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: db, namespace: shop}}
spec:
  hosts: [db.shop.svc.cluster.local]
  tcp:
  - match: [{{port: {svc}}}]
    route:
    - destination: {{host: db.shop.svc.cluster.local, subset: v1}}
      weight: 90
    - destination: {{host: db.shop.svc.cluster.local, subset: v2}}
      weight: 10
""")
    server = Meshlet(meshlet_bin, server_dir, extra=(
        "--namespace", "shop", "--identity", str(d / "server-id"),
        "--inbound-tcp", f"{in1}=127.0.0.1:{v1.port}",
        "--inbound-tcp", f"{in2}=127.0.0.1:{v2.port}")).start()
    client = Meshlet(meshlet_bin, client_dir, extra=(
        "--namespace", "shop", "--identity", str(d / "client-id"))).start()
    client.svc, server.in1 = svc, in1
    yield client, server
    codes = (client.stop(), server.stop())
    v1.stop()
    v2.stop()
    assert codes == (0, 0), client.logs() + server.logs()


def test_mesh_tcp_split_over_mutual_tls(mesh):
    client, _ = mesh
    n = 200
    seen = {"v1": 0, "v2": 0}
    for _ in range(n):
        c = dial(client.svc)
        seen[read_line(c)] += 1
        c.sendall(b"ping\n")
        assert c.recv(10) == b"ping\n"
        c.close()
    print(seen)
    assert abs(seen["v2"] - n * 0.1) <= 5 * math.sqrt(n * 0.1 * 0.9), seen


def test_strict_inbound_refuses_plain_text(mesh):
    _, server = mesh
    c = dial(server.in1)
    c.sendall(b"plain\n")
    try:
        data = c.recv(10)
    except ConnectionResetError:
        data = b""
    assert data == b"", data  # no tag: the echo app never saw this client
    c.close()
    with socket.create_connection(("127.0.0.1", server.in1), timeout=5):
        pass


def test_permissive_inbound_serves_a_server_first_protocol_after_the_sniff_timeout(
        meshlet_bin, tmp_path):
    """PERMISSIVE: the first byte says mTLS or plain text, so a client that waits for the
    server to speak first is taken as plain text once the 15 s sniff deadline passes (as
    Istio's inbound listeners continue on their listener filters' timeout), neither held
    for ever nor closed; a client that speaks first is served at once."""
    meshlet.ca(meshlet_bin, "init", "--dir", str(tmp_path / "ca"))
    meshlet.ca(meshlet_bin, "issue", "--dir", str(tmp_path / "ca"), "--ns", "shop", "--sa", "db",
               "--out", str(tmp_path / "id"))
    app = TcpEcho("app")
    inbound = free_port()
    (tmp_path / "cfg").mkdir()
    (tmp_path / "cfg" / "config.yaml").write_text("""\
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: permissive, namespace: shop}
spec: {mtls: {mode: PERMISSIVE}}
""")
    m = Meshlet(meshlet_bin, tmp_path / "cfg", extra=(
        "--namespace", "shop", "--identity", str(tmp_path / "id"),
        "--inbound-tcp", f"{inbound}=127.0.0.1:{app.port}")).start()
    try:
        talker = dial(inbound)
        talker.sendall(b"hi\n")
        assert read_line(talker) == "app"
        talker.close()
        quiet = dial(inbound, timeout=30)
        assert read_line(quiet) == "app"  # after the sniff deadline, as plain text
        quiet.sendall(b"ping\n")
        assert read_line(quiet) == "ping"
        quiet.close()
    finally:
        code = m.stop()
        app.stop()
    assert code == 0, m.logs()
