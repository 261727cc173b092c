#!/usr/bin/env bash
# Reload benchmark (issue 7): meshlet serving N VirtualServices + N DestinationRules + N
# ServiceEntries (bench/gen_config.py) plus a Gateway route to the two bench backends.
# First RUNS reloads with no traffic: median and worst time of a reload (load, check,
# compile, hand to the workers) and the RSS after them (a reload must not leak); then wrk
# through the Gateway while the config is reloaded every 100 ms: requests/s, failed
# requests, reloads done. Not a test.
set -euo pipefail
cd "$(dirname "$0")/.."

N=${N:-2000}
RUNS=${RUNS:-20}
DURATION=${DURATION:-10}
OUT=build/bench/reload
mkdir -p "$OUT/config"
command -v wrk >/dev/null || { echo "bench: wrk missing (apt-get install wrk)"; exit 1; }

. bench/lib.sh
start_backends
PM=$(port); ADMIN=$(port); MESH=$(port)
/usr/bin/python3 bench/gen_config.py "$N" "$OUT/gen" >/dev/null
cp "$OUT/gen/istio/config.yaml" "$OUT/config/services.yaml"
{ registry "$PM"; one_route; } >"$OUT/config/gateway.yaml"
taskset -c 0 ./meshlet run -c "$OUT/config" --workers 1 --listen-address 127.0.0.1 --no-watch \
    --admin "127.0.0.1:$ADMIN" --mesh-listen "127.0.0.1:$MESH" 2>"$OUT/meshlet.log" & pids+=($!)
MESHLET_PID=$!
for _ in $(seq 300); do curl -fs "http://127.0.0.1:$ADMIN/ready" >/dev/null 2>&1 && break; sleep 0.1; done

reload_ms() { # one POST /reload -> the time meshlet reports
    curl -fsS -X POST "http://127.0.0.1:$ADMIN/reload" | sed -n 's/.*reloaded in \([0-9.]*\) ms.*/\1/p'
}
rss_mb() { awk '/^VmRSS:/ {printf "%.1f", $2 / 1024}' "/proc/$MESHLET_PID/status"; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

rss0=$(rss_mb)
times=$(for _ in $(seq "$RUNS"); do reload_ms; done)
rss1=$(rss_mb)
printf 'config: %d VS + %d DR + %d SE (+ the gateway route), %.1f MB of YAML\n' "$N" "$N" "$N" \
    "$(echo "$(stat -c %s "$OUT/config/services.yaml") / 1048576" | bc -l)"
printf 'idle reloads: %d, median %.1f ms, worst %.1f ms; RSS %.1f MB before, %.1f MB after\n' \
    "$RUNS" "$(echo "$times" | median)" "$(echo "$times" | sort -n | tail -1)" "$rss0" "$rss1"

# Under load: a reload every 100 ms while wrk runs.
: >"$OUT/under-load.txt"
(
    end=$((SECONDS + DURATION))
    while [ "$SECONDS" -lt "$end" ]; do reload_ms >>"$OUT/under-load.txt" || echo fail >>"$OUT/under-load.txt"; sleep 0.1; done
) &
reloader=$!
out=$(taskset -c 1 wrk -t1 -c32 -d"${DURATION}s" -H 'Host: api.example.com' "http://127.0.0.1:$PM/orders")
wait "$reloader"
reqs=$(echo "$out" | awk '/requests in/ {print $1}')
rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
non2xx=$(echo "$out" | awk '/Non-2xx/ {print $NF}')
sockerr=$(echo "$out" | awk '/Socket errors/ {print $0}')
done_reloads=$(grep -vc fail "$OUT/under-load.txt" || true)
failed_reloads=$(grep -c fail "$OUT/under-load.txt" || true)
printf 'under load (wrk -c32, %ds): %s requests, %.0f requests/s, non-2xx %s, socket errors: %s\n' \
    "$DURATION" "$reqs" "$rps" "${non2xx:-0}" "${sockerr:-none}"
printf '  %d reloads (every 100 ms), %d failed, median %.1f ms\n' "$done_reloads" "$failed_reloads" \
    "$(grep -v fail "$OUT/under-load.txt" | median)"
