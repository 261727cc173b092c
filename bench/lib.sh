# SPDX-License-Identifier: Apache-2.0
# Shared by the request-path benchmarks (sourced): free ports, two backends pinned on CPU 1,
# cleanup by PID, the Istio registry the benchmarks route to, and proxy.sh's measures (a wrk
# run with the proxy's CPU per request, per-round ratios, idle keep-alive memory) that
# compare.sh reuses.

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

# CPU ticks (user + system) of a process and its children threads/processes.
ticks() {
    local total=0 p
    for p in "$@" $(pgrep -P "$1" 2>/dev/null || true); do
        [ -r /proc/$p/stat ] || continue
        total=$((total + $(awk '{print $14 + $15}' /proc/$p/stat)))
    done
    echo "$total"
}
HZ=$(getconf CLK_TCK)
# The same in nanoseconds on CPU (/proc/PID/task/*/schedstat): ticks are 10 ms, too coarse
# to compare two close binaries over short rounds.
cpu_ns() {
    local p
    for p in "$@" $(pgrep -P "$1" 2>/dev/null || true); do
        cat /proc/$p/task/*/schedstat 2>/dev/null || true
    done | awk '{t += $1} END {printf "%.0f\n", t}'
}

# run NAME URL PID -> "rps p50_ms p99_ms us_per_req us_per_req_schedstat"
run() {
    local name=$1 url=$2 pid=$3
    local t0 t1 n0 n1 out rps p50 p99 reqs
    t0=$( [ "$pid" = 0 ] && echo 0 || ticks "$pid")
    n0=$( [ "$pid" = 0 ] && echo 0 || cpu_ns "$pid")
    out=$(taskset -c 1 wrk -t1 -c"$CONNS" -d"${DURATION}s" --latency -H 'Host: api.example.com' "$url")
    t1=$( [ "$pid" = 0 ] && echo 0 || ticks "$pid")
    n1=$( [ "$pid" = 0 ] && echo 0 || cpu_ns "$pid")
    rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
    reqs=$(echo "$out" | awk '/requests in/ {print $1}')
    p50=$(echo "$out" | awk '$1=="50%" {print $2}')
    p99=$(echo "$out" | awk '$1=="99%" {print $2}')
    local us
    us=$(echo "($t1 - $t0) * 1000000 / $HZ / $reqs" | bc -l)
    echo "$name $rps $(ms "$p50") $(ms "$p99") $us $(echo "($n1 - $n0) / 1000 / $reqs" | bc -l)"
}
ms() { # wrk latency "1.23ms" / "850.00us" / "1.2s" -> ms
    case $1 in *us) echo "${1%us} / 1000" | bc -l ;; *ms) echo "${1%ms}" ;; *s) echo "${1%s} * 1000" | bc -l ;; *) echo 0 ;; esac
}

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
col() { awk -v n="$1" -v c="$2" '$1==n {print $c}' "$OUT/rounds.txt" | median; }
# ratio A B COLUMN: the median over rounds of A's figure over B's in the same round
ratio() {
    awk -v a="$1" -v b="$2" -v c="$3" '$1==a {x[++i]=$c} $1==b {y[++j]=$c}
        END {for (k = 1; k <= i && k <= j; k++) print x[k] / y[k]}' "$OUT/rounds.txt" | median
}

# Idle keep-alive connection memory: RSS growth for 2000 idle connections.
idle() {
    local pid=$1 port=$2
    /usr/bin/python3 - "$pid" "$port" <<'PY'
import socket, sys, time
pid, port = int(sys.argv[1]), int(sys.argv[2])
def rss(p):
    kb = 0
    for q in [p] + [int(c) for c in open(f"/proc/{p}/task/{p}/children").read().split()]:
        for line in open(f"/proc/{q}/status"):
            if line.startswith("VmRSS:"):
                kb += int(line.split()[1])
    return kb
socks = []
before = rss(pid)
# One request per connection, answered, then the connection stays open and idle: the growth
# is what an idle keep-alive connection costs, not what a burst of requests in flight costs.
for _ in range(2000):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"GET /orders HTTP/1.1\r\nHost: api.example.com\r\n\r\n")
    s.settimeout(5)
    got = b""
    while b"\r\n\r\n" not in got:
        got += s.recv(65536)
    socks.append(s)
time.sleep(0.5)
after = rss(pid)
print(f"{(after - before) * 1024 / 2000:.0f}")
for s in socks:
    s.close()
PY
}
