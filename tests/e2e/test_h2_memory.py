# SPDX-License-Identifier: Apache-2.0
"""What an idle HTTP/2 connection costs (issue 14: "memory per idle HTTP/2 connection ...
reported and <= nginx's"). Each of N connections serves one request (or 50 one after the
other) with a 16 KiB body (so nghttp2's frame buffer is written through), then stays open
and silent. Closed streams are not kept (nghttp2 would keep up to 100, 232 bytes each). A second after a
connection goes idle meshlet gives the frame buffer's pages back: resident memory grows by
the session's small tables, not by a 16 KiB buffer a connection. All of it comes back once
the connections close. The numbers are printed (pytest -s) for the record."""
import socket
import time

import pytest
from hyperframe.frame import DataFrame, HeadersFrame, SettingsFrame, WindowUpdateFrame

from backend import Backend
from configs import edge_routes, gateway, service_entry
from meshlet_proc import eventually, free_port, serving
from raw import fd_count, to_port
from test_h2_abuse import PREFACE, request_block, rss_kb, sanitized, stat

N = 1000
BODY = 16384


def served(port, requests=1):
    """An h2c connection that has served <requests> GETs one after the other, each response
    read to the end: the bytes of the last."""
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(PREFACE + SettingsFrame(0).serialize() + SettingsFrame(0, flags=["ACK"]).serialize()
              + WindowUpdateFrame(0, (1 << 31) - 1 - 65535).serialize())  # never runs dry
    for i in range(requests):
        got = one_request(s, 1 + 2 * i)
    return s, got


def one_request(s, sid):
    """GET on stream <sid>: the response's DATA bytes, read to its end."""
    s.sendall(HeadersFrame(sid, request_block(f"/bytes/{BODY}".encode()),
                           flags=["END_HEADERS", "END_STREAM"]).serialize())
    buf, got, deadline = b"", 0, time.monotonic() + 10
    while time.monotonic() < deadline:
        while len(buf) >= 9:
            n = int.from_bytes(buf[:3], "big")
            if len(buf) < 9 + n:
                break
            if buf[3] == DataFrame.type and int.from_bytes(buf[5:9], "big") == sid:
                got += n
                if buf[4] & 1:  # END_STREAM
                    return got
            buf = buf[9 + n:]
        data = s.recv(65536)
        assert data, "closed before the response ended"
        buf += data
    raise AssertionError("no whole response in time")


@pytest.mark.parametrize("n,requests", [(N, 1), (200, 50)])
def test_an_idle_connection_gives_its_frame_buffer_back(meshlet_bin, tmp_path, n, requests):
    backend = Backend("v1").start()
    gw = free_port()
    config = "---\n".join([gateway(gw), service_entry("orders", "shop", [(backend.port, {})]),
                           edge_routes("routes", "  - route: [{destination: {host: orders}}]\n")])
    socks = []
    with serving(meshlet_bin, tmp_path, config, [backend], workers=1) as m:
        try:
            pid = m.proc.pid
            s, got = served(gw)  # the worker's pools and buffers, before the count
            assert got == BODY
            s.close()
            time.sleep(1.5)
            fds, before = fd_count(pid) - to_port(backend.port), rss_kb(pid)
            for _ in range(n):
                s, got = served(gw, requests)
                assert got == BODY
                socks.append(s)
            busy = rss_kb(pid)
            time.sleep(2.5)  # idle for more than the second after which buffers go back
            idle = rss_kb(pid)
            per_conn = (idle - before) * 1024 / n
            print(f"{n} idle HTTP/2 connections ({requests} requests each): RSS {before} -> {busy} kB just after their "
                  f"response, {idle} kB idle: {per_conn:.0f} B a connection")
            assert stat(m, "http2.frame_buffers_shed") >= n
            # Still served, each of them, after the pages went back.
            for s in socks[:20]:
                assert one_request(s, 1 + 2 * requests) == BODY
            if not sanitized(pid):
                assert per_conn < 12 * 1024, per_conn
            for s in socks:
                s.close()
            socks = []
            # Every fd back, but for upstream connections parked in the pool.
            assert eventually(lambda: fd_count(pid) - to_port(backend.port) <= fds, 10), fds
        finally:
            for s in socks:
                s.close()
