#!/usr/bin/env bash
# TLS passthrough, start to end on 127.0.0.1: a TLS echo server with its own certificate
# for echo.example.com (build/tcp-backend --tls; the certificate is made here with
# openssl), meshlet in front of it with the config in this directory, then: the
# certificate a client sees through meshlet (the backend's, compared by SHA-256
# fingerprint), one line echoed over TLS, and a ClientHello naming another host (no route:
# closed). Prints Istio's TCP metrics, then stops every process it started, by PID.
#
#   examples/tls-passthrough/run.sh          # after `make`
#   KEEP=1 examples/tls-passthrough/run.sh   # stay up for your own connections until Ctrl-C
#
# Environment: KEEP (0), PORT_SHIFT (0: gateway 9443, admin 15094, backend 9201; moves them
# all), MESHLET (./meshlet), WORKDIR (build/tls-passthrough: config, certificate, logs).
set -euo pipefail
cd "$(dirname "$0")/../.."

MESHLET=${MESHLET:-./meshlet}
BACKEND=$(dirname "$MESHLET")/tcp-backend # build/tcp-backend, or beside an ASan meshlet
[ -x "$BACKEND" ] || BACKEND=build/tcp-backend
KEEP=${KEEP:-0}
D=${WORKDIR:-build/tls-passthrough}
shift_by=${PORT_SHIFT:-0}
gw=$((9443 + shift_by))
admin=127.0.0.1:$((15094 + shift_by))
pb=$((9201 + shift_by))
SNI=echo.example.com

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

"$MESHLET" check examples/tls-passthrough/
rm -rf "$D/config"
mkdir -p "$D/config"
cp examples/tls-passthrough/*.yaml "$D/config/"
if [ "$shift_by" -ne 0 ]; then
    sed -i "s/number: 9443\$/number: $gw/" "$D/config/gateway.yaml"
    sed -i "s/- port: 9443\$/- port: $gw/" "$D/config/virtual-service.yaml"
    sed -i "s/tls: 9201}/tls: $pb}/" "$D/config/service.yaml"
fi
# The backend's own certificate: meshlet never sees its key.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$D/echo.key" \
    -out "$D/echo.crt" -days 1 -subj "/CN=$SNI" -addext "subjectAltName=DNS:$SNI" 2>/dev/null

"$BACKEND" --listen "127.0.0.1:$pb" --tag tls-echo --tls "$D/echo.crt" "$D/echo.key" \
    >"$D/backend.log" 2>&1 & pids+=($!)
"$MESHLET" run -c "$D/config/" --listen-address 127.0.0.1 --workers 1 --admin "$admin" \
    --mesh-listen "127.0.0.1:$((15095 + shift_by))" 2>"$D/meshlet.log" & pids+=($!)

up() { curl -fs -o /dev/null "http://$admin/ready" && grep -q listening "$D/backend.log"; }
for _ in $(seq 100); do # up to 10 s
    up && break
    for p in "${pids[@]}"; do
        kill -0 "$p" 2>/dev/null || { echo "run.sh: a process exited; logs in $D/" >&2; exit 1; }
    done
    sleep 0.1
done
up || { echo "run.sh: not ready after 10 s; logs in $D/" >&2; exit 1; }

fingerprint() { openssl x509 -noout -fingerprint -sha256 | cut -d= -f2; }
want=$(fingerprint <"$D/echo.crt")
got=$(timeout 10 openssl s_client -connect "127.0.0.1:$gw" -servername "$SNI" </dev/null \
      2>/dev/null | fingerprint 2>/dev/null || true)
echo "backend certificate: $want"
echo "seen through meshlet: ${got:-none}"
rc=0
[ -n "$got" ] && [ "$got" = "$want" ] || rc=1

# One line over TLS through meshlet: the backend's version line, then the echo.
echo_line=$(timeout 10 /usr/bin/python3 - "$gw" "$SNI" 2>/dev/null <<'PY' || true
import socket, ssl, sys
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE  # the fingerprint above is the check
with ctx.wrap_socket(socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5),
                     server_hostname=sys.argv[2]) as s:
    s.sendall(b"hello\n")
    got = b""
    while got.count(b"\n") < 2:
        more = s.recv(100)
        if not more:
            break
        got += more
    print(got.decode().replace("\n", " ").strip())
PY
)
echo "echo: ${echo_line:-none}"
[ "$echo_line" = "tls-echo hello" ] || rc=1

# Another server name has no route: the connection is closed without a handshake.
other=$(timeout 10 openssl s_client -connect "127.0.0.1:$gw" -servername other.example.com \
        </dev/null 2>/dev/null | fingerprint 2>/dev/null || true)
echo "other.example.com: ${other:-refused}"
[ -z "$other" ] || rc=1

sleep 0.2
curl -fsS "http://$admin/stats/prometheus" | awk '
    /^istio_tcp_connections_(opened|closed)_total\{/ {
        f = $0; sub(/\{.*/, "", f); flags = "-"
        if (match($0, /response_flags="[^"]*"/)) flags = substr($0, RSTART + 16, RLENGTH - 17)
        n[f " " flags] += $NF
    }
    END { for (k in n) printf "metrics: %s %d\n", k, n[k] }' | sort

if [ "$KEEP" = 1 ]; then
    cat <<MSG

Running until Ctrl-C. Try:
  openssl s_client -connect 127.0.0.1:$gw -servername $SNI
  curl -s http://$admin/stats/prometheus | grep istio_tcp_
MSG
    wait -n "${pids[@]}" || true
fi
exit "$rc"
