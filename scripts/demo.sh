#!/usr/bin/env bash
# `make run`: the demo canary, mutual TLS included. A mesh CA and workload certificates
# under build/demo/; three demo backends (v1, v1, v2) each behind a meshlet inbound sidecar
# in STRICT mode on the ports the ServiceEntry in examples/canary/ names (19081, 19082,
# 19083); then the gateway meshlet in the foreground, reaching them over ISTIO_MUTUAL.
# Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."

pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
}
trap cleanup EXIT INT TERM

./meshlet check examples/canary/
D=build/demo
mkdir -p "$D"
# The running config is a copy, so the rollout (and your edits) leave examples/ alone.
rm -rf "$D/config"
mkdir -p "$D/config"
cp examples/canary/*.yaml "$D/config/"
[ -f "$D/ca/root-key.pem" ] || ./meshlet ca init --dir "$D/ca" >/dev/null
./meshlet ca issue --dir "$D/ca" --ns prod --sa orders --out "$D/orders" >/dev/null
./meshlet ca issue --dir "$D/ca" --ns istio-system --sa istio-ingressgateway-service-account \
    --out "$D/gateway" >/dev/null

i=0
for spec in 19081:v1 19082:v1 19083:v2; do
    port=${spec%%:*} version=${spec##*:} app=$((port + 10000))
    build/backend --listen "127.0.0.1:$app" --name "$version" &
    pids+=($!)
    # The workload's sidecar: only its inbound listener matters (PeerAuthentication STRICT).
    ./meshlet run -c "$D/config/peer-authentication.yaml" --namespace prod --workers 1 \
        --identity "$D/orders" --label app=orders --label "version=$version" \
        --inbound "$port=127.0.0.1:$app" --listen-address 127.0.0.1 \
        --admin "127.0.0.1:$((15100 + i))" --mesh-listen "127.0.0.1:$((15200 + i))" \
        2>"$D/sidecar-$port.log" &
    pids+=($!)
    i=$((i + 1))
done

cat <<MSG

meshlet demo canary: 90% of api.example.com/orders to v1, 10% to v2 (x-canary: true pins v2),
over mutual TLS: the gateway presents spiffe://cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account,
each backend's sidecar (STRICT) presents spiffe://cluster.local/ns/prod/sa/orders.

  curl -s -H 'Host: api.example.com' http://127.0.0.1:8080/orders/1
  for i in \$(seq 100); do curl -s -H 'Host: api.example.com' http://127.0.0.1:8080/orders/\$i; done | grep -c '"v2"'
  curl -s -H 'Host: api.example.com' -H 'x-canary: true' http://127.0.0.1:8080/orders/1
  curl -s http://127.0.0.1:15000/clusters      # endpoints, labels, tls::istio_mutual, peer_identity
  curl -s http://127.0.0.1:19081/orders/1      # plain text to a STRICT sidecar: refused
  ./meshlet explain -c examples/canary/ GET http://api.example.com:8080/orders/1

  curl -s http://127.0.0.1:15000/stats/prometheus | grep istio_requests_total

The running config is $D/config/: edit virtual-service.yaml there and meshlet reloads
it (a config that fails \`meshlet check\` is refused and the old one keeps serving). The
rollout, 10% -> 50% -> 100% to v2 with counts and error rate after each step:

  examples/canary/rollout.sh

Ctrl-C stops everything (in-flight requests finish first).

MSG
./meshlet run -c "$D/config/" --listen-address 127.0.0.1 --identity "$D/gateway"
