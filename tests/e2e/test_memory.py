# SPDX-License-Identifier: Apache-2.0
"""Memory comes back (issue 12): after thousands of requests in flight at once (a backend
that answers 2 s later), meshlet's resident memory returns to near where it was once every
connection has closed: buffers of closed connections go back to a bounded per-worker pool
and the rest to the system. The numbers are printed (pytest -s) for the record."""
import socket
import subprocess

from configs import canary_config
from meshlet_proc import Meshlet, eventually, free_port
from raw import to_port
from test_client_timeouts import fd_count, open_on_port, served, stats
from test_overload import rss_kb, sanitized

IN_FLIGHT = 3000


def test_memory_comes_back_after_thousands_of_requests_in_flight(meshlet_bin, repo_root,
                                                                 tmp_path):
    backend = repo_root / "build" / "backend"
    ports, gw = (free_port(), free_port()), free_port()
    procs = [subprocess.Popen([str(backend), "--listen", f"127.0.0.1:{p}", "--name", "v1"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
             for p in ports]
    (tmp_path / "config.yaml").write_text(canary_config(gw, *ports, weights=(50, 50)))
    m = Meshlet(meshlet_bin, tmp_path, workers=2, extra=("-n", "shop")).start()
    socks = []
    try:
        assert eventually(lambda: served(gw))
        base_fds, before = fd_count(m.proc.pid), rss_kb(m.proc.pid)
        for _ in range(IN_FLIGHT):
            s = socket.create_connection(("127.0.0.1", gw), timeout=30)
            s.sendall(b"GET /orders?delay_ms=2000 HTTP/1.1\r\nHost: api.example.com\r\n\r\n")
            socks.append(s)
        assert eventually(lambda: stats(m)["http.downstream_cx_active"] == IN_FLIGHT, 10)
        during = rss_kb(m.proc.pid)
        ok = sum(s.recv(64).startswith(b"HTTP/1.1 200 ") for s in socks)
        assert ok == IN_FLIGHT
        for s in socks:
            s.close()
        socks = []
        assert eventually(lambda: open_on_port(gw) == 0, 20)
        # Their fds too: all but the upstream connections parked in the idle pools.
        def held():
            return fd_count(m.proc.pid) - sum(map(to_port, ports))

        assert eventually(lambda: held() <= base_fds, 10), (held(), base_fds)
        # Buffers pooled at most 1 MiB a worker after the trim, exchanges 64 a worker, and
        # the idle upstream pools' small structs: far below what a burst took.
        if not sanitized(meshlet_bin):
            assert eventually(lambda: rss_kb(m.proc.pid) <= before + 8192, 15), rss_kb(m.proc.pid)
        after = rss_kb(m.proc.pid)
        print(f"{IN_FLIGHT} in flight: RSS before {before} kB, during {during} kB, "
              f"after {after} kB; fds {base_fds} -> {fd_count(m.proc.pid)}")
        assert served(gw)
    finally:
        for s in socks:
            s.close()
        code = m.stop()
        for p in procs:
            p.terminate()
            p.wait(5)
        assert code == 0, m.logs()
