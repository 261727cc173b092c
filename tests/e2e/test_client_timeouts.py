# SPDX-License-Identifier: Apache-2.0
"""Client-side timeouts (issue 12), Envoy's connection manager's three: --idle-timeout closes a
connection with no request (silent since its accept, or idle between keep-alive requests),
--request-headers-timeout answers 408 to a head that does not arrive whole in time (however
it trickles), --stream-idle-timeout answers 408/504 to a request that stops moving. The
timeouts are short here; each test waits with a generous deadline, never for a precise time,
and checks that meshlet's sockets and fds come back and other clients are served."""
import http.client
import os
import socket
import subprocess
import time

from configs import edge_routes, gateway, service_entry
from meshlet_proc import eventually, free_port, serving
from raw import RawBackend, read_head

HEAD = b"GET /orders HTTP/1.1\r\nHost: api.example.com\r\n"
DEADLINE = 20  # seconds a 1 s timeout may take here, however loaded the machine


def stats(m):
    return {k: int(v) for k, v in (line.split(": ", 1) for line in m.admin("/stats").splitlines())
            if v.strip().isdigit()}


def fd_count(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def open_on_port(port):
    """meshlet's sockets still open on listening port <port> (ESTABLISHED or CLOSE_WAIT)."""
    n = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            for line in f.readlines()[1:]:
                fields = line.split()
                if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] in ("01", "08"):
                    n += 1
    return n


def served(port):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.request("GET", "/orders", headers={"Host": "api.example.com"})
    r = c.getresponse()
    r.read()
    c.close()
    return r.status == 200


def read_to_close(s, seconds, poke=None):
    """Everything <s> receives until meshlet closes it, within <seconds> (None if it stays
    open); <poke>, when given, is sent every 0.3 s meanwhile."""
    deadline = time.monotonic() + seconds
    data = b""
    s.settimeout(0.3)
    while time.monotonic() < deadline:
        try:
            got = s.recv(4096)
        except socket.timeout:
            if poke:
                try:
                    s.sendall(poke)
                except OSError:
                    pass
            continue
        except ConnectionResetError:
            return data
        if not got:
            return data
        data += got
    return None


def test_silent_half_sent_and_idle_connections_are_closed_in_time(canary):
    m = canary("--idle-timeout", "3s", "--request-headers-timeout", "3s")
    for _ in range(4):
        assert served(m.gw)  # warm: the upstream pool holds what it will hold
    base = fd_count(m.proc.pid)
    silent = [socket.create_connection(("127.0.0.1", m.gw)) for _ in range(50)]
    half = [socket.create_connection(("127.0.0.1", m.gw)) for _ in range(50)]
    for s in half:
        s.sendall(HEAD + b"x-slow: ")
    assert eventually(lambda: open_on_port(m.gw) == 100, 2)  # all accepted, all held
    idle = []
    for _ in range(20):
        c = http.client.HTTPConnection("127.0.0.1", m.gw, timeout=10)
        c.request("GET", "/orders", headers={"Host": "api.example.com"})
        assert c.getresponse().read()
        idle.append(c)  # open, between requests
    assert served(m.gw)  # a normal client meanwhile

    for s in silent:
        assert read_to_close(s, DEADLINE) == b""  # closed without a word
    for s in half:  # a byte now and then does not keep a head alive
        data = read_to_close(s, DEADLINE, poke=b"a")
        assert data is not None and data.startswith(b"HTTP/1.1 408 Request Timeout\r\n"), data
        assert b"connection: close" in data.lower() and data.endswith(b"request header timeout")
    for c in idle:
        assert read_to_close(c.sock, DEADLINE) == b""
    for s in silent + half:
        s.close()

    assert served(m.gw)
    assert eventually(lambda: open_on_port(m.gw) == 0, 10), open_on_port(m.gw)
    assert eventually(lambda: fd_count(m.proc.pid) <= base + 2, 10), (fd_count(m.proc.pid), base)
    st = stats(m)
    assert st["http.downstream_cx_idle_timeout"] >= 70, st
    assert st["http.downstream_rq_header_timeout"] == 50, st
    assert st["http.downstream_cx_active"] == 0, st


def test_stream_idle_timeout_answers_a_stalled_request(canary):
    m = canary("--stream-idle-timeout", "1s", "--request-headers-timeout", "0")
    # A head that stopped: with no head timeout, the stream idle timeout ends it (408).
    s = socket.create_connection(("127.0.0.1", m.gw))
    s.sendall(HEAD)
    data = read_to_close(s, DEADLINE)
    assert data is not None and data.startswith(b"HTTP/1.1 408 Request Timeout\r\n"), data
    assert data.endswith(b"stream timeout")
    s.close()
    # A whole request whose backend says nothing for longer: 504 (Envoy's flag SI).
    c = http.client.HTTPConnection("127.0.0.1", m.gw, timeout=DEADLINE)
    c.request("GET", "/orders?delay_ms=5000", headers={"Host": "api.example.com"})
    r = c.getresponse()
    assert (r.status, r.read()) == (504, b"stream timeout")
    c.close()
    # A request that keeps moving is not idle, however long it takes in all.
    c = http.client.HTTPConnection("127.0.0.1", m.gw, timeout=DEADLINE)
    c.putrequest("POST", "/orders", skip_host=True, skip_accept_encoding=True)
    c.putheader("Host", "api.example.com")
    c.putheader("Content-Length", "8")
    c.endheaders()
    for b in b"12345678":
        time.sleep(0.4)
        c.send(bytes([b]))
    r = c.getresponse()
    assert r.status == 200 and r.read()
    c.close()
    st = stats(m)
    assert st["http.downstream_rq_idle_timeout"] == 2, st
    assert eventually(lambda: open_on_port(m.gw) == 0, 10)


def test_stream_idle_timeout_cuts_a_response_the_client_stopped_reading(meshlet_bin, tmp_path):
    """A response begun, to a client that stopped reading: when nothing has moved for the
    stream idle timeout the connection is cut at once (Envoy resets the stream); it is not
    kept until what is buffered for it could be written, which would never happen."""
    def big(backend, conn):
        head = read_head(conn)
        if not head.startswith(b"GET /big "):
            if head:
                conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
            return
        conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n" % (256 << 20))
        chunk = b"x" * 65536
        for _ in range(4096):  # blocks when meshlet stops reading; fails once it closes
            conn.sendall(chunk)

    backend = RawBackend(big).start()
    gw = free_port()
    config = "---\n".join([gateway(gw), service_entry("big", "shop", [(backend.port, {})]),
                           edge_routes("routes", "  - route: [{destination: {host: big}}]\n")])
    with serving(meshlet_bin, tmp_path, config, [backend],
                 extra=("--stream-idle-timeout", "1s", "--request-headers-timeout", "0")) as m:
        base = fd_count(m.proc.pid)
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.connect(("127.0.0.1", gw))
        s.sendall(HEAD.replace(b"/orders", b"/big") + b"\r\n")  # and never read
        assert eventually(lambda: stats(m)["http.downstream_rq_idle_timeout"] >= 1, DEADLINE)
        assert eventually(lambda: open_on_port(gw) == 0, DEADLINE), open_on_port(gw)
        # One timeout, one cut: not a second one for the bytes it still held for the client.
        assert stats(m)["http.downstream_rq_idle_timeout"] == 1, stats(m)
        assert eventually(lambda: fd_count(m.proc.pid) <= base, 10), (fd_count(m.proc.pid), base)
        s.close()
        assert served(gw)  # others still are


def test_timeout_flags_refuse_what_is_not_a_duration(meshlet_bin, tmp_path):
    for flag in ("--idle-timeout", "--stream-idle-timeout", "--request-headers-timeout"):
        p = subprocess.run([meshlet_bin, "run", "-c", str(tmp_path), flag, "5x"],
                           capture_output=True, text=True, timeout=10)
        assert p.returncode == 2, p.stderr
        assert f"{flag} '5x': expected a duration" in p.stderr
    help_text = subprocess.run([meshlet_bin, "run", "--help"], capture_output=True, text=True,
                               timeout=10).stdout
    for flag in ("--idle-timeout", "--stream-idle-timeout", "--request-headers-timeout"):
        assert flag in help_text
