# SPDX-License-Identifier: Apache-2.0
"""What a proxy's resident memory (its process and its children: nginx's worker) grows by,
for the request-path benchmarks (bench/lib.sh):

  memory.py h1-idle PID PORT N             per idle HTTP/1.1 keep-alive connection
  memory.py h2-idle PID PORT N [grpc]      per idle HTTP/2 (h2c) connection
  memory.py tcp-idle PID PORT N            per idle TCP connection relayed to an echo
                                           backend (one byte echoed each, then idle)
  memory.py h2-streams PID PORT CONNS STREAMS DELAY_MS [grpc]
                                           per open HTTP/2 stream: STREAMS on each of CONNS
                                           connections, which the backend answers DELAY_MS
                                           after they reach it

Connections are opened one after another and each first has one request answered, so that
they are idle and not a burst in flight. Prints bytes (and, for streams, how many of them
were answered 200 at the end: a stream refused does not count as open). Python 3 and
Debian's python3-h2 only."""
import socket
import sys
import time

import h2.config
import h2.connection
import h2.events

AUTHORITY = "api.example.com"
GRPC_BODY = b"\x00\x00\x00\x00\x05hello"


def rss(pid):
    kb = 0
    for p in [pid] + [int(c) for c in open(f"/proc/{pid}/task/{pid}/children").read().split()]:
        for line in open(f"/proc/{p}/status"):
            if line.startswith("VmRSS:"):
                kb += int(line.split()[1])
    return kb * 1024


def h1_idle(port, n):
    socks = []
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(f"GET /orders HTTP/1.1\r\nHost: {AUTHORITY}\r\n\r\n".encode())
        s.settimeout(5)
        got = b""
        while b"\r\n\r\n" not in got:
            got += s.recv(65536)
        socks.append(s)
    return socks


def tcp_idle(port, n):
    socks = []
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(b"x")
        s.settimeout(5)
        if s.recv(1) != b"x":
            raise SystemExit("tcp-idle: no echo through the proxy")
        socks.append(s)
    return socks


class Client:
    """One h2c connection (prior knowledge) that sends requests and reads their answers."""

    def __init__(self, port, grpc):
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.settimeout(10)
        self.grpc = grpc
        self.h2 = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
        self.h2.initiate_connection()
        self.open = set()
        self.status = {}

    def request(self, delay_ms=0):
        sid = self.h2.get_next_available_stream_id()
        head = [(":method", "POST" if self.grpc else "GET"), (":scheme", "http"),
                (":authority", AUTHORITY), (":path", "/pkg.Svc/Call" if self.grpc else "/orders")]
        if self.grpc:
            head += [("content-type", "application/grpc"), ("te", "trailers")]
        if delay_ms:
            head.append(("x-delay-ms", str(delay_ms)))
        self.h2.send_headers(sid, head, end_stream=not self.grpc)
        if self.grpc:
            self.h2.send_data(sid, GRPC_BODY, end_stream=True)
        self.open.add(sid)

    def flush(self):
        data = self.h2.data_to_send()
        if data:
            self.sock.sendall(data)

    def wait_all(self):
        """Reads until every stream sent has ended (answered or reset)."""
        self.flush()
        while self.open:
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError("proxy closed the connection")
            for ev in self.h2.receive_data(data):
                if isinstance(ev, h2.events.ResponseReceived):
                    self.status[ev.stream_id] = dict(ev.headers).get(b":status")
                elif isinstance(ev, h2.events.DataReceived):
                    self.h2.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
                elif isinstance(ev, (h2.events.StreamEnded, h2.events.StreamReset)):
                    self.open.discard(ev.stream_id)
            self.flush()

    def answered(self):
        return sum(1 for s in self.status.values() if s == b"200")


def h2_clients(port, n, grpc):
    clients = []
    for _ in range(n):
        c = Client(port, grpc)
        c.request()
        c.wait_all()
        clients.append(c)
    return clients


def main():
    mode, pid, port = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    grpc = sys.argv[-1] == "grpc"
    if mode == "tcp-idle":
        n = int(sys.argv[4])
        warm = tcp_idle(port, 1)  # what the first connection sets up once
        time.sleep(0.2)
        before = rss(pid)
        held = tcp_idle(port, n)
        time.sleep(0.5)
        print(f"{(rss(pid) - before) / len(held):.0f}")
        del warm
        return
    if mode in ("h1-idle", "h2-idle"):
        n = int(sys.argv[4])
        # HTTP/2: a first connection answered outside the count, for what a fresh process
        # sets up once (HTTP/1.1: as proxy.sh has always measured, on a process that served).
        warm = [] if mode == "h1-idle" else h2_clients(port, 1, grpc)
        time.sleep(0.2)
        before = rss(pid)
        held = h1_idle(port, n) if mode == "h1-idle" else h2_clients(port, n, grpc)
        # Idle means quiet for a while: meshlet gives an HTTP/2 connection's frame buffer
        # back after a second without traffic (h2_mem.h); every proxy is measured alike.
        time.sleep(0.5 if mode == "h1-idle" else 1.5)
        print(f"{(rss(pid) - before) / len(held):.0f}")
        del warm
        return
    conns, streams, delay_ms = int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
    clients = h2_clients(port, conns, grpc)
    time.sleep(0.5)
    before = rss(pid)
    for c in clients:
        for _ in range(streams):
            c.request(delay_ms)
        c.flush()
    # Every stream reaches the backend well before its delay is over; measured then.
    time.sleep(min(1.0, delay_ms / 3000))
    grown = rss(pid) - before
    for c in clients:
        c.wait_all()
    answered = sum(c.answered() for c in clients) - conns
    print(f"{grown / (conns * streams):.0f} {answered}")

if __name__ == "__main__":
    main()
