# SPDX-License-Identifier: Apache-2.0
"""Hitless reload over HTTP/2 (issue 14): one long HTTP/2 connection follows a reload —
a stream in flight finishes on its snapshot, the next stream on the same connection is
routed by the new config — and a connection whose port a reload removes is drained with
GOAWAY twice (RFC 9113 §6.8) while its stream in flight still gets its answer."""
import json
import socket
import urllib.error
import urllib.request

from hpack import Decoder
from hyperframe.frame import GoAwayFrame, HeadersFrame, DataFrame, PingFrame

from configs import canary_config, gateway
from meshlet_proc import eventually, free_port
from test_h2_abuse import Raw, literal


def block(path, authority=b"api.example.com"):
    return b"".join(literal(n, v, index=False) for n, v in [
        (b":method", b"GET"), (b":scheme", b"http"), (b":path", path), (b":authority", authority)])


def reload(m):
    req = urllib.request.Request(f"http://127.0.0.1:{m.admin_port}/reload", method="POST")
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            assert r.status == 200
    except urllib.error.HTTPError as e:
        raise AssertionError(e.read().decode()) from e


def answers(frames, dec=None):
    """{stream id: (status, version)} from the server's frames (<dec>: the connection's
    HPACK decoder, when its frames are read in parts)."""
    dec, status, body = dec or Decoder(), {}, {}
    for f in frames:
        if isinstance(f, HeadersFrame):
            status[f.stream_id] = dict(dec.decode(f.data))[":status"]
        elif isinstance(f, DataFrame):
            body[f.stream_id] = body.get(f.stream_id, b"") + f.data
    return {k: (v, json.loads(body[k])["version"] if v == "200" else None)
            for k, v in status.items()}


def ended(ids):
    seen = set()

    def until(f):
        if f is not None and "END_STREAM" in getattr(f, "flags", ()):
            seen.add(f.stream_id)
        return seen >= set(ids)
    return until


def test_one_connection_follows_a_reload(canary):
    m = canary("--no-watch", workers=1)
    r = Raw(m.gw)
    r.send(HeadersFrame(1, block(b"/orders/a"), flags=["END_HEADERS", "END_STREAM"]))
    dec = Decoder()
    got = r.frames(10, until=ended([1]))
    assert answers(got, dec) == {1: ("200", "v1")}
    # A stream in flight at the reload finishes on the old snapshot.
    r.send(HeadersFrame(3, block(b"/orders/slow?delay_ms=800"), flags=["END_HEADERS", "END_STREAM"]))
    m.conf.write_text(canary_config(m.gw, m.v1.port, m.v2.port, weights=(0, 100)))
    reload(m)
    r.send(HeadersFrame(5, block(b"/orders/b"), flags=["END_HEADERS", "END_STREAM"]))
    got = r.frames(10, until=ended([3, 5]))
    r.close()
    assert answers(got, dec) == {3: ("200", "v1"), 5: ("200", "v2")}
    assert not [f for f in got if isinstance(f, GoAwayFrame)]


def test_a_removed_port_drains_its_connections(canary):
    m = canary("--no-watch", workers=1)
    extra = free_port()
    text = m.conf.read_text()
    m.conf.write_text(text.replace("gateways: [edge, mesh]", "gateways: [edge, second, mesh]")
                      + "---\n" + gateway(extra, name="second"))
    reload(m)

    def listening():  # workers switch just after the reload answered
        try:
            socket.create_connection(("127.0.0.1", extra), timeout=2).close()
            return True
        except ConnectionRefusedError:
            return False
    assert eventually(listening)
    busy, idle = Raw(extra), Raw(extra)
    busy.send(HeadersFrame(1, block(b"/orders/slow?delay_ms=800"),
                           flags=["END_HEADERS", "END_STREAM"]))
    idle.send(HeadersFrame(1, block(b"/orders/x"), flags=["END_HEADERS", "END_STREAM"]))
    assert answers(idle.frames(10, until=ended([1]))) == {1: ("200", "v1")}
    # (idle's frames later carry no header block: a fresh decoder is not needed)
    m.conf.write_text(text)  # the second Gateway goes, and its port
    reload(m)
    got = busy.frames(10)
    assert answers(got) == {1: ("200", "v1")}  # the stream in flight got its answer
    assert [f.last_stream_id for f in got if isinstance(f, GoAwayFrame)] == [2**31 - 1, 1]
    assert got[-1] is not None  # then the connection closed
    got = idle.frames(10)
    assert [f.last_stream_id for f in got if isinstance(f, GoAwayFrame)] == [2**31 - 1, 1]
    assert any(isinstance(f, PingFrame) for f in got)
    assert got[-1] is not None
    busy.close()
    idle.close()
