# SPDX-License-Identifier: Apache-2.0
"""Mirrors to HTTP/2 pools: the copy goes as an ownerless stream on the pool's shared
connection, with "-shadow" on its :authority, its body and trailers as the client sent
them; its response is dropped. A dead mirror costs the client nothing (and no fd stays); a
mirror that never answers has its stream cancelled at the route timeout."""
import http.client
import json
import socket

import pytest

from backend import Backend
from configs import edge_routes, gateway, service_entry
from h2backend import H2Backend
from meshlet_proc import eventually, free_port, serving
from raw import fd_count, read_response
from test_h2_upstream import h2_service
from test_h2_upstream_trailers import h2_post

SHADOW = "api.example.com-shadow"


@pytest.fixture
def proxy(meshlet_bin, tmp_path):
    primary = Backend("primary").start()
    mirror, hung = H2Backend("mirror").start(), H2Backend("hung", hold=True).start()
    gw = free_port()
    config = "---\n".join([
        gateway(gw),
        service_entry("orders", "shop", [(primary.port, {})]),
        h2_service("shadow", [(mirror.port, None)]),
        h2_service("hung", [(hung.port, None)], protocol="GRPC"),
        h2_service("dead", [(free_port(), None)]),
        edge_routes("routes", """\
  - match: [{uri: {prefix: /dead}}]
    route: [{destination: {host: orders}}]
    mirror: {host: dead}
  - match: [{uri: {prefix: /hung}}]
    route: [{destination: {host: orders}}]
    timeout: 1s
    mirror: {host: hung}
  - route: [{destination: {host: orders}}]
    mirror: {host: shadow}
"""),
    ])
    with serving(meshlet_bin, tmp_path, config, [primary, mirror, hung]) as m:
        m.gw, m.primary, m.mirror, m.hung = gw, primary, mirror, hung
        yield m


def get(port, path):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.request("GET", path, headers={"Host": "api.example.com"})
    r = c.getresponse()
    out = r.status, json.loads(r.read())["version"]
    c.close()
    return out


def mirrored(backend, path):
    return [h for h in backend.heads if h.get(":path") == path]


def test_requests_are_copied_to_an_http2_mirror(proxy):
    for i in range(20):
        assert get(proxy.gw, f"/all/{i}") == (200, "primary")
    assert eventually(lambda: len(proxy.mirror.heads) == 20), len(proxy.mirror.heads)
    for i in range(20):
        (h,) = mirrored(proxy.mirror, f"/all/{i}")
        assert h[":authority"] == SHADOW and h[":method"] == "GET"
        assert "host" not in h and "x-envoy-attempt-count" not in h
    assert proxy.mirror.connections == 1  # the copies share one connection as streams


def test_a_body_and_its_trailers_are_copied(proxy):
    with socket.create_connection(("127.0.0.1", proxy.gw), timeout=10) as s:
        s.sendall(b"POST /copy/te HTTP/1.1\r\nHost: api.example.com\r\n"
                  b"transfer-encoding: chunked\r\n\r\n"
                  b"3\r\nabc\r\n2\r\nde\r\n0\r\nX-Sum: 5\r\n\r\n")
        r = read_response(s)
        assert r.status == 200 and json.loads(r.body)["version"] == "primary"
    c = http.client.HTTPConnection("127.0.0.1", proxy.gw, timeout=10)
    c.request("POST", "/copy/cl", body=b"x" * 70000, headers={"Host": "api.example.com"})
    assert c.getresponse().status == 200
    c.close()
    assert eventually(lambda: len(proxy.mirror.heads) == 2)
    # The backend answers with what it got: its answers are dropped, so read its records.
    assert eventually(lambda: len(proxy.mirror.hits) == 2)
    (h,) = mirrored(proxy.mirror, "/copy/te")
    assert h[":authority"] == SHADOW and h[":method"] == "POST"
    got = proxy.mirror.got["/copy/te"]
    assert got == (b"abcde", {"x-sum": "5"})
    assert proxy.mirror.got["/copy/cl"] == (b"x" * 70000, {})


def test_http2_client_trailers_are_copied(proxy):
    code, body = h2_post(proxy.gw, "/h2/t", b"hello", [("x-checksum", "abc")])
    assert code == 200 and json.loads(body)["version"] == "primary"
    assert eventually(lambda: "/h2/t" in proxy.mirror.got)
    assert proxy.mirror.got["/h2/t"] == (b"hello", {"x-checksum": "abc"})
    (h,) = mirrored(proxy.mirror, "/h2/t")
    assert h[":authority"] == SHADOW


def test_a_dead_http2_mirror_costs_the_client_nothing(proxy):
    assert get(proxy.gw, "/dead/warm") == (200, "primary")
    fds = fd_count(proxy.proc.pid)
    for i in range(30):
        assert get(proxy.gw, f"/dead/{i}") == (200, "primary")
    # Every failed copy gave its socket back, and other clients are served.
    assert eventually(lambda: fd_count(proxy.proc.pid) <= fds), (fd_count(proxy.proc.pid), fds)
    assert get(proxy.gw, "/all/after") == (200, "primary")


def test_a_mirror_that_never_answers_is_cancelled_at_the_route_timeout(proxy):
    for i in range(3):
        assert get(proxy.gw, f"/hung/{i}") == (200, "primary")  # not held by the copy
    assert eventually(lambda: len(proxy.hung.held) == 3)
    assert proxy.hung.resets == 0
    assert eventually(lambda: proxy.hung.resets == 3, 10), proxy.hung.resets  # after 1 s
    assert proxy.hung.heads[0][":authority"] == SHADOW
    proxy.hung.release()  # answers to cancelled streams go nowhere
    assert get(proxy.gw, "/hung/after") == (200, "primary")
