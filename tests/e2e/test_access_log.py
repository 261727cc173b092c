# SPDX-License-Identifier: Apache-2.0
"""The access log (issue 7): one line per request, JSON with Istio's field names by
default or Envoy's text format; the fields of a plain, a retried and an ejected request
(response flags, attempt count, upstream host and cluster, route name, request id)."""
import http.client
import json
import re
import signal
import socket
import time

from backend import Backend
from configs import destination_rule, edge_routes, gateway, service_entry
from meshlet_proc import Meshlet, eventually, free_port


def lines(path, n, timeout=5):
    """The first <n> lines of the log once they are there (lines reach the file at least
    once a second)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = path.read_text() if path.exists() else ""
        if text.count("\n") >= n:
            return text.splitlines()
        time.sleep(0.05)
    raise AssertionError(f"{n} log lines expected, got: {text!r}")


def get(port, path, headers=None, host="api.example.com"):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.request("GET", path, headers={"Host": host, **(headers or {})})
    r = c.getresponse()
    body = r.read()
    c.close()
    return r.status, body


def test_json_line_fields(canary, tmp_path):
    log = tmp_path / "access.log"
    m = canary("--access-log", str(log))
    status, _ = get(m.gw, "/orders?x=1", {"x-request-id": "rid-123", "user-agent": "probe/1.0",
                                          "x-forwarded-for": "10.1.2.3"})
    assert status == 200
    (line,) = lines(log, 1)
    e = json.loads(line)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", e["start_time"])
    assert e["method"] == "GET" and e["path"] == "/orders?x=1" and e["protocol"] == "HTTP/1.1"
    assert e["response_code"] == 200 and e["response_flags"] == "-"
    assert e["bytes_received"] > 40 and e["bytes_sent"] > 100 and e["duration"] >= 0
    # A Gateway replaces an external client's request id (test_trust_boundary.py).
    assert re.fullmatch(r"[0-9a-f-]{36}", e["request_id"]) and e["user_agent"] == "probe/1.0"
    assert e["x_forwarded_for"] == "10.1.2.3"
    assert e["authority"] == "api.example.com"
    assert e["upstream_host"] == f"127.0.0.1:{m.v1.port}"
    assert e["upstream_cluster"] == "outbound|9080|v1|orders.shop.svc.cluster.local"
    assert e["route_name"] == "split"
    assert e["upstream_request_attempt_count"] == 1
    assert e["upstream_service_time"] is not None
    # From the local app through the mesh listener, the client's id is kept and logged.
    assert get(m.mesh_port, "/orders", {"x-request-id": "rid-123"}, host="orders")[0] == 200
    assert json.loads(lines(log, 2)[1])["request_id"] == "rid-123"


def test_generated_request_id_is_logged(canary, tmp_path):
    log = tmp_path / "access.log"
    m = canary("--access-log", str(log))
    status, body = get(m.gw, "/orders")
    assert status == 200
    sent = json.loads(body)["headers"]["x-request-id"]  # what the backend received
    (line,) = lines(log, 1)
    assert json.loads(line)["request_id"] == sent


def test_local_replies_are_logged_with_flags(canary, tmp_path):
    log = tmp_path / "access.log"
    m = canary("--access-log", str(log))
    assert get(m.gw, "/nowhere")[0] == 404
    assert get(m.gw, "/v3")[0] == 503
    by_path = {json.loads(x)["path"]: json.loads(x) for x in lines(log, 2)}
    assert by_path["/nowhere"]["response_flags"] == "NR"
    assert by_path["/nowhere"]["upstream_host"] is None
    assert by_path["/nowhere"]["route_name"] is None
    assert by_path["/v3"]["response_flags"] == "UH"
    assert by_path["/v3"]["upstream_cluster"] == "outbound|9080|v3|orders.shop.svc.cluster.local"
    assert by_path["/v3"]["upstream_request_attempt_count"] == 0


def test_refused_request_is_logged_as_dpe(canary, tmp_path):
    log = tmp_path / "access.log"
    m = canary("--access-log", str(log))
    with socket.create_connection(("127.0.0.1", m.gw), timeout=5) as s:
        s.sendall(b"POST /orders HTTP/1.1\r\nHost: api.example.com\r\nContent-Length: 3\r\n"
                  b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
        assert s.recv(100).startswith(b"HTTP/1.1 400")
    (line,) = lines(log, 1)
    e = json.loads(line)
    assert e["response_code"] == 400 and e["response_flags"] == "DPE"
    assert e["upstream_host"] is None and e["upstream_request_attempt_count"] == 0


def test_text_format(canary, tmp_path):
    log = tmp_path / "access.log"
    m = canary("--access-log", str(log), "--access-log-format", "text")
    assert get(m.mesh_port, "/orders", {"x-request-id": "rid-9"}, host="api.example.com")[0] == 200
    (line,) = lines(log, 1)
    assert re.fullmatch(
        r'\[\S+\] "GET /orders HTTP/1\.1" 200 - \d+ \d+ \d+ \d+ "-" "\S+" "rid-9" '
        rf'"api\.example\.com" "127\.0\.0\.1:{m.v1.port}" '
        r'outbound\|9080\|v1\|orders\.shop\.svc\.cluster\.local 127\.0\.0\.1:\d+ split 1',
        line), line


def client_request(port, path):
    """One GET; the status and the client's own address as "IP:port"."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.connect()
    ip, client_port = c.sock.getsockname()[:2]
    c.request("GET", path, headers={"Host": "api.example.com"})
    r = c.getresponse()
    r.read()
    c.close()
    return r.status, f"{ip}:{client_port}"


def test_client_address_json(canary, tmp_path):
    """Envoy's downstream_remote_address: the client's IP and port."""
    log = tmp_path / "access.log"
    m = canary("--access-log", str(log))
    status, client = client_request(m.gw, "/orders")
    assert status == 200
    status, client_404 = client_request(m.gw, "/nowhere")  # local replies too
    assert status == 404
    by_path = {json.loads(x)["path"]: json.loads(x) for x in lines(log, 2)}
    assert by_path["/orders"]["downstream_remote_address"] == client
    assert by_path["/nowhere"]["downstream_remote_address"] == client_404
    assert client != client_404


def test_client_address_text(canary, tmp_path):
    """In the text line as Istio's format places %DOWNSTREAM_REMOTE_ADDRESS%: after the
    upstream cluster, before the route name."""
    log = tmp_path / "access.log"
    m = canary("--access-log", str(log), "--access-log-format", "text")
    status, client = client_request(m.gw, "/orders")
    assert status == 200
    (line,) = lines(log, 1)
    assert line.endswith(
        f" outbound|9080|v1|orders.shop.svc.cluster.local {client} split 1"), line


def test_retried_and_ejected_requests(meshlet_bin, tmp_path):
    good, bad = Backend("good").start(), Backend("bad", fail_status=503).start()
    only_bad = Backend("only-bad", fail_status=503).start()
    gw = free_port()
    (tmp_path / "config.yaml").write_text("---\n".join([
        gateway(gw),
        service_entry("mixed", "shop", [(bad.port, {}), (good.port, {})]),
        destination_rule("mixed", "{loadBalancer: {simple: ROUND_ROBIN}}"),
        service_entry("doomed", "shop", [(only_bad.port, {})]),
        destination_rule("doomed", "{outlierDetection: {consecutive5xxErrors: 1, interval: 10s, "
                                   "baseEjectionTime: 30s, maxEjectionPercent: 100}}"),
        edge_routes("edge", """\
  - name: retried
    match: [{uri: {prefix: /mixed}}]
    route: [{destination: {host: mixed}}]
    retries: {attempts: 2, retryOn: 5xx}
  - name: doomed
    route: [{destination: {host: doomed}}]"""),
    ]))
    log = tmp_path / "access.log"
    m = Meshlet(meshlet_bin, tmp_path, workers=1,
                extra=("-n", "shop", "--access-log", str(log))).start()
    try:
        for _ in range(4):
            assert get(gw, "/mixed")[0] == 200
        assert get(gw, "/doomed")[0] == 503  # the answer that ejects it
        assert get(gw, "/doomed")[0] == 503  # ejected: no healthy upstream
        entries = [json.loads(x) for x in lines(log, 6)]
        retried = [e for e in entries if e["path"] == "/mixed"]
        # a first try on the bad endpoint is retried on the good one: the line reports the
        # try that answered
        assert any(e["upstream_request_attempt_count"] == 2 for e in retried), retried
        for e in retried:
            assert e["response_code"] == 200 and e["response_flags"] == "-"
            assert e["upstream_host"] == f"127.0.0.1:{good.port}"
            assert e["route_name"] == "retried"
        first, second = [e for e in entries if e["path"] == "/doomed"]
        assert first["response_code"] == 503 and first["response_flags"] == "-"
        assert first["upstream_host"] == f"127.0.0.1:{only_bad.port}"
        assert second["response_code"] == 503 and second["response_flags"] == "UH"
        assert second["upstream_host"] is None
        assert second["upstream_cluster"] == "outbound|9080||doomed.shop.svc.cluster.local"
        assert second["upstream_request_attempt_count"] == 0
    finally:
        assert m.stop() == 0, m.logs()
        for b in (good, bad, only_bad):
            b.stop()


def test_sigusr1_reopens_after_rotation(canary, tmp_path):
    """logrotate-style: the file is renamed away, SIGUSR1, and new lines go to a new file
    at the configured path; the rotated file keeps the old ones."""
    log = tmp_path / "access.log"
    m = canary("--access-log", str(log))
    assert get(m.gw, "/orders?before=1")[0] == 200
    lines(log, 1)
    rotated = tmp_path / "access.log.1"
    log.rename(rotated)
    m.proc.send_signal(signal.SIGUSR1)
    assert eventually(lambda: "access log reopened" in m.logs())
    assert get(m.gw, "/orders?after=1")[0] == 200
    (line,) = lines(log, 1)
    assert json.loads(line)["path"] == "/orders?after=1"
    assert [json.loads(x)["path"] for x in rotated.read_text().splitlines()] == [
        "/orders?before=1"]
