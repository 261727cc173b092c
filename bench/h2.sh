#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# HTTP/2 benchmark (issue 14): h2load (h2c with prior knowledge, H2_CONNS connections x
# H2_STREAMS streams) through meshlet, HAProxy and nginx doing proxy.sh's 90/10 split, in two
# scenarios: A, h2c to HTTP/1.1 keep-alive upstreams (proxy.sh's backends); B, h2c to h2c
# upstreams with a gRPC-like unary call (POST, content-type application/grpc, one small
# message; grpc-status in trailers) answered by bench/h2backend.c (libnghttp2). Proxy pinned
# on CPU 0 with one worker, h2load and the backends on CPU 1; interleaved rounds, medians,
# per-round ratios and CPU per request as proxy.sh (bench/lib.sh). Then meshlet's split over
# one connection, and memory, each measure in fresh processes (a heap that served a burst
# before would hide growth): per idle HTTP/2 connection and per open stream. Not a test.
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-5}
H2_CONNS=${H2_CONNS:-4}
H2_STREAMS=${H2_STREAMS:-16}
IDLE_CONNS=${IDLE_CONNS:-1000}
STREAM_CONNS=${STREAM_CONNS:-10} # x 100 streams each: every proxy's default allows 100
OUT=build/bench/h2
rm -rf "$OUT" && mkdir -p "$OUT"
command -v h2load >/dev/null || { echo "bench: h2load missing (apt-get install nghttp2-client)"; exit 1; }

. bench/lib.sh
start_backends
cc -O2 -D_GNU_SOURCE -o "$OUT/h2backend" bench/h2backend.c $(pkg-config --cflags --libs libnghttp2)
W1=$(port); W2=$(port)
taskset -c 1 "$OUT/h2backend" "$W1" v1 & pids+=($!)
taskset -c 1 "$OUT/h2backend" "$W2" v2 & pids+=($!)
printf '\0\0\0\0\5hello' >"$OUT/grpc.bin" # one gRPC message: uncompressed, 5 bytes
GRPC=(-d "$OUT/grpc.bin" -H 'content-type: application/grpc' -H 'te: trailers')

# start_proxies: meshlet A and B, one HAProxy and one nginx with both scenarios' listeners,
# on fresh ports (MA MB HA HB NA NB), ready when this returns.
start_proxies() {
    MA=$(port); MB=$(port); HA=$(port); HB=$(port); NA=$(port); NB=$(port)
    mkdir -p "$OUT/meshlet-a" "$OUT/meshlet-b"
    { registry "$MA"; one_route; } >"$OUT/meshlet-a/config.yaml"
    start_meshlet "$OUT/meshlet-a"
    MESHLET_A=$MPID
    { registry "$MB" "" grpc GRPC "$W1" "$W2"; one_route; } >"$OUT/meshlet-b/config.yaml"
    start_meshlet "$OUT/meshlet-b"
    MESHLET_B=$MPID

    { haproxy_head "http-reuse always"; cat <<CFG; } >"$OUT/haproxy.cfg"
frontend fe_a
    bind 127.0.0.1:$HA proto h2
    default_backend be
frontend fe_b
    bind 127.0.0.1:$HB proto h2
    default_backend be_h2
$(haproxy_backend be "$V1" "$V2")
$(haproxy_backend be_h2 "$W1" "$W2" "proto h2")
CFG
    start_haproxy

    # keepalive_requests: nginx ends an HTTP/2 connection after 1,000 requests by default,
    # meshlet and HAProxy do not. grpc_pass is nginx's only HTTP/2 upstream.
    start_nginx "$(nginx_upstream be "$V1" "$V2")
$(nginx_upstream be_h2 "$W1" "$W2")
    keepalive_requests 1000000000;
    server {
        listen 127.0.0.1:$NA http2;
        location / {
            $NGINX_PROXY
        }
    }
    server {
        listen 127.0.0.1:$NB http2;
        location / { grpc_pass grpc://be_h2; }
    }"
    local p i
    for p in "$MA" "$MB" "$HA" "$HB" "$NA" "$NB"; do
        for i in $(seq 50); do
            curl -s -m 1 -o /dev/null --http2-prior-knowledge "http://127.0.0.1:$p/" && break
            sleep 0.1
        done
    done
}
stop_proxies() {
    local p
    for p in "$MESHLET_A" "$MESHLET_B" "$HAPROXY_PID" "$NGINX_PID"; do
        kill "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
}

# run_h2 NAME URL PID [h2load options] -> rounds.txt's row, as run(): requests/s, p50 and p99
# (ms, from h2load's per-request log), CPU us per request (ticks, schedstat). Requests that
# failed or were not answered 2xx go to $OUT/errors.
run_h2() {
    local name=$1 url=$2 pid=$3 m0 m1 out rps ok bad pct
    shift 3
    m0=$(cpu_mark "$pid")
    out=$(taskset -c 1 h2load -c"$H2_CONNS" -m"$H2_STREAMS" -D"$DURATION" -H ':authority: api.example.com' \
        --log-file="$OUT/h2load.log" "$@" "$url")
    m1=$(cpu_mark "$pid")
    rps=$(echo "$out" | awk '/^finished in/ {print $4}')
    ok=$(echo "$out" | awk '/^status codes:/ {print $3}')
    bad=$(echo "$out" | awk '/^requests:/ {b = $10 + $12 + $14} /^status codes:/ {b += $5 + $7 + $9}
        END {print b}')
    [ "$bad" = 0 ] || echo "$name: $bad of $((ok + bad)) requests failed or not 2xx" >>"$OUT/errors"
    pct=$(cut -f3 "$OUT/h2load.log" | sort -n |
        awk '{a[NR]=$1} END {printf "%.3f %.3f", a[int(NR*0.5+0.5)]/1000, a[int(NR*0.99+0.5)]/1000}')
    echo "$name $rps $pct $(per_request "$m0" "$m1" "$ok")"
}

start_proxies
for r in $(seq "$ROUNDS"); do
    run_h2 a-meshlet "http://127.0.0.1:$MA/orders" "$MESHLET_A"
    run_h2 a-haproxy "http://127.0.0.1:$HA/orders" "$HAPROXY_PID"
    run_h2 a-nginx "http://127.0.0.1:$NA/orders" "$NGINX_PID"
    run_h2 b-direct "http://127.0.0.1:$W1/pkg.Svc/Call" 0 "${GRPC[@]}"
    run_h2 b-meshlet "http://127.0.0.1:$MB/pkg.Svc/Call" "$MESHLET_B" "${GRPC[@]}"
    run_h2 b-haproxy "http://127.0.0.1:$HB/pkg.Svc/Call" "$HAPROXY_PID" "${GRPC[@]}"
    run_h2 b-nginx "http://127.0.0.1:$NB/pkg.Svc/Call" "$NGINX_PID" "${GRPC[@]}"
done >"$OUT/rounds.txt"

# Syscalls per request, in a pass of its own (perf would weigh on the figures above).
SYSCALL_REQUESTS=${SYSCALL_REQUESTS:-100000}
syscalls() { # NAME URL PID [h2load options] -> syscalls per request
    local name=$1 url=$2 pid=$3 n
    shift 3
    n=$(count_syscalls "$pid" "$OUT/$name.h2load" taskset -c 1 h2load -c"$H2_CONNS" \
        -m"$H2_STREAMS" -n"$SYSCALL_REQUESTS" -H ':authority: api.example.com' "$@" "$url")
    awk -v n="$n" '/^requests:/ {printf "%.2f", n / $8}' "$OUT/$name.h2load"
}
sys=()
if perf_ok; then
    sys=("$(syscalls a-meshlet "http://127.0.0.1:$MA/orders" "$MESHLET_A")"
        "$(syscalls a-haproxy "http://127.0.0.1:$HA/orders" "$HAPROXY_PID")"
        "$(syscalls a-nginx "http://127.0.0.1:$NA/orders" "$NGINX_PID")"
        "$(syscalls b-meshlet "http://127.0.0.1:$MB/pkg.Svc/Call" "$MESHLET_B" "${GRPC[@]}")"
        "$(syscalls b-haproxy "http://127.0.0.1:$HB/pkg.Svc/Call" "$HAPROXY_PID" "${GRPC[@]}")"
        "$(syscalls b-nginx "http://127.0.0.1:$NB/pkg.Svc/Call" "$NGINX_PID" "${GRPC[@]}")")
fi

# Split check: what meshlet sent to v2 of 1,000 requests on one HTTP/2 connection.
split() { # MARK NGHTTP_ARGS...: the answers that carry v2's MARK
    local mark=$1
    shift
    nghttp -m 1000 -H ':authority: api.example.com' "$@" | grep -ao "$mark" | wc -l
}
v2_a=$(split '"v2"' "http://127.0.0.1:$MA/orders")
v2_b=$(split 'version v2' "${GRPC[@]}" "http://127.0.0.1:$MB/pkg.Svc/Call")
stop_proxies

# mem SCENARIO MODE ARGS...: bench/memory.py MODE ARGS on the scenario's listener of fresh
# meshlet, HAProxy and nginx processes -> their three figures, space-separated
mem() {
    local s=$1 mode=$2 i out=() g=()
    shift 2
    start_proxies
    local ps=("$MESHLET_A" "$HAPROXY_PID" "$NGINX_PID") ports=("$MA" "$HA" "$NA")
    if [ "$s" = b ]; then
        ps=("$MESHLET_B" "$HAPROXY_PID" "$NGINX_PID") ports=("$MB" "$HB" "$NB") g=(grpc)
    fi
    for i in 0 1 2; do
        out+=("$(/usr/bin/python3 bench/memory.py "$mode" "${ps[$i]}" "${ports[$i]}" "$@" "${g[@]}")")
    done
    stop_proxies
    echo "${out[@]}"
}
read -r idle_m idle_h idle_n < <(mem a h2-idle "$IDLE_CONNS")
read -r sa_m oka_m sa_h oka_h sa_n oka_n < <(mem a h2-streams "$STREAM_CONNS" 100 3000)
read -r sb_m okb_m sb_h okb_h sb_n okb_n < <(mem b h2-streams "$STREAM_CONNS" 100 3000)

printf '\n%d rounds x %ds, h2load -c%d -m%d (h2c); proxy on CPU 0 (1 worker), h2load + backends on CPU 1; medians\n' \
    "$ROUNDS" "$DURATION" "$H2_CONNS" "$H2_STREAMS"
printf 'A: h2c -> HTTP/1.1 keep-alive upstreams (bench backends), GET\n'
print_rows a-meshlet a-haproxy a-nginx
printf 'B: h2c -> h2c upstreams (bench/h2backend.c), gRPC-like unary POST; direct: h2load to one backend\n'
print_rows b-direct b-meshlet b-haproxy b-nginx
printf '\nratios (median of per-round ratios):\n'
for s in a b; do
    printf '%s:\n' "$(echo $s | tr ab AB)"
    print_ratio meshlet/haproxy "$s-meshlet" "$s-haproxy"
    print_ratio meshlet/nginx "$s-meshlet" "$s-nginx"
    printf '  meshlet/best    requests/s x%.2f, CPU x%.2f, p99 x%.2f (goal: >= 1.0, <= 0.85, <= 1.0)\n' \
        "$(ratio_best "$s-meshlet" "$s-haproxy" "$s-nginx" 2 max)" \
        "$(ratio_best "$s-meshlet" "$s-haproxy" "$s-nginx" 5 min)" \
        "$(ratio_best "$s-meshlet" "$s-haproxy" "$s-nginx" 4 min)"
done
echo '  (best: per round, the higher requests/s, the lower CPU and p99 of HAProxy and nginx)'
[ -s "$OUT/errors" ] && { echo 'failed requests:'; sed 's/^/  /' "$OUT/errors"; }
[ ${#sys[@]} = 0 ] || printf 'syscalls per request (h2load -n%d under perf, a pass of its own): A meshlet %s, haproxy %s, nginx %s; B meshlet %s, haproxy %s, nginx %s\n' \
    "$SYSCALL_REQUESTS" "${sys[@]}"
echo "meshlet split check, 1000 requests on one HTTP/2 connection: A $v2_a, B $v2_b went to v2 (90/10)"

printf '\nmemory, in fresh processes (RSS growth; HAProxy and nginx: all their processes):\n'
printf '  idle HTTP/2 connection (%d opened one after another, one request each, then idle):\n' "$IDLE_CONNS"
printf '    meshlet %s bytes, haproxy %s bytes, nginx %s bytes\n' "$idle_m" "$idle_h" "$idle_n"
n=$((STREAM_CONNS * 100))
printf '  open stream (%d: %d connections x 100, the backend answers 3 s later; answered 200):\n' "$n" "$STREAM_CONNS"
printf '    A meshlet %s bytes (%s), haproxy %s bytes (%s), nginx %s bytes (%s); each holds an HTTP/1.1 upstream connection\n' \
    "$sa_m" "$oka_m" "$sa_h" "$oka_h" "$sa_n" "$oka_n"
printf '    B meshlet %s bytes (%s), haproxy %s bytes (%s), nginx %s bytes (%s); nginx: an upstream connection each\n' \
    "$sb_m" "$okb_m" "$sb_h" "$okb_h" "$sb_n" "$okb_n"
