# SPDX-License-Identifier: Apache-2.0
"""The TCP test tools themselves (tests/tools/tcp_backend.c, tcp_load.c), straight, no
proxy: the echo's version tag, the sink's count, the source's bytes, the TLS backend's own
certificate, and the load client's counts, including connections that fail."""
import hashlib
import socket
import ssl

from certs import self_signed
from meshlet_proc import free_port
from tcp_backend import TcpBackend, exchange, load, peer_cert_der, tag_of, tls_client


def test_echo_with_tag():
    with TcpBackend(tag="v1") as b:
        assert tag_of(b.port) == "v1"
        data = bytes(range(256)) * 4000  # over a socket buffer: echo under back-pressure
        assert exchange(b.port, data) == b"v1\n" + data


def test_sink_counts_and_source_sends():
    with TcpBackend(mode="sink", tag="v2") as sink, TcpBackend(mode="source", nbytes=3_000_001) as src:
        assert exchange(sink.port, b"x" * 1_000_000) == b"v2 1000000\n"
        assert exchange(src.port, b"") == b"x" * 3_000_001


def test_tls_echo_serves_its_own_certificate(tmp_path):
    cert, key = self_signed(tmp_path / "echo", name="echo.example.com")
    pem = cert.read_text()
    want = hashlib.sha256(ssl.PEM_cert_to_DER_cert(pem)).hexdigest()
    with TcpBackend(tag="tls-v1", tls=(cert, key)) as b:
        assert hashlib.sha256(peer_cert_der(b.port, "echo.example.com")).hexdigest() == want
        with tls_client(b.port, "echo.example.com") as s:
            s.sendall(b"hello")
            got = b""
            while len(got) < len(b"tls-v1\nhello"):
                got += s.recv(100)
            assert got == b"tls-v1\nhello"


def test_load_counts_and_failures(tmp_path):
    cert, key = self_signed(tmp_path / "c", name="echo.example.com")
    with TcpBackend() as echo, TcpBackend(tls=(cert, key)) as tls:
        r = load(echo.port, conns=8, count=500, seconds=20)
        assert r["done"] == 500 and r["errors"] == 0 and r["bytes"] == 500 * 128
        r = load(tls.port, conns=4, count=50, seconds=20, sni="echo.example.com")
        assert r["done"] == 50 and r["errors"] == 0
    # Nobody listens: every connection fails, and the run is bounded by its count.
    dead = free_port()
    r = load(dead, conns=4, count=20, seconds=20)
    assert r["done"] == 0 and r["errors"] == 20
    # The backend was stopped: its port refuses connections (the process is gone).
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", echo.port)) != 0


def test_load_is_bounded_in_time():
    # A sink never answers before the client's end: every connection waits, and the run
    # ends at its deadline with them counted as cut, not as errors.
    with TcpBackend(mode="sink") as sink:
        r = load(sink.port, conns=4, count=100, seconds=1)
        assert r["done"] == 0 and r["errors"] == 0 and r["cut"] == 4, r
