# SPDX-License-Identifier: Apache-2.0
"""A test backend: answers every request with JSON naming its version and what it saw.

Paths: /status/<code> answers that status; /chunked answers with a chunked body;
/echo returns the request body. Everything else: 200 with the JSON description.
Run as a thread (Backend(...).start()) or as a script: backend.py PORT VERSION.
"""
import http.server
import json
import socketserver
import ssl
import sys
import threading
import time


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # head and body go out in two writes

    def log_message(self, *args):
        pass

    def _body(self):
        n = int(self.headers.get("content-length") or 0)
        if n:
            return self.rfile.read(n)
        if "chunked" in (self.headers.get("transfer-encoding") or "").lower():
            data = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return data
                data += self.rfile.read(size)
                self.rfile.readline()
        return b""

    def _count(self):
        """Read the body in pieces, never whole: {"bytes": n}."""
        n = int(self.headers.get("content-length") or 0)
        total = 0
        while total < n:
            got = self.rfile.read(min(1 << 20, n - total))
            if not got:
                break
            total += len(got)
        payload = json.dumps({"version": self.server.version, "bytes": total}).encode()
        self.send_response(200)
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _bytes(self, n):
        self.send_response(200)
        self.send_header("content-length", str(n))
        self.end_headers()
        block = b"x" * (1 << 20)
        while n:
            k = min(n, len(block))
            self.wfile.write(block[:k])
            n -= k

    def _handle(self):
        if self.server.delay_ms:
            time.sleep(self.server.delay_ms / 1000)
        if "delay_ms=" in self.path:
            time.sleep(int(self.path.split("delay_ms=")[1].split("&")[0]) / 1000)
        if "/count" in self.path:
            return self._count()
        if "/bytes/" in self.path:
            return self._bytes(int(self.path.rsplit("/", 1)[1]))
        body = self._body()
        self.server.hits.append(self.path)
        self.server.times.append(time.monotonic())
        self.server.bodies.append(body)
        cert = self.connection.getpeercert() if hasattr(self.connection, "getpeercert") else None
        self.server.peers.append(next((v for k, v in (cert or {}).get("subjectAltName", ())
                                       if k == "URI"), None))
        self.server.serials.append((cert or {}).get("serialNumber"))
        self.server.resumed.append(getattr(self.connection, "session_reused", None))
        self.server.hosts.append(self.headers.get("host"))
        self.server.attempts.append(self.headers.get("x-envoy-attempt-count"))
        self.server.ports.append(self.client_address[1])
        if self.path.startswith("/status/") or self.server.fail_status:
            code = self.server.fail_status or int(self.path.split("/")[2])
            payload = json.dumps({"version": self.server.version, "status": code}).encode()
            self.send_response(code)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
            return
        if "chunked" in self.path:
            self.send_response(200)
            self.send_header("transfer-encoding", "chunked")
            self.end_headers()
            for part in (b"hello ", b"chunked ", b"world"):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
            self.wfile.write(b"0\r\n\r\n")
            return
        payload = json.dumps({
            "version": self.server.version,
            "method": self.command,
            "path": self.path,
            # http.server folds a leading "//" into "/"; this is the path as it came.
            "raw_path": self.requestline.split(" ")[1],
            # Repeated headers joined as one list value, so an added value shows beside the
            # client's.
            "headers": {k.lower(): ", ".join(self.headers.get_all(k)) for k in self.headers},
            "body": body.decode("latin-1"),
        }).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(payload)))
        self.send_header("x-backend-version", self.server.version)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = do_OPTIONS = _handle


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 1024  # bursts of upstream connections


class Backend:
    """A backend on 127.0.0.1:<port> (0: any free port) answering as <version>; with
    <fail_status> it answers every request with that status, with <delay_ms> after a pause."""

    def __init__(self, version, port=0, fail_status=None, delay_ms=0, tls=None):
        self.server = Server(("127.0.0.1", port), Handler)
        self.server.peers = []  # the client certificate's URI SAN of each hit (TLS)
        self.server.serials = []  # and its serial number (hex)
        self.server.resumed = []  # whether the TLS session was resumed
        if tls:  # (cert, key, ca): serve TLS; with ca, require a client certificate from it
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(tls[0], tls[1])
            if tls[2]:
                ctx.load_verify_locations(tls[2])
                ctx.verify_mode = ssl.CERT_REQUIRED
            self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
        # serve_forever accepts after select said a connection waits; one reset meanwhile
        # would leave a blocking accept() waiting for ever, and stop() with it.
        self.server.socket.setblocking(False)
        self.server.version = version
        self.server.fail_status = fail_status
        self.server.delay_ms = delay_ms
        self.server.attempts = []  # x-envoy-attempt-count of each hit
        self.server.ports = []  # the client (proxy) port of each hit: its connection
        self.server.hits = []
        self.server.times = []  # time.monotonic() of each hit
        self.server.bodies = []  # the request body of each hit
        self.server.hosts = []  # the Host of each hit
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,),
                                       daemon=True)

    @property
    def hits(self):
        return self.server.hits

    @property
    def hosts(self):
        return self.server.hosts

    @property
    def attempts(self):
        return self.server.attempts

    @property
    def ports(self):
        return self.server.ports

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


if __name__ == "__main__":
    b = Backend(sys.argv[2], int(sys.argv[1]))
    b.server.serve_forever()
