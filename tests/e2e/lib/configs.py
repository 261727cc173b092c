# SPDX-License-Identifier: Apache-2.0
"""Istio configurations shared by the end-to-end tests."""


def canary_config(gw_port, v1, v2, weights=(90, 10), extra=""):
    return f"""\
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {{name: edge, namespace: shop}}
spec:
  selector: {{istio: ingressgateway}}
  servers:
  - port: {{number: {gw_port}, name: http, protocol: HTTP}}
    hosts: ["shop/*.example.com"]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {{name: orders, namespace: shop}}
spec:
  hosts: [orders.shop.svc.cluster.local]
  location: MESH_INTERNAL
  ports:
  - {{number: 9080, name: http, protocol: HTTP}}
  resolution: STATIC
  endpoints:
  - {{address: 127.0.0.1, ports: {{http: {v1}}}, labels: {{version: v1}}}}
  - {{address: 127.0.0.1, ports: {{http: {v2}}}, labels: {{version: v2}}}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: orders, namespace: shop}}
spec:
  host: orders
  subsets:
  - {{name: v1, labels: {{version: v1}}}}
  - {{name: v2, labels: {{version: v2}}}}
  - {{name: v3, labels: {{version: v3}}}}
---
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
{extra}"""
