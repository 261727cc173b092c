# SPDX-License-Identifier: Apache-2.0
"""Fault injection (spec §3.9): aborts answered by the proxy without reaching the upstream
(HTTP status or gRPC status), at the configured share of requests; delays held before the
router, so the route timeout does not count them; a request with a body survives a delay."""
import http.client
import json
import subprocess
import time

import pytest

from backend import Backend
from configs import edge_routes, gateway, service_entry
from meshlet_proc import free_port, serving


def fault_config(gw_port, backend_port):
    return "---\n".join([gateway(gw_port), service_entry("ratings", "shop", [(backend_port, {})]),
                         edge_routes("ratings", """\
  - name: abort-all
    match: [{uri: {prefix: /abort}}]
    fault: {abort: {httpStatus: 418, percentage: {value: 100}}}
    route: [{destination: {host: ratings}}]
  - name: abort-half
    match: [{uri: {prefix: /half}}]
    fault: {abort: {httpStatus: 503, percentage: {value: 50}}}
    route: [{destination: {host: ratings}}]
  - name: abort-unset-share
    match: [{uri: {prefix: /never}}]
    fault: {abort: {httpStatus: 500}}
    route: [{destination: {host: ratings}}]
  - name: grpc
    match: [{uri: {prefix: /grpc}}]
    fault: {abort: {grpcStatus: UNAVAILABLE, percentage: {value: 100}}}
    route: [{destination: {host: ratings}}]
  - name: delay
    match: [{uri: {prefix: /delay}}]
    timeout: 100ms
    fault: {delay: {fixedDelay: 300ms, percentage: {value: 100}}}
    route: [{destination: {host: ratings}}]
  - name: delay-then-abort
    match: [{uri: {prefix: /both}}]
    fault:
      delay: {fixedDelay: 200ms, percentage: {value: 100}}
      abort: {httpStatus: 429, percentage: {value: 100}}
    route: [{destination: {host: ratings}}]
""")])


@pytest.fixture(scope="module")
def proxy(meshlet_bin, tmp_path_factory):
    backend = Backend("r").start()
    gw = free_port()
    with serving(meshlet_bin, tmp_path_factory.mktemp("fault"), fault_config(gw, backend.port),
                 [backend]) as m:
        m.gw_port, m.backend = gw, backend
        yield m


def call(proxy, path, method="GET", body=None, conn=None):
    c = conn or http.client.HTTPConnection("127.0.0.1", proxy.gw_port, timeout=10)
    c.request(method, path, body=body, headers={"Host": "api.example.com"})
    r = c.getresponse()
    data = r.read()
    if conn is None:
        c.close()
    return r, data


def hits(proxy, prefix):
    return sum(1 for p in proxy.backend.hits if p.startswith(prefix))


def test_abort_never_reaches_the_upstream(proxy):
    for i in range(20):
        r, data = call(proxy, f"/abort/{i}")
        assert r.status == 418 and data == b"fault filter abort"
    assert hits(proxy, "/abort") == 0


def test_abort_share_is_sampled_per_request(proxy):
    c = http.client.HTTPConnection("127.0.0.1", proxy.gw_port, timeout=10)
    codes = [call(proxy, f"/half/{i}", conn=c)[0].status for i in range(400)]
    c.close()
    aborted = codes.count(503)
    assert 120 <= aborted <= 280  # 50% of 400; 8 sigma is 80
    assert aborted + codes.count(200) == 400
    assert hits(proxy, "/half") == 400 - aborted


def test_fault_without_percentage_never_fires(proxy):
    for i in range(20):
        assert call(proxy, f"/never/{i}")[0].status == 200


def test_grpc_abort(proxy):
    r, _ = call(proxy, "/grpc/x")
    assert r.status == 200
    assert r.getheader("grpc-status") == "14"
    assert r.getheader("content-type") == "application/grpc"
    assert hits(proxy, "/grpc") == 0


def test_delay_holds_the_request_outside_the_route_timeout(proxy):
    start = time.monotonic()
    r, data = call(proxy, "/delay/1")
    # The 300 ms delay happens before the router: the 100 ms route timeout starts after it.
    assert r.status == 200 and json.loads(data)["path"] == "/delay/1"
    assert time.monotonic() - start >= 0.3


def test_delayed_request_keeps_its_body_and_the_connection(proxy):
    c = http.client.HTTPConnection("127.0.0.1", proxy.gw_port, timeout=10)
    r, data = call(proxy, "/delay/post", method="POST", body=b"x" * 5000, conn=c)
    assert r.status == 200 and json.loads(data)["body"] == "x" * 5000
    r, data = call(proxy, "/delay/again", conn=c)
    assert r.status == 200 and json.loads(data)["path"] == "/delay/again"
    c.close()


def test_delay_then_abort(proxy):
    start = time.monotonic()
    r, _ = call(proxy, "/both/1")
    assert r.status == 429
    assert time.monotonic() - start >= 0.2
    assert hits(proxy, "/both") == 0


def test_explain_names_the_faults(meshlet_bin, tmp_path):
    (tmp_path / "c.yaml").write_text(fault_config(18090, 18091))
    p = subprocess.run([meshlet_bin, "explain", "-c", str(tmp_path), "-n", "shop", "GET",
                        "http://api.example.com:18090/half/1"],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    assert "fault: abort with 503 on 50% of requests (FI)" in p.stdout
