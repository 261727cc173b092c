# SPDX-License-Identifier: Apache-2.0
"""`meshlet run` end to end: real backends, the real binary, real clients on 127.0.0.1.
Routing by VirtualService, exact weighted splits over keep-alive, local replies (404 NR,
503 UH / UF), proxy headers, request and response bodies (length and chunked), pipelining,
strict parsing that never lets a bad request reach an upstream, and clean shutdown."""
import http.client
import json
import socket
import subprocess
import time

import pytest

from backend import Backend
from configs import canary_config
from meshlet_proc import Meshlet, free_port


@pytest.fixture
def backends():
    started = [Backend("v1").start(), Backend("v2").start()]
    yield started
    for b in started:
        b.stop()


@pytest.fixture
def proxy(meshlet_bin, backends, tmp_path):
    gw = free_port()
    (tmp_path / "config.yaml").write_text(canary_config(gw, backends[0].port, backends[1].port))
    m = Meshlet(meshlet_bin, tmp_path, workers=2, extra=("--namespace", "shop")).start()
    m.gw_port = gw
    yield m
    code = m.stop()
    assert code == 0, m.logs()


def get(port, path, host="api.example.com", headers=None, method="GET", body=None, conn=None):
    c = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    h = {"Host": host}
    h.update(headers or {})
    c.request(method, path, body=body, headers=h)
    r = c.getresponse()
    data = r.read()
    if conn is None:
        c.close()
    return r, data


def version(data):
    return json.loads(data)["version"]


def test_split_is_exact_over_one_keepalive_connection(proxy):
    c = http.client.HTTPConnection("127.0.0.1", proxy.gw_port, timeout=10)
    seen = [version(get(proxy.gw_port, f"/orders/{i}", conn=c)[1]) for i in range(200)]
    c.close()
    # Smooth weighted round robin: exactly 10 of every 100 requests go to v2, even on one
    # connection (the split is per request, never per connection).
    assert seen[:100].count("v2") == 10 and seen[100:].count("v2") == 10


def test_split_is_exact_across_many_connections(proxy):
    seen = [version(get(proxy.gw_port, f"/orders/{i}")[1]) for i in range(400)]
    # Two workers each keep their own exact split; together they stay within one request
    # per worker of 10%.
    assert abs(seen.count("v2") - 40) <= 2


def test_header_match_pins_the_canary(proxy):
    for _ in range(20):
        r, data = get(proxy.gw_port, "/anything", headers={"x-canary": "true"})
        assert r.status == 200 and version(data) == "v2"


def test_no_route_is_404_and_unknown_host_is_404(proxy):
    r, _ = get(proxy.gw_port, "/nothing-here")
    assert r.status == 404
    r, _ = get(proxy.gw_port, "/orders", host="other.domain")
    assert r.status == 404


def test_subset_without_endpoints_is_503_uh(proxy):
    r, data = get(proxy.gw_port, "/v3/x")
    assert r.status == 503 and data == b"no healthy upstream"


def test_direct_response_and_redirect(proxy):
    r, data = get(proxy.gw_port, "/teapot")
    assert r.status == 418 and data == b"short and stout"
    r, _ = get(proxy.gw_port, "/old/page?x=1")
    assert r.status == 301
    assert r.getheader("location") == "http://new.example.com/new?x=1"


def test_proxy_headers(proxy):
    r, data = get(proxy.gw_port, "/orders/h", headers={
        "x-forwarded-for": "10.1.2.3", "Connection": "x-secret", "x-secret": "hop",
        "x-request-id": "my-id"})
    seen = json.loads(data)["headers"]
    assert seen["x-forwarded-for"] == "10.1.2.3, 127.0.0.1"
    assert seen["x-request-id"] != "my-id"  # a Gateway's own (test_trust_boundary.py)
    assert "x-secret" not in seen and "connection" not in seen
    assert seen["host"] == "api.example.com"
    assert r.getheader("server") == "meshlet"
    assert r.getheader("x-envoy-upstream-service-time") is not None
    _, data = get(proxy.gw_port, "/orders/h")
    rid = json.loads(data)["headers"]["x-request-id"]
    assert len(rid) == 36 and rid[14] == "4"
    _, data = get(proxy.mesh_port, "/orders/h", host="orders", headers={"x-request-id": "my-id"})
    assert json.loads(data)["headers"]["x-request-id"] == "my-id"  # kept between mesh hops


def test_request_bodies_length_and_chunked(proxy):
    r, data = get(proxy.gw_port, "/orders/echo", method="POST", body=b"x" * 100000)
    assert r.status == 200 and json.loads(data)["body"] == "x" * 100000
    c = http.client.HTTPConnection("127.0.0.1", proxy.gw_port, timeout=10)
    c.putrequest("POST", "/orders/echo", skip_host=True)
    c.putheader("Host", "api.example.com")
    c.putheader("Transfer-Encoding", "chunked")
    c.endheaders()
    for part in (b"abc", b"defgh", b"i" * 5000):
        c.send(b"%x\r\n%s\r\n" % (len(part), part))
    c.send(b"0\r\n\r\n")
    r = c.getresponse()
    assert json.loads(r.read())["body"] == "abcdefgh" + "i" * 5000


def test_chunked_response_is_rechunked(proxy):
    r, data = get(proxy.gw_port, "/orders/chunked")
    assert r.status == 200 and data == b"hello chunked world"
    assert r.getheader("transfer-encoding") == "chunked"


def raw(port, payload, wait=2.0):
    with socket.create_connection(("127.0.0.1", port), timeout=wait) as s:
        s.sendall(payload)
        s.shutdown(socket.SHUT_WR)
        out = b""
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                break
            if not chunk:
                break
            out += chunk
        return out


def test_pipelined_requests_are_answered_in_order(proxy):
    req = b"GET /orders/%d HTTP/1.1\r\nHost: api.example.com\r\n\r\n"
    out = raw(proxy.gw_port, b"".join(req % i for i in range(5)))
    assert out.count(b"HTTP/1.1 200 OK") == 5
    paths = [out.find(b'"/orders/%d"' % i) for i in range(5)]
    assert all(p > 0 for p in paths) and paths == sorted(paths)


@pytest.mark.parametrize("payload,status", [
    (b"POST /orders HTTP/1.1\r\nHost: api.example.com\r\nContent-Length: 3\r\n"
     b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", b"400"),
    (b"GET /orders HTTP/1.1\r\nHost: api.example.com\r\nX: a\r\n b\r\n\r\n", b"400"),
    (b"GET /orders HTTP/1.1\nHost: api.example.com\n\n", b"400"),
    (b"GET /orders HTTP/1.1\r\nHost: api.example.com\r\nHost: b\r\n\r\n", b"400"),
    (b"POST /orders HTTP/1.1\r\nHost: api.example.com\r\nTransfer-Encoding: xchunked\r\n\r\n",
     b"501"),
    (b"GET /" + b"a" * 20000 + b" HTTP/1.1\r\nHost: api.example.com\r\n\r\n", b"414"),
    (b"GET /orders HTTP/1.1\r\nHost: api.example.com\r\nX: a\rb\r\n\r\n", b"400"),
    (b"GET /orders HTTP/1.1\r\nHost: api.example.com\r\nX: a\x00b\r\n\r\n", b"400"),
    (b"GET /orders HTTP/1.1\r\nHost: api.example.com\r\nX : b\r\n\r\n", b"400"),
    (b"POST /orders HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", b"400"),
    (b"POST /orders HTTP/1.1\r\nHost: api.example.com\r\nContent-Length: +5\r\n\r\nhello", b"400"),
    (b"POST /orders HTTP/1.1\r\nHost: api.example.com\r\nContent-Length: 5\r\n"
     b"Content-Length: 6\r\n\r\nhello!", b"400"),
    (b"POST /orders HTTP/1.1\r\nHost: api.example.com\r\nTransfer-Encoding: chunked, identity\r\n"
     b"\r\n", b"400"),
    (b"GET /orders HTTP/1.1\r\n Host: api.example.com\r\n\r\n", b"400"),
    (b"GET  /orders HTTP/1.1\r\nHost: api.example.com\r\n\r\n", b"400"),
    (b"GET /orders http/1.1\r\nHost: api.example.com\r\n\r\n", b"400"),
    (b"GET /orders HTTP/1.1\r\n\r\n", b"400"),
    (b"GET /orders HTTP/1.1\r\nHost: api.example.com\r\nConnection: content-length\r\n\r\n",
     b"400"),
    (b"GET /orders HTTP/1.1\r\nHost: api.example.com\r\n" + b"X-Big: " + b"b" * 70000 +
     b"\r\n\r\n", b"431"),
], ids=["cl-te", "obs-fold", "bare-lf", "two-hosts", "te-unknown", "long-target", "bare-cr",
        "nul", "space-before-colon", "te-http10", "cl-plus", "cl-differ", "chunked-not-last",
        "leading-space-line", "double-space", "lowercase-version", "no-host",
        "connection-nominates-cl", "huge-header"])
def test_bad_requests_never_reach_an_upstream(proxy, backends, payload, status):
    before = sum(len(b.hits) for b in backends)
    out = raw(proxy.gw_port, payload)
    assert out.startswith(b"HTTP/1.1 " + status), out[:200]
    assert b"connection: close" in out.lower()
    assert sum(len(b.hits) for b in backends) == before


def test_mesh_listener_routes_by_short_name(proxy):
    r, data = get(proxy.mesh_port, "/orders/m", host="orders", headers={"x-canary": "true"})
    assert r.status == 200 and version(data) == "v2"
    r, data = get(proxy.mesh_port, "/orders/m", host="orders.shop.svc.cluster.local:9080",
                  headers={"x-canary": "true"})
    assert r.status == 200 and version(data) == "v2"


def test_dead_backend_is_503_uf(meshlet_bin, tmp_path, backends):
    gw, dead = free_port(), free_port()
    (tmp_path / "c.yaml").write_text(canary_config(gw, dead, dead, weights=(100, 0)))
    m = Meshlet(meshlet_bin, tmp_path).start()
    try:
        r, data = get(gw, "/orders/x")
        assert r.status == 503 and b"connection failure" in data
    finally:
        assert m.stop() == 0


def test_cutover_sends_nothing_to_the_old_subset(meshlet_bin, tmp_path, backends):
    gw = free_port()
    (tmp_path / "c.yaml").write_text(canary_config(gw, backends[0].port, backends[1].port,
                                                   weights=(0, 100)))
    m = Meshlet(meshlet_bin, tmp_path, workers=2).start()
    try:
        seen = [version(get(gw, f"/orders/{i}")[1]) for i in range(100)]
        assert seen.count("v2") == 100
    finally:
        assert m.stop() == 0


def test_run_refuses_a_config_with_errors(meshlet_bin, tmp_path):
    (tmp_path / "bad.yaml").write_text(
        "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: r}\n"
        "spec:\n  hosts: [a.example.com]\n  http:\n  - route:\n"
        "    - destination: {host: a.example.com}\n      weight: -1\n")
    p = subprocess.run([meshlet_bin, "run", "-c", str(tmp_path), "--admin",
                        f"127.0.0.1:{free_port()}"], capture_output=True, text=True, timeout=20)
    assert p.returncode == 1
    assert "weight -1 < 0" in p.stderr and "not starting" in p.stderr


def test_invalid_chunk_in_request_body_is_400_and_closes(proxy):
    out = raw(proxy.gw_port, b"POST /orders/echo HTTP/1.1\r\nHost: api.example.com\r\n"
                             b"Transfer-Encoding: chunked\r\n\r\n0x10\r\n")
    assert out.startswith(b"HTTP/1.1 400")
    assert b"connection: close" in out


def test_ten_thousand_requests_split_within_bounds(proxy):
    """90/10 over 10,000 requests on 4 keep-alive connections (spread over both workers):
    within 5 sigma of 10% overall and within 1% on every window of 1,000 requests."""
    conns = [http.client.HTTPConnection("127.0.0.1", proxy.gw_port, timeout=10) for _ in range(4)]
    seen = []
    for i in range(10000):
        seen.append(version(get(proxy.gw_port, "/orders/s", conn=conns[i % len(conns)])[1]))
    for c in conns:
        c.close()
    sigma = (10000 * 0.1 * 0.9) ** 0.5
    assert abs(seen.count("v2") - 1000) <= 5 * sigma
    for start in range(0, 10000 - 1000 + 1, 50):
        assert abs(seen[start:start + 1000].count("v2") - 100) <= 10


def test_three_way_split(meshlet_bin, tmp_path):
    bs = [Backend(v).start() for v in ("v1", "v2", "v3")]
    try:
        gw = free_port()
        cfg = canary_config(gw, bs[0].port, bs[1].port)
        cfg = cfg.replace("  - {address: 127.0.0.1, ports: {http: %d}, labels: {version: v2}}\n"
                          % bs[1].port,
                          "  - {address: 127.0.0.1, ports: {http: %d}, labels: {version: v2}}\n"
                          "  - {address: 127.0.0.1, ports: {http: %d}, labels: {version: v3}}\n"
                          % (bs[1].port, bs[2].port))
        cfg = cfg.replace("      weight: 90\n", "      weight: 70\n").replace(
            "      weight: 10\n", "      weight: 20\n    - destination: {host: orders, subset: v3}\n"
            "      weight: 10\n")
        (tmp_path / "c.yaml").write_text(cfg)
        m = Meshlet(meshlet_bin, tmp_path).start()
        try:
            c = http.client.HTTPConnection("127.0.0.1", gw, timeout=10)
            seen = [version(get(gw, "/orders/3", conn=c)[1]) for _ in range(1000)]
            c.close()
            assert (seen.count("v1"), seen.count("v2"), seen.count("v3")) == (700, 200, 100)
        finally:
            assert m.stop() == 0
    finally:
        for b in bs:
            b.stop()


def test_hundred_megabytes_stream_both_ways(proxy):
    size = 100 << 20
    c = http.client.HTTPConnection("127.0.0.1", proxy.gw_port, timeout=60)

    def body():
        block = b"y" * (1 << 20)
        for _ in range(size // len(block)):
            yield block

    c.request("POST", "/orders/count", body=body(), headers={
        "Host": "api.example.com", "Content-Length": str(size)})
    r = c.getresponse()
    assert json.loads(r.read())["bytes"] == size
    c.request("GET", f"/orders/bytes/{size}", headers={"Host": "api.example.com"})
    r = c.getresponse()
    got = 0
    while True:
        piece = r.read(1 << 20)
        if not piece:
            break
        got += len(piece)
    assert got == size
    c.close()


def test_mesh_default_route_for_a_service_without_virtual_service(meshlet_bin, tmp_path,
                                                                 backends):
    (tmp_path / "c.yaml").write_text(f"""\
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {{name: ratings, namespace: shop}}
spec:
  hosts: [ratings.shop.svc.cluster.local]
  ports: [{{number: 9080, name: http, protocol: HTTP}}]
  resolution: STATIC
  endpoints: [{{address: 127.0.0.1, ports: {{http: {backends[0].port}}}}}]
""")
    m = Meshlet(meshlet_bin, tmp_path, extra=("--namespace", "shop")).start()
    try:
        r, data = get(m.mesh_port, "/r", host="ratings")
        assert r.status == 200 and version(data) == "v1"
    finally:
        assert m.stop() == 0


def test_route_timeout_is_504_and_fast_answers_pass(proxy):
    r, data = get(proxy.gw_port, "/slow/x?delay_ms=1500")
    assert r.status == 504 and data == b"upstream request timeout"
    r, data = get(proxy.gw_port, "/slow/x?delay_ms=10")
    assert r.status == 200 and version(data) == "v1"


def test_a_burst_of_connections_is_all_accepted(proxy):
    """Hundreds of connections arriving at once: the edge-triggered listener drains its
    backlog, none is left waiting."""
    socks = [socket.create_connection(("127.0.0.1", proxy.gw_port), timeout=10)
             for _ in range(500)]
    for s in socks:
        s.sendall(b"GET /orders/b HTTP/1.1\r\nHost: api.example.com\r\n\r\n")
    answered = 0
    for s in socks:
        got = b""
        while b"\r\n\r\n" not in got:
            got += s.recv(65536)
        answered += got.startswith(b"HTTP/1.1 200")
        s.close()
    assert answered == 500
