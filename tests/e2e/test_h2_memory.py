# SPDX-License-Identifier: Apache-2.0
"""What an idle HTTP/2 connection costs (issue 14: "memory per idle HTTP/2 connection ...
reported and <= nginx's"). Each of N connections serves one request with a 16 KiB body (so
nghttp2's frame buffer is written through), then stays open and silent. A second after a
connection goes idle meshlet gives the frame buffer's pages back: resident memory grows by
the session's small tables, not by a 16 KiB buffer a connection. All of it comes back once
the connections close. The numbers are printed (pytest -s) for the record."""
import socket
import time

from hyperframe.frame import DataFrame, HeadersFrame, SettingsFrame

from backend import Backend
from configs import edge_routes, gateway, service_entry
from meshlet_proc import eventually, free_port, serving
from raw import fd_count, to_port
from test_h2_abuse import PREFACE, request_block, rss_kb, sanitized, stat

N = 1000
BODY = 16384


def one_request(port):
    """An h2c connection that has served one GET, its response read to the end."""
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(PREFACE + SettingsFrame(0).serialize() + SettingsFrame(0, flags=["ACK"]).serialize()
              + HeadersFrame(1, request_block(f"/bytes/{BODY}".encode()),
                             flags=["END_HEADERS", "END_STREAM"]).serialize())
    buf, got, deadline = b"", 0, time.monotonic() + 10
    while time.monotonic() < deadline:
        while len(buf) >= 9:
            n = int.from_bytes(buf[:3], "big")
            if len(buf) < 9 + n:
                break
            if buf[3] == DataFrame.type and int.from_bytes(buf[5:9], "big") == 1:
                got += n
                if buf[4] & 1:  # END_STREAM
                    return s, got
            buf = buf[9 + n:]
        data = s.recv(65536)
        assert data, "closed before the response ended"
        buf += data
    raise AssertionError("no whole response in time")


def test_an_idle_connection_gives_its_frame_buffer_back(meshlet_bin, tmp_path):
    backend = Backend("v1").start()
    gw = free_port()
    config = "---\n".join([gateway(gw), service_entry("orders", "shop", [(backend.port, {})]),
                           edge_routes("routes", "  - route: [{destination: {host: orders}}]\n")])
    socks = []
    with serving(meshlet_bin, tmp_path, config, [backend], workers=1) as m:
        try:
            pid = m.proc.pid
            s, got = one_request(gw)  # the worker's pools and buffers, before the count
            assert got == BODY
            s.close()
            time.sleep(1.5)
            fds, before = fd_count(pid) - to_port(backend.port), rss_kb(pid)
            for _ in range(N):
                s, got = one_request(gw)
                assert got == BODY
                socks.append(s)
            busy = rss_kb(pid)
            time.sleep(2.5)  # idle for more than the second after which buffers go back
            idle = rss_kb(pid)
            per_conn = (idle - before) * 1024 / N
            print(f"{N} idle HTTP/2 connections: RSS {before} -> {busy} kB just after their "
                  f"response, {idle} kB idle: {per_conn:.0f} B a connection")
            assert stat(m, "http2.frame_buffers_shed") >= N
            # Still served, each of them, after the pages went back.
            for s in socks[:20]:
                s.sendall(HeadersFrame(3, request_block(b"/orders/y"),
                                       flags=["END_HEADERS", "END_STREAM"]).serialize())
                assert s.recv(65536)
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
