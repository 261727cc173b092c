#!/usr/bin/env bash
# mTLS benchmark (issue 6): meshlet and HAProxy each reach the same TLS backend -- one of our
# backends behind a meshlet inbound sidecar in STRICT mode -- with a mesh workload
# certificate, in two modes: keep-alive upstream connections (the steady state), and a new
# upstream connection per request (so requests/s are TLS handshakes/s; both proxies resume
# sessions). Proxies on CPU 0 (one worker); wrk, the sidecar and the backend on CPU 1.
# Interleaved rounds, medians, ratios. Not a test.
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-5}
CONNS=${CONNS:-32}
OUT=build/bench/mtls
rm -rf "$OUT" && mkdir -p "$OUT"
HAPROXY=$(command -v haproxy || echo /usr/sbin/haproxy)
command -v wrk >/dev/null || { echo "bench: wrk missing (apt-get install wrk)"; exit 1; }
. bench/lib.sh

./meshlet ca init --dir "$OUT/ca" >/dev/null
./meshlet ca issue --dir "$OUT/ca" --ns bench --sa svc --out "$OUT/svc" >/dev/null
./meshlet ca issue --dir "$OUT/ca" --ns istio-system --sa gateway --out "$OUT/gw" >/dev/null
cat "$OUT/gw/cert-chain.pem" "$OUT/gw/key.pem" >"$OUT/gw/haproxy.pem" # HAProxy's client cert

APP=$(port); SIDE=$(port)
taskset -c 1 build/backend --listen 127.0.0.1:$APP --name v1 2>/dev/null & pids+=($!)
mkdir -p "$OUT/sidecar"
cat >"$OUT/sidecar/pa.yaml" <<YAML
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: istio-system}
spec: {mtls: {mode: STRICT}}
YAML
taskset -c 1 ./meshlet run -c "$OUT/sidecar" --workers 1 --identity "$OUT/svc" \
    --inbound "$SIDE=127.0.0.1:$APP" --listen-address 127.0.0.1 --admin 127.0.0.1:$(port) \
    --mesh-listen 127.0.0.1:$(port) 2>"$OUT/sidecar.log" & pids+=($!)

# meshlet: keep-alive (PK) and one connection per request (PN) to the sidecar, ISTIO_MUTUAL.
config() { # PORT MAX_REQUESTS_PER_CONNECTION
    gateway_yaml "$1"
    cat <<YAML
---
$(service_entry "  - {address: 127.0.0.1, ports: {http: $SIDE}, serviceAccount: svc}")
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: svc, namespace: bench}
spec:
  host: svc
  trafficPolicy:
    tls: {mode: ISTIO_MUTUAL}
    connectionPool: {http: {maxRequestsPerConnection: $2}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: svc, namespace: bench}
spec:
  hosts: ["*"]
  gateways: [bench]
  http: [{route: [{destination: {host: svc}}]}]
YAML
}
PK=$(port); PN=$(port); HK=$(port); HN=$(port)
for m in "$PK 0 keep" "$PN 1 new"; do
    set -- $m
    mkdir -p "$OUT/meshlet-$3"
    config "$1" "$2" >"$OUT/meshlet-$3/c.yaml"
    admin=127.0.0.1:$(port)
    [ "$3" = new ] && ADMIN_NEW=$admin
    taskset -c 0 ./meshlet run -c "$OUT/meshlet-$3" --workers 1 --identity "$OUT/gw" \
        --listen-address 127.0.0.1 --admin "$admin" --mesh-listen 127.0.0.1:$(port) \
        2>"$OUT/meshlet-$3.log" & pids+=($!)
    eval "M_$3=\$!"
done

# HAProxy: the same TLS to the same sidecar (chain verified against the mesh root).
for m in "$HK keep" "$HN new"; do
    set -- $m
    mode=$([ "$2" = new ] && echo "option http-server-close" || echo "http-reuse always")
    { haproxy_head "$mode"; cat <<CFG; } >"$OUT/haproxy-$2.cfg"
frontend fe
    bind 127.0.0.1:$1
    default_backend be
backend be
    server s1 127.0.0.1:$SIDE ssl crt $PWD/$OUT/gw/haproxy.pem ca-file $PWD/$OUT/ca/root-cert.pem verify required
CFG
    taskset -c 0 "$HAPROXY" -f "$OUT/haproxy-$2.cfg" -db >/dev/null 2>&1 & pids+=($!)
    eval "H_$2=\$!"
done
sleep 1

ticks() { awk '{print $14 + $15}' /proc/$1/stat; }
HZ=$(getconf CLK_TCK)
run() { # NAME PORT PID
    local t0 t1 out reqs
    t0=$(ticks "$3")
    out=$(taskset -c 1 wrk -t1 -c"$CONNS" -d"${DURATION}s" -H 'Host: api.example.com' "http://127.0.0.1:$2/x")
    t1=$(ticks "$3")
    reqs=$(echo "$out" | awk '/requests in/ {print $1}')
    bad=$(echo "$out" | awk '/Non-2xx/ {print $5}')
    [ -z "$bad" ] || echo "bench: $1 answered $bad non-2xx responses: the figures are not valid" >&2
    echo "$1 $(echo "$out" | awk '/Requests\/sec/ {print $2}') $(echo "($t1 - $t0) * 1000000 / $HZ / $reqs" | bc -l)"
}
for r in $(seq "$ROUNDS"); do
    run meshlet-keep "$PK" "$M_keep"
    run haproxy-keep "$HK" "$H_keep"
    run meshlet-new "$PN" "$M_new"
    run haproxy-new "$HN" "$H_new"
done >"$OUT/rounds.txt"

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
col() { awk -v n="$1" -v c="$2" '$1==n {print $c}' "$OUT/rounds.txt" | median; }
printf '\nmTLS to a STRICT sidecar, %d rounds x %ds, wrk -t1 -c%d; medians\n' "$ROUNDS" "$DURATION" "$CONNS"
printf '%-14s %12s %16s\n' proxy "requests/s" "CPU us/request"
for n in meshlet-keep haproxy-keep meshlet-new haproxy-new; do
    printf '%-14s %12.0f %16.2f\n' $n "$(col $n 2)" "$(col $n 3)"
done
printf '\nratios meshlet/haproxy: keep-alive requests/s x%.2f, CPU x%.2f; new connection per request (handshakes/s) x%.2f, CPU x%.2f\n' \
    "$(echo "$(col meshlet-keep 2) / $(col haproxy-keep 2)" | bc -l)" \
    "$(echo "$(col meshlet-keep 3) / $(col haproxy-keep 3)" | bc -l)" \
    "$(echo "$(col meshlet-new 2) / $(col haproxy-new 2)" | bc -l)" \
    "$(echo "$(col meshlet-new 3) / $(col haproxy-new 3)" | bc -l)"
echo "meshlet (new connection per request): $(curl -s "http://$ADMIN_NEW/stats" | grep '^tls\.' | tr '\n' ' ')"
