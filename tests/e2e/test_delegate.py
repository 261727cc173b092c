# SPDX-License-Identifier: Apache-2.0
"""Delegate VirtualServices on a gateway (spec §3.16): the root owns the host and hands a path
to a team's VirtualService in its own namespace; the team's rules are served merged with the
root's match, its short hosts resolve in its namespace, and a delegate not exported to the
root's namespace is not served."""
import http.client
import json

import pytest

from backend import Backend
from configs import gateway, service_entry, subsets_rule
from meshlet_proc import free_port, serving


def delegate_config(gw_port, v1, v2, legacy):
    return "---\n".join([
        gateway(gw_port, ns="infra", hosts="*/shop.example.com"),
        service_entry("orders", "team", [(v1, {"version": "v1"}), (v2, {"version": "v2"})]),
        subsets_rule("orders", "team", ["v1", "v2"]),
        service_entry("legacy", "infra", [(legacy, {})]),
    ]) + f"""---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: shop, namespace: infra}}
spec:
  hosts: [shop.example.com]
  gateways: [edge]
  http:
  - name: orders
    match: [{{uri: {{prefix: /orders}}}}]
    headers:
      request:
        set: {{x-root: "yes"}}
    delegate: {{name: orders, namespace: team}}
  - name: private
    match: [{{uri: {{prefix: /private}}}}]
    delegate: {{name: private, namespace: team}}
  - route: [{{destination: {{host: legacy}}}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: orders, namespace: team}}
spec:
  http:
  - name: canary
    match: [{{uri: {{prefix: /orders/new}}}}]
    route: [{{destination: {{host: orders, subset: v2}}}}]
  - name: stable
    route: [{{destination: {{host: orders, subset: v1}}}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: private, namespace: team}}
spec:
  exportTo: ["."]
  http:
  - route: [{{destination: {{host: orders, subset: v2}}}}]
"""


@pytest.fixture(scope="module")
def proxy(meshlet_bin, tmp_path_factory):
    backends = [Backend(v).start() for v in ("v1", "v2", "legacy")]
    gw = free_port()
    with serving(meshlet_bin, tmp_path_factory.mktemp("delegate"),
                 delegate_config(gw, *[b.port for b in backends]), backends,
                 namespace="infra") as m:
        m.gw_port = gw
        yield m


def served(proxy, path):
    c = http.client.HTTPConnection("127.0.0.1", proxy.gw_port, timeout=10)
    c.request("GET", path, headers={"Host": "shop.example.com"})
    r = c.getresponse()
    data = json.loads(r.read())
    c.close()
    assert r.status == 200
    return data


def test_delegate_rules_serve_under_the_root_prefix(proxy):
    assert served(proxy, "/orders/new/1")["version"] == "v2"
    assert served(proxy, "/orders/7")["version"] == "v1"
    assert served(proxy, "/else")["version"] == "legacy"


def test_delegate_rules_inherit_the_root_header_ops(proxy):
    assert served(proxy, "/orders/7")["headers"]["x-root"] == "yes"
    assert "x-root" not in served(proxy, "/else")["headers"]


def test_delegate_not_exported_to_the_root_is_not_served(proxy):
    # team/private is exportTo ["."]: invisible from infra, so its root rule drops out and
    # the catch-all serves the path.
    assert served(proxy, "/private/x")["version"] == "legacy"
