# SPDX-License-Identifier: Apache-2.0
"""A small authoritative DNS server for the tests (UDP on a loopback port, stdlib only).

A mutable table name -> [IPv4 addresses] answered with A records and one TTL; NXDOMAIN
for names not in it (or set to []); an empty NOERROR answer to other query types. Modes:
drop (answer nothing), delay (answer after N seconds, each answer on its own timer so the
server keeps reading). Counts queries per name (lower case, no trailing dot).

    srv = DnsServer({"api.test": ["127.0.0.2", "127.0.0.3"]}, ttl=1).start()
    ... meshlet --dns-server 127.0.0.1:%d % srv.port ...
    srv.set("api.test", ["127.0.0.4"]); srv.drop = True; srv.delay = 5.0
    srv.queries["api.test"]; srv.stop()

As a script: dns_server.py --port P [--ttl S] name=1.2.3.4,5.6.7.8 ...
"""
import argparse
import socket
import struct
import sys
import threading


def _parse_question(q):
    """(id, flags, name, qtype, end of the question) or None for what is not one query."""
    if len(q) < 12:
        return None
    qid, flags, qd = struct.unpack("!HHH", q[:6])
    if flags & 0x8000 or qd != 1:
        return None
    at, labels = 12, []
    while at < len(q) and q[at]:
        n = q[at]
        if n > 63 or at + 1 + n > len(q):
            return None
        labels.append(q[at + 1:at + 1 + n].decode("ascii", "replace").lower())
        at += 1 + n
    if at + 5 > len(q):
        return None
    qtype = struct.unpack("!H", q[at + 1:at + 3])[0]
    return qid, flags, ".".join(labels), qtype, at + 5


class DnsServer:
    def __init__(self, table=None, ttl=1, port=0, host="127.0.0.1"):
        self.ttl = ttl
        self.drop = False  # answer nothing
        self.delay = 0.0  # seconds before each answer
        self.queries = {}  # name -> queries received (dropped ones too)
        self._table = {k.lower().rstrip("."): list(v) for k, v in (table or {}).items()}
        self._lock = threading.Lock()
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.bind((host, port))
        self._sock.settimeout(0.1)
        self.port = self._sock.getsockname()[1]
        self._stop = threading.Event()
        self._thread = None
        self._timers = []

    def set(self, name, addrs):
        """Answer <name> with <addrs> from now on ([] or None: NXDOMAIN)."""
        with self._lock:
            self._table[name.lower().rstrip(".")] = list(addrs or [])

    def remove(self, name):
        with self._lock:
            self._table.pop(name.lower().rstrip("."), None)

    def count(self, name):
        with self._lock:
            return self.queries.get(name.lower().rstrip("."), 0)

    def start(self):
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def stop(self):
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=5)
        for t in self._timers:
            t.cancel()
        self._sock.close()

    def answer(self, q):
        """The response bytes for query <q>, or None to send nothing."""
        parsed = _parse_question(q)
        if not parsed:
            return None
        qid, flags, name, qtype, end = parsed
        with self._lock:
            self.queries[name] = self.queries.get(name, 0) + 1
            if self.drop:
                return None
            addrs = self._table.get(name)
            ttl = self.ttl
        rcode = 0 if addrs else 3
        answers = b""
        if addrs and qtype == 1:
            for a in addrs:
                answers += struct.pack("!HHHIH", 0xC00C, 1, 1, ttl, 4) + socket.inet_aton(a)
        n = len(answers) // 16
        head = struct.pack("!HHHHHH", qid, 0x8400 | (flags & 0x0100) | rcode, 1, n, 0, 0)
        return head + q[12:end] + answers

    def _run(self):
        while not self._stop.is_set():
            try:
                q, peer = self._sock.recvfrom(512)
            except socket.timeout:
                continue
            except OSError:
                return
            resp = self.answer(q)
            if resp is None:
                continue
            if self.delay > 0:
                t = threading.Timer(self.delay, self._send, (resp, peer))
                t.daemon = True
                self._timers = [x for x in self._timers if x.is_alive()] + [t]
                t.start()
            else:
                self._send(resp, peer)

    def _send(self, resp, peer):
        try:
            self._sock.sendto(resp, peer)
        except OSError:
            pass  # stopped meanwhile


def main(argv):
    p = argparse.ArgumentParser(description="authoritative test DNS server (A records)")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--ttl", type=int, default=1)
    p.add_argument("records", nargs="*", help="name=1.2.3.4,5.6.7.8")
    a = p.parse_args(argv)
    table = {}
    for r in a.records:
        name, _, addrs = r.partition("=")
        table[name] = [x for x in addrs.split(",") if x]
    srv = DnsServer(table, ttl=a.ttl, port=a.port).start()
    print("dns_server: 127.0.0.1:%d" % srv.port, flush=True)
    try:
        srv._thread.join()
    except KeyboardInterrupt:
        pass
    srv.stop()


if __name__ == "__main__":
    main(sys.argv[1:])
