#!/usr/bin/env bash
# The egress example on 127.0.0.1: a DNS server of the tests' own answering
# api.payments.test with 127.0.0.1, an HTTPS "payment API" on 9443 with its own
# certificate, and meshlet resolving the name through --dns-server and originating TLS.
# Prints the answer and what /clusters says of the name; stops what it started.
set -euo pipefail
cd "$(dirname "$0")/../.."
D=/tmp/meshlet-egress
mkdir -p "$D"
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; wait 2>/dev/null' EXIT
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$D/api.key" \
    -out "$D/api.crt" -days 1 -subj "/CN=api.payments.test" \
    -addext "subjectAltName=DNS:api.payments.test" 2>/dev/null
/usr/bin/python3 tests/e2e/lib/dns_server.py --port 15353 --ttl 30 \
    api.payments.test=127.0.0.1 >"$D/dns.log" 2>&1 & pids+=($!)
for _ in $(seq 100); do grep -q 15353 "$D/dns.log" 2>/dev/null && break; sleep 0.05; done
/usr/bin/python3 - "$D" <<'PY' & pids+=($!)
import http.server, ssl, sys
d = sys.argv[1]
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"payment API over TLS: ok\n"
        self.send_response(200)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
s = http.server.ThreadingHTTPServer(("127.0.0.1", 9443), H)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(f"{d}/api.crt", f"{d}/api.key")
s.socket = ctx.wrap_socket(s.socket, server_side=True)
s.serve_forever()
PY
"${MESHLET:-./meshlet}" run -c examples/egress -n shop --workers 1 --admin 127.0.0.1:15000 \
    --listen-address 127.0.0.1 --mesh-listen 127.0.0.1:15001 \
    --dns-server 127.0.0.1:15353 >"$D/meshlet.log" 2>&1 & pids+=($!)
for _ in $(seq 100); do
    curl -sf -o /dev/null http://127.0.0.1:15000/ready && break
    sleep 0.05
done
echo "GET http://api.payments.test:8080/ through the mesh listener:"
curl -s -H "Host: api.payments.test" http://127.0.0.1:15001/
echo "what /clusters says of the name:"
curl -s http://127.0.0.1:15000/clusters | grep -E "::dns|dns_name"
