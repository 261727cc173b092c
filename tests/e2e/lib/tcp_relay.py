# SPDX-License-Identifier: Apache-2.0
"""A TCP relay on a loopback port to one target, that a test can cut: cut() closes every
relayed connection and refuses new ones (they are accepted and closed at once) until
mend(). It stands between meshlet and a server to make that server unreachable from
meshlet alone, while the test still talks to it directly."""
import socket
import threading

from meshlet_proc import free_port


class TcpRelay:
    def __init__(self, target_port):
        self.target = target_port
        self.port = free_port()
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", self.port))
        self.sock.listen(64)
        self.url = f"http://127.0.0.1:{self.port}"
        self.open = True
        self.live = []  # socket pairs being relayed
        self.lock = threading.Lock()
        self.stopping = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.stopping:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            if not self.open:
                c.close()
                continue
            try:
                u = socket.create_connection(("127.0.0.1", self.target), timeout=5)
            except OSError:
                c.close()
                continue
            with self.lock:
                self.live.append((c, u))
            for a, b in ((c, u), (u, c)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(a, b):
        try:
            while True:
                data = a.recv(65536)
                if not data:
                    break
                b.sendall(data)
        except OSError:
            pass
        for s in (a, b):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def cut(self):
        self.open = False
        with self.lock:
            live, self.live = self.live, []
        for pair in live:
            for s in pair:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()

    def mend(self):
        self.open = True

    def stop(self):
        self.stopping = True
        self.cut()
        self.sock.close()
