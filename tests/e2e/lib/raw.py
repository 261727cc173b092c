# SPDX-License-Identifier: Apache-2.0
"""Raw sockets for tests of broken peers: a backend that runs a function per connection
(to misbehave as asked), a client response reader that tells a complete response from a
truncated one, and the resources a meshlet process holds (fds, CLOSE-WAIT sockets)."""
import os
import socket
import subprocess
import threading


class RawBackend:
    """A TCP server on 127.0.0.1 calling <serve>(conn) in a thread for each connection; the
    connection is closed when <serve> returns. <closed> counts connections the peer closed
    while <serve> waited on it (see wait_close)."""

    def __init__(self, serve):
        self.serve = serve
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(256)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self.closed = 0
        self.lock = threading.Lock()
        self.stopping = False
        self.thread = threading.Thread(target=self._accept, daemon=True)

    def start(self):
        self.thread.start()
        return self

    def _accept(self):
        while not self.stopping:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                self.accepted += 1
            threading.Thread(target=self._run, args=(conn,), daemon=True).start()

    def _run(self, conn):
        try:
            self.serve(self, conn)
        except OSError:
            pass
        finally:
            conn.close()

    def wait_close(self, conn, seconds):
        """Wait up to <seconds> for the peer to close <conn> (EOF or reset): True if it did."""
        conn.settimeout(seconds)
        try:
            while True:
                if not conn.recv(65536):
                    break
        except socket.timeout:
            return False
        except OSError:
            pass
        with self.lock:
            self.closed += 1
        return True

    def stop(self):
        """Stop accepting, then close. The accept thread is woken (shutdown() on a listening
        socket makes accept() fail on Linux) and joined first: closing the fd under it would
        let it accept on whatever socket reuses the fd number (another test's backend)."""
        self.stopping = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.thread.join(5)
        assert not self.thread.is_alive(), "the accept thread did not stop"
        self.sock.close()


def read_head(conn):
    """Read a request head (up to the blank line) from <conn>: the bytes, b"" at EOF."""
    data = b""
    while b"\r\n\r\n" not in data:
        got = conn.recv(65536)
        if not got:
            return b""
        data += got
    return data


class Response:
    def __init__(self):
        self.status = 0
        self.headers = {}
        self.body = b""
        self.complete = False  # the body ended as its framing says
        self.closed = False  # the server closed the connection after (or during) it
        self.interim = []  # 1xx statuses before it


def read_response(sock, head_request=False):
    """Read one response from <sock>; a timeout (socket.timeout) means it hung. Returns a
    Response whose `complete` is False when the connection ended before the framing did."""
    r = Response()
    buf = b""

    def more():
        nonlocal buf
        try:
            got = sock.recv(65536)
        except ConnectionResetError:
            got = b""
        if not got:
            r.closed = True
            return False
        buf += got
        return True

    while True:
        while b"\r\n\r\n" not in buf:
            if not more():
                return r
        head, buf = buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ")[1])
        if 100 <= status < 200:
            r.interim.append(status)
            continue
        r.status = status
        for line in lines[1:]:
            k, v = line.split(":", 1)
            r.headers[k.strip().lower()] = v.strip()
        break
    if head_request or status in (204, 304):
        r.complete = True
        return r
    if "content-length" in r.headers:
        n = int(r.headers["content-length"])
        while len(buf) < n:
            if not more():
                r.body = buf
                return r
        r.body, r.complete = buf[:n], True
        return r
    if "chunked" in r.headers.get("transfer-encoding", ""):
        body = b""
        while True:
            while b"\r\n" not in buf:
                if not more():
                    r.body = body
                    return r
            size_line, rest = buf.split(b"\r\n", 1)
            size = int(size_line.split(b";")[0], 16)
            while len(rest) < size + 2:
                if not more():
                    r.body = body
                    return r
                size_line, rest = buf.split(b"\r\n", 1)
            if size == 0:
                while b"\r\n" not in rest:  # no trailers from meshlet: the final CRLF
                    if not more():
                        r.body = body
                        return r
                    rest = buf.split(b"\r\n", 1)[1]
                r.body, r.complete = body, True
                return r
            body += rest[:size]
            buf = rest[size + 2:]
    while more():  # close-delimited: complete at EOF
        pass
    r.body, r.complete = buf, True
    return r


def read_to_eof(sock):
    """Everything <sock> receives until the peer closes (bounded by the socket's timeout)."""
    data = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk


def fd_count(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def to_port(port):
    """Established TCP connections to 127.0.0.1:<port> (a backend: pooled upstream
    connections)."""
    out = subprocess.run(["ss", "-tanH", "state", "established", f"( dport = :{port} )"],
                         capture_output=True, text=True, timeout=10).stdout
    return len(out.splitlines())


def close_wait(pid):
    """Sockets of process <pid> in CLOSE-WAIT (its peer closed, it did not): `ss` lines."""
    out = subprocess.run(["ss", "-tanpH", "state", "close-wait"], capture_output=True,
                         text=True, timeout=10).stdout
    return [line for line in out.splitlines() if f"pid={pid}," in line]
