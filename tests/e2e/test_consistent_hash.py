# SPDX-License-Identifier: Apache-2.0
"""Consistent hashing by the DestinationRule's consistentHash (spec §4.5): by header, cookie
(generated when absent and a ttl is set), source IP and query parameter, on ring hash and
Maglev. Each user stays on one endpoint; many users spread over all of them; a request
without the hash input is balanced at random."""
import http.client
import json
import re

import pytest

from backend import Backend
from configs import gateway, service_entry
from meshlet_proc import free_port, serving

POLICIES = {
    "header": "{httpHeaderName: x-user}",
    "maglev": "{httpHeaderName: x-user, maglev: {tableSize: 65537}}",
    "cookie": "{httpCookie: {name: session, ttl: 60s, path: /}}",
    "sessioncookie": "{httpCookie: {name: sid, ttl: 0s}}",
    "nottl": "{httpCookie: {name: sid}}",
    "attrs": "{httpCookie: {name: c, ttl: 1.5s, attributes: [{name: SameSite, value: Strict}, "
             "{name: Secure}]}}",
    "sourceip": "{useSourceIp: true}",
    "query": "{httpQueryParameterName: user}",
}


def hash_config(gw_port, ports):
    docs = [gateway(gw_port)]
    for name, policy in POLICIES.items():
        docs.append(service_entry(name, "shop", [(p, {}) for p in ports]))
        docs.append(f"""\
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: {name}, namespace: shop}}
spec:
  host: {name}
  trafficPolicy:
    loadBalancer:
      consistentHash: {policy}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: {name}, namespace: shop}}
spec:
  hosts: [{name}.example.com]
  gateways: [edge]
  http:
  - route: [{{destination: {{host: {name}}}}}]
""")
    return "---\n".join(docs)


@pytest.fixture(scope="module")
def proxy(meshlet_bin, tmp_path_factory):
    backends = [Backend(f"e{i}").start() for i in range(4)]
    gw = free_port()
    with serving(meshlet_bin, tmp_path_factory.mktemp("hash"),
                 hash_config(gw, [b.port for b in backends]), backends, workers=2) as m:
        m.gw_port = gw
        yield m


def served_by(port, service, path="/", headers=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    h = {"Host": f"{service}.example.com"}
    h.update(headers or {})
    c.request("GET", path, headers=h)
    r = c.getresponse()
    data = r.read()
    c.close()
    assert r.status == 200, data
    return json.loads(data)["version"], r


@pytest.mark.parametrize("service", ["header", "maglev"])
def test_each_user_stays_on_one_endpoint_and_users_spread(proxy, service):
    for user in range(20):
        seen = {served_by(proxy.gw_port, service, headers={"x-user": f"user-{user}"})[0]
                for _ in range(100)}
        assert len(seen) == 1, f"user-{user} served by {seen}"
    # The ring moves with the endpoints' (random) ports: 80 users over 4 endpoints leave one
    # empty with odds of 4 x (3/4)^80, about 4e-10 (20 users: 1.3%, which did happen).
    homes = {u: served_by(proxy.gw_port, service, headers={"x-user": f"user-{u}"})[0]
             for u in range(80)}
    assert len(set(homes.values())) == 4, homes


def test_without_the_header_requests_spread(proxy):
    seen = {served_by(proxy.gw_port, "header")[0] for _ in range(80)}
    assert len(seen) >= 3


def test_cookie_is_generated_then_keeps_the_user(proxy):
    version, r = served_by(proxy.gw_port, "cookie")
    cookie = r.getheader("set-cookie")
    m = re.fullmatch(r'session="([0-9a-f]{16})"; Max-Age=60; Path=/; HttpOnly', cookie or "")
    assert m, cookie
    value = m.group(1)
    # The generated cookie's own hash chose the endpoint: sending it back lands there again.
    for _ in range(50):
        v, r2 = served_by(proxy.gw_port, "cookie", headers={"Cookie": f"a=b; session={value}"})
        assert v == version
        assert r2.getheader("set-cookie") is None


def test_cookie_users_spread(proxy):
    homes = {served_by(proxy.gw_port, "cookie", headers={"Cookie": f"session=u{i}"})[0]
             for i in range(40)}
    assert len(homes) == 4


def test_zero_ttl_makes_a_session_cookie_and_no_ttl_none(proxy):
    _, r = served_by(proxy.gw_port, "sessioncookie")
    assert re.fullmatch(r'sid="[0-9a-f]{16}"; HttpOnly', r.getheader("set-cookie") or "")
    _, r = served_by(proxy.gw_port, "nottl")
    assert r.getheader("set-cookie") is None


def test_generated_cookie_carries_whole_seconds_and_the_attributes(proxy):
    _, r = served_by(proxy.gw_port, "attrs")
    cookie = r.getheader("set-cookie") or ""
    assert re.fullmatch(r'c="[0-9a-f]{16}"; Max-Age=1; SameSite=Strict; Secure; HttpOnly',
                        cookie), cookie


def test_source_ip_pins_this_client(proxy):
    seen = {served_by(proxy.gw_port, "sourceip")[0] for _ in range(60)}
    assert len(seen) == 1  # every test client is 127.0.0.1


def test_query_parameter_keys_the_user(proxy):
    homes = {}
    for user in range(20):
        seen = {served_by(proxy.gw_port, "query", path=f"/x?a=1&user={user}&user=other")[0]
                for _ in range(20)}
        assert len(seen) == 1
        homes[user] = seen.pop()
    assert len(set(homes.values())) >= 3


def test_repeated_header_values_hash_in_any_order(proxy):
    def home(values):
        c = http.client.HTTPConnection("127.0.0.1", proxy.gw_port, timeout=10)
        c.putrequest("GET", "/", skip_host=True, skip_accept_encoding=True)
        c.putheader("Host", "header.example.com")
        for v in values:
            c.putheader("x-user", v)
        c.endheaders()
        r = c.getresponse()
        data = json.loads(r.read())
        c.close()
        return data["version"]

    homes = set()
    for user in range(12):
        a, b = f"team-{user}", f"user-{user}"
        forward = {home([a, b]) for _ in range(5)}
        backward = {home([b, a]) for _ in range(5)}
        assert len(forward) == 1 and forward == backward  # Envoy sorts the values first
        homes |= forward
    assert len(homes) >= 2
