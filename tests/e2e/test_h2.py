# SPDX-License-Identifier: Apache-2.0
"""HTTP/2 from clients (issue 14, first step): h2c with prior knowledge on a plain-text
listener, told apart from HTTP/1.1 by the connection preface as Envoy's codec AUTO does.
Each stream is a request of the same request core as HTTP/1.1: routing by :authority and
:path, the weighted split per stream (exact over one connection), local replies, retries,
request bodies under flow control, and streams a client resets. Upstreams are HTTP/1.1."""
import json
import os
import re
import signal
import socket
import subprocess
import time

import h2.config
import h2.connection
import h2.events
import pytest

from backend import Backend
from configs import edge_routes, gateway, service_entry, subsets_rule
from meshlet_proc import eventually, free_port, serving

AUTH = "api.example.com"


@pytest.fixture
def proxy(meshlet_bin, tmp_path):
    v1, v2 = Backend("v1").start(), Backend("v2").start()
    broken = Backend("broken", fail_status=503).start()
    slow = Backend("slow", delay_ms=3000).start()
    gw = free_port()
    config = "---\n".join([
        gateway(gw),
        service_entry("orders", "shop", [(v1.port, {"version": "v1"}), (v2.port, {"version": "v2"})]),
        subsets_rule("orders", "shop", ["v1", "v2"]),
        service_entry("half", "shop", [(v1.port, {}), (broken.port, {})]),
        service_entry("slow", "shop", [(slow.port, {})]),
        edge_routes("routes", """\
  - match: [{uri: {prefix: /direct}}]
    directResponse: {status: 418, body: {string: "short and stout"}}
  - match: [{uri: {prefix: /old}}]
    redirect: {uri: /new, redirectCode: 308}
  - match: [{uri: {prefix: /retried}}]
    route: [{destination: {host: half}}]
    retries: {attempts: 2, retryOn: 5xx}
  - match: [{uri: {prefix: /slow}}]
    route: [{destination: {host: slow}}]
  - match: [{uri: {prefix: /delayed}}]
    fault: {delay: {fixedDelay: 600ms, percentage: {value: 100}}}
    route: [{destination: {host: orders, subset: v1}}]
  - route:
    - {destination: {host: orders, subset: v1}, weight: 90}
    - {destination: {host: orders, subset: v2}, weight: 10}
"""),
    ])
    log = tmp_path / "access.log"
    with serving(meshlet_bin, tmp_path, config, [v1, v2, broken, slow],
                 extra=("--access-log", str(log))) as m:
        m.gw, m.v1, m.v2, m.broken, m.log = gw, v1, v2, broken, log
        yield m


def curl(port, path, *args, authority=AUTH):
    out = subprocess.run(
        ["curl", "-sS", "--http2-prior-knowledge", "-H", f"Host: {authority}", "-D", "-",
         "-o", "-", *args, f"http://127.0.0.1:{port}{path}"],
        capture_output=True, timeout=20)
    assert out.returncode == 0, out.stderr
    head, _, body = out.stdout.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    status = lines[0]
    headers = dict(ln.split(": ", 1) for ln in lines[1:])
    return status, headers, body


def test_h2c_prior_knowledge_is_routed(proxy):
    status, headers, body = curl(proxy.gw, "/orders/1")
    assert status.startswith("HTTP/2 200")
    assert headers["server"] == "meshlet"
    assert "x-envoy-upstream-service-time" in headers
    seen = json.loads(body)
    assert seen["path"] == "/orders/1" and seen["headers"]["host"] == AUTH
    assert seen["headers"]["x-forwarded-proto"] == "http"


def test_access_log_says_the_protocol(proxy):
    curl(proxy.gw, "/orders/logged-h2")
    subprocess.run(["curl", "-sS", "--http1.0", "-H", f"Host: {AUTH}", "-o", "/dev/null",
                    f"http://127.0.0.1:{proxy.gw}/orders/logged-h10"], timeout=10, check=True)

    def protocols():
        text = proxy.log.read_text() if proxy.log.exists() else ""
        return {e["path"]: e["protocol"] for e in map(json.loads, text.splitlines())}

    assert eventually(lambda: len(protocols()) >= 2, 5), protocols()
    assert protocols()["/orders/logged-h2"] == "HTTP/2"
    assert protocols()["/orders/logged-h10"] == "HTTP/1.0"


def test_http1_still_answered_on_the_same_listener(proxy):
    out = subprocess.run(["curl", "-sS", "--http1.1", "-H", f"Host: {AUTH}", "-o", "/dev/null",
                          "-w", "%{http_version} %{http_code}", f"http://127.0.0.1:{proxy.gw}/x"],
                         capture_output=True, timeout=10)
    assert out.stdout == b"1.1 200"


def test_split_is_exact_per_stream_over_one_connection(proxy):
    out = subprocess.run(["h2load", "-n", "1000", "-c", "1", "-m", "20", "-H", f":authority: {AUTH}",
                          f"http://127.0.0.1:{proxy.gw}/orders/split"],
                         capture_output=True, timeout=60, text=True)
    assert "1000 succeeded" in out.stdout, out.stdout
    assert len([h for h in proxy.v2.hits if h.startswith("/orders/split")]) == 100
    assert len([h for h in proxy.v1.hits if h.startswith("/orders/split")]) == 900


def test_local_replies_over_h2(proxy):
    status, headers, body = curl(proxy.gw, "/direct")
    assert status.startswith("HTTP/2 418") and body == b"short and stout"
    assert headers["content-length"] == "15"
    status, headers, _ = curl(proxy.gw, "/old/x?q=1")
    assert status.startswith("HTTP/2 308") and headers["location"] == f"http://{AUTH}/new?q=1"
    status, _, _ = curl(proxy.gw, "/x", authority="unknown.example.com")
    assert status.startswith("HTTP/2 404")


def test_5xx_is_retried_over_h2(proxy):
    for i in range(20):
        status, _, body = curl(proxy.gw, f"/retried/{i}")
        assert status.startswith("HTTP/2 200"), (i, status)
        assert json.loads(body)["version"] == "v1"


def test_large_request_body_goes_through_flow_control(proxy, tmp_path):
    data = os.urandom(3 * 1024 * 1024)
    (tmp_path / "big.bin").write_bytes(data)
    status, _, body = curl(proxy.gw, "/orders/upload", "--data-binary", f"@{tmp_path / 'big.bin'}")
    assert status.startswith("HTTP/2 200")
    seen = json.loads(body)
    assert seen["headers"]["content-length"] == str(len(data))
    assert len(seen["body"]) == len(data)


def fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def h2_connect(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    c = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    c.initiate_connection()
    s.sendall(c.data_to_send())
    return s, c


def test_streams_reset_by_the_client_give_everything_back(proxy):
    pid = proxy.proc.pid
    before = fds(pid)
    for _ in range(5):
        s, c = h2_connect(proxy.gw)
        ids = []
        for _ in range(10):  # requests held by the slow backend
            sid = c.get_next_available_stream_id()
            c.send_headers(sid, [(":method", "GET"), (":path", "/slow/x"), (":scheme", "http"),
                                 (":authority", AUTH)], end_stream=True)
            ids.append(sid)
        s.sendall(c.data_to_send())
        time.sleep(0.2)
        for sid in ids:
            c.reset_stream(sid)
        s.sendall(c.data_to_send())
        time.sleep(0.1)
        s.close()
    # The upstream connections of the reset streams are closed, the client connections gone.
    assert eventually(lambda: fds(pid) <= before, 10), (fds(pid), before)
    status, _, _ = curl(proxy.gw, "/orders/after")
    assert status.startswith("HTTP/2 200")
    text = proxy.admin("/stats/prometheus")
    assert 'response_flags="DC"' in text


def test_many_streams_on_one_connection_are_all_answered(proxy):
    s, c = h2_connect(proxy.gw)
    ids = set()
    for i in range(50):
        sid = c.get_next_available_stream_id()
        c.send_headers(sid, [(":method", "GET"), (":path", f"/orders/m{i}"), (":scheme", "http"),
                             (":authority", AUTH)], end_stream=True)
        ids.add(sid)
    s.sendall(c.data_to_send())
    statuses, ended = {}, set()
    deadline = time.time() + 20
    while ended != ids and time.time() < deadline:
        data = s.recv(65536)
        if not data:
            break
        for e in c.receive_data(data):
            if isinstance(e, h2.events.ResponseReceived):
                statuses[e.stream_id] = dict(e.headers)[b":status"]
            elif isinstance(e, h2.events.DataReceived):
                c.acknowledge_received_data(e.flow_controlled_length, e.stream_id)
            elif isinstance(e, h2.events.StreamEnded):
                ended.add(e.stream_id)
        s.sendall(c.data_to_send())
    s.close()
    assert ended == ids
    assert set(statuses.values()) == {b"200"}


def exchange(s, c, ids, timeout=20):
    """Read until every stream of <ids> ended: {id: (status, body)} and the order they ended."""
    got, order = {}, []
    deadline = time.time() + timeout
    while len(order) < len(ids) and time.time() < deadline:
        data = s.recv(65536)
        if not data:
            break
        for e in c.receive_data(data):
            if isinstance(e, h2.events.ResponseReceived):
                got[e.stream_id] = [dict(e.headers)[b":status"], b""]
            elif isinstance(e, h2.events.DataReceived):
                got[e.stream_id][1] += e.data
                c.acknowledge_received_data(e.flow_controlled_length, e.stream_id)
            elif isinstance(e, h2.events.StreamEnded):
                order.append(e.stream_id)
        s.sendall(c.data_to_send())
    return got, order


def test_a_delayed_stream_keeps_its_own_head_while_others_arrive(proxy):
    """A stream held by an injected delay keeps its header block while the connection takes
    in other streams' blocks; when the delay ends it goes out with its own fields."""
    s, c = h2_connect(proxy.gw)
    base = [(":method", "GET"), (":scheme", "http"), (":authority", AUTH)]
    held = c.get_next_available_stream_id()
    c.send_headers(held, base + [(":path", "/delayed/x"), ("x-who", "held"),
                                 ("x-pad", "a" * 3000)], end_stream=True)
    s.sendall(c.data_to_send())
    others = []
    for i in range(20):
        sid = c.get_next_available_stream_id()
        c.send_headers(sid, base + [(":path", f"/orders/o{i}"), ("x-who", f"other{i}"),
                                    ("x-pad", "b" * 3000)], end_stream=True)
        others.append(sid)
    s.sendall(c.data_to_send())
    got, order = exchange(s, c, [held] + others)
    s.close()
    assert order[-1] == held, order  # the others did not wait for it
    assert got[held][0] == b"200"
    seen = json.loads(got[held][1])
    assert seen["path"] == "/delayed/x"
    assert seen["headers"]["x-who"] == "held" and seen["headers"]["x-pad"] == "a" * 3000
    for i, sid in enumerate(others):
        assert json.loads(got[sid][1])["headers"]["x-who"] == f"other{i}"


def test_request_trailers_to_an_http1_upstream_are_dropped(proxy):
    """HTTP/2 request trailers end the request; an HTTP/1.1 upstream gets the body without
    them (Envoy's HTTP/1.1 codec does not encode trailers unless enable_trailers)."""
    s, c = h2_connect(proxy.gw)
    sid = c.get_next_available_stream_id()
    c.send_headers(sid, [(":method", "POST"), (":scheme", "http"), (":authority", AUTH),
                         (":path", "/orders/t")])
    c.send_data(sid, b"x" * 1000)
    c.send_headers(sid, [("x-checksum", "abc")], end_stream=True)
    s.sendall(c.data_to_send())
    got, order = exchange(s, c, [sid])
    s.close()
    assert order == [sid] and got[sid][0] == b"200"
    seen = json.loads(got[sid][1])
    assert "x-checksum" not in seen["headers"]
    assert seen["body"] == "x" * 1000


@pytest.fixture
def tls_proxy(meshlet_bin, tmp_path):
    from certs import self_signed
    crt, key = self_signed(tmp_path / "files")
    backend = Backend("b").start()
    port = free_port()
    config = "---\n".join([
        f"""\
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {{name: edge, namespace: shop}}
spec:
  selector: {{istio: ingressgateway}}
  servers:
  - port: {{number: {port}, name: https, protocol: HTTPS}}
    hosts: ["shop/*.example.com"]
    tls: {{mode: SIMPLE, serverCertificate: {crt}, privateKey: {key}}}
""",
        service_entry("orders", "shop", [(backend.port, {})]),
        edge_routes("edge", "  - route: [{destination: {host: orders}}]\n"),
    ])
    with serving(meshlet_bin, tmp_path, config, [backend]) as m:
        m.port, m.crt = port, crt
        yield m


def curl_tls(m, *args):
    out = subprocess.run(
        ["curl", "-sS", "--cacert", str(m.crt), "--resolve", f"{AUTH}:{m.port}:127.0.0.1",
         "-o", "/dev/null", "-w", "%{http_version} %{http_code}", *args,
         f"https://{AUTH}:{m.port}/orders/tls"], capture_output=True, timeout=20)
    assert out.returncode == 0, out.stderr
    return out.stdout.decode()


def test_alpn_picks_h2_on_a_gateway_tls_server(tls_proxy):
    assert curl_tls(tls_proxy, "--http2") == "2 200"
    # A client that offers only HTTP/1.1 (or no ALPN) gets HTTP/1.1 on the same port.
    assert curl_tls(tls_proxy, "--http1.1") == "1.1 200"
    out = subprocess.run(["h2load", "-n", "200", "-c", "2", "-m", "10",
                          "-H", f":authority: {AUTH}", f"https://127.0.0.1:{tls_proxy.port}/orders/h"],
                         capture_output=True, timeout=60, text=True)
    assert "200 succeeded" in out.stdout, out.stdout


def test_drain_lets_streams_in_flight_finish(proxy):
    """SIGTERM while a stream is in flight: the connection gets GOAWAY (nghttp's verbose
    output shows it), the stream's response still arrives whole, and meshlet exits 0."""
    p = subprocess.Popen(["nghttp", "-nv", "-H", f":authority: {AUTH}",
                          f"http://127.0.0.1:{proxy.gw}/orders/d?delay_ms=800"],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    time.sleep(0.3)
    proxy.proc.send_signal(signal.SIGTERM)
    out, _ = p.communicate(timeout=20)
    # RFC 9113 §6.8: first a GOAWAY with the largest stream id (open no more), a PING for
    # the round trip, then the final GOAWAY naming the last stream taken.
    goaways = re.findall(r"recv GOAWAY frame.*\n.*last_stream_id=(\d+), error_code=NO_ERROR", out)
    assert len(goaways) == 2 and goaways[0] == "2147483647", out
    assert 0 < int(goaways[1]) < 2**31 - 1, out
    assert "recv PING frame" in out, out
    assert ":status: 200" in out, out
    assert proxy.proc.wait(timeout=10) == 0


@pytest.mark.parametrize("answers_ping", [True, False])
def test_streams_sent_before_the_drain_notice_was_seen_are_served(proxy, answers_ping):
    """A stream the client opens after the first GOAWAY left meshlet but before it read it
    is still served, and the final GOAWAY names it. The final GOAWAY follows the ACK of the
    drain's PING, or a second without one."""
    from hpack import Decoder
    from hyperframe.frame import GoAwayFrame, HeadersFrame, PingFrame
    from test_h2_abuse import Raw, request_block
    r = Raw(proxy.gw)
    r.send(HeadersFrame(1, request_block(b"/orders/d?delay_ms=800"),
                        flags=["END_HEADERS", "END_STREAM"]))
    time.sleep(0.3)
    proxy.proc.send_signal(signal.SIGTERM)
    seen = r.frames(5, until=lambda f: isinstance(f, GoAwayFrame))
    assert seen[-1].last_stream_id == 2**31 - 1, seen
    ping = [f for f in seen if isinstance(f, PingFrame) and "ACK" not in f.flags]
    assert len(ping) == 1, seen
    r.send(HeadersFrame(3, request_block(b"/orders/late"), flags=["END_HEADERS", "END_STREAM"]))
    if answers_ping:
        r.send(PingFrame(0, flags=["ACK"], opaque_data=ping[0].opaque_data))
    seen += r.frames(10)
    r.close()
    dec = Decoder()
    status = {f.stream_id: dict(dec.decode(f.data))[":status"]
              for f in seen if isinstance(f, HeadersFrame)}
    assert status == {1: "200", 3: "200"}, seen
    assert [f.last_stream_id for f in seen if isinstance(f, GoAwayFrame)] == [2**31 - 1, 3]
    assert proxy.proc.wait(timeout=10) == 0
