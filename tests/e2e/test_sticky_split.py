# SPDX-License-Identifier: Apache-2.0
"""Sticky canary split (issue 16): a VirtualService annotated meshlet.io/sticky-split sends
each user (a header or a cookie) to the destination whose weight interval holds
hash(user). Over a 10 -> 50 -> 100 rollout done by rewriting the file, no user goes back
from the canary to stable, every user sees one version at a given weight, and the share
of users on the canary is within binomial bounds of its weight. Requests without the key
keep the exact smooth split; HTTP/2 agrees with HTTP/1.1; a bad annotation fails `meshlet
check` at its position and a running proxy keeps its last good config."""
import http.client
import json
import re
import subprocess

import pytest

from backend import Backend
from configs import gateway, service_entry, subsets_rule
from meshlet import run
from meshlet_proc import Meshlet, eventually, free_port

AUTH = "api.example.com"
USERS = 1200


def binomial_ok(k, n, p, sigmas=5):
    """<k> successes of <n> trials lie within <sigmas> standard deviations of p * n."""
    return abs(k - n * p) <= sigmas * (n * p * (1 - p)) ** 0.5


def config(gw, v1, v2, canary, annotation='"header:x-user"'):
    """Gateway, registry, subsets and a VirtualService whose route "split" sends
    <canary>% to v2, with the sticky-split annotation <annotation> (YAML, as written)."""
    return "---\n".join([
        gateway(gw),
        service_entry("orders", "shop", [(v1, {"version": "v1"}), (v2, {"version": "v2"})]),
        subsets_rule("orders", "shop", ["v1", "v2"]),
        f"""\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: orders
  namespace: shop
  annotations:
    meshlet.io/sticky-split: {annotation}
spec:
  hosts: [{AUTH}]
  gateways: [edge]
  http:
  - name: split
    route:
    - destination: {{host: orders, subset: v1}}
      weight: {100 - canary}
    - destination: {{host: orders, subset: v2}}
      weight: {canary}
"""])


@pytest.fixture
def sticky(meshlet_bin, tmp_path):
    """meshlet (two workers) on the sticky config at 10% canary; set(canary, annotation)
    rewrites the file and waits for the new config version."""
    v1, v2 = Backend("v1").start(), Backend("v2").start()
    gw = free_port()
    conf = tmp_path / "config.yaml"
    conf.write_text(config(gw, v1.port, v2.port, 10))
    m = Meshlet(meshlet_bin, tmp_path, workers=2, extra=("-n", "shop")).start()
    m.gw, m.conf, m.v1, m.v2 = gw, conf, v1, v2

    def set_weights(canary, annotation='"header:x-user"'):
        before = stats(m)["server.config_version"]
        conf.write_text(config(gw, v1.port, v2.port, canary, annotation))
        assert eventually(lambda: stats(m)["server.config_version"] != before, 10), m.logs()

    m.set = set_weights
    yield m
    code = m.stop()
    v1.stop()
    v2.stop()
    assert code == 0, m.logs()


def stats(m):
    return dict(line.split(": ", 1) for line in m.admin("/stats").splitlines())


class Client:
    """Keep-alive HTTP/1.1 connections to the gateway, used in turn (so both workers serve)."""

    def __init__(self, port, n=4):
        self.conns = [http.client.HTTPConnection("127.0.0.1", port, timeout=10) for _ in range(n)]
        self.i = 0

    def version(self, headers=None):
        c = self.conns[self.i % len(self.conns)]
        self.i += 1
        c.request("GET", "/orders", headers={"Host": AUTH, **(headers or {})})
        r = c.getresponse()
        body = r.read()
        assert r.status == 200, (r.status, body)
        return json.loads(body)["version"]

    def close(self):
        for c in self.conns:
            c.close()


def versions_of_users(port, key):
    """Each of USERS users, twice (on different connections): their version. Both requests
    of a user must agree."""
    client = Client(port)
    try:
        seen = {}
        for rnd in range(2):
            for u in range(USERS):
                v = client.version(key(f"user-{u}"))
                if rnd:
                    assert seen[u] == v, f"user-{u} got {seen[u]} then {v}"
                seen[u] = v
        return seen
    finally:
        client.close()


def rollout(m, key, annotation):
    """10 -> 50 -> 100 on <m>: per step the users' versions; checks no one moves back."""
    previous = None
    for canary in (10, 50, 100):
        if canary != 10 or annotation != '"header:x-user"':
            m.set(canary, annotation)
        seen = versions_of_users(m.gw, key)
        on_canary = sum(v == "v2" for v in seen.values())
        if canary == 100:
            assert on_canary == USERS
        else:
            assert binomial_ok(on_canary, USERS, canary / 100), (canary, on_canary)
        if previous:
            back = [u for u in seen if previous[u] == "v2" and seen[u] == "v1"]
            assert back == [], f"{len(back)} user(s) went back to stable at {canary}%"
        previous = seen


def test_header_users_only_move_to_the_canary(sticky):
    rollout(sticky, lambda user: {"x-user": user}, '"header:x-user"')


def test_cookie_users_only_move_to_the_canary(sticky):
    rollout(sticky, lambda user: {"Cookie": f"theme=dark; uid={user}"}, '"split=cookie:uid"')


def test_without_the_key_the_split_stays_exact(sticky):
    """Keyless requests take the smooth weighted round robin, untouched by keyed requests
    between them: per worker the count on v2 is within one request of 10%, so with two
    workers 300 keyless requests give 30 +- 1 on v2."""
    client = Client(sticky.gw)
    try:
        keyless = []
        for i in range(200):
            keyless.append(client.version())
            client.version({"x-user": f"user-{i}"})  # keyed, in between
        for _ in range(100):  # an empty key is no key
            keyless.append(client.version({"x-user": ""}))
    finally:
        client.close()
    assert abs(keyless.count("v2") - 30) <= 1, keyless.count("v2")


def curl_h2(port, *headers):
    args = ["curl", "-sS", "--http2-prior-knowledge", "-H", f"Host: {AUTH}"]
    for h in headers:
        args += ["-H", h]
    out = subprocess.run([*args, f"http://127.0.0.1:{port}/orders"], capture_output=True,
                         text=True, timeout=10, check=True).stdout
    return json.loads(out)["version"]


def test_http2_users_get_the_same_version_as_over_http1(sticky):
    sticky.set(50)
    client = Client(sticky.gw)
    try:
        for u in range(40):
            v = client.version({"x-user": f"user-{u}"})
            assert curl_h2(sticky.gw, f"x-user: user-{u}") == v
            assert curl_h2(sticky.gw, f"X-User: user-{u}") == v
    finally:
        client.close()
    sticky.set(50, '"cookie:uid"')
    client = Client(sticky.gw)
    try:
        for u in range(40):
            v = client.version({"Cookie": f"uid=user-{u}"})
            # HTTP/2 may carry each cookie in a field of its own (RFC 9113 §8.2.3)
            assert curl_h2(sticky.gw, "cookie: a=1", f"cookie: uid=user-{u}") == v
    finally:
        client.close()


def test_splits_and_config_dump_say_sticky(sticky):
    client = Client(sticky.gw)
    try:
        for u in range(30):
            client.version({"x-user": f"user-{u}"})
    finally:
        client.close()
    text = sticky.admin("/splits")
    assert "sticky on header x-user" in text, text
    doc = json.loads(sticky.admin("/splits?format=json"))
    route = [r for r in doc["routes"] if r["name"] == "split"][0]
    assert route["sticky"] == {"source": "header", "name": "x-user"}
    assert route["requests"] == 30
    dump = json.loads(sticky.admin("/config_dump"))
    assert '"sticky":{"source":"header","name":"x-user"}' in json.dumps(dump, separators=(",", ":"))


def test_bad_annotation_fails_check_and_the_proxy_keeps_its_config(sticky, meshlet_bin, tmp_path):
    client = Client(sticky.gw)
    try:
        before = {u: client.version({"x-user": f"user-{u}"}) for u in range(50)}
    finally:
        client.close()
    bad = config(sticky.gw, sticky.v1.port, sticky.v2.port, 90, '"header:x user"')
    other = tmp_path / "check"
    other.mkdir()
    (other / "bad.yaml").write_text(bad)
    r = run(meshlet_bin, "check", other)
    assert r.code != 0, r
    # the annotation's line, and the column of the space in "header:x user"
    lines = bad.splitlines()
    line = next(i for i, t in enumerate(lines, 1) if "sticky-split" in t)
    col = lines[line - 1].index('"header:x user"') + 1 + len('"header:x')
    pos = f"bad.yaml:{line}:{col}"
    assert pos in r.out and "metadata.annotations[meshlet.io/sticky-split]" in r.out, r
    assert "not allowed in a header name: ' '" in r.out, r

    failures = int(stats(sticky).get("server.reload_failure", "0"))
    sticky.conf.write_text(bad)
    assert eventually(lambda: int(stats(sticky)["server.reload_failure"]) > failures, 10)
    assert "sticky-split" in sticky.logs()
    client = Client(sticky.gw)
    try:
        after = {u: client.version({"x-user": f"user-{u}"}) for u in range(50)}
    finally:
        client.close()
    assert after == before  # still 10% and sticky, not the 90% of the refused file
    assert re.search(r"sticky on header x-user", sticky.admin("/splits"))


def test_explain_names_the_key_and_the_users_destination(sticky, meshlet_bin):
    sticky.set(50)
    client = Client(sticky.gw)
    try:
        for u in range(10):
            served = client.version({"x-user": f"user-{u}"})
            r = run(meshlet_bin, "explain", "-c", sticky.conf, "-n", "shop", "-o", "json", "GET",
                    f"http://{AUTH}:{sticky.gw}/orders", "-H", f"x-user: user-{u}")
            assert r.code == 0, r
            doc = r.json()["sticky"]
            assert doc["source"] == "header" and doc["name"] == "x-user"
            assert doc["key"] == f"user-{u}"
            assert doc["destination"]["subset"] == served
    finally:
        client.close()
    r = run(meshlet_bin, "explain", "-c", sticky.conf, "-n", "shop", "GET",
            f"http://{AUTH}:{sticky.gw}/orders", "-H", "x-user: user-1")
    assert re.search(r'sticky split on header x-user: user "user-1" -> orders subset v[12]', r.out)
    r = run(meshlet_bin, "explain", "-c", sticky.conf, "-n", "shop", "GET",
            f"http://{AUTH}:{sticky.gw}/orders")
    assert "sticky split on header x-user: the request has no x-user header" in r.out, r
    assert "no key: weighted round robin" in r.out, r
    # the running proxy's own GET /explain says the same
    doc = json.loads(sticky.admin(f"/explain?method=GET&url=http%3A%2F%2F{AUTH}%3A{sticky.gw}"
                                  "%2Forders&header=x-user%3Auser-1&format=json"))
    assert doc["sticky"]["key"] == "user-1"
