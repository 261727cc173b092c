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
HAPROXY=$(command -v haproxy || echo /usr/sbin/haproxy)
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
command -v wrk >/dev/null || { echo "bench: wrk missing (apt-get install wrk)"; exit 1; }

. bench/lib.sh
start_backends
PM=$(port); PH=$(port); PN=$(port); ADMIN=$(port); MESH=$(port)
PR=$(port); ADMIN_R=$(port); MESH_R=$(port); PF=$(port)

mkdir -p "$OUT/meshlet" "$OUT/meshlet-res"
{ registry "$PM"; one_route; } >"$OUT/meshlet/config.yaml"
taskset -c 0 ./meshlet run -c "$OUT/meshlet" --workers 1 --listen-address 127.0.0.1 \
    --admin 127.0.0.1:$ADMIN --mesh-listen 127.0.0.1:$MESH 2>"$OUT/meshlet.log" & pids+=($!)
MESHLET_PID=$!
# The same with timeout, retries, outlier detection and pool limits (issue 5: within 3%).
{ registry "$PR" "$RESILIENT_POLICY"; one_route "$RESILIENT_ROUTE"; } >"$OUT/meshlet-res/config.yaml"
taskset -c 0 ./meshlet run -c "$OUT/meshlet-res" --workers 1 --listen-address 127.0.0.1 \
    --admin 127.0.0.1:$ADMIN_R --mesh-listen 127.0.0.1:$MESH_R 2>"$OUT/meshlet-res.log" & pids+=($!)
MESHLET_RES_PID=$!

cc -O2 -D_GNU_SOURCE -o "$OUT/floor" bench/floor.c
taskset -c 0 "$OUT/floor" "$PF" "$V1" "$V2" & pids+=($!)
FLOOR_PID=$!

{ haproxy_head "http-reuse always"; cat <<CFG; } >"$OUT/haproxy.cfg"
frontend fe
    bind 127.0.0.1:$PH
    default_backend be
backend be
    balance roundrobin
    server v1 127.0.0.1:$V1 weight 90
    server v2 127.0.0.1:$V2 weight 10
CFG
taskset -c 0 "$HAPROXY" -f "$OUT/haproxy.cfg" -db >/dev/null 2>&1 & pids+=($!)
HAPROXY_PID=$!

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
    upstream be { server 127.0.0.1:$V1 weight=9; server 127.0.0.1:$V2 weight=1; keepalive 128; }
    server {
        listen 127.0.0.1:$PN;
        location / {
            proxy_pass http://be;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
        }
    }
}
CFG
taskset -c 0 "$NGINX" -c "$PWD/$OUT/nginx.conf" & pids+=($!)
NGINX_PID=$!
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
printf '%-8s %12s %9s %9s %14s\n' proxy "requests/s" "p50 ms" "p99 ms" "CPU us/request"
for n in direct meshlet scraped resilient haproxy nginx floor; do
    printf '%-8s %12.0f %9.2f %9.2f %14.2f\n' $n "$(col $n 2)" "$(col $n 3)" "$(col $n 4)" "$(col $n 5)"
done
printf '\nratios (median of per-round ratios):\n'
printf '  meshlet/haproxy requests/s x%.2f, CPU x%.2f, p99 x%.2f\n' \
    "$(ratio meshlet haproxy 2)" "$(ratio meshlet haproxy 5)" "$(ratio meshlet haproxy 4)"
printf '  meshlet/nginx   requests/s x%.2f, CPU x%.2f, p99 x%.2f\n' \
    "$(ratio meshlet nginx 2)" "$(ratio meshlet nginx 5)" "$(ratio meshlet nginx 4)"
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
