#!/usr/bin/env bash
# L4 benchmark (issue 17): meshlet (a Gateway with TCP servers and a TLS PASSTHROUGH
# server), HAProxy 2.6 (`mode tcp`, req_ssl_sni) and nginx 1.22 (`stream`, ssl_preread)
# relaying to the same backends (build/tcp-backend), measured with build/tcp-load:
#
#   bulk   bytes from a source backend to the client, 4 connections at a time reading
#          BULK_MB each to the end: the proxy's CPU seconds per GB moved, and MB/s
#   rate   short connections, CONNS at a time: connect, 64 bytes echoed, close:
#          connections/s and the proxy's CPU microseconds per connection
#   sni    the same through TLS passthrough (full handshakes with SNI, no resumption, to a
#          TLS echo backend with its own certificate): connections/s and CPU per connection
#   idle   RSS growth per idle relayed connection (IDLE_CONNS, bench/memory.py tcp-idle)
#
# Proxy pinned on CPU 0 with one worker/thread; clients and backends on CPU 1. Rounds are
# interleaved (ROUNDS, DURATION seconds per rate measure); medians printed, and ratios as
# the median of per-round ratios (bench/lib.sh). A proxy that does not relay (meshlet
# before its TCP data path) is left out of the rounds and said so. Not a test: nothing is
# asserted. Every load is bounded in count and time; only 127.0.0.1 is used. MESHLET: the
# binary (default ./meshlet).
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-4}
CONNS=${CONNS:-32}
BULK_MB=${BULK_MB:-256}
BULK_CONNS=${BULK_CONNS:-8}
IDLE_CONNS=${IDLE_CONNS:-2000}
SNI=echo.example.com
OUT=build/bench/tcp
mkdir -p "$OUT"
for t in build/tcp-backend build/tcp-load; do
    [ -x "$t" ] || { echo "bench: $t missing (make all)"; exit 1; }
done
NGINX_STREAM=/usr/lib/nginx/modules/ngx_stream_module.so
[ -r "$NGINX_STREAM" ] || { echo "bench: $NGINX_STREAM missing (scripts/deps.sh --bench)"; exit 1; }

. bench/lib.sh

# A tcp-backend on CPU 1 with args "$@"; its port in BPORT.
backend() {
    local f
    f=$(mktemp "$OUT/backend.XXXX")
    taskset -c 1 build/tcp-backend --listen 127.0.0.1:0 "$@" >"$f" & pids+=($!)
    for _ in $(seq 50); do [ -s "$f" ] && break; sleep 0.05; done
    BPORT=$(awk '{print $2}' "$f")
    rm -f "$f"
}
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$OUT/tls.key" \
    -out "$OUT/tls.crt" -days 1 -subj "/CN=$SNI" -addext "subjectAltName=DNS:$SNI" 2>/dev/null
backend; ECHO=$BPORT
backend --mode source --bytes $((BULK_MB * 1000000)); SRC=$BPORT
backend --tls "$OUT/tls.crt" "$OUT/tls.key"; TLSB=$BPORT

# Each proxy: three ports, rate (to ECHO), bulk (to SRC), sni (to TLSB).
MR=$(port); MB=$(port); MS=$(port)
HR=$(port); HB=$(port); HS=$(port)
NR=$(port); NB=$(port); NS=$(port)

# meshlet: one Gateway, a TCP server per relay and a TLS PASSTHROUGH server, each routed by
# a VirtualService to a ServiceEntry with one static endpoint.
tcp_service() { # NAME PORT_NAME PROTOCOL ENDPOINT_PORT
    cat <<YAML
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: $1, namespace: bench}
spec:
  hosts: [$1.bench.svc.cluster.local]
  location: MESH_INTERNAL
  ports: [{number: 9000, name: $2, protocol: $3}]
  resolution: STATIC
  endpoints: [{address: 127.0.0.1, ports: {$2: $4}}]
YAML
}
mkdir -p "$OUT/meshlet"
cat >"$OUT/meshlet/config.yaml" <<YAML
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: l4, namespace: bench}
spec:
  selector: {istio: ingressgateway}
  servers:
  - {port: {number: $MR, name: tcp-rate, protocol: TCP}, hosts: ["*"]}
  - {port: {number: $MB, name: tcp-bulk, protocol: TCP}, hosts: ["*"]}
  - {port: {number: $MS, name: tls-sni, protocol: TLS}, hosts: ["$SNI"], tls: {mode: PASSTHROUGH}}
$(tcp_service echo tcp TCP "$ECHO")
$(tcp_service source tcp TCP "$SRC")
$(tcp_service tls-echo tls TLS "$TLSB")
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: l4, namespace: bench}
spec:
  hosts: ["*"]
  gateways: [l4]
  tcp:
  - match: [{port: $MR}]
    route: [{destination: {host: echo.bench.svc.cluster.local, port: {number: 9000}}}]
  - match: [{port: $MB}]
    route: [{destination: {host: source.bench.svc.cluster.local, port: {number: 9000}}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: l4-tls, namespace: bench}
spec:
  hosts: ["$SNI"]
  gateways: [l4]
  tls:
  - match: [{port: $MS, sniHosts: ["$SNI"]}]
    route: [{destination: {host: tls-echo.bench.svc.cluster.local, port: {number: 9000}}}]
YAML
start_meshlet "$OUT/meshlet" "${MESHLET:-./meshlet}"
MESHLET_PID=$MPID

cat >"$OUT/haproxy.cfg" <<CFG
global
    nbthread 1
    maxconn 8000
defaults
    mode tcp
    timeout connect 5s
    timeout client 30s
    timeout server 30s
frontend rate
    bind 127.0.0.1:$HR
    default_backend echo
frontend bulk
    bind 127.0.0.1:$HB
    default_backend source
frontend sni
    bind 127.0.0.1:$HS
    tcp-request inspect-delay 5s
    tcp-request content accept if { req_ssl_hello_type 1 }
    use_backend tls if { req_ssl_sni -i $SNI }
backend echo
    server e 127.0.0.1:$ECHO
backend source
    server s 127.0.0.1:$SRC
backend tls
    server t 127.0.0.1:$TLSB
CFG
start_haproxy

cat >"$OUT/nginx.conf" <<CFG
load_module $NGINX_STREAM;
worker_processes 1;
daemon off;
pid $PWD/$OUT/nginx.pid;
error_log $PWD/$OUT/nginx-error.log;
events { worker_connections 16000; }
stream {
    server { listen 127.0.0.1:$NR; proxy_pass 127.0.0.1:$ECHO; }
    server { listen 127.0.0.1:$NB; proxy_pass 127.0.0.1:$SRC; }
    map \$ssl_preread_server_name \$tls_up { $SNI 127.0.0.1:$TLSB; default 127.0.0.1:1; }
    server { listen 127.0.0.1:$NS; ssl_preread on; proxy_pass \$tls_up; }
}
CFG
taskset -c 0 "$NGINX" -c "$PWD/$OUT/nginx.conf" & pids+=($!)
NGINX_PID=$!
sleep 1

# Does PORT relay? one short exchange through it.
relays() { build/tcp-load --to "127.0.0.1:$1" --conns 1 --count 1 --seconds 3 >/dev/null 2>&1; }
proxies=()
for p in meshlet:$MR haproxy:$HR nginx:$NR; do
    if relays "${p#*:}"; then proxies+=("${p%%:*}"); else echo "bench: ${p%%:*} does not relay TCP yet: left out"; fi
done

# load NAME MEASURE PORT PID ARGS...: one tcp-load run, as a line of rounds.txt:
# "NAME MEASURE per_second cpu_per_unit" (bulk: MB/s and CPU s per GB; rate and sni:
# connections/s and CPU us per connection)
load() {
    local name=$1 measure=$2 port=$3 pid=$4 m0 m1 out
    shift 4
    m0=$(cpu_mark "$pid")
    out=$(taskset -c 1 build/tcp-load --to "127.0.0.1:$port" "$@")
    m1=$(cpu_mark "$pid")
    local n0 n1 done bytes secs
    n0=${m0#* }; n1=${m1#* }
    read -r _ done _ _ _ bytes _ secs _ <<<"$out"
    if [ "$measure" = bulk ]; then
        echo "$name bulk $(echo "$bytes / $secs / 1000000" | bc -l) $(echo "($n1 - $n0) / $bytes" | bc -l)"
    else
        echo "$name $measure $(echo "$done / $secs" | bc -l) $(echo "($n1 - $n0) / 1000 / $done" | bc -l)"
    fi
}
pid_of() { case $1 in meshlet) echo "$MESHLET_PID" ;; haproxy) echo "$HAPROXY_PID" ;; nginx) echo "$NGINX_PID" ;; direct) echo 0 ;; esac; }
port_of() { # NAME MEASURE
    case $1-$2 in
    meshlet-rate) echo "$MR" ;; meshlet-bulk) echo "$MB" ;; meshlet-sni) echo "$MS" ;;
    haproxy-rate) echo "$HR" ;; haproxy-bulk) echo "$HB" ;; haproxy-sni) echo "$HS" ;;
    nginx-rate) echo "$NR" ;; nginx-bulk) echo "$NB" ;; nginx-sni) echo "$NS" ;;
    direct-rate) echo "$ECHO" ;; direct-bulk) echo "$SRC" ;; direct-sni) echo "$TLSB" ;;
    esac
}
BULK_COUNT=$((BULK_CONNS * 2))
for r in $(seq "$ROUNDS"); do
    for n in direct "${proxies[@]}"; do
        load "$n" bulk "$(port_of "$n" bulk)" "$(pid_of "$n")" --mode bulk --conns "$BULK_CONNS" \
            --count "$BULK_COUNT" --seconds 60
        load "$n" rate "$(port_of "$n" rate)" "$(pid_of "$n")" --conns "$CONNS" --count 1000000 \
            --seconds "$DURATION"
        load "$n" sni "$(port_of "$n" sni)" "$(pid_of "$n")" --conns "$CONNS" --count 1000000 \
            --seconds "$DURATION" --tls "$SNI"
    done
done >"$OUT/rounds.txt"

# med NAME MEASURE COLUMN: the median over rounds
med() { awk -v n="$1" -v m="$2" -v c="$3" '$1==n && $2==m {print $c}' "$OUT/rounds.txt" | median; }
# rat A B MEASURE COLUMN: the median of A/B per round
rat() {
    awk -v a="$1" -v b="$2" -v m="$3" -v c="$4" '$2==m && $1==a {x[++i]=$c} $2==m && $1==b {y[++j]=$c}
        END {for (k = 1; k <= i && k <= j; k++) print x[k] / y[k]}' "$OUT/rounds.txt" | median
}
# rat_best A MEASURE COLUMN min|max: A over the better of haproxy and nginx, per round
rat_best() {
    awk -v a="$1" -v m="$2" -v c="$3" -v mm="$4" '$2==m && $1==a {x[++i]=$c}
        $2==m && $1=="haproxy" {y[++j]=$c} $2==m && $1=="nginx" {z[++k]=$c}
        END {for (r = 1; r <= i && r <= j && r <= k; r++) {
                 best = (mm == "min") == (y[r] < z[r]) ? y[r] : z[r]; print x[r] / best } }' \
        "$OUT/rounds.txt" | median
}

printf '\n%d rounds; proxy on CPU 0 (one worker), tcp-load and tcp-backend on CPU 1; medians\n' "$ROUNDS"
printf '  bulk: %d connections at a time reading %d MB each; rate and sni: %d at a time for %ds\n' \
    "$BULK_CONNS" "$BULK_MB" "$CONNS" "$DURATION"
printf '%-8s %10s %12s %10s %12s %10s %12s\n' proxy "bulk MB/s" "CPU s/GB" "conn/s" \
    "CPU us/conn" "sni conn/s" "CPU us/conn"
for n in direct "${proxies[@]}"; do
    printf '%-8s %10.0f %12.3f %10.0f %12.1f %10.0f %12.1f\n' "$n" "$(med "$n" bulk 3)" \
        "$(med "$n" bulk 4)" "$(med "$n" rate 3)" "$(med "$n" rate 4)" "$(med "$n" sni 3)" \
        "$(med "$n" sni 4)"
done
if [[ " ${proxies[*]} " == *" meshlet "* ]]; then
    printf '\nratios (median of per-round ratios; goals: CPU/GB <= 0.85x the better peer, conn/s >= 1.0x):\n'
    for peer in haproxy nginx; do
        printf '  meshlet/%-7s CPU per GB x%.2f, conn/s x%.2f, CPU per conn x%.2f, sni conn/s x%.2f, sni CPU per conn x%.2f\n' \
            "$peer" "$(rat meshlet "$peer" bulk 4)" "$(rat meshlet "$peer" rate 3)" \
            "$(rat meshlet "$peer" rate 4)" "$(rat meshlet "$peer" sni 3)" "$(rat meshlet "$peer" sni 4)"
    done
    printf '  meshlet/best    CPU per GB x%.2f, conn/s x%.2f, sni conn/s x%.2f\n' \
        "$(rat_best meshlet bulk 4 min)" "$(rat_best meshlet rate 3 max)" "$(rat_best meshlet sni 3 max)"
fi
printf '  haproxy/nginx   CPU per GB x%.2f, conn/s x%.2f, sni conn/s x%.2f\n' \
    "$(rat haproxy nginx bulk 4)" "$(rat haproxy nginx rate 3)" "$(rat haproxy nginx sni 3)"

printf '\nidle relayed TCP connection (RSS growth over %d connections, one byte echoed each, then idle):\n' "$IDLE_CONNS"
for n in "${proxies[@]}"; do
    printf '  %-8s %s bytes\n' "$n" \
        "$(/usr/bin/python3 bench/memory.py tcp-idle "$(pid_of "$n")" "$(port_of "$n" rate)" "$IDLE_CONNS")"
done
