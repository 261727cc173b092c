# SPDX-License-Identifier: Apache-2.0
"""`meshlet explain`: the route a request takes and why, and agreement with what
`meshlet run` actually does with the same config, request by request."""
import http.client
import json
import os
import random
import re
import socket
import subprocess
import urllib.error
import urllib.parse

import pytest

from backend import Backend
from configs import canary_config, service_entry
from meshlet_proc import Meshlet, free_port


def explain(binary, config_dir, method, url, *headers, json_out=False, code=0):
    """`meshlet explain` over <config_dir>, which must exit <code> (None: any)."""
    args = [binary, "explain", "-c", str(config_dir), "-n", "shop"]
    for h in headers:
        args += ["-H", h]
    if json_out:
        args += ["-o", "json"]
    p = subprocess.run(args + [method, url], capture_output=True, text=True, timeout=30)
    assert code is None or p.returncode == code, (p.returncode, p.stdout, p.stderr)
    return json.loads(p.stdout) if json_out else p.stdout


@pytest.fixture
def config(tmp_path):
    gw = free_port()
    (tmp_path / "c.yaml").write_text(canary_config(gw, 19991, 19992))
    return tmp_path, gw


def test_explain_names_each_skipped_route_and_the_match(meshlet_bin, config):
    d, gw = config
    out = explain(meshlet_bin, d, "GET", f"http://api.example.com:{gw}/orders/1")
    assert f"listener: gateway shop/edge, port {gw}" in out
    assert "virtual host: api.example.com" in out
    assert "route 0 'canary-header': header x-canary absent" in out
    assert "route 1 'empty-subset': uri \"/orders/1\" does not match prefix \"/v3\"" in out
    assert "route 5 'split' (shop/orders rule 5): matched" in out
    assert "90.0%  orders subset v1 -> outbound|9080|v1|orders.shop.svc.cluster.local" in out
    assert "10.0%  orders subset v2" in out
    assert "load balancer: LEAST_REQUEST" in out


def test_explain_says_why_nothing_can_serve(meshlet_bin, config):
    d, gw = config
    out = explain(meshlet_bin, d, "GET", f"http://api.example.com:{gw}/nowhere", code=3)
    assert "404 NR: no route of this virtual host matches the request" in out
    out = explain(meshlet_bin, d, "GET", f"http://other.domain:{gw}/orders", code=3)
    assert "404 NR: no virtual host for other.domain" in out
    out = explain(meshlet_bin, d, "GET", f"http://api.example.com:{gw}/v3/x", code=3)
    assert "503 UH: the subset's labels select no endpoint" in out


def test_explain_json(meshlet_bin, config):
    d, gw = config
    doc = explain(meshlet_bin, d, "GET", f"http://api.example.com:{gw}/x", "x-canary: true",
                  json_out=True)
    assert doc["status"] == 200
    assert doc["route"]["name"] == "canary-header"
    assert [x["subset"] for x in doc["route"]["destinations"]] == ["v2"]
    assert doc["route"]["destinations"][0]["endpoints"][0]["labels"] == {"version": "v2"}
    doc = explain(meshlet_bin, d, "GET", f"http://api.example.com:{gw}/teapot", json_out=True)
    assert doc["status"] == 418 and doc["route"]["action"] == "direct_response"


def test_explain_agrees_with_the_proxy_on_200_requests(meshlet_bin, tmp_path):
    b1, b2 = Backend("v1").start(), Backend("v2").start()
    gw = free_port()
    (tmp_path / "c.yaml").write_text(canary_config(gw, b1.port, b2.port))
    m = Meshlet(meshlet_bin, tmp_path, extra=("--namespace", "shop")).start()
    rng = random.Random(7)
    paths = ["/orders/1", "/orders?x=1", "/v3/a", "/teapot", "/old/p", "/nope", "/ORDERS"]
    try:
        for i in range(200):
            path = rng.choice(paths)
            headers = ["x-canary: true"] if rng.random() < 0.3 else []
            doc = explain(meshlet_bin, tmp_path, "GET", f"http://api.example.com:{gw}{path}",
                          *headers, json_out=True, code=None)
            c = http.client.HTTPConnection("127.0.0.1", gw, timeout=10)
            h = {"Host": "api.example.com"}
            h.update(dict(x.split(": ", 1) for x in headers))
            c.request("GET", path, headers=h)
            r = c.getresponse()
            body = r.read()
            c.close()
            assert r.status == doc["status"], (path, headers, doc)
            if r.status == 200:
                served = json.loads(body)["version"]
                subsets = {x["subset"] for x in doc["route"]["destinations"]}
                assert served in subsets, (path, headers, served, subsets)
    finally:
        assert m.stop() == 0
        b1.stop()
        b2.stop()


def test_explain_mesh_listener(meshlet_bin, config):
    d, _ = config
    out = explain(meshlet_bin, d, "GET", "http://orders/orders/1", "x-canary: true", code=3)
    assert "404 NR: no virtual host for orders" in out  # the gateway does not serve it
    p = subprocess.run([meshlet_bin, "explain", "-c", str(d), "-n", "shop", "--mesh",
                        "-H", "x-canary: true", "GET", "http://orders/orders/1"],
                       capture_output=True, text=True, timeout=30)
    assert "listener: mesh" in p.stdout and "subset v2" in p.stdout


def test_explain_admin_predicts_the_running_split(meshlet_bin, tmp_path):
    v1, v2 = Backend("v1").start(), Backend("v2").start()
    gw = free_port()
    (tmp_path / "c.yaml").write_text(canary_config(gw, v1.port, v2.port, weights=(70, 30)))
    m = Meshlet(meshlet_bin, tmp_path, workers=1, extra=("--namespace", "shop")).start()
    try:
        c = http.client.HTTPConnection("127.0.0.1", gw, timeout=10)

        def served():
            c.request("GET", "/orders/x", headers={"Host": "api.example.com"})
            return json.loads(c.getresponse().read())["version"]

        for _ in range(random.randint(1, 9)):  # leave the split somewhere mid-cycle
            served()
        doc = subprocess.run(
            [meshlet_bin, "explain", "-c", str(tmp_path), "-n", "shop", "--admin",
             f"127.0.0.1:{m.admin_port}", "-o", "json", "GET",
             f"http://api.example.com:{gw}/orders/x"],
            capture_output=True, text=True, timeout=30)
        assert doc.returncode == 0, doc.stderr
        predicted = json.loads(doc.stdout)["splitNow"][0]["next"]
        actual = [served() for _ in range(10)]
        assert predicted == actual
        assert actual.count("v2") == 3
        c.close()
    finally:
        assert m.stop() == 0, m.logs()
        v1.stop()
        v2.stop()


def test_explain_shows_slow_start(meshlet_bin, tmp_path):
    gw = free_port()
    extra = """---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: warm, namespace: shop}
spec:
  host: orders
  trafficPolicy:
    loadBalancer: {simple: ROUND_ROBIN, warmup: {duration: 30s, minimumPercent: 25}}
"""
    (tmp_path / "c.yaml").write_text(canary_config(gw, 19991, 19992, extra=extra))
    out = explain(meshlet_bin, tmp_path, "GET", f"http://api.example.com:{gw}/orders/1")
    assert "load balancer: ROUND_ROBIN" in out
    assert "slow start: new endpoints ramp up over 30.0s from 25% of their weight" in out


def run_explain(binary, *args):
    return subprocess.run([binary, "explain", *map(str, args)], capture_output=True, text=True,
                          timeout=30)


def test_explain_routes_by_the_host_header_as_the_proxy_does(meshlet_bin, tmp_path):
    """curl -H 'Host: api.example.com' http://127.0.0.1:PORT/...: the proxy picks the virtual
    host by the Host header, so explain must too (it used the URL's host: 404 NR)."""
    b1, b2 = Backend("v1").start(), Backend("v2").start()
    gw = free_port()
    (tmp_path / "c.yaml").write_text(canary_config(gw, b1.port, b2.port, weights=(0, 100)))
    m = Meshlet(meshlet_bin, tmp_path, extra=("--namespace", "shop")).start()
    try:
        cases = [("api.example.com", 200, "virtual host: api.example.com"),
                 ("other.domain", 404, "404 NR: no virtual host for other.domain"),
                 (f"api.example.com:{gw}", 200, "virtual host: api.example.com")]
        for host, status, says in cases:
            for url in (f"http://127.0.0.1:{gw}/orders/1", f"http://api.example.com:{gw}/orders/1"):
                doc = explain(meshlet_bin, tmp_path, "GET", url, f"Host: {host}", json_out=True,
                              code=None)
                text = explain(meshlet_bin, tmp_path, "GET", url, f"Host: {host}", code=None)
                c = http.client.HTTPConnection("127.0.0.1", gw, timeout=10)
                c.request("GET", "/orders/1", headers={"Host": host})
                r = c.getresponse()
                r.read()
                c.close()
                assert r.status == status == doc["status"], (host, url, doc)
                assert says in text, text
                if status == 200:
                    assert doc["route"]["name"] == "split", doc
    finally:
        assert m.stop() == 0, m.logs()
        b1.stop()
        b2.stop()


def test_explain_takes_options_after_method_and_url(meshlet_bin, config):
    d, gw = config
    p = run_explain(meshlet_bin, "-c", d, "GET", f"http://api.example.com:{gw}/x",
                    "-H", "x-canary: true", "--gateway", "shop/edge", "-n", "shop", "-o", "json")
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    assert doc["route"]["name"] == "canary-header"
    assert doc["listener"] == "gateway shop/edge"


@pytest.mark.parametrize("args,says", [
    (["--bogus", "GET", "http://a/"], 'unknown option "--bogus"'),
    (["GET", "http://a/", "--port"], "--port needs a value"),
    (["GET", "http://a/", "--port", "99999"], "--port takes a number from 1 to 65535"),
    (["GET", "http://a/", "-H", "x-canary"], "-H takes 'name: value' (with a colon)"),
    (["GET", "http://a/", "-o", "yaml"], '-o takes text or json, not "yaml"'),
    (["GET", "http://a/", "--gateway", "edge"], '--gateway takes NAMESPACE/NAME, not "edge"'),
    (["GET"], "give the URL after the METHOD GET"),
    (["http://a/"], "give the METHOD (GET, POST, ...) before the URL http://a/"),
    ([], "give METHOD and URL"),
    (["GET", "http://a/", "extra"], 'unexpected argument "extra" after METHOD and URL'),
    (["GET", "a.example.com/x"], "the URL needs a scheme"),
    (["GET", "ftp://a/"], "the URL's scheme must be http or https"),
    (["GET", "http://a:0/"], "the URL's port is not a number from 1 to 65535"),
    (["GET", "http://a/", "-H", "Host: b", "-H", "host: c"], "several Host headers"),
    (["GET", "http://a/", "--mesh", "--gateway", "shop/edge"], "--mesh and --gateway exclude"),
])
def test_explain_usage_errors_say_what_was_wrong(meshlet_bin, config, args, says):
    d, _ = config
    p = run_explain(meshlet_bin, "-c", d, *args)
    assert p.returncode == 2, (p.returncode, p.stdout, p.stderr)
    assert says in p.stderr, p.stderr
    assert "usage:" not in p.stderr  # a reason, not the whole usage text
    assert p.stdout == ""


def test_explain_without_config_or_admin_says_so(meshlet_bin):
    p = run_explain(meshlet_bin, "GET", "http://a/")
    assert p.returncode == 2
    assert "give the config with -c PATH or --etcd URL, or --admin HOST:PORT" in p.stderr


def test_explain_help_describes_every_flag_and_exit_status(meshlet_bin):
    p = run_explain(meshlet_bin, "--help")
    assert p.returncode == 0
    for flag in ("-c, --config PATH", "--admin HOST:PORT", "-H, --header", "--gateway NS/NAME",
                 "--mesh", "--port N", "-n, --namespace NS", "-o, --output FORMAT",
                 "-h, --help"):
        line = next((x for x in p.stdout.splitlines() if x.strip().startswith(flag)), None)
        assert line and len(line.strip()) > len(flag) + 10, (flag, p.stdout)  # described
    for code in ("0 routed", "2 usage", "3 the proxy answers itself", "4 unknown Gateway",
                 "5 the admin endpoint cannot be"):
        assert code in " ".join(p.stdout.split()), p.stdout


def test_explain_mesh_default_route_says_where_it_comes_from(meshlet_bin, tmp_path):
    """A service without a VirtualService gets Istio's default route; explain printed
    "route 0 'default' ( rule 0)" for it."""
    extra = "---\n" + service_entry("payments", "shop", [(19993, {})])
    (tmp_path / "c.yaml").write_text(canary_config(free_port(), 19991, 19992) + extra)
    p = run_explain(meshlet_bin, "-c", tmp_path, "-n", "shop", "--mesh", "GET",
                    "http://payments/x")
    assert p.returncode == 0, p.stderr
    assert "( rule" not in p.stdout and "()" not in p.stdout, p.stdout
    assert ("route 0 'default' (no VirtualService: Istio's default route to the service): "
            "matched") in p.stdout
    assert "-> outbound|9080||payments.shop.svc.cluster.local" in p.stdout


def test_explain_exit_status_says_the_outcome(meshlet_bin, config):
    d, gw = config
    url = f"http://api.example.com:{gw}"

    def code(*args):
        return run_explain(meshlet_bin, "-c", d, "-n", "shop", *args).returncode

    assert code("GET", f"{url}/orders/1") == 0            # routed
    assert code("GET", f"{url}/teapot") == 0              # a directResponse rule matched
    assert code("GET", f"{url}/old/x") == 0               # a redirect rule matched
    assert code("GET", f"{url}/nowhere") == 3             # 404 NR
    assert code("GET", f"http://other.domain:{gw}/") == 3  # 404 NR, no virtual host
    assert code("GET", f"{url}/v3/x") == 3                # 503 UH
    assert code("--gateway", "shop/nope", "GET", f"{url}/orders/1") == 4  # unknown Gateway
    assert code("GET", f"http://api.example.com:{free_port()}/orders") == 4  # no listener
    closed = free_port()  # nobody listens there
    p = run_explain(meshlet_bin, "--admin", f"127.0.0.1:{closed}", "GET", f"{url}/orders/1")
    assert p.returncode == 5, p.stderr
    assert f"cannot reach the admin endpoint 127.0.0.1:{closed}" in p.stderr


def test_explain_admin_explains_with_the_running_proxys_own_config(meshlet_bin, tmp_path):
    """The proxy runs 50/50 while the local file says 90/10: `explain --admin` without -c
    reports the proxy's 50/50 and its next requests; -c with the 90/10 file is refused."""
    v1, v2 = Backend("v1").start(), Backend("v2").start()
    gw = free_port()
    running, local = tmp_path / "running", tmp_path / "local"
    running.mkdir()
    local.mkdir()
    (running / "c.yaml").write_text(canary_config(gw, v1.port, v2.port, weights=(50, 50)))
    (local / "c.yaml").write_text(canary_config(gw, v1.port, v2.port, weights=(90, 10)))
    m = Meshlet(meshlet_bin, running, workers=1, extra=("--namespace", "shop")).start()
    admin = f"127.0.0.1:{m.admin_port}"
    url = f"http://127.0.0.1:{gw}/orders/1"
    try:
        p = run_explain(meshlet_bin, "--admin", admin, "GET", url, "-H", "Host: api.example.com",
                        "-o", "json")
        assert p.returncode == 0, p.stderr
        doc = json.loads(p.stdout)
        assert [x["percent"] for x in doc["route"]["destinations"]] == [50.0, 50.0]
        assert doc["splitNow"][0]["next"].count("v2") == 5
        dump = json.loads(m.admin("/config_dump"))
        assert doc["configDigest"] == dump["digest"] and doc["configVersion"] == dump["version"]
        # what the proxy does next is what it said
        c = http.client.HTTPConnection("127.0.0.1", gw, timeout=10)
        served = []
        for _ in range(10):
            c.request("GET", "/orders/1", headers={"Host": "api.example.com"})
            served.append(json.loads(c.getresponse().read())["version"])
        c.close()
        assert served == doc["splitNow"][0]["next"]

        text = run_explain(meshlet_bin, "--admin", admin, "GET", url, "-H", "Host: api.example.com")
        assert text.returncode == 0, text.stderr
        assert "explained by the running proxy" in text.stdout
        assert "50.0%  orders subset v1" in text.stdout and "90.0%" not in text.stdout
        assert "split now" in text.stdout

        # -c with another config: refused, not mixed
        p = run_explain(meshlet_bin, "-c", local, "-n", "shop", "--admin", admin, "GET", url,
                        "-H", "Host: api.example.com")
        assert p.returncode == 6, (p.stdout, p.stderr)
        assert p.stdout == ""
        assert "refused: the local config (-c) is not the one the proxy" in p.stderr
        assert f"runs config version {dump['version']} (digest {dump['digest']})" in p.stderr
        # -c with the same config (another copy, same bytes): agreed, the proxy explains
        copy = tmp_path / "copy"
        copy.mkdir()
        (copy / "other-name.yaml").write_text((running / "c.yaml").read_text())
        p = run_explain(meshlet_bin, "-c", copy, "-n", "shop", "--admin", admin, "GET", url,
                        "-H", "Host: api.example.com")
        assert p.returncode == 0, p.stderr
        assert "50.0%  orders subset v1" in p.stdout
        # the namespace is part of the config: -n default reads the files differently
        p = run_explain(meshlet_bin, "-c", copy, "--admin", admin, "GET", url)
        assert p.returncode == 6, p.stderr

        # the outcome's exit status comes back from the proxy too
        assert run_explain(meshlet_bin, "--admin", admin, "GET", f"http://127.0.0.1:{gw}/nope",
                           "-H", "Host: api.example.com").returncode == 3
        p = run_explain(meshlet_bin, "--admin", admin, "--gateway", "shop/nope", "GET", url)
        assert p.returncode == 4, p.stdout
        assert "no listener serves Gateway shop/nope" in p.stdout and "shop/edge" in p.stdout
        p = run_explain(meshlet_bin, "--admin", admin, "--mesh", "GET", "http://orders/orders/1",
                        "-H", "x-canary: true")
        assert p.returncode == 0 and "listener: mesh" in p.stdout and "subset v2" in p.stdout
    finally:
        assert m.stop() == 0, m.logs()
        v1.stop()
        v2.stop()


def test_admin_explain_endpoint(meshlet_bin, tmp_path):
    """GET /explain on the admin port: the same report, for curl users."""
    gw = free_port()
    (tmp_path / "c.yaml").write_text(canary_config(gw, 19991, 19992))
    m = Meshlet(meshlet_bin, tmp_path, workers=2, extra=("--namespace", "shop")).start()
    try:
        q = urllib.parse.urlencode([("method", "GET"), ("url", f"http://127.0.0.1:{gw}/x"),
                                    ("header", "Host: api.example.com"),
                                    ("header", "x-canary: true")])
        text = m.admin(f"/explain?{q}")
        assert "route 0 'canary-header' (shop/orders rule 0): matched" in text
        doc = json.loads(m.admin(f"/explain?{q}&format=json"))
        assert doc["route"]["name"] == "canary-header" and doc["outcome"] == "routed"
        q = urllib.parse.urlencode([("url", f"http://api.example.com:{gw}/orders/1")])
        doc = json.loads(m.admin(f"/explain?{q}&format=json"))
        assert len(doc["splitNow"]) == 2  # one per worker
        with pytest.raises(urllib.error.HTTPError) as e:
            m.admin("/explain?method=GET")
        assert e.value.code == 400 and b"usage: GET /explain?" in e.value.read()
        with pytest.raises(urllib.error.HTTPError) as e:
            m.admin(f"/explain?{q}&digest=0123456789abcdef")
        assert e.value.code == 409

        # answered or refused, every /explain gives back its fd and memory
        def fds():
            """The admin's open fds once it has closed every connection: the last request
            is read to the admin's close (urllib returns at the body's end, and the fd of
            its connection may still be open then: 19 -> 18 in a flaky run)."""
            with socket.create_connection(("127.0.0.1", m.admin_port), timeout=10) as s:
                s.sendall(b"GET /ready HTTP/1.1\r\nHost: admin\r\n\r\n")
                while s.recv(65536):
                    pass
            return len(os.listdir(f"/proc/{m.proc.pid}/fd"))

        def rss_kb():
            status = open(f"/proc/{m.proc.pid}/status").read()
            return int(re.search(r"VmRSS:\s+(\d+) kB", status).group(1))

        for _ in range(50):  # warm: allocator caches filled
            m.admin(f"/explain?{q}&format=json")
        fds0, rss0 = fds(), rss_kb()
        for i in range(500):
            try:
                m.admin(f"/explain?{q}&format=json" if i % 3 else "/explain?url=http%2")
            except urllib.error.HTTPError as e:
                assert e.code == 400
        assert fds() == fds0
        # (sanitizers keep freed memory in quarantine: RSS says nothing there)
        sanitized = re.search(rb"__[at]san_init", open(meshlet_bin, "rb").read())
        assert sanitized or rss_kb() - rss0 < 2048, (rss0, rss_kb())
        print(f"fds {fds0} -> {fds()}, VmRSS {rss0} -> {rss_kb()} kB over 500 /explain")
    finally:
        assert m.stop() == 0, m.logs()


def test_explain_admin_names_a_sidecars_inbound_route(meshlet_bin, tmp_path):
    (tmp_path / "pa.yaml").write_text("""\
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: shop}
spec: {mtls: {mode: DISABLE}}
""")
    port = free_port()
    m = Meshlet(meshlet_bin, tmp_path, extra=("--namespace", "shop", "--inbound",
                                              f"{port}=127.0.0.1:{free_port()}")).start()
    try:
        p = run_explain(meshlet_bin, "--admin", f"127.0.0.1:{m.admin_port}", "GET",
                        f"http://127.0.0.1:{port}/x")
        assert p.returncode == 0, p.stdout + p.stderr
        assert "route 0 'inbound' (the sidecar's route to its app): matched" in p.stdout
        assert "( rule" not in p.stdout
    finally:
        assert m.stop() == 0, m.logs()
