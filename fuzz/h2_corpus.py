#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Writes the seed corpus of fuzz_h2 (fuzz/corpus/h2/): valid client sides of h2c exchanges,
made by python3-h2's client, each after fuzz_h2's two control bytes and, for some, with the
upstream's response after fuzz_h2's mark (fuzz/fuzz_h2.c).

    fuzz/h2_corpus.py [DIR]     (default: fuzz/corpus/h2 beside this script)
"""
import pathlib
import sys

import h2.config
import h2.connection
from h2.settings import SettingCodes

AUTH = "svc.test"


def client():
    c = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    c.initiate_connection()
    return c


def head(path, method="GET", extra=()):
    return [(":method", method), (":scheme", "http"), (":path", path),
            (":authority", AUTH), *extra]


def get(paths, extra=(), method="GET"):
    c = client()
    for path in paths:
        c.send_headers(c.get_next_available_stream_id(), head(path, method, extra),
                       end_stream=True)
    return c.data_to_send()


def post(path, body, trailers=None, extra=()):
    c = client()
    sid = c.get_next_available_stream_id()
    c.send_headers(sid, head(path, "POST", [("content-length", str(len(body))), *extra]))
    for i in range(0, len(body), 16384):
        last = i + 16384 >= len(body)
        c.send_data(sid, body[i:i + 16384], end_stream=last and trailers is None)
    if trailers:
        c.send_headers(sid, trailers, end_stream=True)
    return c.data_to_send()


def control():
    """SETTINGS, PING, PRIORITY, WINDOW_UPDATE, a reset stream and a GOAWAY."""
    c = client()
    c.update_settings({SettingCodes.INITIAL_WINDOW_SIZE: 1 << 20,
                       SettingCodes.MAX_FRAME_SIZE: 1 << 15})
    c.ping(b"12345678")
    c.increment_flow_control_window(1 << 16)
    sid = c.get_next_available_stream_id()
    c.send_headers(sid, head("/delay/reset"))
    c.prioritize(sid, weight=200)
    c.reset_stream(sid)
    c.send_headers(c.get_next_available_stream_id(), head("/"), end_stream=True)
    c.close_connection()
    return c.data_to_send()


def grpc():
    """A gRPC call to a route without endpoints: its 503 becomes a trailers-only reply."""
    c = client()
    sid = c.get_next_available_stream_id()
    c.send_headers(sid, head("/pkg.Svc/Call", "POST", [("content-type", "application/grpc"),
                                                        ("te", "trailers"), ("x-route", "none")]))
    c.send_data(sid, b"\0\0\0\0\x03abc", end_stream=True)
    return c.data_to_send()


def big():
    """A 300 kB response read with the window given back as it comes (flow control)."""
    c = client()
    c.send_headers(c.get_next_available_stream_id(), head("/up/big"), end_stream=True)
    c.increment_flow_control_window(1 << 20)
    c.increment_flow_control_window(1 << 20, stream_id=1)
    return c.data_to_send()


MARK = b"\r\n--upstream--\r\n"

SEEDS = {
    # control byte: read size (low 4 bits), slow writes (0x10), clock step (high 3 bits);
    # a second control byte (the step before which the worker drains) may follow it
    "get": (0x00, get(["/"])),
    "get-small-reads": (0x01, get(["/", "/x"])),
    "local-replies": (0x80, get(["/redirect/a", "/abort/b", "/delay/c", "/nowhere"])),
    "no-endpoint": (0x60, get(["/x"], [("x-route", "none")])),
    "cors-preflight": (0x00, get(["/cors"], [("origin", "http://a.test"),
                                             ("access-control-request-method", "POST")],
                                 "OPTIONS")),
    "post-body": (0x13, post("/upload", b"x" * 3000)),
    "post-trailers": (0x02, post("/upload", b"hello", [("x-checksum", "1")])),
    "grpc": (0x00, grpc()),
    "control": (0xa0, control()),
    "many-streams": (0x10, get(["/s%d" % i for i in range(40)])),
    "upstream": (0x00, get(["/up/a", "/up/chunked", "/up/100"])),
    "upstream-big": (0x01, big()),
    "upstream-failures": (0x80, get(["/up/cut", "/up/503", "/up/silent"])),
    "upstream-post": (0x02, post("/up/post", b"y" * 20000)),
    "upstream-busy": (0x60, get(["/up/%d" % i for i in range(24)])),
    "drain": (b"\x01\x03", get(["/up/%d" % i for i in range(6)])),
    "drain-delayed": (b"\x81\x02", get(["/delay/%d" % i for i in range(3)])),
    "upstream-given": (0x00, get(["/up/given"]) + MARK
                       + b"HTTP/1.1 201 Created\r\nx-a: 1\r\ncontent-length: 2\r\n\r\nok"),
}


def main():
    out = pathlib.Path(sys.argv[1] if len(sys.argv) > 1
                       else pathlib.Path(__file__).parent / "corpus" / "h2")
    out.mkdir(parents=True, exist_ok=True)
    for name, (ctl, data) in SEEDS.items():
        ctl = ctl if isinstance(ctl, bytes) else bytes([ctl, 0])
        (out / f"{name}.bin").write_bytes(ctl + data)


if __name__ == "__main__":
    main()
