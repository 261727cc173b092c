# SPDX-License-Identifier: Apache-2.0
"""Mirroring (spec §3.10): a copy of each request goes to the mirror with "-shadow" on its
host, its response is dropped, the client gets the primary's answer and never fails because
of the mirror; percentages and the `mirrors` list are honoured."""
import http.client
import json
import subprocess

import pytest

from backend import Backend
from configs import gateway, service_entry
from meshlet_proc import eventually, free_port, serving


def mirror_config(gw_port, primary, mirror, other, dead):
    return "---\n".join([
        gateway(gw_port),
        service_entry("orders", "shop", [(primary, {})]),
        service_entry("shadow", "shop", [(mirror, {})]),
        service_entry("other", "shop", [(other, {})]),
        service_entry("dead", "shop", [(dead, {})]),
        """\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: orders, namespace: shop}
spec:
  hosts: [api.example.com]
  gateways: [edge]
  http:
  - name: all
    match: [{uri: {prefix: /all}}]
    route: [{destination: {host: orders}}]
    mirror: {host: shadow}
  - name: none
    match: [{uri: {prefix: /none}}]
    route: [{destination: {host: orders}}]
    mirror: {host: shadow}
    mirrorPercentage: {value: 0}
  - name: two
    match: [{uri: {prefix: /two}}]
    route: [{destination: {host: orders}}]
    mirrors:
    - destination: {host: shadow}
    - destination: {host: other}
      percentage: {value: 100}
  - name: dead-mirror
    match: [{uri: {prefix: /dead}}]
    route: [{destination: {host: orders}}]
    mirror: {host: dead}
"""])


@pytest.fixture(scope="module")
def proxy(meshlet_bin, tmp_path_factory):
    primary, mirror, other = Backend("primary").start(), Backend("mirror").start(), \
        Backend("other").start()
    gw = free_port()
    config = mirror_config(gw, primary.port, mirror.port, other.port, free_port())
    with serving(meshlet_bin, tmp_path_factory.mktemp("mirror"), config,
                 [primary, mirror, other]) as m:
        m.gw_port, m.primary, m.mirror, m.other = gw, primary, mirror, other
        yield m


def get(proxy, path, conn):
    conn.request("GET", path, headers={"Host": "api.example.com"})
    r = conn.getresponse()
    return r.status, json.loads(r.read())["version"]


def count(backend, prefix):
    return sum(1 for p in backend.hits if p.startswith(prefix))


def test_every_request_is_copied_to_the_mirror(proxy):
    c = http.client.HTTPConnection("127.0.0.1", proxy.gw_port, timeout=10)
    for i in range(50):
        assert get(proxy, f"/all/{i}", c) == (200, "primary")
    c.close()
    assert eventually(lambda: count(proxy.mirror, "/all") == 50)
    hosts = {h for p, h in zip(proxy.mirror.hits, proxy.mirror.hosts) if p.startswith("/all")}
    assert hosts == {"api.example.com-shadow"}
    assert count(proxy.primary, "/all") == 50


def test_zero_percent_copies_nothing(proxy):
    c = http.client.HTTPConnection("127.0.0.1", proxy.gw_port, timeout=10)
    for i in range(20):
        assert get(proxy, f"/none/{i}", c) == (200, "primary")
    get(proxy, "/all/marker", c)  # a copy that is sure to arrive after any stray one
    c.close()
    assert eventually(lambda: "/all/marker" in proxy.mirror.hits)
    assert count(proxy.mirror, "/none") == 0


def test_mirrors_list_copies_to_each(proxy):
    c = http.client.HTTPConnection("127.0.0.1", proxy.gw_port, timeout=10)
    for i in range(10):
        assert get(proxy, f"/two/{i}", c) == (200, "primary")
    c.close()
    assert eventually(lambda: count(proxy.mirror, "/two") == 10 and count(proxy.other, "/two") == 10)


def test_a_dead_mirror_costs_the_client_nothing(proxy):
    c = http.client.HTTPConnection("127.0.0.1", proxy.gw_port, timeout=10)
    for i in range(20):
        assert get(proxy, f"/dead/{i}", c) == (200, "primary")
    c.close()


def test_explain_names_the_mirrors(meshlet_bin, tmp_path):
    (tmp_path / "c.yaml").write_text(mirror_config(18090, 18091, 18092, 18093, 18094))
    p = subprocess.run([meshlet_bin, "explain", "-c", str(tmp_path), "-n", "shop", "GET",
                        "http://api.example.com:18090/two/1"],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    assert "mirror: 100% of requests copied to outbound|9080||shadow.shop.svc.cluster.local" \
        in p.stdout
    assert "mirror: 100% of requests copied to outbound|9080||other.shop.svc.cluster.local" \
        in p.stdout


def test_a_request_body_is_copied_to_the_mirror(proxy):
    conn = http.client.HTTPConnection("127.0.0.1", proxy.gw_port, timeout=10)
    for i, chunked in enumerate((False, True)):
        body = f"order {i} " * 500
        if chunked:
            conn.request("POST", f"/all/body/{i}", body=iter([body[:100].encode(), body[100:].encode()]),
                         headers={"Host": "api.example.com"}, encode_chunked=True)
        else:
            conn.request("POST", f"/all/body/{i}", body=body,
                         headers={"Host": "api.example.com"})
        r = conn.getresponse()
        assert r.status == 200 and json.loads(r.read())["body"] == body
        path = f"/all/body/{i}"
        assert eventually(lambda: path in proxy.mirror.hits)
        got = proxy.mirror.server.bodies[proxy.mirror.hits.index(path)]
        assert got == body.encode()
    conn.close()
