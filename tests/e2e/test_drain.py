# SPDX-License-Identifier: Apache-2.0
"""Drain (issue 7): on SIGTERM or SIGINT meshlet stops accepting, /ready turns 503, idle
keep-alive connections close, requests in flight finish (their response says
`connection: close`), and the process exits 0 once they have, or when --drain-time is over."""
import http.client
import json
import signal
import socket
import threading
import time

import pytest

from raw import read_to_eof


def slow_request(port, delay_ms, out):
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
        c.request("GET", f"/orders?delay_ms={delay_ms}", headers={"Host": "api.example.com"})
        r = c.getresponse()
        out["status"] = r.status
        out["connection"] = r.getheader("connection")
        out["version"] = json.loads(r.read())["version"]
    except (OSError, http.client.HTTPException) as e:
        out["error"] = repr(e)


def refused(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
        return False
    except (ConnectionRefusedError, ConnectionResetError):
        return True  # reset: it reached a listening socket just as it closed


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_drain_lets_in_flight_requests_finish(canary, sig):
    m = canary("--drain-time", "5")
    keep = http.client.HTTPConnection("127.0.0.1", m.gw, timeout=5)
    keep.request("GET", "/orders", headers={"Host": "api.example.com"})
    r = keep.getresponse()
    assert r.status == 200 and r.read()
    idle = keep.sock  # open and idle, between requests
    out = {}
    t = threading.Thread(target=slow_request, args=(m.gw, 1500, out))
    t.start()
    time.sleep(0.4)  # the request is at the backend
    m.proc.send_signal(sig)
    deadline = time.monotonic() + 5
    while not refused(m.gw) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert refused(m.gw), "still accepting while draining"
    try:
        m.admin("/ready")
        raise AssertionError("/ready must be 503 while draining")
    except OSError as e:  # HTTPError 503
        assert "503" in str(e)
    idle.settimeout(5)
    assert idle.recv(100) == b""  # the idle keep-alive connection was closed
    t.join(10)
    assert out.get("status") == 200 and out.get("version") == "v1", out
    assert (out.get("connection") or "").lower() == "close"
    assert m.proc.wait(10) == 0
    assert "draining" in m.logs()


def test_drain_time_bounds_the_wait(canary):
    m = canary("--drain-time", "0.3")
    out = {}
    t = threading.Thread(target=slow_request, args=(m.gw, 4000, out))
    t.start()
    time.sleep(0.3)
    m.proc.send_signal(signal.SIGTERM)
    assert m.proc.wait(10) == 0  # did not wait for the 4 s request
    t.join(10)
    assert "status" not in out, out  # cut at the end of the drain time
    assert "drain time over; closing 1 connection(s)" in m.logs()


def test_idle_proxy_exits_at_once(canary):
    m = canary("--drain-time", "30")
    m.proc.send_signal(signal.SIGTERM)
    assert m.proc.wait(10) == 0  # nothing in flight: no need to wait 30 s


def test_connection_open_before_drain_gets_its_first_request_answered(canary):
    """A client that connected before the signal and sends its request after it (within
    the drain time) is answered, with connection: close, not cut."""
    m = canary("--drain-time", "5")
    s = socket.create_connection(("127.0.0.1", m.gw), timeout=5)
    time.sleep(0.2)  # accepted by a worker
    m.proc.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    s.sendall(b"GET /orders HTTP/1.1\r\nHost: api.example.com\r\n\r\n")
    data = read_to_eof(s)
    assert data.startswith(b"HTTP/1.1 200"), data
    assert b"\r\nconnection: close\r\n" in data.lower()
    assert m.proc.wait(10) == 0
