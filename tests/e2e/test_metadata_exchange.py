# SPDX-License-Identifier: Apache-2.0
"""Istio's workload metadata exchange over HTTP (issue 19; Istio's peer_metadata filter,
docs/internals/istio-metadata-exchange.md). A gateway and a sidecar's outbound send
x-envoy-peer-metadata (a base64 protobuf Struct naming their workload) and -id on every
upstream request; the inbound sidecar strips both before its app sees them and answers
each only when the request carried it; the calling proxy reads that answer and strips it
before its client sees it. Each side then names the other in Istio's metric labels: the
workload, app, version, canonical service and revision, and cluster no certificate and no
endpoint label carries. The header is believed from anyone, as Istio does: a malformed
value costs nothing, and distinct values past a worker's cap read as no metadata, so a
lying client cannot grow the series without bound."""
import base64
import os
import re
import socket
import ssl
import struct
import http.client
import json
import subprocess

import pytest

from backend import Backend
import meshlet
from configs import destination_rule, edge_routes, gateway, l4_service, service_entry
from meshlet_proc import Meshlet, eventually, free_port
from tcp_echo import TcpEcho
from test_metrics import parse

GATEWAY_ID = "spiffe://cluster.local/ns/istio-system/sa/gateway"
MX, MX_ID = "x-envoy-peer-metadata", "x-envoy-peer-metadata-id"
CAP = 512  # MX_MAX_PEERS: distinct values a worker keeps


# --- protobuf Struct by hand: string values and one nested Struct (LABELS) ---

def _varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _len(tag, data):
    return bytes([tag]) + _varint(len(data)) + data


def encode(fields):
    """base64 of a Struct: {key: str | dict(str: str)}."""
    out = b""
    for k, v in sorted(fields.items()):
        value = (_len(0x2A, base64.b64decode(encode(v))) if isinstance(v, dict)
                 else _len(0x1A, v.encode()))
        out += _len(0x0A, _len(0x0A, k.encode()) + _len(0x12, value))
    return base64.b64encode(out).decode()


def _fields(data):
    i = 0
    while i < len(data):
        key, i = _read_varint(data, i)
        assert key & 7 == 2, f"unexpected wire type in {data!r}"
        n, i = _read_varint(data, i)
        yield key >> 3, data[i:i + n]
        i += n


def _read_varint(data, i):
    n = shift = 0
    while True:
        b = data[i]
        i += 1
        n |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return n, i


def decode(b64):
    """{key: str | dict} of a Struct's string and struct values."""
    out = {}
    for _, entry in _fields(base64.b64decode(b64)):
        parts = dict(_fields(entry))
        (kind, v), = _fields(parts[2])
        out[parts[1].decode()] = (v.decode() if kind == 3
                                  else decode(base64.b64encode(v).decode()))
    return out


def workload(name, ns="prod", app=None, version="v1", cluster="Kubernetes"):
    app = app or name
    return encode({"CLUSTER_ID": cluster, "NAME": name, "NAMESPACE": ns, "WORKLOAD_NAME": name,
                   "LABELS": {"app": app, "version": version,
                              "service.istio.io/canonical-name": app,
                              "service.istio.io/canonical-revision": version}})


# --- the mesh: a gateway reaching the ratings sidecar over ISTIO_MUTUAL ---

@pytest.fixture(scope="module")
def mesh(meshlet_bin, tmp_path_factory):
    d = tmp_path_factory.mktemp("mx")
    meshlet.ca(meshlet_bin, "init", "--dir", str(d / "ca"))
    for sa, ns in (("ratings", "prod"), ("gateway", "istio-system")):
        meshlet.ca(meshlet_bin, "issue", "--dir", str(d / "ca"), "--ns", ns, "--sa", sa,
                   "--out", str(d / sa))
    app = Backend("app").start()
    inbound = free_port()
    (d / "cfg-ratings").mkdir()
    (d / "cfg-ratings" / "pa.yaml").write_text("""\
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: prod}
spec: {mtls: {mode: PERMISSIVE}}
""")
    # Two workers: each keeps its own peers (the cap is per worker).
    ratings = Meshlet(meshlet_bin, d / "cfg-ratings", workers=2, extra=(
        "--namespace", "prod", "--identity", str(d / "ratings"), "--label", "app=ratings",
        "--label", "version=v1", "--workload", "ratings-v1",
        "--inbound", f"{inbound}=127.0.0.1:{app.port}")).start()
    gw = free_port()
    (d / "edge").mkdir()
    # The endpoint has no labels: what the gateway learns of it comes from the exchange.
    (d / "edge" / "c.yaml").write_text("---\n".join([
        gateway(gw),
        service_entry("ratings", "prod", [(inbound, {})]),
        destination_rule("ratings", "{tls: {mode: ISTIO_MUTUAL}}", ns="prod"),
        edge_routes("edge", """\
  - route: [{destination: {host: ratings.prod.svc.cluster.local}}]
"""),
    ]))
    edge = Meshlet(meshlet_bin, d / "edge", extra=(
        "--namespace", "istio-system", "--identity", str(d / "gateway"),
        "--workload", "istio-ingressgateway", "--label", "app=istio-ingressgateway",
        "--cluster", "east")).start()
    try:
        yield {"dir": d, "app": app, "inbound": inbound, "gw": gw, "ratings": ratings,
               "edge": edge}
    finally:
        codes = [edge.stop(), ratings.stop()]
        app.stop()
        assert codes == [0, 0], [edge.logs(), ratings.logs()]


def call(port, headers=None, host="api.example.com", conn=None):
    """(status, response headers (lower-case), the headers the app saw)."""
    c = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.request("GET", "/ratings", headers={"Host": host, **(headers or {})})
    r = c.getresponse()
    body = r.read()
    if not conn:
        c.close()
    seen = json.loads(body)["headers"] if r.status == 200 else {}
    return r.status, {k.lower(): v for k, v in r.getheaders()}, seen


def series(m, reporter, **labels):
    # istio_requests_total's lines only: a scrape of hundreds of series is megabytes
    text = "\n".join(line for line in m.admin("/stats/prometheus").splitlines()
                     if line.startswith("istio_requests_total{"))
    return [lab for n, lab, v in parse(text)
            if lab.get("reporter") == reporter and v > 0
            and all(lab.get(k) == val for k, val in labels.items())]


def stat(m, name):
    for line in m.admin("/stats").splitlines():
        k, _, v = line.partition(": ")
        if k == name:
            return int(v)
    raise AssertionError(f"no {name} in /stats")


def test_neither_the_app_nor_the_client_sees_the_exchange(mesh):
    status, resp, seen = call(mesh["gw"], {MX: workload("forged"), MX_ID: "sidecar~forged"})
    assert status == 200
    assert MX not in seen and MX_ID not in seen, seen  # the inbound sidecar stripped them
    assert MX not in resp and MX_ID not in resp, resp  # the gateway stripped the answer
    # HTTP/2 to the gateway: the same answer, without them.
    out = subprocess.run(
        ["curl", "-s", "-D", "-", "-o", "/dev/null", "--http2-prior-knowledge",
         "-H", "Host: api.example.com", f"http://127.0.0.1:{mesh['gw']}/ratings"],
        capture_output=True, text=True, timeout=10)
    assert out.stdout.startswith("HTTP/2 200"), out
    assert "peer-metadata" not in out.stdout.lower(), out.stdout


def test_each_side_names_the_other(mesh):
    assert call(mesh["gw"])[0] == 200
    # The gateway (reporter source): the sidecar's workload, from its answer; its namespace
    # and principal from its certificate.
    out = series(mesh["edge"], "source", response_code="200")
    assert out, mesh["edge"].admin("/stats/prometheus")
    o = out[0]
    assert o["source_workload"] == "istio-ingressgateway"
    assert o["source_cluster"] == "east"
    assert o["destination_workload"] == "ratings-v1"
    assert o["destination_app"] == "ratings" and o["destination_version"] == "v1"
    assert o["destination_canonical_service"] == "ratings"
    assert o["destination_canonical_revision"] == "v1"
    assert o["destination_workload_namespace"] == "prod"
    assert o["destination_cluster"] == "Kubernetes"
    assert o["destination_principal"] == "spiffe://cluster.local/ns/prod/sa/ratings"
    # The sidecar (reporter destination): the gateway, from its request.
    got = series(mesh["ratings"], "destination", source_principal=GATEWAY_ID)
    assert got, mesh["ratings"].admin("/stats/prometheus")
    i = got[0]
    assert i["source_workload"] == "istio-ingressgateway"
    assert i["source_app"] == "istio-ingressgateway"
    assert i["source_canonical_service"] == "istio-ingressgateway"
    assert i["source_canonical_revision"] == "latest"  # no version label: the injector's
    assert i["source_version"] == "unknown"
    assert i["source_cluster"] == "east"
    assert i["source_workload_namespace"] == "istio-system"
    assert i["connection_security_policy"] == "mutual_tls"


def test_an_inbound_sidecar_answers_only_what_was_asked(mesh):
    port = mesh["inbound"]  # PERMISSIVE: plain text from a client without a sidecar
    status, resp, _ = call(port, host="ratings")
    assert status == 200 and MX not in resp and MX_ID not in resp, resp
    status, resp, _ = call(port, {MX_ID: "sidecar~10.0.0.1~a.b~b.svc.cluster.local"},
                           host="ratings")
    assert status == 200 and MX not in resp, resp
    assert resp[MX_ID] == "sidecar~127.0.0.1~ratings-v1.prod~prod.svc.cluster.local"
    status, resp, seen = call(port, {MX: workload("reviews-v2", app="reviews", version="v2")},
                              host="ratings")
    assert status == 200 and MX_ID not in resp and MX not in seen, (resp, seen)
    assert decode(resp[MX]) == {
        "CLUSTER_ID": "Kubernetes", "NAME": "ratings-v1", "NAMESPACE": "prod",
        "WORKLOAD_NAME": "ratings-v1",
        "LABELS": {"app": "ratings", "version": "v1",
                   "service.istio.io/canonical-name": "ratings",
                   "service.istio.io/canonical-revision": "v1"}}
    # Over plain text the namespace comes from the metadata: there is no certificate.
    got = series(mesh["ratings"], "destination", source_workload="reviews-v2")
    assert got and got[0]["source_workload_namespace"] == "prod", got
    assert got[0]["source_version"] == "v2" and got[0]["source_principal"] == "unknown"
    assert got[0]["connection_security_policy"] == "none"


def test_malformed_and_endless_values_are_served_and_bounded(mesh):
    m, port = mesh["ratings"], mesh["inbound"]
    malformed = stat(m, "metadata_exchange.peer_values_malformed")
    status, resp, seen = call(port, {MX: "not*base64", MX_ID: "x"}, host="ratings")
    assert status == 200 and MX not in seen, seen
    assert resp[MX] and resp[MX_ID]  # asked: answered, whatever it sent
    assert stat(m, "metadata_exchange.peer_values_malformed") == malformed + 1
    # One keep-alive connection (one worker) sends CAP + 100 distinct peers.
    before = len(series(m, "destination"))
    fds = len(os.listdir(f"/proc/{m.proc.pid}/fd"))
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    for k in range(CAP + 100):
        assert call(port, {MX: workload(f"w-{k}")}, host="ratings", conn=c)[0] == 200
    c.close()
    known = stat(m, "metadata_exchange.peers_known")
    assert known <= 2 * CAP  # two workers
    assert stat(m, "metadata_exchange.peers_overflow") >= 100
    grown = len(series(m, "destination")) - before
    assert CAP - 10 <= grown <= CAP + 1, grown  # the cap's worth, and one "unknown" series
    # Past the cap a new peer reads as none; the proxy goes on serving everyone.
    assert series(m, "destination", source_workload="unknown")
    status, _, _ = call(mesh["gw"])
    assert status == 200
    # and holds no connection of them (the keep-alive one is closed)
    assert eventually(lambda: len(os.listdir(f"/proc/{m.proc.pid}/fd")) <= fds)


def test_a_scrape_that_stalls_holds_up_no_one(mesh):
    """After the test above the sidecar's page is megabytes. A scraper that stops reading
    mid-page holds up neither the admin port (another request is answered meanwhile) nor
    its own page, which arrives whole once it reads again."""
    m = mesh["ratings"]
    a = socket.create_connection(("127.0.0.1", m.admin_port), timeout=30)
    a.sendall(b"GET /stats/prometheus HTTP/1.1\r\nHost: admin\r\n\r\n")
    assert eventually(lambda: m.admin("/ready") is not None)
    f = a.makefile("rb")
    head = b""
    while not head.endswith(b"\r\n\r\n"):
        head += f.read(1)
    length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
    assert length > 4 << 20, length  # more than the sockets hold
    body = f.read(length)
    assert len(body) == length
    last = body.rstrip(b"\n").rsplit(b"\n", 1)[-1].decode()
    assert re.fullmatch(r"[a-z_]+(\{.*\})? [0-9.e+-]+", last), last  # whole to its end
    f.close()
    a.close()


# --- TCP: the exchange in the first bytes of an mTLS connection (ALPN istio-peer-exchange) ---

@pytest.fixture(scope="module")
def tcp_mesh(meshlet_bin, tmp_path_factory):
    """A sidecar (orders-v1) whose outbound reaches the db sidecar's STRICT --inbound-tcp
    over ISTIO_MUTUAL; the db app is an echo that speaks first (a tag line)."""
    d = tmp_path_factory.mktemp("mx-tcp")
    meshlet.ca(meshlet_bin, "init", "--dir", str(d / "ca"))
    for sa in ("db", "orders"):
        meshlet.ca(meshlet_bin, "issue", "--dir", str(d / "ca"), "--ns", "shop", "--sa", sa,
                   "--out", str(d / f"id-{sa}"))
    app = TcpEcho("db")
    inbound, svc = free_port(), free_port()
    for name in ("server", "client"):
        (d / name).mkdir()
    (d / "server" / "pa.yaml").write_text("""\
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: strict, namespace: shop}
spec: {mtls: {mode: STRICT}}
""")
    (d / "client" / "c.yaml").write_text(
        l4_service("db", svc, [(inbound, "serviceAccount: db")]) + "---\n"
        + destination_rule("db", "{tls: {mode: ISTIO_MUTUAL}}"))
    server = Meshlet(meshlet_bin, d / "server", extra=(
        "--namespace", "shop", "--identity", str(d / "id-db"), "--workload", "db-v1",
        "--label", "app=db", "--label", "version=v1",
        "--inbound-tcp", f"{inbound}=127.0.0.1:{app.port}")).start()
    client = Meshlet(meshlet_bin, d / "client", extra=(
        "--namespace", "shop", "--identity", str(d / "id-orders"), "--workload", "orders-v1",
        "--label", "app=orders", "--label", "version=v1", "--cluster", "west")).start()
    try:
        yield {"client": client, "server": server, "svc": svc, "inbound": inbound, "dir": d,
               "app": app}
    finally:
        codes = [client.stop(), server.stop()]
        app.stop()
        assert codes == [0, 0], [client.logs(), server.logs()]


def tcp_series(m, name, reporter):
    return [(lab, v) for n, lab, v in parse(m.admin("/stats/prometheus"))
            if n == name and lab.get("reporter") == reporter]


def test_tcp_each_side_names_the_other_and_counts_only_the_apps_bytes(tcp_mesh):
    client, server = tcp_mesh["client"], tcp_mesh["server"]
    with socket.create_connection(("127.0.0.1", tcp_mesh["svc"]),
                                  timeout=5) as c:
        f = c.makefile("rb")
        assert f.readline() == b"db\n"  # the app's first bytes, nothing of the exchange
        c.sendall(b"ping\n")
        assert f.readline() == b"ping\n"
        f.close()  # else the socket stays open behind it
    assert eventually(lambda: [v for _, v in tcp_series(
        server, "istio_tcp_connections_closed_total", "destination")] == [1.0])
    assert eventually(lambda: [v for _, v in tcp_series(
        client, "istio_tcp_connections_closed_total", "source")] == [1.0])
    (out, _), = tcp_series(client, "istio_tcp_connections_opened_total", "source")
    assert out["destination_workload"] == "db-v1"
    assert out["destination_app"] == "db" and out["destination_version"] == "v1"
    assert out["destination_canonical_service"] == "db"
    assert out["destination_principal"] == "spiffe://cluster.local/ns/shop/sa/db"
    assert out["source_cluster"] == "west"
    (inb, _), = tcp_series(server, "istio_tcp_connections_opened_total", "destination")
    assert inb["source_workload"] == "orders-v1"
    assert inb["source_app"] == "orders" and inb["source_canonical_revision"] == "v1"
    assert inb["source_cluster"] == "west"
    assert inb["source_principal"] == "spiffe://cluster.local/ns/shop/sa/orders"
    assert inb["connection_security_policy"] == "mutual_tls"
    # the bytes are the app's and its client's only: 3 + 5 one way, 5 the other
    for m, rep in ((client, "source"), (server, "destination")):
        assert [v for _, v in tcp_series(m, "istio_tcp_sent_bytes_total", rep)] == [8.0]
        assert [v for _, v in tcp_series(m, "istio_tcp_received_bytes_total", rep)] == [5.0]
    for m in (client, server):
        assert stat(m, "metadata_exchange.peers_known") == 1


def exchange_prefix(fields, node_id):
    """Istio's TCP exchange: magic, length, Any of a Struct of the two headers' values."""
    outer = base64.b64decode(encode({"x-envoy-peer-metadata": fields,
                                     "x-envoy-peer-metadata-id": node_id}))
    url = b"type.googleapis.com/google.protobuf.Struct"
    any_ = _len(0x0A, url) + _len(0x12, outer)
    return struct.pack(">II", 0x3D230467, len(any_)) + any_


def read_prefix(f):
    magic, n = struct.unpack(">II", f.read(8))
    assert magic == 0x3D230467
    parts = dict(_fields(f.read(n)))
    assert parts[1] == b"type.googleapis.com/google.protobuf.Struct"
    return decode(base64.b64encode(parts[2]).decode())


def mesh_client(tcp_mesh, who="orders"):
    """An mTLS connection to the db sidecar's inbound offering Istio's ALPN."""
    d = tcp_mesh["dir"]
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.load_verify_locations(str(d / "ca" / "root-cert.pem"))
    ctx.load_cert_chain(str(d / f"id-{who}" / "cert-chain.pem"), str(d / f"id-{who}" / "key.pem"))
    ctx.set_alpn_protocols(["istio-peer-exchange", "istio"])
    raw = socket.create_connection(("127.0.0.1", tcp_mesh["inbound"]), timeout=5)
    c = ctx.wrap_socket(raw)
    assert c.selected_alpn_protocol() == "istio-peer-exchange"
    return c


def test_tcp_inbound_speaks_istios_exchange(tcp_mesh):
    """An Envoy-shaped client: its exchange first, then its bytes; the inbound answers with
    its own before the app's first bytes."""
    c = mesh_client(tcp_mesh)
    c.sendall(exchange_prefix({"WORKLOAD_NAME": "envoy-client", "NAMESPACE": "shop",
                               "LABELS": {"app": "envoy-client"}}, "sidecar~1~e.shop~shop")
              + b"ping\n")
    f = c.makefile("rb")
    got = read_prefix(f)
    assert got["x-envoy-peer-metadata"]["WORKLOAD_NAME"] == "db-v1"
    assert got["x-envoy-peer-metadata"]["LABELS"]["app"] == "db"
    assert got["x-envoy-peer-metadata-id"].startswith("sidecar~")
    assert f.readline() == b"db\n" and f.readline() == b"ping\n"
    f.close()
    c.close()
    server = tcp_mesh["server"]
    assert eventually(lambda: any(
        lab["source_workload"] == "envoy-client" and v == 1.0 for lab, v in tcp_series(
            server, "istio_tcp_connections_closed_total", "destination")))


def test_tcp_inbound_does_not_wait_for_the_clients_exchange(tcp_mesh):
    """Envoy writes its exchange with its first bytes either way, so a client of a protocol
    whose server speaks first sends nothing until it hears the server: the inbound connects
    at once, and the app's greeting comes after the inbound's own exchange."""
    c = mesh_client(tcp_mesh)
    f = c.makefile("rb")
    assert read_prefix(f)["x-envoy-peer-metadata"]["WORKLOAD_NAME"] == "db-v1"
    assert f.readline() == b"db\n"
    c.sendall(exchange_prefix({"WORKLOAD_NAME": "listener-first"}, "sidecar~lf") + b"hi\n")
    assert f.readline() == b"hi\n"
    f.close()
    c.close()
    assert eventually(lambda: any(
        lab["source_workload"] == "listener-first" for lab, _ in tcp_series(
            tcp_mesh["server"], "istio_tcp_connections_closed_total", "destination")))


def test_tcp_inbound_passes_on_what_is_no_exchange_and_frees_a_vanished_client(tcp_mesh):
    server = tcp_mesh["server"]
    fds = len(os.listdir(f"/proc/{server.proc.pid}/fd"))
    # another magic: the bytes are the app's, as they came
    c = mesh_client(tcp_mesh)
    c.sendall(b"not an exchange\n")
    f = c.makefile("rb")
    read_prefix(f)
    assert f.readline() == b"db\n" and f.readline() == b"not an exchange\n"
    f.close()
    c.close()
    # an exchange too long to read is dropped as it comes, unread; what follows goes on
    c = mesh_client(tcp_mesh)
    c.sendall(struct.pack(">II", 0x3D230467, 20000) + b"z" * 20000 + b"after\n")
    f = c.makefile("rb")
    read_prefix(f)
    assert f.readline() == b"db\n" and f.readline() == b"after\n"
    f.close()
    c.close()
    # half an exchange, then gone: the connection is closed and its fd given back
    for _ in range(20):
        c = mesh_client(tcp_mesh)
        c.sendall(struct.pack(">II", 0x3D230467, 400) + b"x" * 100)
        c.close()
    assert eventually(lambda: stat(server, "http.downstream_cx_active") == 0), \
        server.admin("/stats")
    assert eventually(lambda: len(os.listdir(f"/proc/{server.proc.pid}/fd")) <= fds), \
        (fds, os.listdir(f"/proc/{server.proc.pid}/fd"))
    # and a good client is served after all of them
    c = mesh_client(tcp_mesh)
    c.sendall(exchange_prefix({"WORKLOAD_NAME": "late"}, "sidecar~late") + b"ok\n")
    f = c.makefile("rb")
    assert read_prefix(f)["x-envoy-peer-metadata"]["WORKLOAD_NAME"] == "db-v1"
    assert f.readline() == b"db\n" and f.readline() == b"ok\n"
    f.close()
    c.close()
