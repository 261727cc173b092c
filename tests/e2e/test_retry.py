# SPDX-License-Identifier: Apache-2.0
"""Retries (spec §3.8): a failed try is retried on another endpoint when the route's policy
(or Istio's default: 2 retries on connect failure, no status codes since Istio 1.24) says
so; every try carries x-envoy-attempt-count; when tries run out the last answer goes to the
client; `attempts: 0` disables retries."""
import http.client
import json
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from backend import Backend
from configs import edge_routes, gateway, service_entry
from meshlet_proc import free_port, serving


def retry_config(gw_port, good, bad, dead, slow):
    def rule(prefix, host, retries=None):
        extra = f"\n    retries: {retries}" if retries else ""
        return f"""\
  - match: [{{uri: {{prefix: {prefix}}}}}]
    route: [{{destination: {{host: {host}}}}}]{extra}"""
    return "---\n".join([
        gateway(gw_port),
        service_entry("half-broken", "shop", [(good, {}), (bad, {})]),
        service_entry("half-dead", "shop", [(good, {}), (dead, {})]),
        service_entry("broken", "shop", [(bad, {})]),
                service_entry("slow-only", "shop", [(slow, {})]),
        service_entry("hash-broken", "shop", [(good, {}), (bad, {})]),
        """\
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: hash-broken, namespace: shop}
spec:
  host: hash-broken
  trafficPolicy: {loadBalancer: {consistentHash: {httpHeaderName: x-user}}}
""",
        service_entry("half-slow", "shop", [(good, {}), (slow, {})]),
        edge_routes("retry", f"""\
{rule("/on-5xx", "half-broken", "{attempts: 2, retryOn: 5xx}")}
{rule("/on-503", "half-broken", '{attempts: 2, retryOn: "503"}')}
{rule("/default-503", "half-broken")}
{rule("/default-dead", "half-dead")}
{rule("/off-dead", "half-dead", "{attempts: 0}")}
{rule("/exhausted", "broken", "{attempts: 2, retryOn: gateway-error}")}
{rule("/per-try/", "half-slow", "{attempts: 2, perTryTimeout: 150ms, retryOn: reset}")}
{rule("/slow-504", "half-slow", "{attempts: 2, perTryTimeout: 150ms, retryOn: 409}")}
{rule("/hashed", "hash-broken", "{attempts: 2, retryOn: 5xx}")}
{rule("/capped", "slow-only", "{attempts: 10, perTryTimeout: 200ms, retryOn: 5xx}")}
    timeout: 1s
{rule("/rescued", "half-slow", "{attempts: 10, perTryTimeout: 200ms, retryOn: 5xx}")}
    timeout: 1s
""")])


@pytest.fixture(scope="module")
def proxy(meshlet_bin, tmp_path_factory):
    good, bad = Backend("good").start(), Backend("bad", fail_status=503).start()
    slow = Backend("slow", delay_ms=1000).start()
    gw = free_port()
    config = retry_config(gw, good.port, bad.port, free_port(), slow.port)
    with serving(meshlet_bin, tmp_path_factory.mktemp("retry"), config, [good, bad, slow]) as m:
        m.gw_port, m.good, m.bad = gw, good, bad
        yield m


def statuses(proxy, prefix, n):
    c = http.client.HTTPConnection("127.0.0.1", proxy.gw_port, timeout=10)
    out = []
    for i in range(n):
        c.request("GET", f"{prefix}/{i}", headers={"Host": "api.example.com"})
        r = c.getresponse()
        r.read()
        out.append(r.status)
    c.close()
    return out


def hits(backend, prefix):
    return [a for p, a in zip(backend.hits, backend.attempts) if p.startswith(prefix)]


def test_5xx_is_retried_on_the_other_endpoint(proxy):
    # 2,000 requests from 4 clients at once (back-off makes one client slow).
    with ThreadPoolExecutor(4) as pool:
        runs = list(pool.map(lambda k: statuses(proxy, f"/on-5xx/{k}", 500), range(4)))
    assert sum(runs, []) == [200] * 2000
    bad = hits(proxy.bad, "/on-5xx")
    good = hits(proxy.good, "/on-5xx")
    assert bad.count("1") > 300  # the broken endpoint really was tried first, often
    assert bad.count("1") + good.count("1") == 2000  # one first try per request
    assert len(good) == 2000  # every request ended on the good endpoint
    # A retry goes to an endpoint not yet tried whenever one exists.
    assert bad.count("2") == 0


def test_status_code_in_retry_on(proxy):
    assert statuses(proxy, "/on-503", 100) == [200] * 100


def test_default_policy_does_not_retry_a_503(proxy):
    codes = statuses(proxy, "/default-503", 100)
    assert codes.count(503) == len(hits(proxy.bad, "/default-503")) > 10


def test_default_policy_retries_connect_failures(proxy):
    assert statuses(proxy, "/default-dead", 200) == [200] * 200


def test_attempts_zero_disables_retries(proxy):
    codes = statuses(proxy, "/off-dead", 200)
    assert 503 in codes and 200 in codes


def test_when_tries_run_out_the_last_answer_goes_through(proxy):
    assert statuses(proxy, "/exhausted", 20) == [503] * 20
    tries = hits(proxy.bad, "/exhausted")
    assert len(tries) == 60  # 1 + 2 retries each
    assert sorted(set(tries)) == ["1", "2", "3"]


def test_per_try_timeout_retries_a_slow_endpoint(proxy):
    # The slow endpoint answers after 1 s; each try may take 150 ms, then it is cut and,
    # as a reset, retried on the other endpoint.
    assert statuses(proxy, "/per-try", 20) == [200] * 20
    assert len(hits(proxy.good, "/per-try/")) == 20


def test_per_try_timeout_without_a_reset_condition_is_504(proxy):
    codes = statuses(proxy, "/slow-504", 20)
    assert set(codes) <= {200, 504} and 504 in codes


def post(proxy, path, body, chunked=False):
    c = http.client.HTTPConnection("127.0.0.1", proxy.gw_port, timeout=20)
    headers = {"Host": "api.example.com"}
    if chunked:
        c.request("POST", path, body=iter([body[:7], body[7:]]), headers=headers,
                  encode_chunked=True)
    else:
        c.request("POST", path, body=body, headers=headers)
    r = c.getresponse()
    out = r.status, r.read()
    c.close()
    return out


def test_a_request_body_is_sent_again_on_retry(proxy):
    for i in range(30):
        body = f"order number {i} " * 20
        status, answer = post(proxy, f"/on-5xx/body/{i}", body.encode(), chunked=i % 2 == 1)
        assert status == 200
        assert json.loads(answer)["body"] == body
    tried_bad = [a for a in hits(proxy.bad, "/on-5xx/body/")]
    assert tried_bad.count("1") > 5  # retried after the broken endpoint read the body


def test_a_body_past_the_buffer_limit_is_not_retried(proxy):
    small = post(proxy, "/exhausted-small/1", b"x" * 1000)
    big = post(proxy, "/exhausted-big/1", b"x" * (2 << 20))
    assert small[0] == big[0] == 503
    assert len(hits(proxy.bad, "/exhausted-small/")) == 3
    assert len(hits(proxy.bad, "/exhausted-big/")) == 1


def test_the_route_timeout_caps_every_try(proxy):
    # Tries of 200 ms against an endpoint that needs 1 s: 504 when the route's 1 s runs
    # out, not later (the timer wheel's tick is 8 ms; the bound leaves room for slow CI).
    c = http.client.HTTPConnection("127.0.0.1", proxy.gw_port, timeout=10)
    start = time.monotonic()
    c.request("GET", "/capped/1", headers={"Host": "api.example.com"})
    r = c.getresponse()
    r.read()
    elapsed = time.monotonic() - start
    assert r.status == 504
    assert 1.0 <= elapsed < 1.3, elapsed
    # With a good endpoint beside the slow one, a retry's answer comes in time.
    assert statuses(proxy, "/rescued", 10) == [200] * 10


def test_a_retry_keeps_the_endpoint_the_hash_chose(proxy):
    # Consistent hashing decides every try (Envoy: no previous-hosts re-pick under a hash):
    # a user whose key lands on the broken endpoint gets its three tries there, then 503.
    c = http.client.HTTPConnection("127.0.0.1", proxy.gw_port, timeout=10)
    codes = {}
    for u in range(24):
        c.request("GET", f"/hashed/{u}/", headers={"Host": "api.example.com", "x-user": f"u{u}"})
        r = c.getresponse()
        r.read()
        codes[u] = r.status
    c.close()
    for u, code in codes.items():
        on_bad = len(hits(proxy.bad, f"/hashed/{u}/"))
        assert (code, on_bad) in ((200, 0), (503, 3)), (u, code, on_bad)
    assert 200 in codes.values() and 503 in codes.values()
