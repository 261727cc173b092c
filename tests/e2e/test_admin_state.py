# SPDX-License-Identifier: Apache-2.0
"""Admin endpoints that change or report the server's state (issue 12), as Envoy's:
/ready says DRAINING (503) while draining and after POST /healthcheck/fail until
/healthcheck/ok (server.live and envoy_server_live say 0 then); POST /quitquitquit drains and exits 0 like SIGTERM; /certs lists the
certificates in use (workload identity, Gateway TLS) with Envoy's fields."""
import http.client
import json
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request
from datetime import datetime, timezone

import meshlet
from certs import self_signed
from meshlet_proc import eventually, free_port


def call(m, path, method="GET"):
    req = urllib.request.Request(f"http://127.0.0.1:{m.admin_port}{path}", method=method)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def slow_request(port, delay_ms, out):
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
        c.request("GET", f"/orders?delay_ms={delay_ms}", headers={"Host": "api.example.com"})
        r = c.getresponse()
        out["status"] = r.status
        out["version"] = json.loads(r.read())["version"]
    except (OSError, http.client.HTTPException) as e:
        out["error"] = repr(e)


def stat(m, name):
    text = call(m, f"/stats?filter=^{name}$")[1]
    return int(text.split(": ")[1])


def prom(m, name):
    """The value of the unlabelled series <name> in /stats/prometheus."""
    for line in call(m, "/stats/prometheus")[1].splitlines():
        if line.startswith(name + " "):
            return int(line.split()[1])
    raise AssertionError(f"{name} not in /stats/prometheus")


def test_ready_says_draining_while_draining(canary):
    m = canary("--drain-time", "5")
    assert call(m, "/ready") == (200, "LIVE\n")
    out = {}
    t = threading.Thread(target=slow_request, args=(m.gw, 1500, out))
    t.start()
    time.sleep(0.4)  # the request is at the backend: the drain waits for it
    m.proc.send_signal(signal.SIGTERM)
    assert eventually(lambda: call(m, "/ready") == (503, "DRAINING\n"))
    assert json.loads(call(m, "/server_info")[1])["state"] == "DRAINING"
    assert stat(m, "server.live") == 0 and prom(m, "envoy_server_live") == 0
    t.join(10)
    assert out.get("status") == 200, out
    assert m.proc.wait(10) == 0


def test_healthcheck_fail_and_ok(canary):
    m = canary()
    assert call(m, "/healthcheck/fail", "POST") == (200, "OK\n")
    assert call(m, "/ready") == (503, "DRAINING\n")
    assert json.loads(call(m, "/server_info")[1])["state"] == "DRAINING"
    assert stat(m, "server.live") == 0 and prom(m, "envoy_server_live") == 0
    assert meshlet.get(m.gw, "/orders")[0] == 200  # traffic is still served
    assert call(m, "/healthcheck/fail", "POST") == (200, "OK\n")  # idempotent
    assert call(m, "/healthcheck/ok", "POST") == (200, "OK\n")
    assert call(m, "/ready") == (200, "LIVE\n")
    assert stat(m, "server.live") == 1 and prom(m, "envoy_server_live") == 1
    assert "health check failed by POST /healthcheck/fail" in m.logs()


def test_quitquitquit_drains_and_exits_cleanly(canary):
    m = canary("--drain-time", "5")
    out = {}
    t = threading.Thread(target=slow_request, args=(m.gw, 1000, out))
    t.start()
    time.sleep(0.3)
    assert call(m, "/quitquitquit") == (405, "Method GET not allowed, POST required.\n")
    assert m.proc.poll() is None
    assert call(m, "/quitquitquit", "POST") == (200, "OK\n")
    t.join(10)
    assert out.get("status") == 200 and out.get("version") == "v1", out  # finished, not cut
    assert m.proc.wait(10) == 0
    assert "POST /quitquitquit: draining" in m.logs()




def not_after(path):
    out = subprocess.run(["openssl", "x509", "-in", str(path), "-noout", "-enddate"],
                         capture_output=True, text=True, timeout=30).stdout
    when = datetime.strptime(out.strip().split("=", 1)[1].replace("  ", " "),
                             "%b %d %H:%M:%S %Y GMT")
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_certs_lists_identity_and_gateway_certificates(canary, meshlet_bin, tmp_path):
    meshlet.ca(meshlet_bin, "init", "--dir", tmp_path / "ca")
    meshlet.ca(meshlet_bin, "issue", "--dir", tmp_path / "ca", "--ns", "shop", "--sa", "edge",
               "--out", tmp_path / "id", "--ttl", "60h")
    crt, key = self_signed(tmp_path / "gw", "secure.example.com", days=10)
    tls_port = free_port()
    (tmp_path / "tls.yaml").write_text(f"""\
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {{name: secure, namespace: shop}}
spec:
  selector: {{istio: ingressgateway}}
  servers:
  - port: {{number: {tls_port}, name: https, protocol: HTTPS}}
    hosts: ["shop/secure.example.com"]
    tls: {{mode: SIMPLE, serverCertificate: {crt}, privateKey: {key}}}
""")
    m = canary("--identity", str(tmp_path / "id"))
    status, text = call(m, "/certs")
    assert status == 200
    certs = json.loads(text)["certificates"]
    by_name = {c["name"]: c for c in certs}
    ident = by_name["workload identity spiffe://cluster.local/ns/shop/sa/edge"]
    (leaf,) = ident["cert_chain"]
    assert leaf["path"] == str(tmp_path / "id" / "cert-chain.pem")
    assert leaf["subject_alt_names"] == [{"uri": "spiffe://cluster.local/ns/shop/sa/edge"}]
    # 60 h: 2.5 days, far from a whole day, so every reading in this test floors to 2 (at
    # 72 h the first reading could say 3 and one a second later 2)
    assert leaf["days_until_expiration"] == "2"
    assert leaf["expiration_time"] == not_after(tmp_path / "id" / "cert-chain.pem")
    assert leaf["valid_from"] < datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert leaf["serial_number"] and all(c in "0123456789abcdef" for c in leaf["serial_number"])
    (root,) = ident["ca_cert"]
    assert root["path"] == str(tmp_path / "id" / "root-cert.pem")
    assert root["expiration_time"] == not_after(tmp_path / "ca" / "root-cert.pem")
    (gw,) = [c for c in certs if c["name"].startswith("gateway shop/secure")]
    assert f"(port {tls_port})" in gw["name"] and gw["ca_cert"] == []
    (server,) = gw["cert_chain"]
    assert server["subject"] == "CN=secure.example.com"
    assert server["subject_alt_names"] == [{"dns": "secure.example.com"}]
    assert server["days_until_expiration"] in ("9", "10") and server["path"] == str(crt)
    # Envoy's gauge: the fewest days left among them (the 60 h identity's)
    days = int(leaf["days_until_expiration"])
    assert stat(m, "server.days_until_first_cert_expiring") == days
    assert prom(m, "envoy_server_days_until_first_cert_expiring") == days
