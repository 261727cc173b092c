# SPDX-License-Identifier: Apache-2.0
"""A client that goes away while its request waits on the backend (issue 12): the upstream
request is cancelled at once (its connection closed, not pooled), flagged DC in the metrics
and the access log; under Istio's default there is no route timeout to end it otherwise.

A closed client and a half-closed one (shutdown(SHUT_WR), still reading) both send only a
FIN. Envoy and nginx take either as an abort; meshlet answers a half-closed client, so it
tells them apart by writing an interim `100 Continue` to an HTTP/1.1 client after its FIN:
a closed client's kernel answers with a reset, and then meshlet cancels."""
import json
import socket
import ssl
import struct

import pytest

from configs import edge_routes, gateway, service_entry
from meshlet_proc import eventually, free_port, serving
from raw import RawBackend, fd_count, read_head, read_response, to_port, close_wait

HOLD_S = 20  # how long the backend holds a /slow request unless meshlet closes it first


def slow(backend, conn):
    """Hold every request until meshlet closes the connection (counted in backend.closed);
    /half/<ms> is answered after <ms> if meshlet keeps it open that long."""
    while True:
        head = read_head(conn)
        if not head:
            return
        with backend.lock:
            backend.heads = getattr(backend, "heads", 0) + 1
        path = head.split(b" ")[1].decode()
        wait = int(path.rsplit("/", 1)[1]) / 1000 if path.startswith("/half/") else HOLD_S
        if wait and backend.wait_close(conn, wait):
            return
        body = path.encode()
        conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body))


@pytest.fixture
def proxy(meshlet_bin, tmp_path):
    backend = RawBackend(slow).start()
    gw = free_port()
    log = tmp_path / "access.log"
    config = "---\n".join([
        gateway(gw),
        service_entry("slow", "shop", [(backend.port, {})]),
        edge_routes("routes", "  - route: [{destination: {host: slow}}]\n"),
    ])
    with serving(meshlet_bin, tmp_path, config, [backend], workers=2,
                 extra=("--access-log", str(log))) as m:
        m.gw, m.backend, m.log = gw, backend, log
        yield m


def dc_count(m):
    text = m.admin("/stats/prometheus")
    return sum(int(float(line.rsplit(" ", 1)[1])) for line in text.splitlines()
               if line.startswith("istio_requests_total{") and 'response_flags="DC"' in line)


def log_lines(m):
    if not m.log.exists():
        return []
    return [json.loads(line) for line in m.log.read_text().splitlines() if line.strip()]


def settled(m, baseline):
    pid = m.proc.pid

    def held():
        return fd_count(pid) - to_port(m.backend.port)

    ok = eventually(lambda: held() <= baseline and not close_wait(pid))
    assert ok, (held(), baseline, close_wait(pid))


def wait_for_backend(m, n):
    """The backend holds <n> requests (their heads read: a connection accepted is not yet
    one waiting in wait_close, which is what counts a close)."""
    assert eventually(lambda: getattr(m.backend, "heads", 0) >= n, 5), m.backend.accepted


@pytest.mark.parametrize("how", ["close", "reset"])
def test_client_gone_while_waiting_cancels_upstream(proxy, how):
    m = proxy
    baseline = fd_count(m.proc.pid)
    tries = 10
    for i in range(tries):
        s = socket.create_connection(("127.0.0.1", m.gw), timeout=5)
        s.sendall(b"GET /slow/%d HTTP/1.1\r\nHost: api.example.com\r\n\r\n" % i)
        wait_for_backend(m, i + 1)
        if how == "reset":
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()
        # No route timeout is configured: only the client's going can end it.
        assert eventually(lambda: m.backend.closed == i + 1, 5), (i, m.backend.closed)
    settled(m, baseline)
    assert to_port(m.backend.port) == 0  # cancelled connections are not pooled
    assert eventually(lambda: dc_count(m) == tries), dc_count(m)
    assert eventually(lambda: sum("DC" in e["response_flags"] for e in log_lines(m)) == tries,
                      3), log_lines(m)
    # Other clients are still served.
    with socket.create_connection(("127.0.0.1", m.gw), timeout=5) as s:
        s.sendall(b"GET /half/0 HTTP/1.1\r\nHost: api.example.com\r\n\r\n")
        assert read_response(s).body == b"/half/0"


def test_half_closed_client_waiting_is_answered(proxy):
    """A FIN from a client that still reads: it gets an interim 100, then its response,
    then the connection closes; nothing is cancelled or flagged DC."""
    m = proxy
    baseline = fd_count(m.proc.pid)
    for i in range(10):
        with socket.create_connection(("127.0.0.1", m.gw), timeout=5) as s:
            s.sendall(b"GET /half/300 HTTP/1.1\r\nHost: api.example.com\r\n\r\n")
            s.shutdown(socket.SHUT_WR)
            r = read_response(s)
            assert (r.interim, r.status, r.body, r.complete) == ([100], 200, b"/half/300", True)
            assert s.recv(1) == b""
    assert m.backend.closed == 0
    settled(m, baseline)
    assert dc_count(m) == 0


def test_half_closed_pipelined_requests_are_all_answered(proxy):
    """Reading ahead (the FIN behind pipelined requests) does not cut the later ones."""
    m = proxy
    with socket.create_connection(("127.0.0.1", m.gw), timeout=5) as s:
        s.sendall(b"".join(b"GET /half/%d HTTP/1.1\r\nHost: api.example.com\r\n\r\n" % (100 + i)
                           for i in range(3)))
        s.shutdown(socket.SHUT_WR)
        bodies = [read_response(s).body for _ in range(3)]
        assert bodies == [b"/half/100", b"/half/101", b"/half/102"]
        assert s.recv(1) == b""
    assert m.backend.closed == 0 and dc_count(m) == 0


def test_http10_client_closing_is_still_answered_to_the_end(proxy):
    """An HTTP/1.0 client takes no interim response, so its FIN cannot be probed: its
    request runs to the end (a closed client then resets the response write)."""
    m = proxy
    with socket.create_connection(("127.0.0.1", m.gw), timeout=5) as s:
        s.sendall(b"GET /half/200 HTTP/1.0\r\nHost: api.example.com\r\n\r\n")
        s.shutdown(socket.SHUT_WR)
        r = read_response(s)
        assert (r.interim, r.status, r.body) == ([], 200, b"/half/200")


def test_tls_client_gone_while_waiting_cancels_upstream(meshlet_bin, tmp_path):
    """The same through a Gateway's HTTPS server: the client's close ends the TLS stream,
    and the upstream request is cancelled (DC)."""
    from certs import self_signed
    crt, key = self_signed(tmp_path / "cert")
    backend = RawBackend(slow).start()
    gw = free_port()
    config = "---\n".join([
        f"""\
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {{name: edge, namespace: shop}}
spec:
  selector: {{istio: ingressgateway}}
  servers:
  - port: {{number: {gw}, name: https, protocol: HTTPS}}
    hosts: ["shop/*.example.com"]
    tls: {{mode: SIMPLE, serverCertificate: {crt}, privateKey: {key}}}
""",
        service_entry("slow", "shop", [(backend.port, {})]),
        edge_routes("routes", "  - route: [{destination: {host: slow}}]\n"),
    ])
    ctx = ssl.create_default_context(cafile=str(crt))
    with serving(meshlet_bin, tmp_path, config, [backend]) as m:
        m.gw, m.backend = gw, backend
        baseline = fd_count(m.proc.pid)
        for i in range(5):
            raw = socket.create_connection(("127.0.0.1", gw), timeout=5)
            s = ctx.wrap_socket(raw, server_hostname="api.example.com")
            s.sendall(b"GET /slow/%d HTTP/1.1\r\nHost: api.example.com\r\n\r\n" % i)
            wait_for_backend(m, i + 1)
            s.close()
            assert eventually(lambda: backend.closed == i + 1, 5), (i, backend.closed)
        settled(m, baseline)
        assert eventually(lambda: dc_count(m) == 5), dc_count(m)
