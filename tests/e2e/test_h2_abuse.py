# SPDX-License-Identifier: Apache-2.0
"""HTTP/2 abuse (issue 14, "Limits and abuse"): each attack is sent frame by frame
(hyperframe) and must end the attacking connection with the GOAWAY code Envoy/nghttp2
send (or reset only the offending stream), count it in /stats under Envoy's name, give back
meshlet's fds and memory, and leave other clients served: one HTTP/2 connection opened
before the attack and a new one after it. Every attack loop is bounded in frames and time."""
import os
import socket
import subprocess
import time

import h2.config
import h2.connection
import h2.events
import pytest
from hyperframe.frame import (ContinuationFrame, DataFrame, Frame, GoAwayFrame, HeadersFrame,
                              PingFrame, PriorityFrame, RstStreamFrame, SettingsFrame,
                              WindowUpdateFrame)

from backend import Backend
from configs import edge_routes, gateway, service_entry
from meshlet_proc import eventually, free_port, serving
from raw import fd_count, to_port

AUTH = "api.example.com"
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
NO_ERROR, PROTOCOL_ERROR, INTERNAL_ERROR, REFUSED_STREAM, CANCEL, ENHANCE_YOUR_CALM = (
    0, 1, 2, 7, 8, 11)


@pytest.fixture
def proxy(meshlet_bin, tmp_path):
    fast = Backend("fast").start()
    slow = Backend("slow", delay_ms=3000).start()
    gw = free_port()
    config = "---\n".join([
        gateway(gw),
        service_entry("orders", "shop", [(fast.port, {})]),
        service_entry("slow", "shop", [(slow.port, {})]),
        edge_routes("routes", """\
  - match: [{uri: {prefix: /slow}}]
    route: [{destination: {host: slow}}]
  - route: [{destination: {host: orders}}]
"""),
    ])
    with serving(meshlet_bin, tmp_path, config, [fast, slow]) as m:
        m.gw, m.fast, m.slow = gw, fast.port, slow.port
        yield m


def stat(proxy, name):
    for line in proxy.admin("/stats").splitlines():
        k, _, v = line.partition(": ")
        if k == name:
            return int(v)
    raise KeyError(name)


def sockets(pid):
    out = subprocess.run(["ss", "-tanpH"], capture_output=True, text=True, timeout=10).stdout
    return [line for line in out.splitlines() if f"pid={pid}," in line]


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        return int(next(ln for ln in f if ln.startswith("VmRSS:")).split()[1])


def sanitized(pid):
    """ASan keeps freed memory in quarantine and TSan grows shadow memory: RSS says
    nothing about leaks under either."""
    with open(f"/proc/{pid}/maps") as f:
        maps = f.read()
    return "libasan" in maps or "libtsan" in maps


# --- A raw HTTP/2 client. ---

def hpack_int(value, prefix_bits, first):
    """RFC 7541 §5.1 integer with <first> as the high bits of the first byte."""
    top = (1 << prefix_bits) - 1
    if value < top:
        return bytes([first | value])
    out = [first | top]
    value -= top
    while value >= 128:
        out.append(value % 128 + 128)
        value //= 128
    out.append(value)
    return bytes(out)


def literal(name, value, index=True):
    """A literal header field with a new name (with incremental indexing when <index>)."""
    first, bits = (0x40, 6) if index else (0x00, 4)
    return (hpack_int(0, bits, first) + hpack_int(len(name), 7, 0) + name
            + hpack_int(len(value), 7, 0) + value)


def request_block(path=b"/orders/x", method=b"GET"):
    """A request head: never indexed into the dynamic table, so blocks can be reused."""
    return b"".join(literal(n, v, index=False) for n, v in [
        (b":method", method), (b":scheme", b"http"), (b":path", path), (b":authority", AUTH.encode())])


class Raw:
    """A client socket that writes frames as given and reads the server's frames."""

    def __init__(self, port, rcvbuf=None, ack_settings=True):
        self.s = socket.socket()
        if rcvbuf:
            self.s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.s.settimeout(5)
        self.s.connect(("127.0.0.1", port))
        self.buf = b""
        self.s.sendall(PREFACE + SettingsFrame(0).serialize())
        if ack_settings:
            self.s.sendall(SettingsFrame(0, flags=["ACK"]).serialize())

    def send(self, *frames):
        try:
            self.s.sendall(b"".join(f.serialize() for f in frames))
            return True
        except (BrokenPipeError, ConnectionResetError):
            return False

    def frames(self, seconds=10, until=None):
        """The server's frames until it closes (or <seconds> pass: then the last is None),
        or up to the first for which <until>(frame) holds."""
        deadline = time.monotonic() + seconds
        out = []
        while time.monotonic() < deadline:
            while len(self.buf) >= 9:
                f, n = Frame.parse_frame_header(memoryview(self.buf[:9]))
                if len(self.buf) < 9 + n:
                    break
                f.parse_body(memoryview(self.buf[9:9 + n]))
                self.buf = self.buf[9 + n:]
                out.append(f)
                if until and until(f):
                    return out
            try:
                self.s.settimeout(max(0.01, deadline - time.monotonic()))
                got = self.s.recv(65536)
            except socket.timeout:
                continue
            except ConnectionResetError:
                return out
            if not got:
                return out
            self.buf += got
        out.append(None)
        return out

    def until_closed(self, seconds=10):
        """Read and drop until the server closes: True if it did within <seconds>."""
        deadline = time.monotonic() + seconds
        self.s.settimeout(1)
        while time.monotonic() < deadline:
            try:
                if not self.s.recv(1 << 20):
                    return True
            except socket.timeout:
                continue
            except ConnectionResetError:
                return True
        return False

    def close(self):
        self.s.close()


def goaway_of(frames):
    """The GOAWAY the server sent, after which it closed the connection."""
    assert frames and frames[-1] is not None, "the connection was not closed"
    goaways = [f for f in frames if isinstance(f, GoAwayFrame)]
    assert goaways, [type(f).__name__ for f in frames]
    return goaways[-1]


# --- Another client, served before, during and after. ---

class Bystander:
    """A well-behaved HTTP/2 connection (python3-h2) opened before the attack."""

    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.c = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
        self.c.initiate_connection()
        self.s.sendall(self.c.data_to_send())

    def get(self, path):
        sid = self.c.get_next_available_stream_id()
        self.c.send_headers(sid, [(":method", "GET"), (":path", path), (":scheme", "http"),
                                  (":authority", AUTH)], end_stream=True)
        self.s.sendall(self.c.data_to_send())
        status, deadline = None, time.monotonic() + 10
        while time.monotonic() < deadline:
            data = self.s.recv(65536)
            if not data:
                return None
            for e in self.c.receive_data(data):
                if isinstance(e, h2.events.ResponseReceived) and e.stream_id == sid:
                    status = dict(e.headers)[b":status"]
                elif isinstance(e, h2.events.DataReceived):
                    self.c.acknowledge_received_data(e.flow_controlled_length, e.stream_id)
                elif isinstance(e, h2.events.StreamEnded) and e.stream_id == sid:
                    self.s.sendall(self.c.data_to_send())
                    return status
            self.s.sendall(self.c.data_to_send())
        return None

    def close(self):
        self.s.close()


class Watch:
    """The proxy's fds and RSS before an attack, and a bystander connection."""

    def __init__(self, proxy):
        self.proxy = proxy
        self.pid = proxy.proc.pid
        warm = Bystander(proxy.gw)  # first-use allocations (worker buffers, pools)
        assert warm.get("/orders/warm") == b"200"
        warm.close()
        self.by = Bystander(proxy.gw)
        assert self.by.get("/orders/before") == b"200"
        self.fds, self.rss = self.client_fds(), rss_kb(self.pid)

    def client_fds(self):
        """meshlet's fds but its pooled connections to the backends (an upstream connection
        whose request was cancelled while it connected is kept idle in the pool, as Envoy's)."""
        return fd_count(self.pid) - to_port(self.proxy.fast) - to_port(self.proxy.slow)

    def check_after(self, rss_slack_kb=4096):
        """The bystander and a new connection are served; fds and memory came back (within
        <rss_slack_kb>: the per-worker buffer pool keeps up to 4 MiB of buffers for reuse)."""
        assert self.by.get("/orders/after") == b"200"
        fresh = Bystander(self.proxy.gw)
        assert fresh.get("/orders/fresh") == b"200"
        fresh.close()
        assert eventually(lambda: self.client_fds() <= self.fds, 10), (
            self.client_fds(), self.fds, sockets(self.pid))
        rss = rss_kb(self.pid)
        print(f"fds {self.fds} -> {self.client_fds()}, VmRSS {self.rss} -> {rss} kB")
        assert sanitized(self.pid) or rss - self.rss < rss_slack_kb, (self.rss, rss)
        self.by.close()


def test_rapid_reset_closes_the_connection(proxy):
    """CVE-2023-44487: streams opened and reset at once. Envoy's premature-reset check
    (half of at least 500 streams reset within 1 s) ends the connection with
    GOAWAY(ENHANCE_YOUR_CALM) after 250 such streams (nghttp2's own bound, 1,000 resets
    at once then 33/s, would answer INTERNAL_ERROR)."""
    w = Watch(proxy)
    a = Raw(proxy.gw)
    block = request_block(b"/slow/reset")
    sent = 0
    deadline = time.monotonic() + 20
    for batch in range(20):  # 20 x 100 streams at most
        frames = []
        for i in range(100):
            sid = 1 + 2 * (batch * 100 + i)
            frames += [HeadersFrame(sid, data=block, flags=["END_HEADERS", "END_STREAM"]),
                       RstStreamFrame(sid, error_code=CANCEL)]
        if not a.send(*frames) or time.monotonic() > deadline:
            break
        sent += 100
        if batch == 0:  # the worker serves others in the middle of it
            assert w.by.get("/orders/during") == b"200"
    g = goaway_of(a.frames())
    a.close()
    assert g.error_code == ENHANCE_YOUR_CALM
    assert g.last_stream_id == 1 + 2 * 249  # the 250th stream: half of 500 premature
    assert sent >= 300  # the client was not stopped before (at most a kernel buffer later)
    assert stat(proxy, "http.downstream_rq_too_many_premature_resets") == 1
    assert stat(proxy, "http2.rx_reset") >= 250
    w.check_after()


def test_streams_reset_after_their_response_head_are_not_premature(proxy):
    """A client that resets each stream once it has the response head (a browser leaving a
    download) is not an attacker: 600 such streams keep the connection open (Envoy counts
    a reset as premature only before a response code)."""
    a = Raw(proxy.gw)
    block = request_block(b"/orders/head")
    for i in range(600):
        sid = 1 + 2 * i
        assert a.send(HeadersFrame(sid, data=block, flags=["END_HEADERS", "END_STREAM"]))
        got = a.frames(until=lambda f: isinstance(f, HeadersFrame) and f.stream_id == sid)
        assert got and got[-1] is not None and got[-1].stream_id == sid, got
        assert not [f for f in got if isinstance(f, GoAwayFrame)]
        assert a.send(RstStreamFrame(sid, error_code=CANCEL))
    assert a.send(HeadersFrame(1201, data=block, flags=["END_HEADERS", "END_STREAM"]))
    frames = a.frames(until=lambda f: isinstance(f, HeadersFrame) and f.stream_id == 1201)
    assert frames[-1] is not None and frames[-1].stream_id == 1201
    assert not [f for f in frames if isinstance(f, GoAwayFrame)]
    a.close()
    assert stat(proxy, "http.downstream_rq_too_many_premature_resets") == 0
    assert stat(proxy, "http2.rx_reset") == 600


def test_continuation_flood_closes_the_connection(proxy):
    """CVE-2024-27316 class: one header block in more CONTINUATION frames than nghttp2's
    bound (8). GOAWAY(ENHANCE_YOUR_CALM)."""
    w = Watch(proxy)
    a = Raw(proxy.gw)
    block = request_block() + b"".join(literal(b"x-pad-%d" % i, b"v" * 20, index=False)
                                       for i in range(40))
    pieces = [block[i:i + 30] for i in range(0, len(block), 30)][:100]
    assert len(pieces) > 20
    frames = [HeadersFrame(1, data=pieces[0])]
    frames += [ContinuationFrame(1, data=p) for p in pieces[1:-1]]
    frames.append(ContinuationFrame(1, data=pieces[-1], flags=["END_HEADERS"]))
    a.send(*frames)
    g = goaway_of(a.frames())
    a.close()
    assert g.error_code == ENHANCE_YOUR_CALM
    assert stat(proxy, "http2.inbound_continuation_frames_flood") == 1
    w.check_after()


def padded_empty_data():
    f = DataFrame(1, data=b"", flags=["PADDED"])
    f.pad_length = 0  # one byte of payload: the pad length, and no data
    return f


@pytest.mark.parametrize("kind", ["data", "padded-data", "continuation"])
def test_empty_frame_flood_closes_the_connection(proxy, kind):
    """Frames with an empty payload and no END_STREAM cost work and carry nothing: Envoy's
    max_consecutive_inbound_frames_with_empty_payload (1). GOAWAY(ENHANCE_YOUR_CALM)."""
    w = Watch(proxy)
    a = Raw(proxy.gw)
    if kind == "data":
        head = [HeadersFrame(1, data=request_block(b"/orders/post", b"POST"),
                             flags=["END_HEADERS"])]
        flood = [DataFrame(1, data=b"") for _ in range(1000)]
    elif kind == "padded-data":
        head = [HeadersFrame(1, data=request_block(b"/orders/post", b"POST"),
                             flags=["END_HEADERS"])]
        flood = [padded_empty_data() for _ in range(1000)]
    else:
        head = [HeadersFrame(1, data=request_block())]
        flood = [ContinuationFrame(1, data=b"") for _ in range(1000)]
    a.send(*head, *flood)
    g = goaway_of(a.frames())
    a.close()
    assert g.error_code == ENHANCE_YOUR_CALM
    assert stat(proxy, "http2.inbound_empty_frames_flood") == 1
    w.check_after()


def test_priority_flood_closes_the_connection(proxy):
    """Envoy's max_inbound_priority_frames_per_stream (100): 100 PRIORITY frames per stream
    opened (plus one) at most. GOAWAY(ENHANCE_YOUR_CALM)."""
    w = Watch(proxy)
    a = Raw(proxy.gw)
    a.send(*[PriorityFrame(1 + 2 * (i % 200), depends_on=0, stream_weight=15)
             for i in range(2000)])
    g = goaway_of(a.frames())
    a.close()
    assert g.error_code == ENHANCE_YOUR_CALM
    assert stat(proxy, "http2.inbound_priority_frames_flood") == 1
    w.check_after()


def test_window_update_flood_closes_the_connection(proxy):
    """Envoy's max_inbound_window_update_frames_per_data_frame_sent (10): a client may send
    5 + 2 * (streams + 10 * DATA frames sent to it) WINDOW_UPDATEs. GOAWAY(ENHANCE_YOUR_CALM)."""
    w = Watch(proxy)
    a = Raw(proxy.gw)
    a.send(*[WindowUpdateFrame(0, window_increment=1) for _ in range(2000)])
    g = goaway_of(a.frames())
    a.close()
    assert g.error_code == ENHANCE_YOUR_CALM
    assert stat(proxy, "http2.inbound_window_update_frames_flood") == 1
    w.check_after()


def test_window_updates_of_a_reading_client_are_fine(proxy):
    """A client acknowledging every DATA frame of a long response stays within the bound."""
    b = Bystander(proxy.gw)
    for i in range(30):
        assert b.get(f"/orders/{i}") == b"200"
    b.close()
    assert stat(proxy, "http2.inbound_window_update_frames_flood") == 0


@pytest.mark.parametrize("kind", ["settings", "ping"])
def test_control_flood_of_a_client_that_does_not_read(proxy, kind):
    """SETTINGS or PING frames each answered by an ACK the client never reads: past 1,000
    acknowledgements waiting (Envoy's max_outbound_control_frames, nghttp2's
    max_outbound_ack) the connection is closed (the client reads nothing, so no GOAWAY
    reaches it, as with Envoy)."""
    w = Watch(proxy)
    a = Raw(proxy.gw, rcvbuf=4096)
    if kind == "settings":
        frame = SettingsFrame(0, settings={SettingsFrame.ENABLE_PUSH: 0})
    else:
        frame = PingFrame(0, opaque_data=b"abcdefgh")
    closed = False
    deadline = time.monotonic() + 20
    for _ in range(400):  # 400 x 1,000 frames at most
        if not a.send(*[frame] * 1000) or time.monotonic() > deadline:
            closed = True
            break
        if stat(proxy, "http2.outbound_control_flood"):
            break
    assert closed or a.until_closed()
    a.close()
    assert stat(proxy, "http2.outbound_control_flood") == 1
    w.check_after()


def test_settings_with_too_many_entries(proxy):
    """nghttp2 accepts at most 32 entries in one SETTINGS frame:
    GOAWAY(ENHANCE_YOUR_CALM), counted as a protocol error."""
    w = Watch(proxy)
    a = Raw(proxy.gw)
    payload = b"".join((0x4).to_bytes(2, "big") + (65535).to_bytes(4, "big") for _ in range(100))
    a.s.sendall(len(payload).to_bytes(3, "big") + b"\x04\x00" + b"\x00" * 4 + payload)
    g = goaway_of(a.frames())
    a.close()
    assert g.error_code == ENHANCE_YOUR_CALM
    assert stat(proxy, "http.downstream_cx_protocol_error") == 1
    w.check_after()


def test_hpack_bomb_resets_only_its_stream(proxy):
    """A 4 KiB header put in the HPACK dynamic table once and referenced by one byte 200
    times decodes to ~800 KiB: past the 60 KiB SETTINGS_MAX_HEADER_LIST_SIZE the stream is
    reset (RST_STREAM(INTERNAL_ERROR), as Envoy on nghttp2 answers, not 431); the connection
    stays and serves the next request; 400 bombs (in rounds of 50, each round's resets read
    before the next: nghttp2 counts a stream it resets until its RST_STREAM is written) leave
    memory where it was."""
    w = Watch(proxy)
    a = Raw(proxy.gw)
    big = literal(b"x-bomb", b"b" * 4000, index=True)
    refs = bytes([0x80 | 62]) * 200  # indexed field 62: the newest dynamic table entry
    sid, resets, got = 1, [], []
    for rnd in range(8):
        frames = []
        for i in range(50):
            block = request_block(b"/orders/bomb") + (big if sid == 1 else b"") + refs
            frames.append(HeadersFrame(sid, data=block, flags=["END_HEADERS", "END_STREAM"]))
            sid += 2
        assert a.send(*frames)
        last = sid - 2
        got += a.frames(until=lambda f: isinstance(f, RstStreamFrame) and f.stream_id == last)
        resets = [f for f in got if isinstance(f, RstStreamFrame)]
    a.send(HeadersFrame(sid, data=request_block(b"/orders/ok"),
                        flags=["END_HEADERS", "END_STREAM"]))
    got += a.frames(until=lambda f: isinstance(f, HeadersFrame) and f.stream_id == sid)
    status = got[-1] if isinstance(got[-1], HeadersFrame) else None
    assert len(resets) == 400 and {f.error_code for f in resets} == {INTERNAL_ERROR}
    assert not [f for f in got if isinstance(f, GoAwayFrame)]
    assert status is not None, "the request after the bombs was not answered"
    a.close()
    assert stat(proxy, "http2.header_overflow") == 400
    w.check_after()


def test_streams_past_the_limit_are_refused(proxy):
    """SETTINGS_MAX_CONCURRENT_STREAMS is 100. A client that opens more before it has
    acknowledged the server's SETTINGS gets RST_STREAM(REFUSED_STREAM) for the extra ones
    (retryable); one that has acknowledged them broke the limit it was told, and nghttp2
    ends the connection with GOAWAY(PROTOCOL_ERROR), as Envoy on nghttp2 does."""
    w = Watch(proxy)
    block = request_block(b"/slow/held")
    early = Raw(proxy.gw, ack_settings=False)
    early.send(*[HeadersFrame(1 + 2 * i, data=block, flags=["END_HEADERS", "END_STREAM"])
                 for i in range(110)])
    frames = early.frames(seconds=2)  # the held ones are answered after 3 s
    refused = {f.stream_id for f in frames if isinstance(f, RstStreamFrame)
               and f.error_code == REFUSED_STREAM}
    assert refused == {1 + 2 * i for i in range(100, 110)}
    assert not [f for f in frames if isinstance(f, GoAwayFrame)]
    early.close()

    rss = []
    for _ in range(2):  # twice: the second leaves memory where the first did
        late = Raw(proxy.gw)
        time.sleep(0.2)  # the ACK is read before the streams
        late.send(*[HeadersFrame(1 + 2 * i, data=block, flags=["END_HEADERS", "END_STREAM"])
                    for i in range(110)])
        g = goaway_of(late.frames())
        late.close()
        assert g.error_code == PROTOCOL_ERROR
        assert eventually(lambda: w.client_fds() <= w.fds, 10)
        rss.append(rss_kb(w.pid))
    print(f"VmRSS after each round: {rss} kB")
    assert sanitized(w.pid) or rss[1] - rss[0] < 1024, rss
    w.check_after(rss_slack_kb=6144)
