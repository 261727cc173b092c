# SPDX-License-Identifier: Apache-2.0
"""Flood defences on HTTP/2 upstream connections, Envoy's http2_protocol_options limits as
for clients: a server that floods PINGs or SETTINGS (acknowledgements past 1,000), sends
frames with an empty payload in a row, too many WINDOW_UPDATE or PRIORITY frames is sent
GOAWAY(ENHANCE_YOUR_CALM) and its connection closed (resets of streams never opened:
nghttp2's GOAWAY(PROTOCOL_ERROR)); its streams fail (503 UC, or retried
when the policy retries resets). A response header list over 60 KiB resets its stream only
(503 UPE; the connection serves the next one). Counted in /stats under "upstream.". The
servers are raw python3-h2 ones writing the abusive frames with hyperframe."""
import http.client
import socket
import threading

import h2.config
import h2.connection
import h2.events
import hpack
import hyperframe.frame as hf
import pytest

from configs import edge_routes, gateway
from h2backend import H2Backend
from meshlet_proc import eventually, free_port, serving
from raw import RawBackend, close_wait, fd_count
from test_h2_upstream import h2_service

PROTOCOL_ERROR, ENHANCE_YOUR_CALM = 1, 11


def abuse_frames(kind, sid):
    """The frames (bytes) a server of <kind> sends once a request on <sid> has ended."""
    if kind == "ping":
        return b"".join(hf.PingFrame(0, opaque_data=b"%08d" % i).serialize()
                        for i in range(5000))
    if kind == "settings":
        return hf.SettingsFrame(0).serialize() * 5000
    if kind == "window":
        return hf.WindowUpdateFrame(0, window_increment=1).serialize() * 100
    if kind == "priority":
        return hf.PriorityFrame(sid, depends_on=0, stream_weight=15).serialize() * 300
    if kind == "continuation":  # a response head one byte per frame: 40 CONTINUATIONs
        block = hpack.Encoder().encode([(":status", "200"), ("x-a", "b" * 36)])
        frames = [hf.HeadersFrame(sid, data=block[:1])]
        frames += [hf.ContinuationFrame(sid, data=block[i:i + 1]) for i in range(1, len(block))]
        frames[-1].flags.add("END_HEADERS")
        return b"".join(f.serialize() for f in frames)
    if kind == "rst":  # resets of streams never opened: nghttp2's own PROTOCOL_ERROR
        return b"".join(hf.RstStreamFrame(sid + 2 * i, error_code=8).serialize()
                        for i in range(1, 100))
    if kind == "empty":  # after the response head: two DATA frames that carry nothing
        return hf.DataFrame(sid).serialize() * 2
    raise ValueError(kind)


class AbusiveServer:
    """An h2c server that answers each request with <kind>'s frames (for "headers": a
    response head of 70 KB in 10 fields, then a normal answer to the next request); it
    records the GOAWAY error codes it got and the connections closed on it."""

    def __init__(self, kind):
        self.kind = kind
        self.goaways = []
        self.closed = 0
        self.lock = threading.Lock()
        self.raw = RawBackend(lambda _b, conn: self.serve(conn)).start()
        self.port = self.raw.port

    def stop(self):
        self.raw.stop()

    def serve(self, sock):
        c = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False,
                                                                 validate_inbound_headers=False))
        c.initiate_connection()
        sock.sendall(c.data_to_send())
        answered = 0
        while True:
            try:
                data = sock.recv(65536)
            except OSError:
                data = b""
            if not data:
                with self.lock:
                    self.closed += 1
                return
            try:
                events = c.receive_data(data)
            except h2.exceptions.ProtocolError:
                events = []
            out = b""
            for e in events:
                if isinstance(e, h2.events.ConnectionTerminated):
                    with self.lock:
                        self.goaways.append(e.error_code)
                elif isinstance(e, h2.events.StreamEnded):
                    sid = e.stream_id
                    if self.kind == "close":  # gone before answering
                        with self.lock:
                            self.closed += 1
                        return
                    if self.kind == "headers" and not answered:
                        c.send_headers(sid, [(":status", "200")] +
                                       [(f"x-big-{i}", "b" * 7000) for i in range(10)])
                    elif self.kind == "headers":
                        c.send_headers(sid, [(":status", "200"), ("content-length", "2")])
                        c.send_data(sid, b"ok", end_stream=True)
                    elif self.kind == "empty":
                        c.send_headers(sid, [(":status", "200")])
                        out += abuse_frames("empty", sid)
                    else:
                        out += abuse_frames(self.kind, sid)
                    answered += 1
            try:
                sock.sendall(c.data_to_send() + out)
            except OSError:
                pass


KINDS = ["ping", "settings", "window", "priority", "empty", "continuation", "rst", "headers",
         "close"]


@pytest.fixture
def proxy(meshlet_bin, tmp_path):
    servers = {k: AbusiveServer(k) for k in KINDS}
    retried, good = AbusiveServer("ping"), H2Backend("good").start()
    gw = free_port()
    routes = "".join(f"""\
  - match: [{{uri: {{prefix: /{k}/}}}}]
    route: [{{destination: {{host: {k}}}}}]
    retries: {{attempts: 0}}
""" for k in KINDS)
    config = "---\n".join([gateway(gw)] + [h2_service(k, [(s.port, None)])
                                          for k, s in servers.items()] + [
        h2_service("retried", [(retried.port, None), (good.port, None)]),
        edge_routes("routes", routes + """\
  - route: [{destination: {host: retried}}]
    retries: {attempts: 2, retryOn: reset}
"""),
    ])
    with serving(meshlet_bin, tmp_path, config, list(servers.values()) + [retried, good]) as m:
        m.gw, m.servers, m.retried, m.good = gw, servers, retried, good
        yield m


def stat(proxy, name):
    for line in proxy.admin("/stats").splitlines():
        k, _, v = line.partition(": ")
        if k == name:
            return int(v)
    raise KeyError(name)


def get(port, path):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        c.request("GET", path, headers={"Host": "api.example.com"})
        r = c.getresponse()
        return r.status, r.read()
    except (http.client.IncompleteRead, ConnectionError) as e:
        return "cut", repr(e)
    finally:
        c.close()


@pytest.mark.parametrize("kind, counter, code", [
    ("ping", "upstream.http2.outbound_control_flood", ENHANCE_YOUR_CALM),
    ("settings", "upstream.http2.outbound_control_flood", ENHANCE_YOUR_CALM),
    ("window", "upstream.http2.inbound_window_update_frames_flood", ENHANCE_YOUR_CALM),
    ("priority", "upstream.http2.inbound_priority_frames_flood", ENHANCE_YOUR_CALM),
    ("empty", "upstream.http2.inbound_empty_frames_flood", ENHANCE_YOUR_CALM),
    ("continuation", "upstream.http2.inbound_continuation_frames_flood", ENHANCE_YOUR_CALM),
    ("rst", "upstream.http2.protocol_errors", PROTOCOL_ERROR),
])
def test_a_flooding_server_gets_goaway(proxy, kind, counter, code):
    server = proxy.servers[kind]
    fds = fd_count(proxy.proc.pid)
    status, body = get(proxy.gw, f"/{kind}/x")
    if kind == "empty":  # its head came first: the response is cut (or never started)
        assert status in ("cut", 502), (status, body)
    else:
        assert status == 503 and b"reset reason: connection termination" in body, (status, body)
    assert eventually(lambda: server.closed == 1), server.closed
    assert server.goaways == [code]
    assert stat(proxy, counter) == 1
    assert eventually(lambda: fd_count(proxy.proc.pid) <= fds), (fd_count(proxy.proc.pid), fds)
    # Another connection for the next request; other pools are served meanwhile.
    get(proxy.gw, f"/{kind}/y")
    assert eventually(lambda: server.closed == 2) and server.raw.accepted == 2
    assert get(proxy.gw, "/other")[0] == 200


def test_a_header_list_over_60_kib_resets_the_stream_only(proxy):
    server = proxy.servers["headers"]
    status, body = get(proxy.gw, "/headers/big")
    assert status == 503 and b"reset reason: protocol error" in body, (status, body)
    assert stat(proxy, "upstream.http2.header_overflow") == 1
    # The connection stays, and its next stream is answered.
    assert get(proxy.gw, "/headers/next") == (200, b"ok")
    assert server.raw.accepted == 1 and server.closed == 0 and server.goaways == []


def test_streams_of_a_refused_connection_are_retried_per_policy(proxy):
    # Round robin sends half the first tries to the flooding server; under a loaded machine
    # (ASan, CI) its first connection may still be on its way after six: go on, bounded.
    for i in range(30):
        status, _ = get(proxy.gw, f"/r/{i}")
        assert status == 200, i
        if i >= 5 and proxy.retried.raw.accepted:
            break
    assert proxy.retried.raw.accepted >= 1
    assert eventually(lambda: proxy.retried.closed == proxy.retried.raw.accepted)
    assert set(proxy.retried.goaways) == {ENHANCE_YOUR_CALM}


def test_a_server_that_closes_mid_request_leaves_no_socket(proxy):
    fds = fd_count(proxy.proc.pid)
    for i in range(3):
        status, body = get(proxy.gw, f"/close/{i}")
        assert status == 503 and b"reset reason: connection termination" in body, (status, body)
    # Each failed connection is closed on meshlet's side too: no CLOSE-WAIT, fds back.
    assert eventually(lambda: not close_wait(proxy.proc.pid)), close_wait(proxy.proc.pid)
    assert eventually(lambda: fd_count(proxy.proc.pid) <= fds), (fd_count(proxy.proc.pid), fds)
    assert proxy.servers["close"].raw.accepted == 3
