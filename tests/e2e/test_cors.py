# SPDX-License-Identifier: Apache-2.0
"""CORS (spec §3.15, example E60) with Istio's own cors-policy test config, served on the mesh
listener: an allowed preflight is answered by the proxy, an unmatched one is forwarded (or
answered bare with unmatchedPreflights IGNORE), and actual requests from an allowed origin
get the CORS response headers."""
import http.client
import json

import pytest

from backend import Backend
from meshlet_proc import serving

IGNORE_VS = """\
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: strict, namespace: testns}
spec:
  hosts: [strict.test.istio.io]
  ports: [{number: 80, name: http, protocol: HTTP}]
  resolution: STATIC
  endpoints: [{address: 127.0.0.1, ports: {http: PORT}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: strict, namespace: testns}
spec:
  hosts: [strict.test.istio.io]
  http:
  - route: [{destination: {host: strict.test.istio.io}}]
    corsPolicy:
      allowOrigins: [{prefix: "https://app."}]
      allowMethods: [GET]
      unmatchedPreflights: IGNORE
"""


@pytest.fixture(scope="module")
def proxy(meshlet_bin, samples, tmp_path_factory):
    backend = Backend("cors").start()
    text = (samples / "testdata-config-rule-default-route-cors-policy.yaml").read_text()
    # The sample's endpoint is 127.0.0.2:7072; this machine's tests use 127.0.0.1 only.
    text = text.replace("127.0.0.2", "127.0.0.1").replace("7072", str(backend.port))
    text += IGNORE_VS.replace("PORT", str(backend.port))
    with serving(meshlet_bin, tmp_path_factory.mktemp("cors"), text, [backend],
                 namespace="testns") as m:
        m.backend = backend
        yield m


def send(proxy, method, headers, host="cors.test.istio.io"):
    c = http.client.HTTPConnection("127.0.0.1", proxy.mesh_port, timeout=10)
    h = {"Host": host}
    h.update(headers)
    c.request(method, "/api", headers=h)
    r = c.getresponse()
    data = r.read()
    c.close()
    return r, data


def test_allowed_preflight_is_answered_by_the_proxy(proxy):
    before = len(proxy.backend.hits)
    r, data = send(proxy, "OPTIONS", {"Origin": "http://foo.example",
                                      "Access-Control-Request-Method": "POST"})
    assert r.status == 200 and data == b""
    assert r.getheader("access-control-allow-origin") == "http://foo.example"
    assert r.getheader("access-control-allow-methods") == "POST,GET,OPTIONS"
    assert r.getheader("access-control-allow-headers") == "content-type"
    assert r.getheader("access-control-max-age") == "300"
    assert r.getheader("access-control-allow-credentials") == "true"
    assert len(proxy.backend.hits) == before  # the upstream never saw it


def test_unmatched_preflight_is_forwarded_without_cors_headers(proxy):
    before = len(proxy.backend.hits)
    r, data = send(proxy, "OPTIONS", {"Origin": "http://evil.example",
                                      "Access-Control-Request-Method": "POST"})
    assert r.status == 200 and json.loads(data)["method"] == "OPTIONS"
    assert r.getheader("access-control-allow-origin") is None
    assert len(proxy.backend.hits) == before + 1


def test_actual_request_from_allowed_origin_gets_cors_headers(proxy):
    r, data = send(proxy, "GET", {"Origin": "http://foo.example"})
    assert r.status == 200 and json.loads(data)["version"] == "cors"
    assert r.getheader("access-control-allow-origin") == "http://foo.example"
    assert r.getheader("access-control-allow-credentials") == "true"
    assert r.getheader("access-control-expose-headers") == "x-custom-header"
    assert r.getheader("access-control-allow-methods") is None  # preflight only


def test_other_origins_and_no_origin_get_none(proxy):
    for headers in ({"Origin": "http://evil.example"}, {}):
        r, _ = send(proxy, "GET", headers)
        assert r.status == 200
        assert r.getheader("access-control-allow-origin") is None


def test_ignore_answers_unmatched_preflights_bare(proxy):
    before = len(proxy.backend.hits)
    r, _ = send(proxy, "OPTIONS", {"Origin": "https://other.example",
                                   "Access-Control-Request-Method": "GET"},
                host="strict.test.istio.io")
    assert r.status == 200
    assert r.getheader("access-control-allow-origin") is None
    assert len(proxy.backend.hits) == before
    r, _ = send(proxy, "OPTIONS", {"Origin": "https://app.example",
                                   "Access-Control-Request-Method": "GET"},
                host="strict.test.istio.io")
    assert r.getheader("access-control-allow-origin") == "https://app.example"
    assert r.getheader("access-control-allow-methods") == "GET"
    assert r.getheader("access-control-max-age") is None
