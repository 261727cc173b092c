#!/usr/bin/env bash
# Route-table benchmark: meshlet with one route against meshlet with ROUTES routes (2,000
# virtual hosts of five prefix routes each, distinct hosts and prefixes), same backends,
# same 90/10 split. wrk asks for the last prefix of the last host, the longest scan within
# a virtual host. Reports requests/s of both and their ratio, and the time meshlet takes to
# load and check the config and to build the snapshot for the routes. Not a test.
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-5}
CONNS=${CONNS:-64}
HOSTS=${HOSTS:-2000}
PER_HOST=${PER_HOST:-5}
OUT=build/bench/routes
mkdir -p "$OUT/one" "$OUT/many"
command -v wrk >/dev/null || { echo "bench: wrk missing (apt-get install wrk)"; exit 1; }

. bench/lib.sh
start_backends
P1=$(port); PN=$(port)

{ registry "$P1"; one_route; } >"$OUT/one/config.yaml"

{ registry "$PN"; /usr/bin/python3 - "$HOSTS" "$PER_HOST" <<'PY'
import sys
hosts, per = int(sys.argv[1]), int(sys.argv[2])
for h in range(hosts):
    print(f"""---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: r{h}, namespace: bench}}
spec:
  hosts: [r{h}.example.com]
  gateways: [bench]
  http:""")
    for p in range(per):
        print(f"""  - match: [{{uri: {{prefix: /h{h}/p{p}/}}}}]
    route:
    - {{destination: {{host: svc, subset: v1}}, weight: 90}}
    - {{destination: {{host: svc, subset: v2}}, weight: 10}}""")
PY
} >"$OUT/many/config.yaml"

start() { # DIR LOG -> pid
    taskset -c 0 ./meshlet run -c "$1" --workers 1 --listen-address 127.0.0.1 \
        --admin 127.0.0.1:"$(port)" --mesh-listen 127.0.0.1:"$(port)" >/dev/null 2>"$2" &
    echo $!
}
M1=$(start "$OUT/one" "$OUT/one.log"); pids+=("$M1")
MN=$(start "$OUT/many" "$OUT/many.log"); pids+=("$MN")
for _ in $(seq 100); do
    grep -q "snapshot built" "$OUT/one.log" "$OUT/many.log" 2>/dev/null &&
        [ "$(grep -l "snapshot built" "$OUT/one.log" "$OUT/many.log" | wc -l)" = 2 ] && break
    sleep 0.1
done
sleep 0.5

last=$((HOSTS - 1)); lastp=$((PER_HOST - 1))
run() { # NAME PORT HOST PATH
    taskset -c 1 wrk -t1 -c"$CONNS" -d"${DURATION}s" -H "Host: $3" "http://127.0.0.1:$2$4" |
        awk -v n="$1" '/Requests\/sec/ {print n, $2}'
}
for r in $(seq "$ROUNDS"); do
    run one "$P1" api.example.com /orders
    run many "$PN" "r$last.example.com" "/h$last/p$lastp/x"
done >"$OUT/rounds.txt"

# The many-route proxy must really route: 200 from the last route, 404 off the table.
ok=$(curl -s -o /dev/null -w '%{http_code}' -H "Host: r$last.example.com" "http://127.0.0.1:$PN/h$last/p$lastp/x")
miss=$(curl -s -o /dev/null -w '%{http_code}' -H "Host: r$last.example.com" "http://127.0.0.1:$PN/h0/p0/x")

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
one=$(awk '$1=="one" {print $2}' "$OUT/rounds.txt" | median)
many=$(awk '$1=="many" {print $2}' "$OUT/rounds.txt" | median)
printf '\n%d rounds x %ds, wrk -t1 -c%d, meshlet on CPU 0 (1 worker); medians\n' "$ROUNDS" "$DURATION" "$CONNS"
printf '  1 route:      %8.0f requests/s\n' "$one"
printf '  %d routes: %8.0f requests/s (last route of the last host: %s; another host'"'"'s path: %s)\n' \
    $((HOSTS * PER_HOST)) "$many" "$ok" "$miss"
printf '  ratio many/one: x%.3f\n' "$(echo "$many / $one" | bc -l)"
echo "  $(grep 'snapshot built' "$OUT/many.log" | sed 's/^\[[^]]*\]\[[a-z]*\] //')"
