# SPDX-License-Identifier: Apache-2.0
"""Pool limits on HTTP/2 upstream pools, as Envoy applies them: maxRequestsPerConnection
(max_requests_per_connection: after N streams a connection takes no new one; it finishes
its own and closes, a new connection takes the next), maxConcurrentStreams
(http2_protocol_options.max_concurrent_streams: streams at once per connection, below the
server's SETTINGS_MAX_CONCURRENT_STREAMS) and http2MaxRequests (max_requests: streams in
flight to the pool; the excess is 503 UO). The backend counts the connections it sees and
holds its answers until the test releases them."""
import subprocess
import threading

import pytest

import meshlet
from configs import edge_routes, gateway
from h2backend import H2Backend
from meshlet_proc import eventually, free_port, serving
from test_h2_features import streams
from test_h2_upstream import AUTH, h2_service


def pool(name, http):
    return f"""\
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: {name}, namespace: shop}}
spec:
  host: {name}
  trafficPolicy: {{connectionPool: {{http: {{{http}}}}}}}
"""


@pytest.fixture
def proxy(meshlet_bin, tmp_path):
    """Three HTTP/2 pools, one limit each, on held backends."""
    per, conc, reqs = (H2Backend(v, hold=True).start() for v in ("per", "conc", "reqs"))
    gw = free_port()
    config = "---\n".join([
        gateway(gw),
        h2_service("per", [(per.port, None)]),
        pool("per", "maxRequestsPerConnection: 2"),
        h2_service("conc", [(conc.port, None)]),
        pool("conc", "maxConcurrentStreams: 2"),
        h2_service("reqs", [(reqs.port, None)]),
        pool("reqs", "http2MaxRequests: 2"),
        edge_routes("routes", """\
  - match: [{uri: {prefix: /per}}]
    route: [{destination: {host: per}}]
  - match: [{uri: {prefix: /conc}}]
    route: [{destination: {host: conc}}]
  - route: [{destination: {host: reqs}}]
"""),
    ])
    with serving(meshlet_bin, tmp_path, config, [per, conc, reqs]) as m:
        m.gw, m.per, m.conc, m.reqs, m.dir, m.bin = gw, per, conc, reqs, tmp_path, meshlet_bin
        yield m


def held_streams(proxy, backend, paths, held):
    """Send a GET for each path on one client connection; once <held> of them wait at
    <backend>, read its connection count and release them: (count, [(status, headers)])."""
    out = []
    t = threading.Thread(target=lambda: out.extend(
        streams(proxy.gw, [([(":method", "GET"), (":path", p)], None) for p in paths])))
    t.start()
    try:
        assert eventually(lambda: len(backend.held) >= held, 10), len(backend.held)
        count = backend.connections
    finally:
        backend.release()
        t.join(20)
    assert eventually(lambda: not backend.held and not t.is_alive(), 10)
    return count, [(s, h) for s, h, _ in out]


def curl(port, path):
    out = subprocess.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}",
                          "-H", f"Host: {AUTH}", f"http://127.0.0.1:{port}{path}"],
                         capture_output=True, timeout=20, text=True)
    return int(out.stdout or 0)


def test_max_requests_per_connection_moves_streams_to_a_new_connection(proxy):
    # 5 streams at once, 2 per connection: 3 connections.
    count, got = held_streams(proxy, proxy.per, [f"/per/{i}" for i in range(5)], 5)
    assert count == 3
    assert [s for s, _ in got] == [200] * 5
    # The two spent connections close once their streams ended; the third stays.
    assert eventually(lambda: proxy.per.closed == 2, 5), proxy.per.closed


def test_max_requests_per_connection_one_after_another(proxy):
    proxy.per.hold = False
    for i in range(5):
        assert curl(proxy.gw, f"/per/seq{i}") == 200
    assert proxy.per.connections == 3  # 2 + 2 + 1
    assert eventually(lambda: proxy.per.closed == 2, 5), proxy.per.closed


def test_max_concurrent_streams_caps_streams_per_connection(proxy):
    count, got = held_streams(proxy, proxy.conc, [f"/conc/{i}" for i in range(5)], 5)
    assert count == 3  # 2 + 2 + 1 streams at once
    assert [s for s, _ in got] == [200] * 5
    # The two connections new streams left behind close with their last stream.
    assert eventually(lambda: proxy.conc.closed == 2, 5), proxy.conc.closed
    # The next streams share the one left, two at a time again.
    count, got = held_streams(proxy, proxy.conc, ["/conc/a", "/conc/b"], 2)
    assert count == 3 and [s for s, _ in got] == [200, 200]


def test_http2_max_requests_overflows_with_503_uo(proxy):
    count, got = held_streams(proxy, proxy.reqs, [f"/r/{i}" for i in range(4)], 2)
    codes = sorted(s for s, _ in got)
    assert codes == [200, 200, 503, 503], codes
    assert all(h.get("x-envoy-overloaded") == "true" for s, h in got if s == 503)
    assert count == 1 and len(proxy.reqs.heads) == 2  # the excess never reached it
    # Places are given back: the next ones are served.
    _, got = held_streams(proxy, proxy.reqs, ["/r/a", "/r/b"], 2)
    assert [s for s, _ in got] == [200, 200]


def test_explain_states_the_stream_limits(proxy):
    out = meshlet.explain(proxy.bin, proxy.dir, proxy.gw, "/conc/1")
    assert "max concurrent streams per connection: 2\n" in out
    out = meshlet.explain(proxy.bin, proxy.dir, proxy.gw, "/per/1")
    assert "max requests per connection: 2\n" in out
    assert "max concurrent streams" not in out
