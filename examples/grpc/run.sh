#!/usr/bin/env bash
# The gRPC canary, start to end on 127.0.0.1: two versions of the greeter server (v2
# answers every third call UNAVAILABLE), meshlet in front of them with the config in this
# directory, then the client: 100 calls over one HTTP/2 connection, split 90/10, with no
# failed call (the route retries UNAVAILABLE). Prints the split and Istio's gRPC metrics,
# then stops every process it started, by PID.
#
#   examples/grpc/run.sh                  # after `make`
#   KEEP=1 examples/grpc/run.sh           # stay up for your own calls until Ctrl-C
#
# Environment: CALLS (100), KEEP (0), PORT_SHIFT (0: gateway 8090, admin 15090, servers
# 50051 and 50052; moves them all), UNAVAILABLE_EVERY (3; 0: v2 never fails), MESHLET
# (./meshlet), PYTHON (/usr/bin/python3, with Debian's python3-grpcio), WORKDIR
# (build/grpc-example: the running config and the logs).
set -euo pipefail
cd "$(dirname "$0")/../.."

MESHLET=${MESHLET:-./meshlet}
PYTHON=${PYTHON:-/usr/bin/python3}
CALLS=${CALLS:-100}
KEEP=${KEEP:-0}
D=${WORKDIR:-build/grpc-example}
shift_by=${PORT_SHIFT:-0}
gw=127.0.0.1:$((8090 + shift_by))
admin=127.0.0.1:$((15090 + shift_by))
p1=$((50051 + shift_by)) p2=$((50052 + shift_by))

[ -x "$MESHLET" ] || { echo "run.sh: $MESHLET not found: run \`make\` first" >&2; exit 1; }
"$PYTHON" -c 'import grpc' 2>/dev/null ||
    { echo "run.sh: $PYTHON has no grpc: apt-get install python3-grpcio" >&2; exit 1; }

pids=()
stop_all() {
    [ ${#pids[@]} -gt 0 ] || return 0
    kill -TERM "${pids[@]}" 2>/dev/null || true
    local deadline=$((SECONDS + 10)) p alive
    while :; do
        alive=()
        for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && alive+=("$p"); done
        [ ${#alive[@]} -gt 0 ] || break
        if [ $SECONDS -ge $deadline ]; then
            kill -KILL "${alive[@]}" 2>/dev/null || true
            break
        fi
        sleep 0.1
    done
    wait "${pids[@]}" 2>/dev/null || true
    pids=()
}
trap stop_all EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# The running config is a copy: edit it there (meshlet reloads it), examples/ stays as is.
"$MESHLET" check examples/grpc/
rm -rf "$D/config"
mkdir -p "$D/config"
cp examples/grpc/*.yaml "$D/config/"
if [ "$shift_by" -ne 0 ]; then
    sed -i "s/number: 8090\$/number: $((8090 + shift_by))/" "$D/config/gateway.yaml"
    sed -i -e "s/grpc: 50051}/grpc: $p1}/" -e "s/grpc: 50052}/grpc: $p2}/" "$D/config/service.yaml"
fi

"$PYTHON" examples/grpc/server.py --version v1 --port "$p1" >"$D/server-v1.log" 2>&1 &
pids+=($!)
"$PYTHON" examples/grpc/server.py --version v2 --port "$p2" \
    --unavailable-every "${UNAVAILABLE_EVERY:-3}" >"$D/server-v2.log" 2>&1 &
pids+=($!)
"$MESHLET" run -c "$D/config/" --listen-address 127.0.0.1 --workers 1 --admin "$admin" \
    --mesh-listen "127.0.0.1:$((15091 + shift_by))" 2>"$D/meshlet.log" &
pids+=($!)

up() { # everything started answers
    curl -fs -o /dev/null "http://$admin/ready" &&
        grep -q listening "$D/server-v1.log" && grep -q listening "$D/server-v2.log"
}
for _ in $(seq 100); do # up to 10 s
    up && break
    for p in "${pids[@]}"; do
        kill -0 "$p" 2>/dev/null || { echo "run.sh: a process exited; logs in $D/" >&2; exit 1; }
    done
    sleep 0.1
done
up || { echo "run.sh: not ready after 10 s; logs in $D/" >&2; exit 1; }

rc=0
"$PYTHON" examples/grpc/client.py --target "$gw" --calls "$CALLS" || rc=$?

# Istio's metrics for those calls (every series summed).
curl -fsS "http://$admin/stats/prometheus" | awk '
    /^istio_requests_total\{/ && /request_protocol="grpc"/ {
        if (match($0, /destination_version="[^"]*"/)) calls[substr($0, RSTART + 21, RLENGTH - 22)] += $NF
    }
    /^istio_request_messages_total\{/ { req += $NF }
    /^istio_response_messages_total\{/ { resp += $NF }
    /^envoy_cluster_upstream_rq_retry\{/ { retries += $NF }
    END {
        printf "metrics: istio_requests_total v1 %d v2 %d; messages: %d request, %d response; retries %d\n",
            calls["v1"], calls["v2"], req, resp, retries
    }'

if [ "$KEEP" = 1 ]; then
    cat <<MSG

Running until Ctrl-C. Try:
  $PYTHON examples/grpc/client.py --target $gw --calls 1000
  curl -s http://$admin/stats/prometheus | grep -E 'istio_(requests|request_messages|response_messages)_total'
  curl -s http://$admin/splits
  edit $D/config/virtual-service.yaml (weights): meshlet reloads it
MSG
    wait -n "${pids[@]}" || true
fi
exit "$rc"
