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

# run NAME URL PID -> "rps p50_ms p99_ms us_per_req"
run() {
    local name=$1 url=$2 pid=$3
    local t0 t1 out rps p50 p99 reqs
    t0=$( [ "$pid" = 0 ] && echo 0 || ticks "$pid")
    out=$(taskset -c 1 wrk -t1 -c"$CONNS" -d"${DURATION}s" --latency -H 'Host: api.example.com' "$url")
    t1=$( [ "$pid" = 0 ] && echo 0 || ticks "$pid")
    rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
    reqs=$(echo "$out" | awk '/requests in/ {print $1}')
    p50=$(echo "$out" | awk '$1=="50%" {print $2}')
    p99=$(echo "$out" | awk '$1=="99%" {print $2}')
    local us
    us=$(echo "($t1 - $t0) * 1000000 / $HZ / $reqs" | bc -l)
    echo "$name $rps $(ms "$p50") $(ms "$p99") $us"
}
ms() { # wrk latency "1.23ms" / "850.00us" / "1.2s" -> ms
    case $1 in *us) echo "${1%us} / 1000" | bc -l ;; *ms) echo "${1%ms}" ;; *s) echo "${1%s} * 1000" | bc -l ;; *) echo 0 ;; esac
}

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

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
col() { awk -v n="$1" -v c="$2" '$1==n {print $c}' "$OUT/rounds.txt" | median; }
# ratio A B COLUMN: the median over rounds of A's figure over B's in the same round
ratio() {
    awk -v a="$1" -v b="$2" -v c="$3" '$1==a {x[++i]=$c} $1==b {y[++j]=$c}
        END {for (k = 1; k <= i && k <= j; k++) print x[k] / y[k]}' "$OUT/rounds.txt" | median
}
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
printf '\nidle keep-alive connection (RSS growth over 2,000 connections opened one after another, one request each, then idle):\n'
printf '  meshlet %s bytes, haproxy %s bytes, nginx %s bytes\n' \
    "$(idle "$MESHLET_PID" "$PM")" "$(idle "$HAPROXY_PID" "$PH")" "$(idle "$NGINX_PID" "$PN")"
