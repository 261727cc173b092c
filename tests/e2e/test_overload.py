# SPDX-License-Identifier: Apache-2.0
"""Client connections past what meshlet can hold (issue 12), as Envoy's overload manager:
past --max-connections, or with the process out of file descriptors, a connection is told
503 with `x-envoy-overloaded: true` and closed at once; accepting never stalls, so a normal
client is answered at once and served as soon as others leave, and when every client has
gone no socket is left open and meshlet's fds are back where they were. Also 2,000
slowloris connections: normal clients are served meanwhile and all are reclaimed."""
import http.client
import socket
import subprocess
import time

from backend import Backend
from configs import canary_config
from meshlet_proc import Meshlet, eventually, free_port
from test_client_timeouts import (HEAD, DEADLINE, fd_count, open_on_port, read_to_close,
                                  served, stats)


def answer(port):
    """(status, x-envoy-overloaded, body) of one request on a new connection."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.request("GET", "/orders", headers={"Host": "api.example.com"})
    r = c.getresponse()
    out = (r.status, r.getheader("x-envoy-overloaded"), r.read())
    c.close()
    return out


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))


def sanitized(binary):
    """Whether <binary> is an ASan or TSan build: freed memory is held back on purpose, so
    resident memory says nothing there."""
    with open(binary, "rb") as f:
        data = f.read()
    return b"__asan_init" in data or b"__tsan_init" in data


def slowloris(port, n):
    """<n> connections, each with a request head cut short (bounded: n sockets)."""
    socks = []
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        s.sendall(HEAD + b"x-slow: ")
        socks.append(s)
    return socks


def test_max_connections_refuses_past_the_limit_and_serves_once_some_close(canary):
    m = canary("--max-connections", "20", "--request-headers-timeout", "0")
    assert served(m.gw)
    base = fd_count(m.proc.pid)
    held = slowloris(m.gw, 20)
    assert eventually(lambda: stats(m)["http.downstream_cx_active"] == 20)
    status, overloaded, body = answer(m.gw)  # answered at once, not left waiting
    assert (status, overloaded, body) == (503, "true", b"envoy overloaded")
    for s in held[:5]:
        s.close()
    assert eventually(lambda: answer(m.gw)[0] == 200, 10)  # served once some left
    for s in held[5:]:
        s.close()
    assert eventually(lambda: open_on_port(m.gw) == 0, 10)
    assert eventually(lambda: fd_count(m.proc.pid) <= base + 2, 10)
    st = stats(m)
    assert st["listener.downstream_cx_overflow"] >= 1 and st["http.downstream_cx_active"] == 0
    assert "--max-connections limit" in m.logs()


def told_and_closed(s):
    """Whether meshlet answered or closed <s> (without waiting)."""
    s.settimeout(0)
    try:
        s.recv(1, socket.MSG_PEEK)
        return True
    except BlockingIOError:
        return False
    except OSError:
        return True


def run_out_of_fds(meshlet_bin, tmp_path, extra):
    """meshlet under a 256-fd limit, 400 clients (some silent, most with a head cut short):
    a normal client gets an answer at once, is served once some clients leave, and when all
    have gone no socket is left and meshlet's fds are back to where they were."""
    v1, v2 = Backend("v1").start(), Backend("v2").start()
    gw = free_port()
    (tmp_path / "config.yaml").write_text(canary_config(gw, v1.port, v2.port, weights=(100, 0)))
    m = Meshlet(meshlet_bin, tmp_path, workers=2,
                extra=("-n", "shop", "--request-headers-timeout", "0", *extra))
    m.args = ["prlimit", "--nofile=256", *m.args]
    m.start()
    try:
        assert served(gw)
        base = fd_count(m.proc.pid)
        clients = []
        for i in range(400):
            s = socket.create_connection(("127.0.0.1", gw), timeout=10)
            if i % 4:
                s.sendall(HEAD + b"x-slow: ")
            clients.append(s)
        status, overloaded, _ = answer(gw)  # an answer, at once: 503, or served if it fits
        assert status == 200 or (status, overloaded) == (503, "true"), status
        # Those that do not fit are told and closed, not left in the accept queue.
        assert eventually(lambda: sum(map(told_and_closed, clients)) >= 100, 10)
        for s in clients[:200]:
            s.close()
        assert eventually(lambda: answer(gw)[0] == 200, 10)
        for s in clients[200:]:
            s.close()
        assert eventually(lambda: open_on_port(gw) == 0, 10), open_on_port(gw)
        assert eventually(lambda: fd_count(m.proc.pid) <= base + 2, 10), fd_count(m.proc.pid)
        assert served(gw)
        return m, stats(m)
    finally:
        code = m.stop()
        v1.stop()
        v2.stop()
        assert code == 0, m.logs()


def test_out_of_fds_accepting_goes_on_and_every_socket_comes_back(meshlet_bin, tmp_path):
    m, st = run_out_of_fds(meshlet_bin, tmp_path, ("--max-connections", "0"))
    assert st["listener.downstream_cx_fd_exhausted"] > 0, st
    said = m.logs().count("out of file descriptors")
    assert 1 <= said <= 3, m.logs()  # rate-limited: one line per 10 s


def test_default_connection_limit_fits_the_open_file_limit(meshlet_bin, tmp_path):
    m, st = run_out_of_fds(meshlet_bin, tmp_path, ())
    assert st["listener.downstream_cx_overflow"] > 0, st
    assert st["listener.downstream_cx_fd_exhausted"] == 0, st  # the limit came first


def test_2000_slowloris_connections_are_reclaimed_while_others_are_served(canary, meshlet_bin):
    m = canary("--request-headers-timeout", "3s")
    for _ in range(4):
        assert served(m.gw)
    base_fds, base_rss = fd_count(m.proc.pid), rss_kb(m.proc.pid)
    socks = slowloris(m.gw, 2000)
    assert eventually(lambda: stats(m)["http.downstream_cx_active"] == 2000, 10)
    during_rss = rss_kb(m.proc.pid)
    assert all(served(m.gw) for _ in range(20))  # normal clients meanwhile
    deadline = time.monotonic() + DEADLINE
    answered = 0
    for s in socks:  # each is answered 408 and closed by meshlet, not by the client
        data = read_to_close(s, max(0.1, deadline - time.monotonic()))
        answered += data is not None and data.startswith(b"HTTP/1.1 408 ")
        s.close()
    assert answered == 2000
    assert eventually(lambda: open_on_port(m.gw) == 0, 10)
    assert eventually(lambda: fd_count(m.proc.pid) <= base_fds + 2, 10)
    if not sanitized(meshlet_bin):  # memory came back
        assert eventually(lambda: rss_kb(m.proc.pid) <= base_rss + 8192, 15)
    after_rss = rss_kb(m.proc.pid)
    print(f"slowloris 2000: RSS before {base_rss} kB, during {during_rss} kB, "
          f"after {after_rss} kB")
    assert stats(m)["http.downstream_rq_header_timeout"] == 2000


def test_max_connections_flag_refuses_what_is_not_a_count(meshlet_bin, tmp_path):
    for bad in ("abc", "-1", "10x"):
        p = subprocess.run([meshlet_bin, "run", "-c", str(tmp_path), "--max-connections", bad],
                           capture_output=True, text=True, timeout=10)
        assert p.returncode == 2, p.stderr
        assert f"--max-connections '{bad}': expected a number" in p.stderr
    help_text = subprocess.run([meshlet_bin, "run", "--help"], capture_output=True, text=True,
                               timeout=10).stdout
    assert "--max-connections N" in help_text
