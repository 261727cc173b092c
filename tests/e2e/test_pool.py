# SPDX-License-Identifier: Apache-2.0
"""Upstream connection reuse under the DestinationRule's connection pool (spec §4.6):
keep-alive upstreams by default, and `http.maxRequestsPerConnection` closing an upstream
connection after that many requests (1 turns keep-alive off)."""
import http.client
from collections import Counter

import pytest

from backend import Backend
from configs import edge_routes, gateway, service_entry
from meshlet_proc import free_port, serving


def pool_config(gw_port, port):
    docs = [gateway(gw_port)]
    rules = []
    for name, limit in (("pooled", None), ("one", 1), ("three", 3)):
        docs.append(service_entry(name, "shop", [(port, {})]))
        if limit:
            docs.append(f"""\
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: {name}, namespace: shop}}
spec:
  host: {name}
  trafficPolicy:
    connectionPool: {{http: {{maxRequestsPerConnection: {limit}}}}}
""")
        rules.append(f"""\
  - match: [{{uri: {{prefix: /{name}/}}}}]
    route: [{{destination: {{host: {name}}}}}]
""")
    docs.append(edge_routes("pool", "".join(rules)))
    return "---\n".join(docs)


@pytest.fixture(scope="module")
def proxy(meshlet_bin, tmp_path_factory):
    backend = Backend("b").start()
    gw = free_port()
    with serving(meshlet_bin, tmp_path_factory.mktemp("pool"), pool_config(gw, backend.port),
                 [backend]) as m:
        m.gw_port, m.backend = gw, backend
        yield m


def connections(proxy, name, n=21):
    c = http.client.HTTPConnection("127.0.0.1", proxy.gw_port, timeout=10)
    for i in range(n):
        c.request("GET", f"/{name}/{i}", headers={"Host": "api.example.com"})
        r = c.getresponse()
        r.read()
        assert r.status == 200
    c.close()
    b = proxy.backend
    return Counter(p for h, p in zip(b.hits, b.ports) if h.startswith(f"/{name}/"))


def test_upstream_connections_are_reused_by_default(proxy):
    assert len(connections(proxy, "pooled")) == 1


def test_one_request_per_connection(proxy):
    per_conn = connections(proxy, "one")
    assert len(per_conn) == 21 and set(per_conn.values()) == {1}


def test_three_requests_per_connection(proxy):
    per_conn = connections(proxy, "three")
    assert sorted(per_conn.values()) == [3] * 7
