# SPDX-License-Identifier: Apache-2.0
# Shared by the request-path benchmarks (sourced): free ports, two backends pinned on CPU 1,
# cleanup by PID, the Istio registry the benchmarks route to, meshlet and nginx set up the
# same way for each, and proxy.sh's measures (a wrk run with the proxy's CPU per request,
# medians and per-round ratios, idle connection memory) that compare.sh and h2.sh reuse.

HAPROXY=$(command -v haproxy || echo /usr/sbin/haproxy)
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

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

# HAProxy's backend NAME doing the 90/10 split over ports $2 and $3, with server options $4.
haproxy_backend() {
    cat <<CFG
backend $1
    balance roundrobin
    server v1 127.0.0.1:$2 weight 90 ${4:-}
    server v2 127.0.0.1:$3 weight 10 ${4:-}
CFG
}

# nginx's upstream NAME doing the 90/10 split over keep-alive connections to ports $2 and $3,
# and the location lines that proxy to the upstream "be" over HTTP/1.1 keep-alive.
nginx_upstream() {
    echo "    upstream $1 { server 127.0.0.1:$2 weight=9; server 127.0.0.1:$3 weight=1; keepalive 128; }"
}
NGINX_PROXY='proxy_pass http://be;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;'

# The ServiceEntry of the service svc.bench on port 80, with the endpoint lines $1; the
# port's name and protocol are $2 and $3 (default http, HTTP).
service_entry() {
    cat <<YAML
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: svc, namespace: bench}
spec:
  hosts: [svc.bench.svc.cluster.local]
  location: MESH_INTERNAL
  ports: [{number: 80, name: ${2:-http}, protocol: ${3:-HTTP}}]
  resolution: STATIC
  endpoints:
$1
YAML
}

# A Gateway on PORT for every host, the service svc with subsets v1 and v2 on the backends;
# a second argument adds a trafficPolicy (YAML flow mapping) to its DestinationRule. The
# service's port is http/HTTP on V1 and V2, or the name, protocol and ports $3 to $6.
registry() {
    local pname=${3:-http}
    cat <<YAML
$(gateway_yaml "$1")
---
$(service_entry "  - {address: 127.0.0.1, ports: {$pname: ${5:-$V1}}, labels: {version: v1}}
  - {address: 127.0.0.1, ports: {$pname: ${6:-$V2}}, labels: {version: v2}}" "$pname" "${4:-HTTP}")
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

# meshlet serving DIR/config.yaml with one worker on CPU 0; the binary is $2 (default
# ./meshlet); its PID in MPID, its admin port in MADMIN, its log in DIR.log.
start_meshlet() {
    MADMIN=$(port)
    taskset -c 0 "${2:-./meshlet}" run -c "$1" --workers 1 --listen-address 127.0.0.1 \
        --admin 127.0.0.1:$MADMIN --mesh-listen 127.0.0.1:$(port) 2>"$1.log" & pids+=($!)
    MPID=$!
}

# HAProxy (one thread, see haproxy_head) on CPU 0 serving $OUT/haproxy.cfg; PID in HAPROXY_PID.
start_haproxy() {
    taskset -c 0 "$HAPROXY" -f "$OUT/haproxy.cfg" -db >/dev/null 2>&1 & pids+=($!)
    HAPROXY_PID=$!
}

# nginx with one worker on CPU 0 serving the http{} lines $1 (its files in $OUT); the PID of
# its master (the worker is its child) in NGINX_PID.
start_nginx() {
    cat >"$OUT/nginx.conf" <<CFG
worker_processes 1;
daemon off;
pid $PWD/$OUT/nginx.pid;
error_log $PWD/$OUT/nginx-error.log;
events { worker_connections 10000; }
http {
    access_log off;
    client_body_temp_path $PWD/$OUT; proxy_temp_path $PWD/$OUT;
    fastcgi_temp_path $PWD/$OUT; uwsgi_temp_path $PWD/$OUT; scgi_temp_path $PWD/$OUT;
$1
}
CFG
    taskset -c 0 "$NGINX" -c "$PWD/$OUT/nginx.conf" & pids+=($!)
    NGINX_PID=$!
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

# count_syscalls PID FILE COMMAND...: runs COMMAND (a load; its output in FILE) while perf
# counts the syscalls of PID and its children (nginx's worker) -> the count
count_syscalls() {
    local pid=$1 file=$2 kids perf
    shift 2
    kids=$(pgrep -P "$pid" | paste -sd, - || true)
    perf stat -x, -e raw_syscalls:sys_enter -p "$pid${kids:+,$kids}" -o "$file.perf" & perf=$!
    sleep 0.3
    "$@" >"$file"
    kill -INT "$perf"
    wait "$perf" 2>/dev/null || true
    awk -F, '/raw_syscalls/ {print $1}' "$file.perf"
}
perf_ok() { perf stat -e raw_syscalls:sys_enter true >/dev/null 2>&1; }

# cpu_mark PID -> "ticks ns" of the proxy so far ("0 0" for PID 0: no proxy)
cpu_mark() { if [ "$1" = 0 ]; then echo "0 0"; else echo "$(ticks "$1") $(cpu_ns "$1")"; fi; }
# per_request "MARK0" "MARK1" REQUESTS -> "us_per_req us_per_req_schedstat"
per_request() {
    local t0 n0 t1 n1
    read -r t0 n0 <<<"$1"
    read -r t1 n1 <<<"$2"
    echo "$(echo "($t1 - $t0) * 1000000 / $HZ / $3" | bc -l) $(echo "($n1 - $n0) / 1000 / $3" | bc -l)"
}

# run NAME URL PID -> "rps p50_ms p99_ms us_per_req us_per_req_schedstat"
run() {
    local name=$1 url=$2 pid=$3
    local m0 m1 out rps p50 p99 reqs
    m0=$(cpu_mark "$pid")
    out=$(taskset -c 1 wrk -t1 -c"$CONNS" -d"${DURATION}s" --latency -H 'Host: api.example.com' "$url")
    m1=$(cpu_mark "$pid")
    rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
    reqs=$(echo "$out" | awk '/requests in/ {print $1}')
    p50=$(echo "$out" | awk '$1=="50%" {print $2}')
    p99=$(echo "$out" | awk '$1=="99%" {print $2}')
    echo "$name $rps $(ms "$p50") $(ms "$p99") $(per_request "$m0" "$m1" "$reqs")"
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
# ratio_best A B C COLUMN min|max: the median over rounds of A's figure over the better of B's
# and C's in the same round (the lower for min: CPU, latency; the higher for max: requests/s)
ratio_best() {
    awk -v a="$1" -v b="$2" -v d="$3" -v c="$4" -v m="$5" '$1==a {x[++i]=$c} $1==b {y[++j]=$c}
        $1==d {z[++k]=$c}
        END {for (r = 1; r <= i && r <= j && r <= k; r++) {
                 best = (m == "min") == (y[r] < z[r]) ? y[r] : z[r]; print x[r] / best } }' \
        "$OUT/rounds.txt" | median
}

# print_rows NAME...: the header and one row of medians per name (rounds.txt's columns)
print_rows() {
    printf '%-10s %12s %9s %9s %14s\n' proxy "requests/s" "p50 ms" "p99 ms" "CPU us/request"
    local n
    for n in "$@"; do
        printf '%-10s %12.0f %9.2f %9.2f %14.2f\n' "$n" "$(col "$n" 2)" "$(col "$n" 3)" \
            "$(col "$n" 4)" "$(col "$n" 5)"
    done
}
# print_ratio LABEL A B: A/B requests/s, CPU per request and p99, medians of per-round ratios
print_ratio() {
    printf '  %-15s requests/s x%.2f, CPU x%.2f, p99 x%.2f\n' "$1" \
        "$(ratio "$2" "$3" 2)" "$(ratio "$2" "$3" 5)" "$(ratio "$2" "$3" 4)"
}

# Idle keep-alive connection memory: RSS growth for 2000 idle connections (bench/memory.py).
idle() { /usr/bin/python3 bench/memory.py h1-idle "$1" "$2" 2000; }
