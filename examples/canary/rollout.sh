#!/usr/bin/env bash
# The seed's rollout, step by step, on a running meshlet (the `make run` demo by default):
# shift the canary's weight to v2 (10% -> 50% -> 100%) by editing the VirtualService (the
# file is replaced atomically; meshlet reloads it on its own), wait until the new config is
# in force, send a sample of requests and print, from /stats/prometheus, how many went to
# each version and how many failed. Stops at the first step whose config is refused or
# whose error rate is above MAX_ERRORS percent.
#
#   examples/canary/rollout.sh                 # against `make run`
#   STEPS="25 100" REQUESTS=500 examples/canary/rollout.sh
#
# Environment: CONFIG (the VirtualService file, default build/demo/config/virtual-service.yaml),
# ADMIN (127.0.0.1:15000), GATEWAY (127.0.0.1:8080), HOST (api.example.com), URL_PATH
# (/orders/1), REQUESTS per step (200), STEPS (10 50 100), MAX_ERRORS (1), SETTLE seconds
# to let requests begun on the old config end before counting (0.3).
set -euo pipefail
cd "$(dirname "$0")/../.."

CONFIG=${CONFIG:-build/demo/config/virtual-service.yaml}
ADMIN=${ADMIN:-127.0.0.1:15000}
GATEWAY=${GATEWAY:-127.0.0.1:8080}
HOST=${HOST:-api.example.com}
URL_PATH=${URL_PATH:-/orders/1}
REQUESTS=${REQUESTS:-200}
STEPS=${STEPS:-10 50 100}
MAX_ERRORS=${MAX_ERRORS:-1}
SETTLE=${SETTLE:-0.3}

[ -f "$CONFIG" ] || { echo "rollout: $CONFIG not found (is \`make run\` running?)" >&2; exit 1; }

stat_of() { curl -fsS "http://$ADMIN/stats" | awk -v k="$1:" '$1 == k {print $2}'; }

# "v1 v2 errors total" from istio_requests_total (every series, summed).
counts() {
    curl -fsS "http://$ADMIN/stats/prometheus" | awk '
        /^istio_requests_total\{/ {
            n = $NF; v = "other"; code = ""
            if (match($0, /destination_version="[^"]*"/)) v = substr($0, RSTART + 21, RLENGTH - 22)
            if (match($0, /response_code="[^"]*"/)) code = substr($0, RSTART + 15, RLENGTH - 16)
            c[v] += n; total += n
            if (code !~ /^[1-4]/) errors += n   # 5xx and 0 (no response)
        }
        END { printf "%d %d %d %d\n", c["v1"], c["v2"], errors, total }'
}

# Set the route's weights: the `weight:` after `subset: v1` to $1, after `subset: v2` to $2.
set_weights() {
    local tmp
    tmp="$(dirname "$CONFIG")/.$(basename "$CONFIG").rollout"
    awk -v w1="$1" -v w2="$2" '
        /subset: *v1/ { want = w1 } /subset: *v2/ { want = w2 }
        /^ *weight: *[0-9]+/ && want != "" { sub(/[0-9]+/, want); want = "" }
        { print }' "$CONFIG" >"$tmp"
    mv "$tmp" "$CONFIG" # one rename: meshlet never reads a half-written file
}

for pct in $STEPS; do
    version=$(stat_of server.config_version)
    failures=$(stat_of server.reload_failure)
    set_weights $((100 - pct)) "$pct"
    for _ in $(seq 100); do # up to 10 s for the reload
        [ "$(stat_of server.config_version)" != "$version" ] && break
        if [ "$(stat_of server.reload_failure)" != "$failures" ]; then
            echo "rollout: step $pct%: meshlet refused the edited config (see its log); stopping" >&2
            exit 1
        fi
        sleep 0.1
    done
    if [ "$(stat_of server.config_version)" = "$version" ]; then
        echo "rollout: step $pct%: the config did not reload; stopping" >&2
        exit 1
    fi
    sleep "$SETTLE"
    read -r b1 b2 be bt < <(counts)
    urls=()
    for _ in $(seq "$REQUESTS"); do urls+=("http://$GATEWAY$URL_PATH"); done
    curl -s -H "Host: $HOST" "${urls[@]}" >/dev/null || true
    read -r a1 a2 ae at < <(counts)
    v1=$((a1 - b1)) v2=$((a2 - b2)) errors=$((ae - be)) total=$((at - bt))
    share=$(awk -v a="$v2" -v b="$v1" 'BEGIN { printf "%.1f", (a + b) ? 100 * a / (a + b) : 0 }')
    rate=$(awk -v e="$errors" -v t="$total" 'BEGIN { printf "%.2f", t ? 100 * e / t : 0 }')
    echo "step $pct% to v2: v1 $v1, v2 $v2 ($share% to v2); errors $errors of $total ($rate%)"
    if awk -v r="$rate" -v m="$MAX_ERRORS" 'BEGIN { exit !(r > m) }'; then
        echo "rollout: error rate $rate% above $MAX_ERRORS%: stopping here; shift back with STEPS=0" >&2
        exit 1
    fi
done
