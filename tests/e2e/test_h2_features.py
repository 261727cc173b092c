# SPDX-License-Identifier: Apache-2.0
"""Every route feature over HTTP/2 (issue 14): the same VirtualService and DestinationRule
YAML, asked by HTTP/2 clients, does what it does for HTTP/1.1 — matching on headers and
method, rewrite, header operations, CORS, fault abort, route timeout, mirror, outlier
detection and the pool's circuit breakers (HTTP/1.1 upstreams; streams of one connection
count as requests). One meshlet serves the module; each test opens its own connection."""
import json
import socket
import time

import h2.config
import h2.connection
import h2.events
import pytest

from backend import Backend
from configs import destination_rule, edge_routes, gateway, service_entry
from meshlet_proc import eventually, free_port, serving

AUTH = "api.example.com"


@pytest.fixture(scope="module")
def proxy(meshlet_bin, tmp_path_factory):
    good, other = Backend("good").start(), Backend("other").start()
    shadow = Backend("shadow").start()
    slow = Backend("slow", delay_ms=500).start()
    broken = Backend("broken", fail_status=503).start()
    gw = free_port()
    config = "---\n".join([
        gateway(gw),
        service_entry("good", "shop", [(good.port, {})]),
        service_entry("other", "shop", [(other.port, {})]),
        service_entry("shadow", "shop", [(shadow.port, {})]),
        service_entry("slow", "shop", [(slow.port, {})]),
        service_entry("flaky", "shop", [(good.port, {}), (broken.port, {})]),
        destination_rule("flaky", "{loadBalancer: {simple: ROUND_ROBIN}, outlierDetection: "
                                  "{consecutive5xxErrors: 1, interval: 1s, baseEjectionTime: 30s, "
                                  "maxEjectionPercent: 50}}"),
        service_entry("one-conn", "shop", [(slow.port, {})]),
        destination_rule("one-conn", "{connectionPool: {tcp: {maxConnections: 1}, "
                                     "http: {http1MaxPendingRequests: 1}}}"),
        service_entry("two-req", "shop", [(slow.port, {})]),
        destination_rule("two-req", "{connectionPool: {http: {http2MaxRequests: 2}}}"),
        edge_routes("routes", """\
  - match: [{headers: {x-pick: {exact: other}}}]
    route: [{destination: {host: other}}]
  - match: [{method: {exact: DELETE}}]
    directResponse: {status: 405}
  - match: [{uri: {prefix: /rw/}}]
    rewrite: {uri: /new/, authority: rewritten.example}
    route: [{destination: {host: good}}]
  - match: [{uri: {prefix: /hdr}}]
    headers:
      request: {set: {x-set: "1"}, add: {x-added: "2"}, remove: [x-gone]}
      response: {set: {x-resp: "yes"}, remove: [x-backend-version]}
    route: [{destination: {host: good}}]
  - match: [{uri: {prefix: /cors}}]
    corsPolicy:
      allowOrigins: [{exact: "https://app.example.com"}]
      allowMethods: [GET, POST]
      maxAge: 60s
    route: [{destination: {host: good}}]
  - match: [{uri: {prefix: /abort}}]
    fault: {abort: {httpStatus: 418, percentage: {value: 100}}}
    route: [{destination: {host: good}}]
  - match: [{uri: {prefix: /timeout}}]
    timeout: 100ms
    route: [{destination: {host: slow}}]
  - match: [{uri: {prefix: /mirror}}]
    route: [{destination: {host: good}}]
    mirror: {host: shadow}
  - match: [{uri: {prefix: /flaky}}]
    route: [{destination: {host: flaky}}]
    retries: {attempts: 0}
  - match: [{uri: {prefix: /one-conn}}]
    route: [{destination: {host: one-conn}}]
    retries: {attempts: 0}
  - match: [{uri: {prefix: /two-req}}]
    route: [{destination: {host: two-req}}]
    retries: {attempts: 0}
  - route: [{destination: {host: good}}]
"""),
    ])
    log = tmp_path_factory.mktemp("h2f") / "access.log"
    with serving(meshlet_bin, log.parent, config, [good, other, shadow, slow, broken],
                 extra=("--access-log", str(log))) as m:
        m.gw, m.good, m.other, m.shadow, m.log = gw, good, other, shadow, log
        yield m


def streams(port, requests, timeout=20):
    """Send every request (headers list, optional body) on one HTTP/2 connection at once:
    [(status, headers dict, body)] in the order given."""
    s = socket.create_connection(("127.0.0.1", port))
    s.settimeout(timeout)
    c = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    c.initiate_connection()
    ids = []
    for head, body in requests:
        sid = c.get_next_available_stream_id()
        c.send_headers(sid, [(":scheme", "http"), (":authority", AUTH)] + head,
                       end_stream=body is None)
        if body is not None:
            c.send_data(sid, body, end_stream=True)
        ids.append(sid)
    s.sendall(c.data_to_send())
    got, ended = {}, set()
    deadline = time.time() + timeout
    while len(ended) < len(ids) and time.time() < deadline:
        data = s.recv(65536)
        if not data:
            break
        for e in c.receive_data(data):
            if isinstance(e, h2.events.ResponseReceived):
                got[e.stream_id] = [dict((k.decode(), v.decode()) for k, v in e.headers), b""]
            elif isinstance(e, h2.events.DataReceived):
                got[e.stream_id][1] += e.data
                c.acknowledge_received_data(e.flow_controlled_length, e.stream_id)
            elif isinstance(e, (h2.events.StreamEnded, h2.events.StreamReset)):
                ended.add(e.stream_id)
        s.sendall(c.data_to_send())
    s.close()
    out = []
    for sid in ids:
        headers, body = got.get(sid, [{}, b""])
        out.append((int(headers.get(":status", 0)), headers, body))
    return out


def get(proxy, path, method="GET", extra=(), body=None):
    return streams(proxy.gw, [([(":method", method), (":path", path)] + list(extra), body)])[0]


def test_match_on_headers_and_method(proxy):
    status, _, body = get(proxy, "/any", extra=[("x-pick", "other")])
    assert status == 200 and json.loads(body)["version"] == "other"
    assert get(proxy, "/any", method="DELETE")[0] == 405
    assert json.loads(get(proxy, "/any")[2])["version"] == "good"


def test_rewrite_of_path_and_authority(proxy):
    status, _, body = get(proxy, "/rw/x?q=1")
    seen = json.loads(body)
    assert status == 200 and seen["path"] == "/new/x?q=1"
    assert seen["headers"]["host"] == "rewritten.example"


def test_header_operations(proxy):
    status, headers, body = get(proxy, "/hdr", extra=[("x-gone", "bye"), ("x-added", "1")])
    seen = json.loads(body)["headers"]
    assert status == 200 and seen["x-set"] == "1" and "x-gone" not in seen
    assert seen["x-added"] == "1, 2"
    assert headers["x-resp"] == "yes" and "x-backend-version" not in headers


def test_cors_preflight_and_actual_request(proxy):
    status, headers, _ = get(proxy, "/cors", method="OPTIONS", extra=[
        ("origin", "https://app.example.com"), ("access-control-request-method", "POST")])
    assert status == 200
    assert headers["access-control-allow-origin"] == "https://app.example.com"
    assert headers["access-control-max-age"] == "60"
    status, headers, _ = get(proxy, "/cors", extra=[("origin", "https://app.example.com")])
    assert status == 200 and headers["access-control-allow-origin"] == "https://app.example.com"
    status, headers, _ = get(proxy, "/cors", extra=[("origin", "https://evil.example.com")])
    assert status == 200 and "access-control-allow-origin" not in headers


def test_fault_abort(proxy):
    hits = len(proxy.good.hits)
    status, _, body = get(proxy, "/abort")
    assert status == 418 and body == b"fault filter abort"
    assert len(proxy.good.hits) == hits


def test_route_timeout_is_504(proxy):
    status, _, body = get(proxy, "/timeout")
    assert status == 504 and body == b"upstream request timeout"
    def flags():
        text = proxy.log.read_text() if proxy.log.exists() else ""
        return [e["response_flags"] for e in map(json.loads, text.splitlines())
                if e["path"] == "/timeout" and e["protocol"] == "HTTP/2"]
    assert eventually(lambda: flags() == ["UT"], 5), flags()


def test_mirror_copies_the_request(proxy):
    status, _, body = get(proxy, "/mirror/1", method="POST", body=b"copy me")
    assert status == 200 and json.loads(body)["version"] == "good"
    assert eventually(lambda: "/mirror/1" in proxy.shadow.hits, 5)
    i = proxy.shadow.hits.index("/mirror/1")
    assert proxy.shadow.hosts[i] == "api.example.com-shadow"
    assert proxy.shadow.server.bodies[i] == b"copy me"


def test_outlier_detection_ejects_the_failing_endpoint(proxy):
    # The first 5xx ejects the broken endpoint (maxEjectionPercent 50: one of two): one
    # stream at a time until it came, then every stream goes to the good one.
    codes = [get(proxy, f"/flaky/{i}")[0] for i in range(2)]
    assert sorted(codes) == [200, 503], codes
    later = [s for s, _, _ in streams(proxy.gw, [([(":method", "GET"), (":path", f"/flaky/l{i}")],
                                                   None) for i in range(20)])]
    assert later == [200] * 20


def test_streams_count_against_the_pool_limits(proxy):
    # One upstream connection, one pending: of 4 streams at once, 2 overflow (503 UO).
    out = streams(proxy.gw, [([(":method", "GET"), (":path", f"/one-conn/{i}")], None)
                             for i in range(4)])
    codes = sorted(s for s, _, _ in out)
    assert codes == [200, 200, 503, 503], codes
    assert all(h.get("x-envoy-overloaded") == "true" for s, h, _ in out if s == 503)
    # http2MaxRequests 2: of 4 streams at once, 2 are served and 2 overflow.
    codes = sorted(s for s, _, _ in streams(
        proxy.gw, [([(":method", "GET"), (":path", f"/two-req/{i}")], None) for i in range(4)]))
    assert codes == [200, 200, 503, 503], codes
