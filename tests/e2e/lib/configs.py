# SPDX-License-Identifier: Apache-2.0
"""Istio configurations shared by the end-to-end tests."""


def gateway(port, name="edge", ns="shop", hosts="shop/*.example.com"):
    """An HTTP Gateway server on <port> for <hosts>."""
    return f"""\
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {{name: {name}, namespace: {ns}}}
spec:
  selector: {{istio: ingressgateway}}
  servers:
  - port: {{number: {port}, name: http, protocol: HTTP}}
    hosts: ["{hosts}"]
"""


def service_entry(name, ns, endpoints, port=9080):
    """A STATIC ServiceEntry <name>.<ns>.svc.cluster.local with endpoints on 127.0.0.1:
    <endpoints> is a list of (port, {label: value})."""
    lines = "\n".join(
        f"  - {{address: 127.0.0.1, ports: {{http: {p}}}"
        + (f", labels: {{{', '.join(f'{k}: {v}' for k, v in labels.items())}}}" if labels else "")
        + "}"
        for p, labels in endpoints)
    return f"""\
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {{name: {name}, namespace: {ns}}}
spec:
  hosts: [{name}.{ns}.svc.cluster.local]
  location: MESH_INTERNAL
  ports:
  - {{number: {port}, name: http, protocol: HTTP}}
  resolution: STATIC
  endpoints:
{lines}
"""


def subsets_rule(name, ns, versions):
    """A DestinationRule for <name> with one subset per version label."""
    subsets = "\n".join(f"  - {{name: {v}, labels: {{version: {v}}}}}" for v in versions)
    return f"""\
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: {name}, namespace: {ns}}}
spec:
  host: {name}
  subsets:
{subsets}
"""


def edge_routes(name, rules, ns="shop", hosts="api.example.com"):
    """A VirtualService <name> for <hosts> on the Gateway "edge" with the http <rules>
    (YAML list items, indented by two spaces)."""
    return f"""\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: {name}, namespace: {ns}}}
spec:
  hosts: [{hosts}]
  gateways: [edge]
  http:
{rules}"""


def canary_config(gw_port, v1, v2, weights=(90, 10), extra=""):
    return "---\n".join([
        gateway(gw_port),
        service_entry("orders", "shop", [(v1, {"version": "v1"}), (v2, {"version": "v2"})]),
        subsets_rule("orders", "shop", ["v1", "v2", "v3"]),
        f"""\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: orders, namespace: shop}}
spec:
  hosts: [api.example.com, orders]
  gateways: [edge, mesh]
  http:
  - name: canary-header
    match:
    - headers: {{x-canary: {{exact: "true"}}}}
    route:
    - destination: {{host: orders, subset: v2}}
  - name: empty-subset
    match:
    - uri: {{prefix: /v3}}
    route:
    - destination: {{host: orders, subset: v3}}
  - name: teapot
    match:
    - uri: {{exact: /teapot}}
    directResponse: {{status: 418, body: {{string: "short and stout"}}}}
  - name: moved
    match:
    - uri: {{prefix: /old}}
    redirect: {{uri: /new, authority: new.example.com}}
  - name: slow
    match:
    - uri: {{prefix: /slow}}
    route:
    - destination: {{host: orders, subset: v1}}
    timeout: 300ms
  - name: split
    match:
    - uri: {{prefix: /orders}}
    route:
    - destination: {{host: orders, subset: v1}}
      weight: {weights[0]}
    - destination: {{host: orders, subset: v2}}
      weight: {weights[1]}
{extra}"""])


def destination_rule(name, traffic_policy, ns="shop"):
    """A DestinationRule for <name> with <traffic_policy> (a YAML flow mapping)."""
    return f"""\
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: {name}, namespace: {ns}}}
spec:
  host: {name}
  trafficPolicy: {traffic_policy}
"""


def gateway_servers(servers, name="edge", ns="shop"):
    """A Gateway <name> with <servers> (YAML list items, indented by two spaces)."""
    return f"""\
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {{name: {name}, namespace: {ns}}}
spec:
  selector: {{istio: ingressgateway}}
  servers:
{servers}"""


def l4_service(name, port, endpoints, protocol="TCP", ns="shop"):
    """A STATIC ServiceEntry <name>.<ns>.svc.cluster.local with one <protocol> port <port>
    (named after the protocol) and <endpoints> on 127.0.0.1: a list of (port, extra), extra
    being more endpoint fields in flow style ("" or e.g. "labels: {version: v1}")."""
    pname = protocol.lower()
    eps = "\n".join(f"  - {{address: 127.0.0.1, ports: {{{pname}: {p}}}"
                    + (f", {extra}" if extra else "") + "}" for p, extra in endpoints)
    return f"""\
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {{name: {name}, namespace: {ns}}}
spec:
  hosts: [{name}.{ns}.svc.cluster.local]
  location: MESH_INTERNAL
  ports:
  - {{number: {port}, name: {pname}, protocol: {protocol}}}
  resolution: STATIC
  endpoints:
{eps}
"""


def mtls_canary(gw_port, ports, labels=("version",)):
    """The gateway config of the canary over mutual TLS: Gateway <gw_port> in prod, the
    ServiceEntry orders.prod.svc.cluster.local over the sidecars' ports (<ports>: version ->
    port; endpoint labels <labels>, of "app" and "version"), ISTIO_MUTUAL with subsets v1/v2,
    and a 90/10 split."""
    def eps_labels(v):
        vals = {"app": "orders", "version": v}
        return ", ".join(f"{k}: {vals[k]}" for k in labels)
    eps = "\n".join(f"  - {{address: 127.0.0.1, ports: {{http: {ports[v]}}}, "
                    f"labels: {{{eps_labels(v)}}}, serviceAccount: orders}}" for v in ("v1", "v2"))
    return "---\n".join([
        gateway(gw_port, ns="prod", hosts="prod/*.example.com"),
        f"""\
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {{name: orders, namespace: prod}}
spec:
  hosts: [orders.prod.svc.cluster.local]
  location: MESH_INTERNAL
  ports: [{{number: 9080, name: http, protocol: HTTP}}]
  resolution: STATIC
  endpoints:
{eps}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: orders, namespace: prod}}
spec:
  host: orders
  trafficPolicy: {{tls: {{mode: ISTIO_MUTUAL}}}}
  subsets: [{{name: v1, labels: {{version: v1}}}}, {{name: v2, labels: {{version: v2}}}}]
""",
        edge_routes("orders", """\
  - route:
    - {destination: {host: orders, subset: v1}, weight: 90}
    - {destination: {host: orders, subset: v2}, weight: 10}
""", ns="prod"),
    ])
