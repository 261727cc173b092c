# SPDX-License-Identifier: Apache-2.0
# Shared by the request-path benchmarks (sourced): free ports, two backends pinned on CPU 1,
# cleanup by PID, and the Istio registry both benchmarks route to.

port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

# Two backends (v1, v2) on CPU 1; sets V1 and V2 to their ports.
start_backends() {
    V1=$(port); V2=$(port)
    taskset -c 1 build/backend --listen 127.0.0.1:$V1 --name v1 2>/dev/null & pids+=($!)
    taskset -c 1 build/backend --listen 127.0.0.1:$V2 --name v2 2>/dev/null & pids+=($!)
}

# The Gateway "bench" on PORT for every host.
gateway_yaml() {
    cat <<YAML
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: bench, namespace: bench}
spec:
  selector: {istio: ingressgateway}
  servers: [{port: {number: $1, name: http, protocol: HTTP}, hosts: ["*"]}]
YAML
}

# HAProxy's global and defaults sections for one thread, with the upstream reuse line $1.
haproxy_head() {
    cat <<CFG
global
    nbthread 1
    maxconn 8000
defaults
    mode http
    timeout connect 5s
    timeout client 30s
    timeout server 30s
    $1
CFG
}

# The ServiceEntry of the service svc.bench on port 80, with the endpoint lines $1.
service_entry() {
    cat <<YAML
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: svc, namespace: bench}
spec:
  hosts: [svc.bench.svc.cluster.local]
  location: MESH_INTERNAL
  ports: [{number: 80, name: http, protocol: HTTP}]
  resolution: STATIC
  endpoints:
$1
YAML
}

# A Gateway on PORT for every host, the service svc with subsets v1 and v2 on the backends;
# a second argument adds a trafficPolicy (YAML flow mapping) to its DestinationRule.
registry() {
    cat <<YAML
$(gateway_yaml "$1")
---
$(service_entry "  - {address: 127.0.0.1, ports: {http: $V1}, labels: {version: v1}}
  - {address: 127.0.0.1, ports: {http: $V2}, labels: {version: v2}}")
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: svc, namespace: bench}
spec:
  host: svc
  subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}]
${2:+  trafficPolicy: $2}
YAML
}

# The resilience settings of issue 5's speed check: outlier detection and pool limits on
# the pools (registry's trafficPolicy), a timeout and retries on the route (one_route's).
RESILIENT_POLICY='{outlierDetection: {consecutive5xxErrors: 5, interval: 10s, baseEjectionTime: 30s, maxEjectionPercent: 100}, connectionPool: {tcp: {maxConnections: 10000}, http: {http1MaxPendingRequests: 10000, maxRetries: 100}}}'
RESILIENT_ROUTE='timeout: 10s
    retries: {attempts: 2, perTryTimeout: 2s, retryOn: "5xx,reset,connect-failure"}'

# The one-route VirtualService: every host, 90/10 over v1 and v2; a first argument adds
# route fields (YAML lines at the route's indentation).
one_route() {
    cat <<YAML
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: svc, namespace: bench}
spec:
  hosts: ["*"]
  gateways: [bench]
  http:
  - route:
    - {destination: {host: svc, subset: v1}, weight: 90}
    - {destination: {host: svc, subset: v2}, weight: 10}
${1:+    $1}
YAML
}
