# SPDX-License-Identifier: Apache-2.0
"""`meshlet explain --port N [--sni HOST] [--source IP] [--dest IP] tcp`: the route a
connection to a TCP or TLS (SNI passthrough) listener takes and why, from files and from a
running proxy (--admin), and the listener kinds /listeners shows. No traffic: the relay is
tested with the data path."""
import json
import subprocess

from meshlet_proc import Meshlet, free_port


def config(gw, tls_port, svc_port):
    return f"""\
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {{name: echo, namespace: shop}}
spec:
  hosts: [tcp-echo.shop.svc.cluster.local]
  ports: [{{number: {svc_port}, name: tcp, protocol: TCP}}]
  resolution: STATIC
  endpoints:
  - {{address: 127.0.0.1, ports: {{tcp: 19001}}, labels: {{version: v1}}}}
  - {{address: 127.0.0.1, ports: {{tcp: 19002}}, labels: {{version: v2}}}}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {{name: db, namespace: shop}}
spec:
  hosts: [db.example.com]
  ports: [{{number: {tls_port}, name: tls, protocol: TLS}}]
  resolution: STATIC
  endpoints: [{{address: 127.0.0.1, ports: {{tls: 19443}}}}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: echo, namespace: shop}}
spec:
  host: tcp-echo
  subsets:
  - {{name: v1, labels: {{version: v1}}}}
  - {{name: v2, labels: {{version: v2}}}}
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {{name: edge, namespace: shop}}
spec:
  servers:
  - port: {{number: {gw}, name: tcp, protocol: TCP}}
    hosts: ["*"]
  - port: {{number: {tls_port}, name: tls, protocol: TLS}}
    hosts: ["*.example.com"]
    tls: {{mode: PASSTHROUGH}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: echo, namespace: shop}}
spec:
  hosts: ["*"]
  gateways: [edge]
  tcp:
  - match: [{{port: {tls_port}}}]
    route: [{{destination: {{host: tcp-echo, subset: v2}}}}]
  - route:
    - {{destination: {{host: tcp-echo, subset: v1}}, weight: 90}}
    - {{destination: {{host: tcp-echo, subset: v2}}, weight: 10}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: mesh-echo, namespace: shop}}
spec:
  hosts: [tcp-echo]
  tcp:
  - match: [{{destinationSubnets: [10.0.0.0/8]}}]
    route: [{{destination: {{host: tcp-echo, subset: v2}}}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: db, namespace: shop}}
spec:
  hosts: [db.example.com]
  gateways: [edge]
  tls:
  - match: [{{sniHosts: [db.example.com]}}]
    route: [{{destination: {{host: db.example.com}}}}]
"""


def explain(binary, *args):
    return subprocess.run([binary, "explain", *map(str, args)], capture_output=True, text=True,
                          timeout=30)


def write_config(tmp_path):
    ports = free_port(), free_port(), free_port()
    (tmp_path / "c.yaml").write_text(config(*ports))
    return ports


def test_explain_tcp_names_the_listener_the_skipped_rule_and_the_split(meshlet_bin, tmp_path):
    gw, tls_port, svc = write_config(tmp_path)
    p = explain(meshlet_bin, "-c", tmp_path, "-n", "shop", "--port", gw, "tcp")
    assert p.returncode == 0, p.stdout + p.stderr
    out = p.stdout.splitlines()
    assert out[0] == f"listener: gateway shop/edge, port {gw}, kind tcp (bytes relayed)", out
    assert out[1] == "virtual host: *", out
    # a block for another port does not exist on this one: the rule is not there at all
    assert out[2] == "route 0 (shop/echo tcp[1]): matched (no conditions: takes every connection)"
    assert "picked per connection; no retries" in out[3], out
    assert "   90.0%  tcp-echo subset v1 -> outbound|" in p.stdout, p.stdout
    assert "   10.0%  tcp-echo subset v2 -> outbound|" in p.stdout, p.stdout
    # on the mesh, the address reached decides destinationSubnets; the client's is shown
    p = explain(meshlet_bin, "-c", tmp_path, "-n", "shop", "--mesh", "--port", svc, "tcp")
    assert p.returncode == 0, p.stderr
    assert "route 0 (shop/mesh-echo tcp[0]): destination (unknown) not in [10.0.0.0/8]" \
        in p.stdout, p.stdout
    assert "route 1 'default' (no rule: Istio's default route to the service): matched" \
        in p.stdout, p.stdout
    p = explain(meshlet_bin, "-c", tmp_path, "-n", "shop", "--mesh", "--port", svc, "--dest",
                "10.9.8.7", "--source", "192.0.2.1", "tcp")
    assert p.returncode == 0, p.stderr
    assert "client: 192.0.2.1" in p.stdout
    assert "route 0 (shop/mesh-echo tcp[0]): matched by match[0]" in p.stdout, p.stdout
    assert "  100.0%  tcp-echo subset v2 -> outbound|" in p.stdout, p.stdout


def test_explain_tls_passthrough_picks_the_virtual_host_by_sni(meshlet_bin, tmp_path):
    _, tls_port, _ = write_config(tmp_path)
    p = explain(meshlet_bin, "-c", tmp_path, "-n", "shop", "--port", tls_port, "--sni",
                "DB.example.com", "tcp")
    assert p.returncode == 0, p.stdout + p.stderr
    assert "kind tls (SNI passthrough)" in p.stdout
    assert "virtual host: db.example.com (picked by the ClientHello's SNI)" in p.stdout
    assert "route 0 (shop/db tls[0]): matched by match[0]" in p.stdout, p.stdout
    assert f"-> outbound|{tls_port}||db.example.com" in p.stdout
    p = explain(meshlet_bin, "-c", tmp_path, "-n", "shop", "--port", tls_port, "--sni",
                "other.example.com", "-o", "json", "tcp")
    assert p.returncode == 3, p.stdout + p.stderr  # the proxy closes it: NR
    doc = json.loads(p.stdout)
    assert doc["connection"] == {"port": tls_port, "sni": "other.example.com", "source": ""}
    assert (doc["kind"], doc["flags"], doc["outcome"]) == ("tls", "NR", "local_reply"), doc


def test_explain_mesh_tcp_service_port_has_the_default_route(meshlet_bin, tmp_path):
    _, _, svc = write_config(tmp_path)
    p = explain(meshlet_bin, "-c", tmp_path, "-n", "shop", "--mesh", "--port", svc, "--dest",
                "127.0.0.1", "tcp")
    assert p.returncode == 0, p.stdout + p.stderr
    assert f"listener: mesh tcp {svc}, port {svc}, kind tcp" in p.stdout
    assert "route 0 (shop/mesh-echo tcp[0]): destination 127.0.0.1 not in [10.0.0.0/8]" \
        in p.stdout, p.stdout
    assert "route 1 'default' (no rule: Istio's default route to the service): matched" in p.stdout
    assert f"-> outbound|{svc}||tcp-echo.shop.svc.cluster.local" in p.stdout


def test_explain_tcp_wrong_kind_and_usage(meshlet_bin, tmp_path):
    gw, _, _ = write_config(tmp_path)
    p = explain(meshlet_bin, "-c", tmp_path, "-n", "shop", "GET", f"http://x:{gw}/")
    assert p.returncode == 4, p.stdout + p.stderr
    assert f"relays TCP connections, not HTTP requests: explain --port {gw} tcp" in p.stdout
    p = explain(meshlet_bin, "-c", tmp_path, "tcp")
    assert p.returncode == 2 and "--port N" in p.stderr, p.stderr
    p = explain(meshlet_bin, "-c", tmp_path, "--port", gw, "--dest", "nope", "tcp")
    assert p.returncode == 2 and "--dest takes an IP address" in p.stderr, p.stderr
    p = explain(meshlet_bin, "-c", tmp_path, "--sni", "a", "GET", "http://a/")
    assert p.returncode == 2 and "end with `tcp`" in p.stderr, p.stderr
    p = explain(meshlet_bin, "-c", tmp_path, "-n", "shop", "--port", free_port(), "tcp")
    assert p.returncode == 4 and "no listener on port" in p.stdout, p.stdout


def test_explain_tcp_against_the_running_proxy(meshlet_bin, tmp_path):
    gw, tls_port, svc = write_config(tmp_path)
    inbound = free_port()
    m = Meshlet(meshlet_bin, tmp_path, workers=1, extra=(
        "--namespace", "shop", "--inbound-tcp", f"{inbound}=127.0.0.1:{free_port()}")).start()
    try:
        admin = f"127.0.0.1:{m.admin_port}"
        p = explain(meshlet_bin, "--admin", admin, "--mesh", "--port", svc, "--dest", "10.0.0.1",
                    "tcp")
        assert p.returncode == 0, p.stdout + p.stderr
        assert "explained by the running proxy" in p.stdout
        assert "route 0 (shop/mesh-echo tcp[0]): matched by match[0]" in p.stdout, p.stdout
        p = explain(meshlet_bin, "--admin", admin, "--port", gw, "tcp")
        assert p.returncode == 0, p.stdout + p.stderr
        # a split of two: the running proxy says where its next connections go
        assert "worker 0: next 10 requests -> v1 v1 v1 v1 v1 v2 v1 v1 v1 v1" in p.stdout, p.stdout
        p = explain(meshlet_bin, "--admin", admin, "--port", inbound, "tcp")
        assert p.returncode == 0, p.stdout + p.stderr
        assert f"listener: inbound {inbound}, port {inbound}, kind tcp" in p.stdout, p.stdout
        assert "route 0 (the sidecar's route to its app): matched" in p.stdout, p.stdout
        lines = set(m.admin("/listeners").splitlines())
        assert f"gateway shop/edge::127.0.0.1:{gw} tcp" in lines, lines
        assert f"gateway shop/edge::127.0.0.1:{tls_port} tls" in lines, lines
        assert f"mesh tcp {svc}::127.0.0.1:{svc} tcp" in lines, lines
        assert f"inbound {inbound}::127.0.0.1:{inbound} tcp" in lines, lines
        assert f"mesh::127.0.0.1:{m.mesh_port}" in lines, lines
        kinds = {l["name"]: (l["kind"], l["local_address"]["socket_address"]["port_value"])
                 for l in json.loads(m.admin("/listeners?format=json"))["listener_statuses"]}
        assert kinds[f"mesh tcp {svc}"] == ("tcp", svc), kinds
        assert kinds["mesh"] == ("http", m.mesh_port), kinds
    finally:
        assert m.stop() == 0, m.logs()


def test_tcp_examples_explain(meshlet_bin, repo_root):
    """examples/tcp-canary and examples/tls-passthrough, explained without running them."""
    d = repo_root / "examples" / "tcp-canary"
    p = explain(meshlet_bin, "-c", d, "--port", 9000, "tcp")
    assert p.returncode == 0, p.stdout + p.stderr
    assert "   90.0%  tcp-echo.demo.svc.cluster.local subset v1 -> outbound|9000|v1|" in p.stdout
    assert "   10.0%  tcp-echo.demo.svc.cluster.local subset v2 -> outbound|9000|v2|" in p.stdout
    d = repo_root / "examples" / "tls-passthrough"
    p = explain(meshlet_bin, "-c", d, "--port", 9443, "--sni", "echo.example.com", "tcp")
    assert p.returncode == 0, p.stdout + p.stderr
    assert "virtual host: echo.example.com (picked by the ClientHello's SNI)" in p.stdout
    p = explain(meshlet_bin, "-c", d, "--port", 9443, "--sni", "other.example.com", "tcp")
    assert p.returncode == 3 and "connection closed (NR)" in p.stdout, p.stdout


def test_inbound_tcp_flag_is_checked(meshlet_bin, tmp_path):
    write_config(tmp_path)
    port = free_port()
    for args, says in [
            (["--inbound-tcp", "9000"], "expected PORT=HOST:PORT"),
            (["--inbound-tcp", f"{port}=127.0.0.1:1", "--inbound", f"{port}=127.0.0.1:2"],
             "that port has an inbound listener already")]:
        p = subprocess.run([meshlet_bin, "run", "-c", tmp_path, *args], capture_output=True,
                           text=True, timeout=30)
        assert p.returncode == 2 and says in p.stderr, (args, p.stderr)
