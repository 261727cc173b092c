# SPDX-License-Identifier: Apache-2.0
"""Connection-pool limits (spec §4.6): maxConnections with a bounded pending queue,
http2MaxRequests, maxRetries; overflow is 503 UO with x-envoy-overloaded at once, never an
unbounded queue. connectTimeout turns a connect that hangs into a connect failure, and
idleTimeout closes idle upstream connections; tcpKeepalive sets TCP keepalive on them."""
import socket
import subprocess
import threading
import time

import pytest

from backend import Backend
import meshlet
from configs import destination_rule, edge_routes, gateway, service_entry
from meshlet_proc import free_port, serving

OVERFLOW = b"upstream connect error or disconnect/reset before headers. reset reason: overflow"


def rule(name, pool):
    return destination_rule(name, f"{{connectionPool: {pool}}}")


@pytest.fixture(scope="module")
def blackhole():
    """A listener whose accept queue is full: connects to it hang in SYN-SENT."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(0)
    fillers = []
    for _ in range(3):
        f = socket.socket()
        f.setblocking(False)
        f.connect_ex(s.getsockname())
        fillers.append(f)
    time.sleep(0.2)
    yield s.getsockname()[1]
    for f in fillers:
        f.close()
    s.close()


@pytest.fixture(scope="module")
def proxy(meshlet_bin, tmp_path_factory, blackhole):
    slow = Backend("slow", delay_ms=400).start()
    broken = Backend("broken", fail_status=503, delay_ms=200).start()
    good = Backend("good").start()
    gw = free_port()
    services = {
        "one-conn": (slow.port, "{tcp: {maxConnections: 1}, http: {http1MaxPendingRequests: 1}}"),
        "two-req": (slow.port, "{http: {http2MaxRequests: 2}}"),
        "one-retry": (broken.port, "{http: {maxRetries: 1}}"),
        "hangs": (blackhole, "{tcp: {connectTimeout: 300ms}}"),
        "idle": (good.port, "{http: {idleTimeout: 300ms}}"),
        "keepalive": (good.port, "{tcp: {tcpKeepalive: {time: 7s, interval: 3s, probes: 4}}}"),
    }
    docs = [gateway(gw)]
    routes = []
    for name, (port, pool) in services.items():
        docs += [service_entry(name, "shop", [(port, {})]), rule(name, pool)]
        retries = "{attempts: 2, retryOn: 5xx}" if name == "one-retry" else "{attempts: 0}"
        routes.append(f"""\
  - match: [{{uri: {{prefix: /{name}/}}}}]
    route: [{{destination: {{host: {name}}}}}]
    retries: {retries}""")
    docs.append(edge_routes("cb", "\n".join(routes)))
    d = tmp_path_factory.mktemp("cb")
    with serving(meshlet_bin, d, "---\n".join(docs), [slow, broken, good]) as m:
        m.gw_port, m.slow, m.broken, m.good, m.dir = gw, slow, broken, good, d
        yield m


def get(proxy, path, timeout=10):
    return meshlet.get(proxy.gw_port, path, timeout=timeout)


def concurrently(proxy, prefix, n):
    results = [None] * n
    start = threading.Barrier(n)

    def one(i):
        start.wait()
        results[i] = get(proxy, f"{prefix}{i}")

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return results


def ports_of(backend, prefix):
    return {p for h, p in zip(backend.hits, backend.server.ports) if h.startswith(prefix)}


def test_one_connection_one_pending_the_rest_overflow(proxy):
    results = concurrently(proxy, "/one-conn/", 20)
    ok = [r for r in results if r[0] == 200]
    over = [r for r in results if r[0] == 503]
    assert len(ok) + len(over) == 20
    assert len(ok) >= 2  # the one in flight and the one that waited for its connection
    assert len(over) >= 10
    assert all(r[1] == "true" and r[2] == OVERFLOW for r in over)
    # The backend never saw a second connection: the waiter reused the first.
    assert len(ports_of(proxy.slow, "/one-conn/")) == 1
    assert len([h for h in proxy.slow.hits if h.startswith("/one-conn/")]) == len(ok)


def test_max_requests_bounds_requests_in_flight(proxy):
    results = concurrently(proxy, "/two-req/", 10)
    codes = [r[0] for r in results]
    assert 2 <= codes.count(200) < 10 and codes.count(503) >= 4
    assert all(r[1] == "true" for r in results if r[0] == 503)


def test_max_retries_bounds_retries_in_flight(proxy):
    results = concurrently(proxy, "/one-retry/", 8)
    assert [r[0] for r in results] == [503] * 8
    assert all(r[1] is None for r in results)  # the backend's own 503s, not overflows
    tries = len([h for h in proxy.broken.hits if h.startswith("/one-retry/")])
    # Unbounded, 8 requests x 3 tries = 24; one retry at a time leaves most unretried.
    assert 8 < tries < 24


def test_connect_timeout_fails_a_hanging_connect(proxy):
    status, _, body = get(proxy, "/hangs/1", timeout=5)  # not the 10 s default
    assert status == 503
    assert body.endswith(b"reset reason: connection failure")


def test_idle_timeout_closes_idle_upstream_connections(proxy):
    assert get(proxy, "/idle/1")[0] == 200
    assert get(proxy, "/idle/2")[0] == 200  # at once: the same connection
    time.sleep(1.0)
    assert get(proxy, "/idle/3")[0] == 200
    hits = [(h, p) for h, p in zip(proxy.good.hits, proxy.good.server.ports)
            if h.startswith("/idle/")]
    assert hits[0][1] == hits[1][1] != hits[2][1]


def test_explain_states_the_limits(proxy, meshlet_bin):
    out = meshlet.explain(meshlet_bin, proxy.dir, proxy.gw_port, "/one-conn/1")
    assert "max connections: 1\n" in out
    assert "max pending requests: 1\n" in out
    assert "connect timeout: 10000ms, idle timeout: 3600000ms" in out


def test_tcp_keepalive_on_upstream_connections(proxy):
    assert get(proxy, "/keepalive/1")[0] == 200
    port = proxy.good.server.ports[-1]  # meshlet's end of the connection, now idle
    out = subprocess.run(["ss", "-tno", "state", "established", f"( sport = :{port} )"],
                         capture_output=True, text=True, timeout=10).stdout
    assert "timer:(keepalive," in out, out
