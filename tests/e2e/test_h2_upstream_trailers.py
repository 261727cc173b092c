# SPDX-License-Identifier: Apache-2.0
"""Request trailers to HTTP/2 upstreams: what a client sends after the body (HTTP/2
trailers, or an HTTP/1.1 chunked trailer section) goes to an HTTP/2 upstream as a trailing
HEADERS frame that ends the stream, names lower-cased, connection-specific fields left out;
a retried try sends them again. The backend (h2backend.py) echoes the trailers it got."""
import json
import socket
import time

import h2.config
import h2.connection
import h2.events
import pytest

from configs import edge_routes, gateway
from h2backend import H2Backend
from meshlet_proc import free_port, serving
from raw import read_response
from test_h2_upstream import AUTH, h2_service


@pytest.fixture
def proxy(meshlet_bin, tmp_path):
    ok, bad = H2Backend("ok").start(), H2Backend("bad", fail_status=503).start()
    gw = free_port()
    config = "---\n".join([
        gateway(gw),
        h2_service("echo", [(ok.port, None)]),
        h2_service("half", [(ok.port, None), (bad.port, None)]),
        edge_routes("routes", """\
  - match: [{uri: {prefix: /retried}}]
    route: [{destination: {host: half}}]
    retries: {attempts: 3, retryOn: 5xx}
  - route: [{destination: {host: echo}}]
"""),
    ])
    with serving(meshlet_bin, tmp_path, config, [ok, bad]) as m:
        m.gw, m.ok, m.bad = gw, ok, bad
        yield m


def h2_post(port, path, body, trailers, timeout=10):
    """POST <body> then <trailers> on a fresh HTTP/2 connection: (status, response body)."""
    s = socket.create_connection(("127.0.0.1", port))
    s.settimeout(timeout)
    c = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    c.initiate_connection()
    sid = c.get_next_available_stream_id()
    c.send_headers(sid, [(":method", "POST"), (":scheme", "http"), (":authority", AUTH),
                         (":path", path)])
    c.send_data(sid, body)
    c.send_headers(sid, trailers, end_stream=True)
    s.sendall(c.data_to_send())
    status, out, done = 0, b"", False
    deadline = time.time() + timeout
    while not done and time.time() < deadline:
        data = s.recv(65536)
        if not data:
            break
        for e in c.receive_data(data):
            if isinstance(e, h2.events.ResponseReceived):
                status = int(dict(e.headers)[b":status"])
            elif isinstance(e, h2.events.DataReceived):
                out += e.data
                c.acknowledge_received_data(e.flow_controlled_length, e.stream_id)
            elif isinstance(e, (h2.events.StreamEnded, h2.events.StreamReset)):
                done = True
        s.sendall(c.data_to_send())
    s.close()
    return status, out


def test_http2_client_trailers_reach_the_http2_upstream(proxy):
    code, body = h2_post(proxy.gw, "/t", b"hello", [("x-checksum", "abc"), ("x-n", "2")])
    assert code == 200
    seen = json.loads(body)
    assert seen["body"] == "hello"
    assert seen["trailers"] == {"x-checksum": "abc", "x-n": "2"}


def test_trailers_after_an_empty_body(proxy):
    code, body = h2_post(proxy.gw, "/t", b"", [("x-only", "t")])
    assert code == 200
    seen = json.loads(body)
    assert seen["body_length"] == 0 and seen["trailers"] == {"x-only": "t"}


def test_trailer_fields_are_bounded(proxy):
    many = [(f"x-t{i}", str(i)) for i in range(40)]
    code, body = h2_post(proxy.gw, "/t", b"b", many)
    assert code == 200
    got = json.loads(body)["trailers"]
    assert got == {f"x-t{i}": str(i) for i in range(32)}  # the first 32, in order
    # The proxy goes on serving, trailers and all.
    assert json.loads(h2_post(proxy.gw, "/t", b"b", [("x-a", "1")])[1])["trailers"] == {"x-a": "1"}


def test_http1_chunked_trailers_reach_the_http2_upstream(proxy):
    with socket.create_connection(("127.0.0.1", proxy.gw), timeout=10) as s:
        for i in range(2):  # keep-alive: the next request is read from the right place
            s.sendall(b"POST /c HTTP/1.1\r\nHost: api.example.com\r\n"
                      b"transfer-encoding: chunked\r\ntrailer: X-Checksum\r\n\r\n"
                      b"3\r\nabc\r\n2\r\nde\r\n0\r\nX-Checksum: " + str(i).encode()
                      + b"\r\nConnection: close\r\nx-other: o\r\n\r\n")
            r = read_response(s)
            assert r.status == 200 and r.complete and not r.closed, i
            seen = json.loads(r.body)
            assert seen["body"] == "abcde"
            # Names lower-cased; a connection-specific field is not forwarded.
            assert seen["trailers"] == {"x-checksum": str(i), "x-other": "o"}, seen


def test_a_retried_try_sends_the_trailers_again(proxy):
    for i in range(6):  # round robin over ok and bad: half the first tries get 503
        code, body = h2_post(proxy.gw, f"/retried/{i}", b"payload", [("x-try", str(i))])
        assert code == 200, i
        seen = json.loads(body)
        assert seen["version"] == "ok" and seen["body"] == "payload"
        assert seen["trailers"] == {"x-try": str(i)}
    assert len(proxy.bad.hits) >= 1  # some first tries did fail and were retried
