# SPDX-License-Identifier: Apache-2.0
"""WebSocket through meshlet (issue 17): an upgrade request is routed like any request
(match, weighted split, retries on connect failure before the 101) and goes upstream over
HTTP/1.1 with its Upgrade and `Connection: upgrade`; the 101 comes back with the route's
response headers, then bytes are relayed both ways until either side ends. The route
timeout stops at the 101 (Envoy); the stream idle timeout ends a silent tunnel. Upgrades a
route must refuse get Envoy's answers (403 for a type other than websocket, 400 for one
with a body, the route's own answer on a direct response, 404 without a route), an h2c
upgrade is stripped and served as a plain request, and a non-101 answer is a normal one.
Each of them closes the connection. A client that vanishes mid-stream gives back its fds
and the others are still served. Real clients and servers: Debian's python3-websockets."""
import asyncio
import http.client
import json
import os
import socket
import ssl
import struct
import subprocess

import h2.config
import h2.connection
import h2.events
import h2.settings
import pytest
import websockets

from backend import Backend
from certs import self_signed
from configs import gateway, service_entry, subsets_rule
from meshlet_proc import Meshlet, eventually, free_port
from ws_backend import WsBackend

AUTH = "api.example.com"
CONNECTIONS = 400


def binomial_ok(k, n, p, sigmas=5):
    """<k> successes of <n> trials lie within <sigmas> standard deviations of p * n."""
    return abs(k - n * p) <= sigmas * (n * p * (1 - p)) ** 0.5


def config(gw, ws1, ws2, plain, dead, tls_port, crt, key, weights=(90, 10)):
    return "---\n".join([
        gateway(gw),
        f"""\
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {{name: edge-tls, namespace: shop}}
spec:
  selector: {{istio: ingressgateway}}
  servers:
  - port: {{number: {tls_port}, name: https, protocol: HTTPS}}
    hosts: ["shop/*.example.com"]
    tls: {{mode: SIMPLE, serverCertificate: {crt}, privateKey: {key}}}
""",
        service_entry("chat", "shop", [(ws1, {"version": "v1"}), (ws2, {"version": "v2"})]),
        subsets_rule("chat", "shop", ["v1", "v2"]),
        service_entry("web", "shop", [(plain, {})]),
        service_entry("flaky", "shop", [(dead, {}), (ws1, {})]),
        service_entry("duplex", "shop", [(ws1, {})]),
        """\
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: duplex, namespace: shop}
spec:
  host: duplex
  trafficPolicy: {connectionPool: {http: {h2UpgradePolicy: UPGRADE}}}
""",
        f"""\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: api, namespace: shop}}
spec:
  hosts: [{AUTH}]
  gateways: [edge, edge-tls]
  http:
  - name: plain
    match: [{{uri: {{prefix: /plain}}}}]
    route: [{{destination: {{host: web}}}}]
  - name: direct
    match: [{{uri: {{prefix: /direct}}}}]
    directResponse: {{status: 200, body: {{string: "direct"}}}}
  - name: slow
    match: [{{uri: {{prefix: /slow}}}}]
    fault: {{delay: {{fixedDelay: 200ms, percentage: {{value: 100}}}}}}
    route: [{{destination: {{host: chat, subset: v1}}}}]
  - name: refused
    match: [{{uri: {{prefix: /refused}}}}]
    fault: {{abort: {{httpStatus: 503, percentage: {{value: 100}}}}}}
    route: [{{destination: {{host: chat}}}}]
  - name: duplex
    match: [{{uri: {{prefix: /duplex}}}}]
    route: [{{destination: {{host: duplex}}}}]
  - name: flaky
    match: [{{uri: {{prefix: /flaky}}}}]
    retries: {{attempts: 3, retryOn: connect-failure}}
    route: [{{destination: {{host: flaky}}}}]
  - name: chat
    match: [{{uri: {{prefix: /chat}}}}]
    timeout: 1s
    headers: {{response: {{set: {{x-route: chat}}}}}}
    mirror: {{host: web}}
    route:
    - destination: {{host: chat, subset: v1}}
      weight: {weights[0]}
    - destination: {{host: chat, subset: v2}}
      weight: {weights[1]}
"""])


@pytest.fixture
def ws(meshlet_bin, tmp_path):
    """meshlet (two workers, access log, 3 s stream idle timeout) in front of two WebSocket
    servers (v1, v2), a plain HTTP backend and a service with one dead endpoint."""
    ws1, ws2 = WsBackend("v1").start(), WsBackend("v2").start()
    plain = Backend("plain").start()
    dead = free_port()
    gw, tls_port = free_port(), free_port()
    crt, key = self_signed(tmp_path / "certs")
    (tmp_path / "config" / "config.yaml").parent.mkdir()
    (tmp_path / "config" / "config.yaml").write_text(
        config(gw, ws1.port, ws2.port, plain.port, dead, tls_port, crt, key))
    args = (gw, ws1.port, ws2.port, plain.port, dead, tls_port, crt, key)
    log = tmp_path / "access.log"
    m = Meshlet(meshlet_bin, tmp_path / "config", workers=2,
                extra=("-n", "shop", "--access-log", str(log),
                       "--stream-idle-timeout", "3s", "--drain-time", "1",
                       "--http2-allow-connect")).start()
    m.gw, m.ws1, m.ws2, m.plain, m.access_log = gw, ws1, ws2, plain, log
    m.tls_port, m.crt = tls_port, crt

    def reweigh(weights):
        before = m.admin("/stats")
        (tmp_path / "config" / "config.yaml").write_text(config(*args, weights=weights))
        assert eventually(lambda: version(m) != version_of(before), 10), m.logs()

    m.reweigh = reweigh
    yield m
    code = m.stop()
    for b in (ws1, ws2, plain):
        b.stop()
    assert code == 0, m.logs()


def stats(m):
    return dict(x.split(": ", 1) for x in m.admin("/stats").splitlines())


def version_of(stats):
    return dict(x.split(": ", 1) for x in stats.splitlines())["server.config_version"]


def version(m):
    return version_of(m.admin("/stats"))


def connect(m, path, **kw):
    """A WebSocket client to <path> on the gateway, with the route's Host."""
    return websockets.connect(f"ws://{AUTH}:{m.gw}{path}", host="127.0.0.1", port=m.gw,
                              max_size=None, ping_interval=None, open_timeout=10,
                              close_timeout=5, **kw)


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 120))


def fds(m):
    """The sockets <m> has open. Pipes are left out: a worker keeps up to 32 spare pipes for
    the tunnel's splice(2), a bounded set that outlives the tunnels that used them."""
    d = f"/proc/{m.proc.pid}/fd"
    n = 0
    for fd in os.listdir(d):
        try:
            n += os.readlink(f"{d}/{fd}").startswith("socket:")
        except FileNotFoundError:  # closed since the listing
            pass
    return n


def raw(m, head, body=b""):
    """Send <head> (and <body>) on a new connection and read until the server closes it,
    within 10 s: (status, head text, body bytes)."""
    with socket.create_connection(("127.0.0.1", m.gw), timeout=10) as s:
        s.sendall(head + body)
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    head_bytes, _, rest = data.partition(b"\r\n\r\n")
    text = head_bytes.decode("latin-1")
    return int(text.split(" ", 2)[1]), text.lower(), rest


def upgrade_head(path, upgrade="websocket", extra=""):
    return (f"GET {path} HTTP/1.1\r\nHost: {AUTH}\r\nConnection: Upgrade\r\n"
            f"Upgrade: {upgrade}\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            f"Sec-WebSocket-Version: 13\r\n{extra}\r\n").encode()


def test_split_90_10_per_connection(ws):
    """400 WebSocket connections: each version's share within 5 sigma of its weight, and
    every connection's first message is its server's."""
    async def one(sem):
        async with sem:
            async with connect(ws, "/chat/split") as c:
                return await c.recv()

    async def main():
        sem = asyncio.Semaphore(20)
        return await asyncio.gather(*(one(sem) for _ in range(CONNECTIONS)))

    got = run(main())
    assert set(got) <= {"version:v1", "version:v2"}, set(got)
    v2 = got.count("version:v2")
    assert binomial_ok(v2, CONNECTIONS, 0.10), v2
    assert len(ws.ws1.paths) + len(ws.ws2.paths) == CONNECTIONS
    # Mirrors copy no upgrade request: the mirror target saw none of them.
    assert ws.plain.hits == []
    # Envoy's upgrade counters: every one counted, none left open.
    assert eventually(lambda: stats(ws)["http.downstream_cx_upgrades_active"] == "0", 10)
    assert stats(ws)["http.downstream_cx_upgrades_total"] == str(CONNECTIONS)


def test_echo_text_and_binary_past_route_timeout(ws):
    """A text message and a 1 MiB binary message come back intact, also after the route's
    1 s timeout has passed (it ends at the 101); the 101 carries the route's response
    header and the server got the upgrade with the client's WebSocket fields."""
    blob = os.urandom(1 << 20)

    async def main():
        async with connect(ws, "/chat/echo") as c:
            assert c.response_headers["x-route"] == "chat"
            first = await c.recv()
            await c.send("hello, tunnel")
            text = await c.recv()
            await asyncio.sleep(1.5)  # past the route timeout
            await c.send(blob)
            back = await c.recv()
            return first, text, back

    first, text, back = run(main())
    assert first.startswith("version:")
    assert text == "hello, tunnel"
    assert back == blob
    seen = (ws.ws1.headers + ws.ws2.headers)[0]
    assert seen["upgrade"].lower() == "websocket" and "upgrade" in seen["connection"].lower()
    assert seen["sec-websocket-key"] and seen["sec-websocket-version"] == "13"
    assert seen["host"] == f"{AUTH}:{ws.gw}" and seen["x-forwarded-proto"] == "http"
    # The route timeout did not end the exchange: one line, at the tunnel's end, with
    # both copies of the blob counted.
    (e,) = log_entries(ws, 1)
    assert e["response_code"] == 101 and e["response_flags"] == "-", e
    assert e["bytes_received"] > 1 << 20 and e["bytes_sent"] > 1 << 20, e


def test_wss_through_a_tls_gateway(ws):
    """wss:// to a Gateway that terminates TLS: the tunnel reads and writes through TLS on
    the client side (records, not segments); a text and a 1 MiB message come back."""
    ctx = ssl.create_default_context(cafile=str(ws.crt))
    blob = os.urandom(1 << 20)

    async def main():
        async with websockets.connect(f"wss://{AUTH}:{ws.tls_port}/chat/tls", host="127.0.0.1",
                                      port=ws.tls_port, ssl=ctx, server_hostname=AUTH,
                                      max_size=None, ping_interval=None, open_timeout=10,
                                      close_timeout=5) as c:
            first = await c.recv()
            out = []
            for msg in ("over tls", blob, "and after"):
                await c.send(msg)
                out.append(await c.recv())
            return first, out

    first, out = run(main())
    assert first.startswith("version:")
    assert out == ["over tls", blob, "and after"]
    (e,) = log_entries(ws, 1)
    assert e["response_code"] == 101 and e["response_flags"] == "-", e


def test_server_close_and_client_close(ws):
    """A close the server starts reaches the client with its code and reason; a close the
    client starts reaches the server with its code. The access log has one line per
    connection: code 101, the route, bytes both ways."""
    async def main():
        async with connect(ws, "/chat/close") as c:
            await c.recv()
            with pytest.raises(websockets.ConnectionClosed) as e:
                await c.recv()
            server_close = (e.value.rcvd.code, e.value.rcvd.reason)
        async with connect(ws, "/chat/mine") as c:
            await c.recv()
            await c.close(4002, "done")
        return server_close

    assert run(main()) == (4001, "bye")
    backends = (ws.ws1, ws.ws2)
    assert eventually(lambda: 4002 in sum((b.closes for b in backends), []), 10)
    for e in log_entries(ws, 2):
        assert e["response_code"] == 101 and e["route_name"] == "chat", e
        assert e["response_flags"] == "-", e
        assert e["bytes_received"] > 100 and e["bytes_sent"] > 100, e


def log_entries(m, n):
    """The access log's first <n> lines (waited for), as JSON."""
    out = []

    def logged():
        out[:] = [json.loads(x) for x in m.access_log.read_text().splitlines()]
        return len(out) >= n

    assert eventually(logged, 10), m.logs()
    return out


def test_idle_tunnel_closed_by_stream_idle_timeout(ws):
    """A tunnel that moves no byte for the stream idle timeout (3 s here) is closed; the
    client sees its connection end, and the access log says why (SI)."""
    async def main():
        async with connect(ws, "/chat/idle") as c:
            await c.recv()
            with pytest.raises(websockets.ConnectionClosed):
                await asyncio.wait_for(c.recv(), 30)

    run(main())
    (e,) = log_entries(ws, 1)
    assert e["response_code"] == 101 and e["response_flags"] == "SI", e


def test_vanishing_clients_give_back_fds(ws):
    """Clients that reset their connection mid-message: meshlet's fds come back to where
    they were (upstream connections closed too) and other clients are still served."""
    async def hello():
        async with connect(ws, "/chat/after") as c:
            await c.recv()
            await c.send("still here")
            return await c.recv()

    assert run(hello()) == "still here"
    base = fds(ws)
    for _ in range(20):
        s = socket.create_connection(("127.0.0.1", ws.gw), timeout=10)
        s.sendall(upgrade_head("/chat/vanish"))
        got = b""
        while b"\r\n\r\n" not in got:
            chunk = s.recv(4096)
            assert chunk, got
            got += chunk
        assert got.startswith(b"HTTP/1.1 101 "), got
        # Half a masked text frame of 1000 bytes, then a reset (SO_LINGER 0).
        s.sendall(bytes([0x81, 0x80 | 126]) + struct.pack("!H", 1000) + b"\0\0\0\0" + b"x" * 300)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()
    assert eventually(lambda: fds(ws) <= base, 10), (fds(ws), base)
    assert run(hello()) == "still here"
    assert eventually(lambda: fds(ws) <= base, 10), (fds(ws), base)
    flags = [e["response_flags"] for e in log_entries(ws, 22)]
    assert flags.count("DC") == 20, flags


def frames(data):
    """The unmasked frames (server to client) at the start of <data>: [(opcode, payload)],
    and the bytes left over."""
    out = []
    while len(data) >= 2:
        n = data[1] & 0x7F
        at = 2
        if n == 126:
            n, at = struct.unpack("!H", data[2:4])[0], 4
        if len(data) < at + n:
            break
        out.append((data[0] & 0x0F, data[at:at + n]))
        data = data[at + n:]
    return out, data


def test_client_bytes_sent_with_the_request_head(ws):
    """A client that sends its first frame in the same segment as its upgrade request (before
    the 101): the frame reaches the server after the upgrade and its echo comes back."""
    payload = b"early bird"
    mask = b"\x01\x02\x03\x04"
    frame = bytes([0x81, 0x80 | len(payload)]) + mask + bytes(
        b ^ mask[i % 4] for i, b in enumerate(payload))
    with socket.create_connection(("127.0.0.1", ws.gw), timeout=10) as s:
        s.sendall(upgrade_head("/chat/early") + frame)
        data = b""
        got = []
        while len(got) < 2:
            chunk = s.recv(65536)
            assert chunk, data
            data += chunk
            if b"\r\n\r\n" in data and not got:
                head, _, rest = data.partition(b"\r\n\r\n")
                assert head.startswith(b"HTTP/1.1 101 "), head
                data = rest
            if not data.startswith(b"HTTP/"):
                got, _ = frames(data)
    assert got[0][1].startswith(b"version:") and got[1] == (1, payload)


def test_stop_with_a_tunnel_open(ws):
    """SIGTERM with a WebSocket open: after the drain time the tunnel is cut, the client sees
    its connection end and meshlet exits cleanly."""
    async def main():
        async with connect(ws, "/chat/stop") as c:
            await c.recv()
            code = await asyncio.get_running_loop().run_in_executor(None, ws.stop)
            with pytest.raises(websockets.ConnectionClosed):
                await asyncio.wait_for(c.recv(), 30)
            return code

    assert run(main()) == 0, ws.logs()


def test_reload_keeps_open_tunnels_on_their_route(ws):
    """A reload that sends everything to v2: WebSockets opened before it keep their server
    (and work), new ones all go to v2, and the old generation's tunnels end cleanly."""
    async def main():
        olds = []
        for _ in range(10):
            c = await connect(ws, "/chat/reload")
            olds.append((c, await c.recv()))
        await asyncio.get_running_loop().run_in_executor(None, ws.reweigh, (0, 100))
        for i, (c, _) in enumerate(olds):
            await c.send(f"after {i}")
            assert await c.recv() == f"after {i}"
        news = []
        for _ in range(10):
            async with connect(ws, "/chat/reload") as c:
                news.append(await c.recv())
        for c, _ in olds:
            await c.close()
        return [v for _, v in olds], news

    olds, news = run(main())
    assert "version:v1" in olds
    assert news == ["version:v2"] * 10


class H2Client:
    """An HTTP/2 client on a raw socket (python3-h2), for extended CONNECT (RFC 8441)."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.conn = h2.connection.H2Connection(
            h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
        self.conn.initiate_connection()
        self.flush()
        self.data = b""
        self.status = None
        self.ended = False
        while not any(isinstance(e, h2.events.RemoteSettingsChanged) for e in self.read()):
            pass

    def flush(self):
        self.sock.sendall(self.conn.data_to_send())

    def read(self):
        chunk = self.sock.recv(65536)
        assert chunk, "connection closed"
        events = self.conn.receive_data(chunk)
        for e in events:
            if isinstance(e, h2.events.ResponseReceived):
                self.status = dict(e.headers)[":status"]
            elif isinstance(e, h2.events.DataReceived):
                self.data += e.data
                self.conn.acknowledge_received_data(e.flow_controlled_length, e.stream_id)
            elif isinstance(e, (h2.events.StreamEnded, h2.events.StreamReset)):
                self.ended = True
        self.flush()
        return events

    def connect_protocol(self):
        return self.conn.remote_settings.get(h2.settings.SettingCodes.ENABLE_CONNECT_PROTOCOL, 0)

    def frame(self):
        """The next whole WebSocket frame the server sent: (opcode, payload)."""
        while True:
            got, _ = frames(self.data)
            if got:
                opcode, payload = got[0]
                self.data = self.data[(4 if len(payload) >= 126 else 2) + len(payload):]
                return opcode, payload
            self.read()

    def send(self, data):
        """<data> on stream 1, in DATA frames of at most 16 KiB (the default frame size)."""
        for i in range(0, len(data), 16384):
            self.conn.send_data(1, data[i:i + 16384])
            self.flush()


def masked(opcode, payload):
    mask = b"\x0a\x0b\x0c\x0d"
    n = len(payload)
    head = bytes([0x80 | opcode]) + (bytes([0x80 | n]) if n < 126 else
                                     bytes([0x80 | 126]) + struct.pack("!H", n))
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def h2_websocket(m, path):
    """An HTTP/2 connection to <m>'s gateway with a WebSocket on stream 1 at <path>."""
    c = H2Client(m.gw)
    assert c.connect_protocol() == 1
    c.conn.send_headers(1, [(":method", "CONNECT"), (":protocol", "websocket"),
                            (":scheme", "http"), (":path", path), (":authority", AUTH),
                            ("sec-websocket-version", "13")])
    c.flush()
    return c


def test_http2_extended_connect(ws):
    """With --http2-allow-connect (Envoy's allow_connect) meshlet offers extended CONNECT:
    a WebSocket over an HTTP/2 stream is routed like the HTTP/1.1 one, goes to the server
    as a GET upgrade (with a key of meshlet's making), is answered 200, and the stream's
    DATA carry the frames both ways until the close."""
    base = fds(ws)
    c = h2_websocket(ws, "/chat/h2")
    opcode, first = c.frame()
    assert c.status == "200" and opcode == 1 and first.startswith(b"version:")
    blob = os.urandom(60000)
    for op, msg in ((1, b"over h2"), (2, blob)):
        c.send(masked(op, msg))
        assert c.frame() == (op, msg)
    c.send(masked(8, struct.pack("!H", 1000)))
    assert c.frame()[0] == 8  # the server's close
    while not c.ended:
        c.read()
    c.sock.close()
    seen = [h for h in ws.ws1.headers + ws.ws2.headers if h.get("sec-websocket-key")]
    assert len(seen) == 1 and len(seen[0]["sec-websocket-key"]) == 24
    (e,) = log_entries(ws, 1)
    assert e["protocol"] == "HTTP/2" and e["response_code"] == 200 and e["route_name"] == "chat"
    # The client closed (FIN) with its stream never ended: its connection closes all the
    # same; and clients that vanish mid-stream (a reset): their upstream connections too.
    for _ in range(10):
        c = h2_websocket(ws, "/chat/h2-vanish")
        c.frame()
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        c.sock.close()
    assert eventually(lambda: fds(ws) <= base, 10), (fds(ws), base)


def test_retry_on_connect_failure_before_101(ws):
    """A route with retryOn connect-failure over a pool with a dead endpoint: every upgrade
    gets through (round robin sends half of the first tries to the dead one)."""
    async def main():
        out = []
        for _ in range(10):
            async with connect(ws, "/flaky") as c:
                out.append(await c.recv())
        return out

    assert run(main()) == ["version:v1"] * 10


def test_upgrade_goes_as_http1_to_an_http2_pool(ws):
    """A pool whose requests go as HTTP/2 (h2UpgradePolicy UPGRADE) still takes an upgrade
    as HTTP/1.1: there is no other way to ask for it. A plain request there goes as HTTP/2,
    which the WebSocket server (HTTP/1.1 only) cannot answer."""
    async def main():
        async with connect(ws, "/duplex") as c:
            first = await c.recv()
            await c.send("both ways")
            return first, await c.recv()

    assert run(main()) == ("version:v1", "both ways")
    c = http.client.HTTPConnection("127.0.0.1", ws.gw, timeout=10)
    c.request("GET", "/duplex", headers={"Host": AUTH})
    assert c.getresponse().status in (502, 503)
    c.close()


def test_faults_apply_to_upgrades(ws):
    """An injected delay holds the upgrade, then it goes through (its head, kept in the
    client buffer during the delay, is not tunnelled); an injected abort answers it and
    closes the connection."""
    async def main():
        async with connect(ws, "/slow") as c:
            first = await c.recv()
            await c.send("late")
            return first, await c.recv()

    assert run(main()) == ("version:v1", "late")
    status, head, _ = raw(ws, upgrade_head("/refused"))
    assert status == 503 and "connection: close" in head
    flags = [e["response_flags"] for e in log_entries(ws, 2)]
    assert sorted(flags) == ["DI", "FI"], flags


def test_refused_upgrades(ws):
    """Envoy's answers to upgrades a route refuses, each closing the connection."""
    status, head, _ = raw(ws, upgrade_head("/chat/x", upgrade="foo"))
    assert status == 403 and "connection: close" in head
    status, head, _ = raw(ws, upgrade_head("/chat/x", extra="Content-Length: 5\r\n"), b"hello")
    assert status == 400 and "connection: close" in head
    status, head, _ = raw(ws, upgrade_head("/nowhere"))
    assert status == 404 and "connection: close" in head
    status, head, body = raw(ws, upgrade_head("/direct"))
    assert status == 200 and body == b"direct" and "connection: close" in head
    # Nothing reached a WebSocket server.
    assert ws.ws1.paths == [] and ws.ws2.paths == []
    st = stats(ws)
    assert st["http.downstream_rq_ws_on_non_ws_route"] == "1"
    assert st["http.downstream_cx_upgrades_total"] == "0"


def test_non_101_answer_is_a_normal_response(ws):
    """An upgrade to a server that answers 200 instead: the client gets that response and
    the connection closes; the server got the request with its Upgrade and Connection."""
    status, head, body = raw(ws, upgrade_head("/plain/ws"))
    assert status == 200 and "connection: close" in head
    seen = json.loads(body)["headers"]
    assert seen["upgrade"] == "websocket" and seen["connection"] == "upgrade"


def test_h2c_upgrade_is_stripped(ws):
    """Upgrade: h2c is no upgrade (Envoy's codec strips it, with HTTP2-Settings): a plain
    request reaches the server."""
    head = (f"GET /plain/h2c HTTP/1.1\r\nHost: {AUTH}\r\n"
            "Connection: Upgrade, HTTP2-Settings, close\r\nUpgrade: h2c\r\n"
            "HTTP2-Settings: AAMAAABkAAQAoAAAAAIAAAAA\r\n\r\n").encode()
    status, _, body = raw(ws, head)
    assert status == 200
    seen = json.loads(body)["headers"]
    assert "upgrade" not in seen and "http2-settings" not in seen
    assert "upgrade" not in seen.get("connection", "")


@pytest.fixture
def mesh(meshlet_bin, tmp_path):
    """A gateway meshlet that reaches a STRICT inbound sidecar (in front of a WebSocket
    server) over ISTIO_MUTUAL: the tunnel is TLS on the upstream side in the first, on the
    client side in the second."""
    app = WsBackend("app").start()

    def run_ca(*args):
        subprocess.run([meshlet_bin, "ca", *args], check=True, capture_output=True)

    run_ca("init", "--dir", str(tmp_path / "ca"))
    for sa, ns in (("orders", "shop"), ("gateway", "istio-system")):
        run_ca("issue", "--dir", str(tmp_path / "ca"), "--ns", ns, "--sa", sa,
               "--out", str(tmp_path / sa))
    side_port, gw = free_port(), free_port()
    (tmp_path / "side").mkdir()
    (tmp_path / "side" / "pa.yaml").write_text("""\
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: istio-system}
spec: {mtls: {mode: STRICT}}
""")
    side = Meshlet(meshlet_bin, tmp_path / "side", extra=(
        "--namespace", "shop", "--identity", str(tmp_path / "orders"), "--label", "app=orders",
        "--inbound", f"{side_port}=127.0.0.1:{app.port}")).start()
    (tmp_path / "edge").mkdir()
    (tmp_path / "edge" / "c.yaml").write_text("---\n".join([
        gateway(gw),
        f"""\
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {{name: orders, namespace: shop}}
spec:
  hosts: [orders.shop.svc.cluster.local]
  location: MESH_INTERNAL
  ports: [{{number: 9080, name: http, protocol: HTTP}}]
  resolution: STATIC
  endpoints:
  - {{address: 127.0.0.1, ports: {{http: {side_port}}}, serviceAccount: orders}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: orders, namespace: shop}}
spec:
  host: orders
  trafficPolicy: {{tls: {{mode: ISTIO_MUTUAL}}}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: edge, namespace: shop}}
spec:
  hosts: [{AUTH}]
  gateways: [edge]
  http:
  - route: [{{destination: {{host: orders}}}}]
"""]))
    edge = Meshlet(meshlet_bin, tmp_path / "edge", extra=(
        "--namespace", "shop", "--identity", str(tmp_path / "gateway"))).start()
    edge.gw, edge.side, edge.app = gw, side, app
    yield edge
    codes = [edge.stop(), side.stop()]
    app.stop()
    assert codes == [0, 0], (edge.logs(), side.logs())


def test_websocket_over_istio_mutual_to_a_strict_sidecar(mesh):
    """Gateway -> ISTIO_MUTUAL -> STRICT inbound sidecar -> WebSocket server: messages both
    ways, the server sees the upgrade from the sidecar, and after the close both proxies
    have their fds back."""
    blob = os.urandom(1 << 20)

    async def hello():
        async with connect(mesh, "/mesh") as c:
            await c.recv()
            await c.send("ping")
            return await c.recv()

    assert run(hello()) == "ping"
    base = (fds(mesh), fds(mesh.side))

    async def main():
        async with connect(mesh, "/mesh") as c:
            first = await c.recv()
            await c.send(blob)
            back = await c.recv()
            await c.send("bye")
            return first, back, await c.recv()

    assert run(main()) == ("version:app", blob, "bye")
    assert mesh.app.headers[-1]["upgrade"].lower() == "websocket"
    assert "x-forwarded-client-cert" in mesh.app.headers[-1]
    assert eventually(lambda: fds(mesh) <= base[0] and fds(mesh.side) <= base[1], 10), base
    # Without --http2-allow-connect (Istio's Envoy), HTTP/2 clients are not offered it.
    assert H2Client(mesh.gw).connect_protocol() == 0
