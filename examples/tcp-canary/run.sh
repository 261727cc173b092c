#!/usr/bin/env bash
# The TCP canary, start to end on 127.0.0.1: two versions of a TCP echo server
# (build/tcp-backend; each connection begins with a line naming its version), meshlet in
# front of them with the config in this directory, then CONNS connections through the
# Gateway, each reading the version line and one echoed line. Prints the split and Istio's
# TCP metrics, then stops every process it started, by PID.
#
#   examples/tcp-canary/run.sh            # after `make`
#   KEEP=1 examples/tcp-canary/run.sh     # stay up for your own connections until Ctrl-C
#
# Environment: CONNS (100), KEEP (0), PORT_SHIFT (0: gateway 9000, admin 15092, backends 9101
# and 9102; moves them all), MESHLET (./meshlet), WORKDIR (build/tcp-canary: the running
# config and the logs).
set -euo pipefail
cd "$(dirname "$0")/../.."

MESHLET=${MESHLET:-./meshlet}
# build/tcp-backend, or the one beside an ASan meshlet (build/asan/)
BACKEND=$(dirname "$MESHLET")/tcp-backend
[ -x "$BACKEND" ] || BACKEND=build/tcp-backend
CONNS=${CONNS:-100}
KEEP=${KEEP:-0}
D=${WORKDIR:-build/tcp-canary}
shift_by=${PORT_SHIFT:-0}
gw=$((9000 + shift_by))
admin=127.0.0.1:$((15092 + shift_by))
p1=$((9101 + shift_by)) p2=$((9102 + shift_by))

for f in "$MESHLET" "$BACKEND"; do
    [ -x "$f" ] || { echo "run.sh: $f not found: run \`make\` first" >&2; exit 1; }
done

pids=()
stop_all() {
    [ ${#pids[@]} -gt 0 ] || return 0
    kill -TERM "${pids[@]}" 2>/dev/null || true
    wait "${pids[@]}" 2>/dev/null || true
    pids=()
}
trap stop_all EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# The running config is a copy: edit it there (meshlet reloads it), examples/ stays as is.
"$MESHLET" check examples/tcp-canary/
rm -rf "$D/config"
mkdir -p "$D/config"
cp examples/tcp-canary/*.yaml "$D/config/"
if [ "$shift_by" -ne 0 ]; then
    sed -i "s/number: 9000\$/number: $gw/" "$D/config/gateway.yaml"
    sed -i "s/- port: 9000\$/- port: $gw/" "$D/config/virtual-service.yaml"
    sed -i -e "s/tcp: 9101}/tcp: $p1}/" -e "s/tcp: 9102}/tcp: $p2}/" "$D/config/service.yaml"
fi

"$BACKEND" --listen "127.0.0.1:$p1" --tag v1 >"$D/backend-v1.log" 2>&1 & pids+=($!)
"$BACKEND" --listen "127.0.0.1:$p2" --tag v2 >"$D/backend-v2.log" 2>&1 & pids+=($!)
"$MESHLET" run -c "$D/config/" --listen-address 127.0.0.1 --workers 1 --admin "$admin" \
    --mesh-listen "127.0.0.1:$((15093 + shift_by))" 2>"$D/meshlet.log" & pids+=($!)

up() { curl -fs -o /dev/null "http://$admin/ready" && grep -q listening "$D/backend-v1.log" &&
       grep -q listening "$D/backend-v2.log"; }
for _ in $(seq 100); do # up to 10 s
    up && break
    for p in "${pids[@]}"; do
        kill -0 "$p" 2>/dev/null || { echo "run.sh: a process exited; logs in $D/" >&2; exit 1; }
    done
    sleep 0.1
done
up || { echo "run.sh: not ready after 10 s; logs in $D/" >&2; exit 1; }

# One connection: the version line, then "hello" echoed. Prints the version or "error".
one() {
    local tag echo
    if ! exec 3<>"/dev/tcp/127.0.0.1/$gw"; then echo error; return; fi
    printf 'hello\n' >&3
    if read -r -t 5 tag <&3 && read -r -t 5 echo <&3 && [ "$echo" = hello ]; then
        echo "$tag"
    else
        echo error
    fi
    exec 3>&-
}
declare -A seen=([v1]=0 [v2]=0 [error]=0)
for _ in $(seq "$CONNS"); do
    t=$(one 2>/dev/null)
    seen[$t]=$((${seen[$t]:-0} + 1))
done
echo "split: v1=${seen[v1]} v2=${seen[v2]} errors=${seen[error]}"

# Istio's TCP metrics for those connections (each family summed by destination_version).
sleep 0.2 # the last connections' ends reach the metrics
curl -fsS "http://$admin/stats/prometheus" | awk '
    /^istio_tcp_/ && match($0, /destination_version="[^"]*"/) {
        v = substr($0, RSTART + 21, RLENGTH - 22); f = $0; sub(/\{.*/, "", f); n[f, v] += $NF
    }
    END {
        printf "metrics: opened v1 %d v2 %d; closed v1 %d v2 %d; bytes sent %d, received %d\n",
            n["istio_tcp_connections_opened_total", "v1"], n["istio_tcp_connections_opened_total", "v2"],
            n["istio_tcp_connections_closed_total", "v1"], n["istio_tcp_connections_closed_total", "v2"],
            n["istio_tcp_sent_bytes_total", "v1"] + n["istio_tcp_sent_bytes_total", "v2"],
            n["istio_tcp_received_bytes_total", "v1"] + n["istio_tcp_received_bytes_total", "v2"]
    }'

if [ "$KEEP" = 1 ]; then
    cat <<MSG

Running until Ctrl-C. Try:
  exec 3<>/dev/tcp/127.0.0.1/$gw; head -1 <&3; exec 3>&-     # one connection's version
  curl -s http://$admin/stats/prometheus | grep istio_tcp_
  edit $D/config/virtual-service.yaml (weights): meshlet reloads it; open
  connections keep their version, new ones take the new weights
MSG
    wait -n "${pids[@]}" || true
fi
[ "${seen[error]}" = 0 ]
