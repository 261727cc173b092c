# SPDX-License-Identifier: Apache-2.0
"""The TCP tools for the L4 tests (tests/tools/tcp_backend.c, tcp_load.c), started by PID
and stopped by PID, and small clients: one exchange, the version tag a connection
starts with, the certificate a TLS server presents.

    with TcpBackend(tag="v1") as b:          # echo, "v1\\n" first
        assert tag_of(b.port) == "v1"
    TcpBackend(mode="sink"), TcpBackend(mode="source", nbytes=10**6),
    TcpBackend(tls=(cert, key))              # TLS echo with its own certificate
    load(port, mode="rate", conns=8, count=1000, seconds=5) -> {"done": .., "errors": ..}
"""
import os
import pathlib
import socket
import ssl
import subprocess

ROOT = pathlib.Path(__file__).resolve().parents[3]


def tool(name):
    """build/<name> beside the meshlet under test (build/asan/... for an ASan meshlet)."""
    mbin = pathlib.Path(os.environ.get("MESHLET", ROOT / "meshlet")).resolve()
    build = mbin.parent if mbin.parent != ROOT.resolve() else ROOT / "build"
    path = build / name
    assert os.access(path, os.X_OK), f"{path} missing: make all"
    return path


class TcpBackend:
    def __init__(self, mode="echo", tag=None, nbytes=0, tls=None, threads=1, port=0):
        args = [str(tool("tcp-backend")), "--listen", f"127.0.0.1:{port}", "--mode", mode,
                "--threads", str(threads)]
        if tag:
            args += ["--tag", tag]
        if nbytes:
            args += ["--bytes", str(nbytes)]
        if tls:
            args += ["--tls", str(tls[0]), str(tls[1])]
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()  # "listening PORT", or "" if it failed
        if not line.startswith("listening "):
            self.stop()
            raise AssertionError(f"tcp-backend did not start: {args}")
        self.port = int(line.split()[1])
        self.tag = tag

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=5)
        self.proc.stdout.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def read_all(s, limit=1 << 26):
    """Everything until the peer's end of stream (at most <limit> bytes)."""
    out = bytearray()
    while len(out) < limit:
        got = s.recv(65536)
        if not got:
            break
        out += got
    return bytes(out)


def exchange(port, data, timeout=5, half_close=True):
    """Connect, send <data>, end the sending side, read to the end: the bytes back."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        if half_close:
            s.shutdown(socket.SHUT_WR)
        return read_all(s)


def tag_of(port, timeout=5):
    """The first line a (tagged echo) server sends on a new connection: its version."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        line = b""
        while not line.endswith(b"\n"):
            got = s.recv(1)
            if not got:
                break
            line += got
        return line.decode().strip()


def tls_client(port, sni, timeout=5):
    """A TLS connection to <port> with server name <sni>, no verification (the test looks
    at the certificate itself): the wrapped socket."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    raw = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    return ctx.wrap_socket(raw, server_hostname=sni)


def peer_cert_der(port, sni, timeout=5):
    """The DER certificate the server at <port> presents for <sni>."""
    with tls_client(port, sni, timeout) as s:
        return s.getpeercert(binary_form=True)


def load(port, mode="rate", conns=8, count=1000, seconds=10, msg=64, expect=None, sni=None):
    """Run tcp-load against <port>: its figures as a dict (done, errors, bytes, seconds,
    conn_per_s, mb_per_s, cut: still open at the deadline)."""
    args = [str(tool("tcp-load")), "--to", f"127.0.0.1:{port}", "--mode", mode, "--conns",
            str(conns), "--count", str(count), "--seconds", str(seconds), "--msg", str(msg)]
    if expect is not None:
        args += ["--expect", str(expect)]
    if sni:
        args += ["--tls", sni]
    p = subprocess.run(args, capture_output=True, text=True, timeout=seconds + 30)
    words = p.stdout.split()
    return {words[i]: float(words[i + 1]) for i in range(0, len(words) - 1, 2)}
