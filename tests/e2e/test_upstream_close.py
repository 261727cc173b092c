# SPDX-License-Identifier: Apache-2.0
"""Backends that close right after sending bytes, and clients that half-close (issue 12).

Each shape runs 40 times. Every client must get either a complete response or see the
truncation (the connection closes before the framing ends), never wait: a 5 s socket
timeout fails the test. Afterwards meshlet holds as many fds as before and no socket in
CLOSE-WAIT, and /stats/prometheus counts the shapes by response flag (UC: the upstream
connection ended the exchange before any response byte; UPE: it ended a response cut
short, which Envoy's HTTP/1 codec takes as a protocol error)."""
import json
import re
import socket

import pytest

from configs import edge_routes, gateway, service_entry
from meshlet_proc import eventually, free_port, serving
from raw import RawBackend, close_wait, fd_count, read_head, read_response, to_port
from backend import Backend

TRIES = 40

RESET = b"upstream connect error or disconnect/reset before headers. reset reason: "

# What the backend sends before closing: (bytes, client sees a complete response?, status,
# response flag, body the client gets).
SHAPES = {
    # No length: the body ends at the close. meshlet re-frames it as chunked for HTTP/1.1.
    "close-delimited": (b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\r\nall of it",
                        True, 200, "-", b"all of it"),
    # Closed with nothing sent: Envoy's 503 UC (a reset before the response headers).
    "nothing": (b"", True, 503, "UC", RESET + b"connection termination"),
    # The head cut short: nothing went to the client yet. Envoy's codec fails on the early
    # end of stream: a reset by protocol error, 503 UPE.
    "head-cut": (b"HTTP/1.1 200 OK\r\ncontent-ty", True, 503, "UPE", RESET + b"protocol error"),
    # The body cut short after the head went out: the client connection is closed so that
    # the client sees the truncation (UPE, as Envoy's codec).
    "length-cut": (b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nonly ten..", False, 200,
                   "UPE", b"only ten.."),
    "chunked-cut": (b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"
                    b"4\r\nfour\r\na\r\nmid-c", False, 200, "UPE", b"fourmid-c"),
}


# A complete keep-alive response, then the close at once: the connection is not pooled.
THEN_CLOSE = b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\nfull"


def misbehave(backend, conn):
    head = read_head(conn)
    if not head:
        return
    shape = head.split(b" ")[1].decode().rsplit("/", 1)[1]
    conn.sendall(SHAPES[shape][0] if shape in SHAPES else THEN_CLOSE)  # bytes and FIN together


def request(port, path):
    return (f"GET {path} HTTP/1.1\r\nHost: api.example.com\r\n\r\n").encode()


@pytest.fixture
def proxy(meshlet_bin, tmp_path):
    bad = RawBackend(misbehave).start()
    good = Backend("good").start()
    gw = free_port()
    config = "---\n".join([
        gateway(gw),
        service_entry("bad", "shop", [(bad.port, {})]),
        service_entry("good", "shop", [(good.port, {})]),
        edge_routes("routes", """\
  - match: [{uri: {prefix: /good}}]
    route: [{destination: {host: good}}]
  - match: [{uri: {prefix: /mirrored/}}]
    route: [{destination: {host: good}}]
    mirror: {host: bad}
    mirrorPercentage: {value: 100}
  - route: [{destination: {host: bad}}]
"""),
    ])
    log = tmp_path / "access.log"
    with serving(meshlet_bin, tmp_path, config, [bad, good], workers=2,
                 extra=("--access-log", str(log))) as m:
        m.gw, m.bad, m.good, m.log = gw, bad, good, log
        yield m


def settled(m, baseline):
    """meshlet's fds come back to <baseline> (plus its keep-alive connections parked in the
    pool of the good backend) and none of its sockets stays in CLOSE-WAIT."""
    pid = m.proc.pid

    def held():
        return fd_count(pid) - to_port(m.good.port)

    ok = eventually(lambda: held() <= baseline and not close_wait(pid))
    assert ok, (held(), baseline, close_wait(pid))


def flag_count(m, code, flags):
    text = m.admin("/stats/prometheus")
    total = 0
    for line in text.splitlines():
        if (line.startswith("istio_requests_total{") and f'response_code="{code}"' in line
                and f'response_flags="{flags}"' in line and 'destination_service_name="bad"' in line):
            total += int(float(line.rsplit(" ", 1)[1]))
    return total


@pytest.mark.parametrize("shape", list(SHAPES))
def test_backend_closing_after_bytes_ends_the_response(proxy, shape):
    _, complete, status, flags, body = SHAPES[shape]
    m = proxy
    baseline = fd_count(m.proc.pid)
    for i in range(TRIES):
        with socket.create_connection(("127.0.0.1", m.gw), timeout=5) as s:
            s.sendall(request(m.gw, f"/{shape}"))
            try:
                r = read_response(s)
            except socket.timeout:
                pytest.fail(f"try {i}: the response to /{shape} never ended")
            assert r.status == status, (i, r.status)
            assert r.complete == complete, (i, r.body)
            if body is not None:
                assert r.body == body, (i, r.body)
            if not complete:
                assert r.closed
    settled(m, baseline)
    # Another client is still served, by the same workers.
    with socket.create_connection(("127.0.0.1", m.gw), timeout=5) as s:
        s.sendall(request(m.gw, "/good"))
        assert read_response(s).status == 200
    assert eventually(lambda: flag_count(m, status, flags) == TRIES), flag_count(m, status, flags)

    def logged():
        text = m.log.read_text() if m.log.exists() else ""
        return [(e["response_code"], e["response_flags"]) for e in map(json.loads, text.splitlines())
                if e["path"] == f"/{shape}"]

    assert eventually(lambda: len(logged()) == TRIES, 3), logged()
    assert set(logged()) == {(status, flags)}


def test_complete_response_then_close_is_not_pooled(proxy):
    """The FIN that comes with a keep-alive response: the connection is closed, not parked
    in CLOSE-WAIT. (A request that takes a pooled connection just as its FIN arrives gets
    Envoy's 503 UC, "connection termination": that race is as in Envoy.)"""
    m = proxy
    baseline = fd_count(m.proc.pid)
    codes = []
    for i in range(TRIES):
        with socket.create_connection(("127.0.0.1", m.gw), timeout=5) as s:
            s.sendall(request(m.gw, "/then-close"))
            r = read_response(s)
            assert r.complete and (r.status, r.body) in ((200, b"full"), (503, r.body)), i
            codes.append(r.status)
    settled(m, baseline)
    assert eventually(lambda: flag_count(m, 200, "-") + flag_count(m, 503, "UC") == TRIES)
    assert flag_count(m, 200, "-") == codes.count(200) > 0


def test_close_delimited_response_to_http10_client_ends_with_close(proxy):
    """An HTTP/1.0 client cannot take chunked: the body is forwarded and the connection
    closed, so the client sees a complete close-delimited response."""
    for i in range(TRIES // 4):
        with socket.create_connection(("127.0.0.1", proxy.gw), timeout=5) as s:
            s.sendall(b"GET /close-delimited HTTP/1.0\r\nHost: api.example.com\r\n\r\n")
            r = read_response(s)
            assert (r.status, r.complete, r.closed, r.body) == (200, True, True, b"all of it")
            assert "content-length" not in r.headers and "transfer-encoding" not in r.headers


@pytest.mark.parametrize("delay_ms", [0, 150])
def test_half_closed_client_is_answered_then_closed(proxy, delay_ms):
    """A client that shuts its sending side after the request gets its whole response,
    then meshlet closes the connection; whether the FIN comes with the request or while the
    request waits on the backend (delay_ms)."""
    m = proxy
    baseline = fd_count(m.proc.pid)
    tries = 50 if not delay_ms else 10
    for i in range(tries):
        with socket.create_connection(("127.0.0.1", m.gw), timeout=5) as s:
            s.sendall(request(m.gw, f"/good/half/{i}?delay_ms={delay_ms}"))
            s.shutdown(socket.SHUT_WR)
            try:
                r = read_response(s)
                assert (r.status, r.complete) == (200, True), (i, r.status, r.body)
                if delay_ms:  # the FIN came while waiting: probed (test_client_abort.py)
                    assert r.interim == [100], (i, r.interim)
                assert s.recv(1) == b"", i  # then the connection is closed
            except socket.timeout:
                pytest.fail(f"try {i}: no answer, or the connection stayed open")
    settled(m, baseline)
    text = m.admin("/stats/prometheus")
    good = [line for line in text.splitlines() if line.startswith("istio_requests_total{")
            and 'destination_service_name="good"' in line]
    assert good and all('response_flags="-"' in line for line in good), good
    assert sum(int(float(line.rsplit(" ", 1)[1])) for line in good) == tries
    assert re.search(r"half/\d", "".join(m.good.hits))


def test_mirror_to_backend_closing_after_its_response(proxy):
    """Mirrored copies get a complete response and then the close: their connections are
    not pooled either."""
    m = proxy
    baseline = fd_count(m.proc.pid)
    for i in range(TRIES // 4):
        with socket.create_connection(("127.0.0.1", m.gw), timeout=5) as s:
            s.sendall(request(m.gw, "/mirrored/then-close"))
            assert read_response(s).status == 200
    assert eventually(lambda: m.bad.accepted > 0), m.bad.accepted  # fewer: a pooled one raced
    settled(m, baseline)
