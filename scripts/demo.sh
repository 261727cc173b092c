#!/usr/bin/env bash
# `make run`: the demo canary, mutual TLS included. A mesh CA and workload certificates
# under build/demo/; three demo backends (v1, v1, v2) each behind a meshlet inbound sidecar
# in STRICT mode on the ports the ServiceEntry in examples/canary/ names (19081, 19082,
# 19083); then the gateway meshlet, reaching them over ISTIO_MUTUAL.
#
# Any stop of this script (Ctrl-C, SIGTERM, SIGHUP) stops every process it started: each
# is sent SIGTERM by its recorded PID (meshlet drains), waited for, and killed if it has not
# exited after 10 s (a second signal kills them at once). If one of them exits on its own,
# the rest are stopped.
#
# Once the gateway is ready, a curl sends it DEMO_TRAFFIC requests/s (100; 0: none) for an
# hour at most, so that `meshlet rollout` and the dashboard have traffic to watch.
#
# Environment: DEMO_PORT_SHIFT (0) moves every port the demo listens on by that much (the
# gateway's 8080, the admin's 15000, ...), to run it beside another one.
set -euo pipefail
cd "$(dirname "$0")/.."

D=build/demo
shift_by=${DEMO_PORT_SHIFT:-0}
stop_seconds=10
gw_port=$((8080 + shift_by))
admin=127.0.0.1:$((15000 + shift_by))

pids=()
stopping=false
# Stop everything started, by PID: SIGTERM, wait (bounded), then SIGKILL what is left.
stop_all() {
    $stopping && return
    stopping=true
    [ ${#pids[@]} -gt 0 ] || return 0
    kill -TERM "${pids[@]}" 2>/dev/null || true
    local deadline=$((SECONDS + stop_seconds)) alive p
    while :; do
        alive=()
        for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && alive+=("$p"); done
        [ ${#alive[@]} -gt 0 ] || break
        if [ $SECONDS -ge $deadline ]; then
            echo "demo: still running after ${stop_seconds}s, killing: ${alive[*]}" >&2
            kill -KILL "${alive[@]}" 2>/dev/null || true
            break
        fi
        sleep 0.1
    done
    wait "${pids[@]}" 2>/dev/null || true
}
on_signal() {
    if $stopping; then # a second signal: no more waiting
        kill -KILL "${pids[@]}" 2>/dev/null || true
        wait "${pids[@]}" 2>/dev/null || true
    else
        echo "demo: $1, stopping everything" >&2
        stop_all
    fi
    trap - "$1"
    kill -s "$1" $$ # exit as killed by that signal, as callers expect
}
for sig in INT TERM HUP; do trap "on_signal $sig" "$sig"; done
trap stop_all EXIT

./meshlet check examples/canary/
mkdir -p "$D"
# The running config is a copy, so the rollout (and your edits) leave examples/ alone.
rm -rf "$D/config"
mkdir -p "$D/config"
cp examples/canary/*.yaml "$D/config/"
if [ "$shift_by" -ne 0 ]; then
    sed -i "s/number: 8080\$/number: $gw_port/" "$D/config/gateway.yaml"
    for p in 19081 19082 19083; do
        sed -i "s/http: $p}/http: $((p + shift_by))}/" "$D/config/service.yaml"
    done
    sed -i "s/- 127.0.0.1:15000\$/- $admin/" "$D/config/rollout.yaml"
fi
[ -f "$D/ca/root-key.pem" ] || ./meshlet ca init --dir "$D/ca" >/dev/null
./meshlet ca issue --dir "$D/ca" --ns prod --sa orders --out "$D/orders" >/dev/null
./meshlet ca issue --dir "$D/ca" --ns istio-system --sa istio-ingressgateway-service-account \
    --out "$D/gateway" >/dev/null

i=0
for spec in 19081:v1 19082:v1 19083:v2; do
    port=$((${spec%%:*} + shift_by)) version=${spec##*:}
    app=$((port + 10000))
    build/backend --listen "127.0.0.1:$app" --name "$version" &
    pids+=($!)
    # The workload's sidecar: only its inbound listener matters (PeerAuthentication STRICT).
    ./meshlet run -c "$D/config/peer-authentication.yaml" --namespace prod --workers 1 \
        --identity "$D/orders" --label app=orders --label "version=$version" \
        --inbound "$port=127.0.0.1:$app" --listen-address 127.0.0.1 \
        --admin "127.0.0.1:$((15100 + shift_by + i))" \
        --mesh-listen "127.0.0.1:$((15200 + shift_by + i))" 2>"$D/sidecar-$port.log" &
    pids+=($!)
    i=$((i + 1))
done
./meshlet run -c "$D/config/" --listen-address 127.0.0.1 --identity "$D/gateway" \
    --admin "$admin" --mesh-listen "127.0.0.1:$((15001 + shift_by))" &
pids+=($!)

gw=127.0.0.1:$gw_port
servers=("${pids[@]}") # the demo ends when one of these does; the traffic may end first
traffic=${DEMO_TRAFFIC:-100}
if [ "$traffic" -gt 0 ]; then
    for _ in $(seq 100); do # up to 10 s for the gateway
        curl -sf -o /dev/null "http://$admin/ready" && break
        sleep 0.1
    done
    curl -s -o /dev/null --rate "$traffic/s" -H 'Host: api.example.com' \
        "http://$gw/orders/[1-$((traffic * 3600))]" &
    pids+=($!)
fi
v2_app=127.0.0.1:$((29083 + shift_by))
cat <<MSG

meshlet demo canary: 90% of api.example.com/orders to v1, 10% to v2 (x-canary: true pins v2),
over mutual TLS: the gateway presents spiffe://cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account,
each backend's sidecar (STRICT) presents spiffe://cluster.local/ns/prod/sa/orders.

  curl -s -H 'Host: api.example.com' http://$gw/orders/1
  for i in \$(seq 100); do curl -s -H 'Host: api.example.com' http://$gw/orders/\$i; done | grep -c '"v2"'
  curl -s -H 'Host: api.example.com' -H 'x-canary: true' http://$gw/orders/1
  curl -s --http2-prior-knowledge -H 'Host: api.example.com' http://$gw/orders/1   # HTTP/2 (h2c)
  curl -s http://$admin/clusters      # endpoints, labels, tls::istio_mutual, peer_identity
  curl -s http://$admin/splits        # each weighted route: configured and observed shares
  curl -s http://$admin/help          # every admin endpoint
  open http://$admin/dashboard in a browser: live split, req/s, 5xx, p50/p99 per version
  curl -s http://127.0.0.1:$((19081 + shift_by))/orders/1      # plain text to a STRICT sidecar: refused
  ./meshlet explain --admin $admin GET http://$gw/orders/1 -H 'Host: api.example.com'
                                                 # the route the running gateway takes, and why

  curl -s http://$admin/stats/prometheus | grep istio_requests_total

The running config is $D/config/: edit virtual-service.yaml there and meshlet reloads
it (a config that fails \`meshlet check\` is refused and the old one keeps serving). The
demo sends the gateway $traffic requests/s. Open http://$admin/dashboard, then roll v2 out,
10% -> 25% -> 50% -> 100%, each step checked on the gateway's own metrics:

  ./meshlet rollout -f $D/config/rollout.yaml
  curl -s http://$v2_app/_fault?status=503     # break v2 on purpose: the rollout rolls back
  curl -s http://$v2_app/_fault                # heal it
  ./meshlet rollout status -f $D/config/rollout.yaml    # or: abort, resume

Ctrl-C stops everything (in-flight requests finish first).

MSG
# Until a signal (the traps stop everything) or until one of them exits on its own.
set +e
wait -n "${servers[@]}"
rc=$?
echo "demo: a process exited (status $rc); stopping the others" >&2
exit "$rc"
