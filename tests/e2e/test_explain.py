# SPDX-License-Identifier: Apache-2.0
"""`meshlet explain`: the route a request takes and why, and agreement with what
`meshlet run` actually does with the same config, request by request."""
import http.client
import json
import random
import subprocess

import pytest

from backend import Backend
from configs import canary_config
from meshlet_proc import Meshlet, free_port


def explain(binary, config_dir, method, url, *headers, json_out=False):
    args = [binary, "explain", "-c", str(config_dir), "-n", "shop"]
    for h in headers:
        args += ["-H", h]
    if json_out:
        args += ["-o", "json"]
    p = subprocess.run(args + [method, url], capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr
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
    out = explain(meshlet_bin, d, "GET", f"http://api.example.com:{gw}/nowhere")
    assert "404 NR: no route of this virtual host matches the request" in out
    out = explain(meshlet_bin, d, "GET", f"http://other.domain:{gw}/orders")
    assert "404 NR: no virtual host for other.domain" in out
    out = explain(meshlet_bin, d, "GET", f"http://api.example.com:{gw}/v3/x")
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
                          *headers, json_out=True)
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
    out = explain(meshlet_bin, d, "GET", "http://orders/orders/1", "x-canary: true")
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
