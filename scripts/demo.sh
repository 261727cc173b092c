#!/usr/bin/env bash
# `make run`: the demo canary. Starts the demo backends the ServiceEntry in
# examples/canary/ names (v1 on 19081 and 19082, v2 on 19083), then meshlet in the
# foreground. Ctrl-C stops meshlet, and the backends with it.
set -euo pipefail
cd "$(dirname "$0")/.."

pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
}
trap cleanup EXIT INT TERM

./meshlet check examples/canary/
for spec in 19081:v1 19082:v1 19083:v2; do
    build/backend --listen "127.0.0.1:${spec%%:*}" --name "${spec##*:}" &
    pids+=($!)
done

cat <<MSG

meshlet demo canary: 90% of api.example.com/orders to v1, 10% to v2 (x-canary: true pins v2).

  curl -s -H 'Host: api.example.com' http://127.0.0.1:8080/orders/1
  for i in \$(seq 100); do curl -s -H 'Host: api.example.com' http://127.0.0.1:8080/orders/\$i; done | grep -c '"v2"'
  curl -s -H 'Host: api.example.com' -H 'x-canary: true' http://127.0.0.1:8080/orders/1
  curl -s http://127.0.0.1:15000/clusters      # admin: endpoints and labels
  curl -s http://127.0.0.1:15000/stats

Not yet: mutual TLS to the backends (issue 6); the DestinationRule's ISTIO_MUTUAL is
checked but connections are plain text for now. Shift the weights in
examples/canary/virtual-service.yaml and restart to move traffic (hot reload: issue 7).
Ctrl-C stops everything.

MSG
./meshlet run -c examples/canary/ --listen-address 127.0.0.1
