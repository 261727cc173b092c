# SPDX-License-Identifier: Apache-2.0
"""A TCP backend for the L4 tests: each connection first gets "<tag>\\n", then an echo of
what it sends; at the client's end of stream the backend half-closes too. Options make it a
slow reader (for back-pressure) or a server that speaks first and half-closes first."""
import socket
import threading


class TcpEcho:
    def __init__(self, tag, port=0, read_pause=None, close_first=False, tls=None, echo=True):
        self.tag = tag.encode()
        self.echo = echo  # False: a sink that only counts
        self.ctx = None
        if tls:  # (certificate, key): the backend terminates TLS itself
            import ssl
            self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self.ctx.load_cert_chain(str(tls[0]), str(tls[1]))
        self.read_pause = read_pause  # an Event: reads wait for it
        self.close_first = close_first  # half-close right after the tag, then count bytes
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.sock.listen(512)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self.received = 0
        self.lock = threading.Lock()
        self.stopping = False
        self.conns = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.stopping:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                self.accepted += 1
                self.conns.append(c)
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        try:
            if self.ctx:
                c.settimeout(10)
                c = self.ctx.wrap_socket(c, server_side=True)
            c.sendall(self.tag + b"\n")
            if self.close_first:
                c.shutdown(socket.SHUT_WR)
            total = 0
            while True:
                if self.read_pause is not None and not self.read_pause.is_set():
                    self.read_pause.wait()
                data = c.recv(65536)
                if not data:
                    break
                total += len(data)
                with self.lock:
                    self.received += len(data)
                if self.echo and not self.close_first:
                    c.sendall(data)
            if self.close_first:
                return
            if self.ctx:
                c = c.unwrap()  # close_notify, then the TCP end of stream
            c.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        finally:
            c.close()

    def stop(self):
        self.stopping = True
        self.sock.close()
        with self.lock:
            for c in self.conns:
                try:
                    c.close()
                except OSError:
                    pass


def dial(port, timeout=5):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    return s


def read_line(s):
    out = b""
    while not out.endswith(b"\n"):
        d = s.recv(1)
        if not d:
            break
        out += d
    return out.decode().strip()


def read_all(s):
    out = b""
    while True:
        d = s.recv(65536)
        if not d:
            return out
        out += d
