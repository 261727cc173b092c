#!/usr/bin/env bash
# Request-path benchmark: wrk through meshlet, HAProxy and nginx doing the same 90/10 split
# with keep-alive upstreams, through the floor (bench/floor.c: the least an epoll proxy can
# do for that split), and wrk straight to a backend (the limit). Proxy pinned on CPU 0 with
# one worker; wrk and the two backends on CPU 1. Rounds are interleaved; medians are
# printed with the proxy's CPU time per request (user + system, from /proc), and ratios as
# the median of each round's ratio (the machine's speed drifts between rounds more than
# the proxies differ within one). Then the memory an idle keep-alive connection costs each
# proxy. Not a test.
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-5}
CONNS=${CONNS:-64}
OUT=build/bench/proxy
mkdir -p "$OUT"
command -v wrk >/dev/null || { echo "bench: wrk missing (apt-get install wrk)"; exit 1; }

. bench/lib.sh
start_backends
PM=$(port); PH=$(port); PN=$(port); PR=$(port); PF=$(port)

mkdir -p "$OUT/meshlet" "$OUT/meshlet-res"
{ registry "$PM"; one_route; } >"$OUT/meshlet/config.yaml"
start_meshlet "$OUT/meshlet"
MESHLET_PID=$MPID
ADMIN=$MADMIN
# The same with timeout, retries, outlier detection and pool limits (issue 5: within 3%).
{ registry "$PR" "$RESILIENT_POLICY"; one_route "$RESILIENT_ROUTE"; } >"$OUT/meshlet-res/config.yaml"
start_meshlet "$OUT/meshlet-res"
MESHLET_RES_PID=$MPID

cc -O2 -D_GNU_SOURCE -o "$OUT/floor" bench/floor.c
taskset -c 0 "$OUT/floor" "$PF" "$V1" "$V2" & pids+=($!)
FLOOR_PID=$!

{ haproxy_head "http-reuse always"; cat <<CFG; } >"$OUT/haproxy.cfg"
frontend fe
    bind 127.0.0.1:$PH
    default_backend be
$(haproxy_backend be "$V1" "$V2")
CFG
start_haproxy

start_nginx "$(nginx_upstream be "$V1" "$V2")
    server {
        listen 127.0.0.1:$PN;
        location / {
            $NGINX_PROXY
        }
    }"
sleep 1

# The same meshlet while /stats/prometheus is scraped every second (issue 7: within 2%).
run_scraped() {
    (while :; do curl -s "http://127.0.0.1:$ADMIN/stats/prometheus" >/dev/null; sleep 1; done) &
    local scraper=$!
    run scraped "http://127.0.0.1:$PM/orders" "$MESHLET_PID"
    kill "$scraper"
    wait "$scraper" 2>/dev/null || true
}

for r in $(seq "$ROUNDS"); do
    run direct "http://127.0.0.1:$V1/" 0
    run meshlet "http://127.0.0.1:$PM/orders" "$MESHLET_PID"
    run_scraped
    run resilient "http://127.0.0.1:$PR/orders" "$MESHLET_RES_PID"
    run haproxy "http://127.0.0.1:$PH/orders" "$HAPROXY_PID"
    run nginx "http://127.0.0.1:$PN/orders" "$NGINX_PID"
    run floor "http://127.0.0.1:$PF/orders" "$FLOOR_PID"
done >"$OUT/rounds.txt"

# Split check: what meshlet actually sent to v2 (one connection, 1000 requests).
v2=$(for i in $(seq 1000); do printf 'http://127.0.0.1:%s/orders ' "$PM"; done |
     xargs curl -s -H 'Host: api.example.com' | grep -o '"v2"' | wc -l)

printf '\n%d rounds x %ds, wrk -t1 -c%d; proxy on CPU 0 (1 worker), wrk + backends on CPU 1; medians\n' \
    "$ROUNDS" "$DURATION" "$CONNS"
print_rows direct meshlet scraped resilient haproxy nginx floor
printf '\nratios (median of per-round ratios):\n'
print_ratio meshlet/haproxy meshlet haproxy
print_ratio meshlet/nginx meshlet nginx
printf '  floor/nginx     requests/s x%.2f, CPU x%.2f (what no feature costs)\n' \
    "$(ratio floor nginx 2)" "$(ratio floor nginx 5)"
printf '  meshlet/floor   requests/s x%.2f, CPU x%.2f (what every feature costs)\n' \
    "$(ratio meshlet floor 2)" "$(ratio meshlet floor 5)"
printf '  meshlet/direct  requests/s x%.2f\n' "$(ratio meshlet direct 2)"
printf 'resilience settings: meshlet with/without requests/s x%.3f, CPU x%.3f (resilient = timeout, retries, outlier detection, pool limits)\n' \
    "$(ratio resilient meshlet 2)" "$(ratio resilient meshlet 5)"
printf 'metrics scraped every second: meshlet with/without requests/s x%.3f, CPU x%.3f\n' \
    "$(ratio scraped meshlet 2)" "$(ratio scraped meshlet 5)"
echo "meshlet split check: $v2 of 1000 requests on one connection went to v2 (90/10)"

printf '\nidle keep-alive connection (RSS growth over 2,000 connections opened one after another, one request each, then idle):\n'
printf '  meshlet %s bytes, haproxy %s bytes, nginx %s bytes\n' \
    "$(idle "$MESHLET_PID" "$PM")" "$(idle "$HAPROXY_PID" "$PH")" "$(idle "$NGINX_PID" "$PN")"
