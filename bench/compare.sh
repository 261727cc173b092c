#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Two meshlet binaries side by side on proxy.sh's request path: bench/compare.sh OLD NEW
# [ROUNDS]. Both serve the same config (90/10 split over keep-alive upstreams to the same
# two backends), pinned on CPU 0 with one worker; wrk and the backends on CPU 1; the floor
# (bench/floor.c) runs in every round too. Rounds are interleaved and OLD/NEW swap order
# each round so that the machine's drift cancels; per-round ratios NEW/OLD (requests/s,
# CPU per request) and NEW/floor, OLD/floor CPU (ticks as proxy.sh, and schedstat ns) are
# printed with their median, min and max. Then syscalls per request (perf's raw_syscalls
# tracepoint, in a pass of its own so the counting does not touch the CPU figures) and
# proxy.sh's idle keep-alive measure for each. Not a test.
set -euo pipefail
cd "$(dirname "$0")/.."

[ $# -ge 2 ] || { echo "usage: bench/compare.sh OLD_MESHLET NEW_MESHLET [ROUNDS]" >&2; exit 2; }
OLD=$(realpath "$1")
NEW=$(realpath "$2")
ROUNDS=${3:-${ROUNDS:-10}}
DURATION=${DURATION:-5}
CONNS=${CONNS:-64}
SYSCALL_SECONDS=${SYSCALL_SECONDS:-3}
OUT=build/bench/compare
mkdir -p "$OUT/old" "$OUT/new"
command -v wrk >/dev/null || { echo "bench: wrk missing (apt-get install wrk)"; exit 1; }

. bench/lib.sh
start_backends
PO=$(port); PN=$(port); PF=$(port)

# serve BIN DIR PORT: the split on PORT by BIN -> the PID in MPID
serve() {
    { registry "$3"; one_route; } >"$2/config.yaml"
    start_meshlet "$2" "$1"
}
serve "$OLD" "$OUT/old" "$PO"
OLD_PID=$MPID
serve "$NEW" "$OUT/new" "$PN"
NEW_PID=$MPID
cc -O2 -D_GNU_SOURCE -o "$OUT/floor" bench/floor.c
taskset -c 0 "$OUT/floor" "$PF" "$V1" "$V2" & pids+=($!)
FLOOR_PID=$!
sleep 1
for p in "$PO" "$PN" "$PF"; do
    curl -sf -m 5 -o /dev/null -H 'Host: api.example.com' "http://127.0.0.1:$p/orders" ||
        { echo "bench: nothing answers on $p" >&2; exit 1; }
done

for r in $(seq "$ROUNDS"); do
    if [ $((r % 2)) = 1 ]; then order="old new"; else order="new old"; fi
    for n in $order; do
        if [ "$n" = old ]; then run old "http://127.0.0.1:$PO/orders" "$OLD_PID"
        else run new "http://127.0.0.1:$PN/orders" "$NEW_PID"; fi
    done
    run floor "http://127.0.0.1:$PF/orders" "$FLOOR_PID"
done >"$OUT/rounds.txt"

# per_round A B COLUMN: A's figure over B's, one line per round
per_round() {
    awk -v a="$1" -v b="$2" -v c="$3" '$1==a {x[++i]=$c} $1==b {y[++j]=$c}
        END {for (k = 1; k <= i && k <= j; k++) printf "%.4f\n", x[k] / y[k]}' "$OUT/rounds.txt"
}
printf '\n%d rounds x %ds, wrk -t1 -c%d; proxies on CPU 0 (1 worker), wrk + backends on CPU 1\n' \
    "$ROUNDS" "$DURATION" "$CONNS"
printf 'CPU per request in us: "tick" from /proc/PID/stat user+system (proxy.sh figure, 10 ms ticks),\n'
printf '"ns" from /proc/PID/task/*/schedstat (time on CPU, ns resolution)\n'
printf '%5s %9s %9s %9s %7s %7s %7s %7s | %7s %7s %7s %7s %7s\n' round "old r/s" "new r/s" "floor r/s" \
    "old us" "new us" "old us" "new us" "new/old" "new/old" "new/old" "new/flr" "new/flr"
printf '%5s %9s %9s %9s %7s %7s %7s %7s | %7s %7s %7s %7s %7s\n' "" "" "" "" tick tick ns ns \
    "req/s" "CPUtick" "CPUns" "CPUtick" "CPUns"
paste <(awk '$1=="old" {print $2, $5, $6}' "$OUT/rounds.txt") \
    <(awk '$1=="new" {print $2, $5, $6}' "$OUT/rounds.txt") \
    <(awk '$1=="floor" {print $2, $5, $6}' "$OUT/rounds.txt") |
    awk '{printf "%5d %9.0f %9.0f %9.0f %7.2f %7.2f %7.2f %7.2f | %7.3f %7.3f %7.3f %7.3f %7.3f\n",
          NR, $1, $4, $7, $2, $5, $3, $6, $4 / $1, $5 / $2, $6 / $3, $5 / $8, $6 / $9}'
stats() { sort -n | awk '{a[NR]=$1} END {printf "median %.3f (min %.3f, max %.3f)", a[int((NR+1)/2)], a[1], a[NR]}'; }
printf '\nmedian of per-round ratios:\n'
printf '  new/old   requests/s   %s\n' "$(per_round new old 2 | stats)"
printf '  new/old   CPU/req tick %s\n' "$(per_round new old 5 | stats)"
printf '  new/old   CPU/req ns   %s\n' "$(per_round new old 6 | stats)"
printf '  new/floor CPU/req tick %s\n' "$(per_round new floor 5 | stats)"
printf '  new/floor CPU/req ns   %s\n' "$(per_round new floor 6 | stats)"
printf '  old/floor CPU/req tick %s\n' "$(per_round old floor 5 | stats)"
printf '  old/floor CPU/req ns   %s\n' "$(per_round old floor 6 | stats)"

# syscalls NAME PORT PID: syscalls per request over one wrk run, counted by perf
syscalls() {
    local name=$1 port=$2 pid=$3 n
    n=$(count_syscalls "$pid" "$OUT/$name.wrk" taskset -c 1 wrk -t1 -c"$CONNS" \
        -d"${SYSCALL_SECONDS}s" -H 'Host: api.example.com' "http://127.0.0.1:$port/orders")
    awk -v n="$n" '/requests in/ {printf "%.2f", n / $1}' "$OUT/$name.wrk"
}
if perf_ok; then
    printf '\nsyscalls per request (wrk %ds under perf, counted separately): old %s, new %s, floor %s\n' \
        "$SYSCALL_SECONDS" "$(syscalls old "$PO" "$OLD_PID")" "$(syscalls new "$PN" "$NEW_PID")" \
        "$(syscalls floor "$PF" "$FLOOR_PID")"
fi

# The idle measure depends on the heap's history: connections reuse memory that earlier
# requests freed (proxy.sh has shown 0 bytes for a binary whose 12 KB exchanges had been
# freed). So each binary is also measured in a fresh process: one request, then the 2,000.
idle_fresh() { # BIN NAME -> bytes
    local dir=$OUT/fresh-$2 p i pid bytes
    mkdir -p "$dir"
    p=$(port)
    serve "$1" "$dir" "$p"
    pid=$MPID
    for i in $(seq 50); do
        curl -sf -m 1 -o /dev/null -H 'Host: api.example.com' "http://127.0.0.1:$p/orders" && break
        sleep 0.1
    done
    bytes=$(idle "$pid" "$p")
    kill "$pid"
    wait "$pid" 2>/dev/null || true
    echo "$bytes"
}
printf '\nidle keep-alive connection (proxy.sh idle measure, RSS growth over 2,000):\n'
printf '  after the rounds: old %s bytes, new %s bytes\n' "$(idle "$OLD_PID" "$PO")" "$(idle "$NEW_PID" "$PN")"
for i in 1 2 3; do
    printf '  fresh process %d: old %s bytes, new %s bytes\n' "$i" "$(idle_fresh "$OLD" old)" "$(idle_fresh "$NEW" new)"
done
