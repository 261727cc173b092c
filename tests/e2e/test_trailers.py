# SPDX-License-Identifier: Apache-2.0
"""Chunked trailers (issue 13): the request core carries them as fields, and the HTTP/1.1
codecs drop them on the wire, as Envoy's HTTP/1.1 codec does unless enable_trailers is set
(Istio leaves it off). A trailer section that arrives in pieces is held until whole and then
dropped: the message still ends where it should, the connection stays in step, and the next
request on it is answered."""
import socket
import time

import pytest

from configs import edge_routes, gateway, service_entry
from meshlet_proc import free_port, serving
from raw import RawBackend, read_head, read_response

PIECES = [
    b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n",
    b"grpc-sta",
    b"tus: 0\r\ngrpc-message: o",
    b"k\r\n",
    b"\r\n",
]


def read_chunked_body(conn, buf):
    """The request body a chunked request sends after its head (<buf>: bytes already read):
    (the raw bytes up to the end of the message, what follows)."""
    while b"0\r\n\r\n" not in buf and not buf.endswith(b"0\r\n\r\n"):
        got = conn.recv(65536)
        if not got:
            break
        buf += got
    end = buf.index(b"0\r\n\r\n") + 5
    return buf[:end], buf[end:]


def trickle(backend, conn):
    """Answer every request on the connection with a chunked response whose trailer section
    comes in pieces, a few milliseconds apart; record the request bodies it got."""
    while True:
        head = read_head(conn)
        if not head:
            return
        head, rest = head.split(b"\r\n\r\n", 1)
        if b"transfer-encoding: chunked" in head.lower():
            body, _ = read_chunked_body(conn, rest)
            backend.bodies.append(body)
        for piece in PIECES:
            conn.sendall(piece)
            time.sleep(0.01)


@pytest.fixture
def proxy(meshlet_bin, tmp_path):
    backend = RawBackend(trickle)
    backend.bodies = []
    backend.start()
    gw = free_port()
    config = "---\n".join([
        gateway(gw),
        service_entry("trailers", "shop", [(backend.port, {})]),
        edge_routes("routes", """\
  - route: [{destination: {host: trailers}}]
"""),
    ])
    with serving(meshlet_bin, tmp_path, config, [backend]) as m:
        m.gw, m.backend = gw, backend
        yield m


def test_response_trailers_in_pieces_are_held_then_dropped(proxy):
    with socket.create_connection(("127.0.0.1", proxy.gw), timeout=5) as s:
        for i in range(3):  # one keep-alive connection: each response must end in step
            s.sendall(b"GET /t HTTP/1.1\r\nHost: api.example.com\r\n\r\n")
            r = read_response(s)
            assert r.status == 200, i
            assert r.complete and not r.closed, i
            assert r.body == b"hello", i
            assert r.headers.get("transfer-encoding") == "chunked"
            assert "grpc-status" not in r.headers


def test_request_trailers_in_pieces_are_held_then_dropped(proxy):
    with socket.create_connection(("127.0.0.1", proxy.gw), timeout=5) as s:
        s.sendall(b"POST /t HTTP/1.1\r\nHost: api.example.com\r\ntransfer-encoding: chunked\r\n\r\n"
                  b"3\r\nabc\r\n0\r\nx-chk")
        time.sleep(0.05)
        s.sendall(b"sum: 42\r\n")
        time.sleep(0.05)
        s.sendall(b"\r\n")
        r = read_response(s)
        assert r.status == 200 and r.complete
        # The next request on the same connection is read from the right place.
        s.sendall(b"GET /t HTTP/1.1\r\nHost: api.example.com\r\n\r\n")
        assert read_response(s).status == 200
    assert proxy.backend.bodies == [b"3\r\nabc\r\n0\r\n\r\n"]


def oversized(backend, conn):
    if read_head(conn):
        conn.sendall(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\nok\r\n0\r\nx: "
                     + b"a" * 17000 + b"\r\n\r\n")


def test_oversized_response_trailers_cut_the_response(meshlet_bin, tmp_path):
    """A trailer section past 16 KiB is refused (meshlet's limit on a trailer block): the
    response already begun is cut, so the client sees the truncation, and the proxy goes on
    serving."""
    big = RawBackend(oversized).start()
    gw = free_port()
    config = "---\n".join([
        gateway(gw),
        service_entry("big", "shop", [(big.port, {})]),
        edge_routes("routes", "  - route: [{destination: {host: big}}]\n"),
    ])
    with serving(meshlet_bin, tmp_path, config, [big]):
        for _ in range(2):
            with socket.create_connection(("127.0.0.1", gw), timeout=5) as s:
                s.sendall(b"GET / HTTP/1.1\r\nHost: api.example.com\r\n\r\n")
                r = read_response(s)
                assert r.status == 200 and not r.complete and r.closed
                assert r.body == b"ok"
