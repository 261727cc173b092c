# SPDX-License-Identifier: Apache-2.0
"""`refused-stream` (issue 14): an HTTP/2 upstream that turns a request away unprocessed,
by RST_STREAM(REFUSED_STREAM) or by a GOAWAY whose last stream id is below the request's,
costs a retry, not a client error: Istio's default retry policy (2 attempts on
connect-failure,refused-stream,...) covers it, and so do `refused-stream`, `reset` and `5xx`
in retryOn; a policy without any of them (or with no attempts) answers 503 with the reset
reason. Backends: tests/e2e/lib/h2backend.py with `refuse`."""
import json

import pytest

from configs import edge_routes, gateway
from h2backend import H2Backend
from meshlet_proc import free_port, serving
from test_h2_upstream import curl, h2_service

ROUTES = """\
  - match: [{uri: {prefix: /none}}]
    route: [{destination: {host: orders}}]
    retries: {attempts: 0}
  - match: [{uri: {prefix: /conflict-only}}]
    route: [{destination: {host: orders}}]
    retries: {attempts: 2, retryOn: retriable-4xx}
  - match: [{uri: {prefix: /refused-stream}}]
    route: [{destination: {host: orders}}]
    retries: {attempts: 2, retryOn: refused-stream}
  - match: [{uri: {prefix: /reset}}]
    route: [{destination: {host: orders}}]
    retries: {attempts: 2, retryOn: reset}
  - route: [{destination: {host: orders}}]
"""


@pytest.mark.parametrize("by", ["rst", "goaway"])
@pytest.mark.parametrize("path,retried", [("/default", True), ("/refused-stream", True),
                                          ("/reset", True), ("/none", False),
                                          ("/conflict-only", False)])
def test_a_refused_request_is_retried_as_policy_says(meshlet_bin, tmp_path, by, path, retried):
    b = H2Backend("v1", refuse=1, refuse_by=by).start()
    gw = free_port()
    config = "---\n".join([gateway(gw), h2_service("orders", [(b.port, None)]),
                           edge_routes("routes", ROUTES)])
    with serving(meshlet_bin, tmp_path, config, [b]):
        code, body = curl(gw, path + "/x", "--http2-prior-knowledge")
        assert b.refused == 1
        if retried:
            assert code == 200, body
            seen = json.loads(body)
            assert seen["path"] == path + "/x" and seen["headers"]["x-envoy-attempt-count"] == "2"
            # A GOAWAY ends the connection: the retry opens a new one.
            assert b.connections == (2 if by == "goaway" else 1)
            assert b.hits == [path + "/x"]  # processed once, by the retry
        else:
            assert code == 503, body
            assert b"reset reason: remote refused stream reset" in body, body
            assert b.hits == []
        # The next request is served at once, on a connection that takes streams.
        code, _ = curl(gw, path + "/after", "--http2-prior-knowledge")
        assert code == 200
